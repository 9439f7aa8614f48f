"""The MLflow UI as users see it: scripts/mlflow_ui.sh on a store of real benchmark runs, in headless Chromium.

The runs are made the way users make them, `pytest benchmarks` against the embedded server (three queries
of stats_tiny's fast workload; MSCN collected from five training queries and trained for three epochs,
then Baseline), so the store holds what a user's does: per-epoch `train_loss`, the model folder, the
plugin's PNGs. The checks are subtests of one test: the runs, the UI and the browser are made once even
when pytest-xdist spreads tests over workers, and one failing check does not hide the others.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
from headless_browser import INSTALL_HINT, Page, find_chromium, headless_chromium
from mlflow.entities import Run
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from tracking_helpers import free_port, running_server

from pilotscope.Common.tracking_store import tracking_client
from pilotscope.paths import PROJECT_ROOT

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium and chromedriver found; {INSTALL_HINT}")

SCRIPT = PROJECT_ROOT / "scripts" / "mlflow_ui.sh"
EPOCHS = 3
BENCHMARK = ["benchmarks/test_baseline_stats_tiny.py", "benchmarks/test_mscn_stats_tiny.py", "--db", "stats_tiny",
             "--workload", "fast", "-k", "q000 or q001 or q002", "--epochs", str(EPOCHS), "--num-collection", "5",
             "--num-training", "5"]
EXPERIMENTS = ("mscn_stats_tiny", "baseline_stats_tiny")
# the plugin's charts of a learned algorithm's run beside a Baseline run (pytest_pilotscope/tracking.py)
PNGS = ("benchmark/paired_times.png", "benchmark/per_query_vs_baseline.png")


@dataclass(frozen=True)
class TrackedUi:
    store: str  # the tracking URI
    url: str  # the UI's


@pytest.fixture
def tracked_ui(stats_tiny_config, mlflow_store_template, tmp_path) -> Iterator[TrackedUi]:
    """scripts/mlflow_ui.sh on a throw-away SQLite store holding one MSCN and one Baseline run made by
    `pytest benchmarks`; the runs are made while the UI starts."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(mlflow_store_template, folder / "mlflow.db")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    # an xdist worker's variables would make pytest-benchmark in the subprocess switch itself off
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(MLFLOW_TRACKING_URI=store, PILOTSCOPE_MODEL_DIR=str(folder / "models"))
    command = [sys.executable, "-m", "pytest", *BENCHMARK, "--results-dir", str(folder / "results")]
    with open(tmp_path / "benchmark.log", "w") as log:
        benchmark = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        with running_server([str(SCRIPT), str(port)], url, {**env, "MLFLOW_UI_HOST": "127.0.0.1"}, PROJECT_ROOT,
                            tmp_path / "ui.log"):
            assert benchmark.wait(timeout=600) == 0, \
                f"the benchmark runs failed:\n{(tmp_path / 'benchmark.log').read_text()[-5000:]}"
            yield TrackedUi(store, url)
    finally:
        if benchmark.poll() is None:
            benchmark.kill()
            benchmark.wait()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium(CHROMIUM) as driver:
        yield driver


def the_run(store: str, experiment: str) -> Run:
    """The one run of `experiment`."""
    client = tracking_client(store)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_the_ui_shows_the_benchmark_runs_in_a_browser(tracked_ui, browser, subtests, tmp_path):
    mscn, baseline = (the_run(tracked_ui.store, experiment) for experiment in EXPERIMENTS)
    assert len(tracking_client(tracked_ui.store).get_metric_history(mscn.info.run_id, "train_loss")) == EPOCHS
    page, url = Page(browser, tmp_path), tracked_ui.url
    with subtests.test("the experiment list shows each algorithm's experiment"):
        check_experiment_list(page, url, {name: run.info.experiment_id
                                          for name, run in zip(EXPERIMENTS, (mscn, baseline))})
    with subtests.test("the run page shows test_total_time"):
        check_metric_value(page, url, mscn, "test_total_time")
    with subtests.test("the run page charts train_loss per epoch"):
        check_step_chart(page, url, mscn, "train_loss")
    with subtests.test("the artifacts show the model folder and the PNGs"):
        check_artifacts(page, url, mscn, tracked_ui.store, tmp_path / "downloads")
    with subtests.test("the compare view of two runs opens"):
        check_compare_view(page, url, [mscn, baseline])


def run_url(ui_url: str, run: Run, tab: str = "") -> str:
    return f"{ui_url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}{tab}"


def link(driver: WebDriver, text: str, href_end: str):
    """The link showing exactly `text` whose target ends with `href_end`, or None."""
    return next((a for a in driver.find_elements(By.XPATH, f"//a[normalize-space()='{text}']")
                 if (a.get_attribute("href") or "").endswith(href_end)), None)


def node(driver: WebDriver, text: str):
    """The displayed element whose own text is exactly `text` (a heading, a tree node), or None."""
    return next((element for element in driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']")
                 if element.is_displayed()), None)


def check_experiment_list(page: Page, ui_url: str, experiments: dict[str, str]) -> None:
    """The experiment list links each experiment (name → id) to its page."""
    page.open(f"{ui_url}/#/experiments")
    for name, experiment_id in experiments.items():
        page.shows(lambda d: link(d, name, f"#/experiments/{experiment_id}"), f"a link to experiment {name}")


def check_metric_value(page: Page, ui_url: str, run: Run, metric: str) -> None:
    """The run's overview lists `metric` with the value the store holds."""
    expected = run.data.metrics[metric]
    page.open(run_url(ui_url, run))
    cell = f"//*[@role='row'][*[@role='cell'][1][normalize-space()='{metric}']]/*[@role='cell'][2]"

    def shown_value(driver: WebDriver) -> bool:
        try:
            return float(driver.find_element(By.XPATH, cell).text) == expected
        except ValueError:
            return False
    page.shows(shown_value, f"{metric} = {expected} in the run's metrics")


def check_step_chart(page: Page, ui_url: str, run: Run, metric: str) -> None:
    """The run's metric charts draw `metric` as a line over steps (a metric of one value is drawn as a bar)."""
    page.open(run_url(ui_url, run, "/model-metrics"))
    search = page.shows(lambda d: d.find_element(By.CSS_SELECTOR, "input[placeholder*='Search metric']"),
                        "the metric charts' search box")
    search.send_keys(Keys.CONTROL, "a")  # the UI keeps the last search: type over it
    search.send_keys(metric)
    plots = (f"//*[normalize-space(text())='{metric}']/ancestor::*[.//*[contains(@class, 'js-plotly-plot')]][1]"
             f"//*[contains(@class, 'js-plotly-plot')]")

    def line_over_steps(driver: WebDriver) -> bool:
        return any(plot.find_elements(By.CSS_SELECTOR, ".scatterlayer .js-line")
                   and "Step" in [title.text for title in plot.find_elements(By.CSS_SELECTOR, ".xtitle")]
                   for plot in driver.find_elements(By.XPATH, plots))
    page.shows(line_over_steps, f"a line chart of {metric} over steps")


def check_artifacts(page: Page, ui_url: str, run: Run, store: str, downloads: Path) -> None:
    """The model folder `model/<model_id>` with its files, and the plugin's PNGs, each previewed as an image."""
    client = tracking_client(store)
    model_folder = f"model/{run.data.params['model_id']}"
    page.open(run_url(ui_url, run, "/artifacts"))
    page.shows(lambda d: node(d, "model"), "the model folder in the artifact tree").click()
    page.shows(lambda d: node(d, Path(model_folder).name), f"{model_folder} in the artifact tree").click()
    for name in [Path(a.path).name for a in client.list_artifacts(run.info.run_id, model_folder)]:
        page.shows(lambda d: node(d, name), f"{model_folder}/{name} in the artifact tree")
    page.shows(lambda d: node(d, "benchmark"), "the benchmark folder in the artifact tree").click()
    downloads.mkdir()
    for png in PNGS:
        page.shows(lambda d: node(d, Path(png).name), f"{png} in the artifact tree").click()
        width, height = png_size(Path(client.download_artifacts(run.info.run_id, png, str(downloads))))
        page.shows(lambda d: any(img.get_property("naturalWidth") == width
                                 and img.get_property("naturalHeight") == height
                                 for img in d.find_elements(By.TAG_NAME, "img")),
                   f"the preview of {png} ({width}x{height})")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk)."""
    return struct.unpack(">II", path.read_bytes()[16:24])


def check_compare_view(page: Page, ui_url: str, runs: list[Run]) -> None:
    """The compare view of `runs` (each of another experiment) opens and links each of them."""
    ids = json.dumps([run.info.run_id for run in runs], separators=(",", ":"))
    experiments = json.dumps([run.info.experiment_id for run in runs], separators=(",", ":"))
    page.open(f"{ui_url}/#/compare-runs?runs={quote(ids)}&experiments={quote(experiments)}")
    page.shows(lambda d: node(d, f"Comparing {len(runs)} Runs from {len(runs)} Experiments"),
               "the compare view's heading")
    for run in runs:
        page.shows(lambda d: link(d, run.info.run_id, f"#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"),
                   f"run {run.info.run_id} in the compare view")
