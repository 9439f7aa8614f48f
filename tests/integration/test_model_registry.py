"""The model registry against a real SQLite store: promotion (by hand and by the gate's verdicts), the champion
alias, loading through it, the CLI."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from tracking_helpers import FolderModel, files_under, load_script, tracked_model_run

from pilotscope.Common.MLflowTracker import load_tracked_model, start_tracking
from pilotscope.Common.model_registry import PromotionRefused, champion, promote
from pilotscope.errors import ModelLoadError
from pytest_pilotscope.gate import GateVerdict
from pytest_pilotscope.promotion import promote_if_better
from pytest_pilotscope.records import ModuleRecord

EXPERIMENT = "folder_stats_tiny"
CHAMPION_URI = f"models:/{EXPERIMENT}@champion"

mlflow_query = load_script("scripts/mlflow_query.py")


def test_a_promoted_run_is_a_registered_version_and_the_alias_downloads_its_model(stats_tiny_config, tracking_uri):
    first, model = tracked_model_run(stats_tiny_config, samples=(1, 2, 3))
    assert champion(EXPERIMENT) is None

    promoted = promote(first.run_id)
    assert (promoted.name, promoted.alias, promoted.version, promoted.run_id) == (EXPERIMENT, "champion", "1",
                                                                                  first.run_id)
    assert promoted.describe() == f"{CHAMPION_URI} (version 1)"
    assert champion(EXPERIMENT) == promoted
    downloaded = Path(mlflow.artifacts.download_artifacts(CHAMPION_URI))
    assert files_under(downloaded) == files_under(Path(mlflow.artifacts.download_artifacts(
        f"runs:/{first.run_id}/model")))
    assert FolderModel.load_from_folder(downloaded / model.model_id).weights == model.weights

    second, _ = tracked_model_run(stats_tiny_config, samples=(4, 5))
    assert promote(second.run_id).version == "2"
    assert promote(first.run_id).version == "1"  # a registered run keeps its version; only the alias moves
    assert champion(EXPERIMENT).run_id == first.run_id
    versions = MlflowClient(tracking_uri).search_model_versions(f"name = '{EXPERIMENT}'")
    assert sorted(v.version for v in versions) == [1, 2]


def test_a_failed_run_a_run_without_a_model_an_unknown_run_and_a_bad_alias_are_refused(stats_tiny_config,
                                                                                       tracking_uri):
    failed = start_tracking("folder", stats_tiny_config, True)
    with contextlib.suppress(RuntimeError), failed:
        model = FolderModel()
        model.train([1, 2])
        model.save_model()
        failed.log_model(model)
        raise RuntimeError("stopped halfway")
    with start_tracking("folder", stats_tiny_config, True) as modelless:
        modelless.log_test_results({"test_total_time": 1.0})
    trained, _ = tracked_model_run(stats_tiny_config)

    with pytest.raises(PromotionRefused, match=f"Run {failed.run_id} of {EXPERIMENT} is FAILED, not FINISHED.*"
                                               f"Promote a FINISHED run"):
        promote(failed.run_id)
    with pytest.raises(PromotionRefused, match=f"Run {modelless.run_id} of {EXPERIMENT} logged no model.*model_id"):
        promote(modelless.run_id)
    with pytest.raises(PromotionRefused, match="No run '0123abcd'.*mlflow_query.py runs"):
        promote("0123abcd")
    for alias in ("latest", "v3", "no spaces", ""):
        with pytest.raises(PromotionRefused, match="cannot be a model alias.*--alias champion"):
            promote(trained.run_id, alias=alias)
    assert MlflowClient(tracking_uri).search_model_versions() == []  # nothing half-registered


def test_the_champion_is_loaded_before_the_best_run_and_the_loading_run_records_it(stats_tiny_config, tracking_uri,
                                                                                   tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match=f"No model of {EXPERIMENT}.*no champion.*enable_training=True"):
        load_tracked_model(EXPERIMENT, FolderModel)
    fast, fast_model = tracked_model_run(stats_tiny_config, samples=(1,), seconds=(0.1, 0.1))
    slow, slow_model = tracked_model_run(stats_tiny_config, samples=(2,), seconds=(1.0, 1.0))

    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "elsewhere"))  # loads must download
    best, source = load_tracked_model(EXPERIMENT, FolderModel)
    assert best.weights == fast_model.weights
    assert source.tags() == {"model_source_run_id": fast.run_id,
                             "model_source": f"runs:/{fast.run_id}/model (the best finished run by test_total_time)"}

    promote(slow.run_id)
    with start_tracking("folder", stats_tiny_config, True) as user:
        loaded = user.load_best_model(FolderModel)
    assert (loaded.model_id, loaded.weights) == (slow_model.model_id, slow_model.weights)
    assert loaded.loaded_from == f"{CHAMPION_URI} (version 1)"
    run = MlflowClient(tracking_uri).get_run(user.run_id)
    assert run.data.tags["model_source_run_id"] == slow.run_id
    assert run.data.tags["model_source"] == f"{CHAMPION_URI} (version 1)"
    assert run.data.params["model_id"] == slow_model.model_id


def test_a_store_given_by_uri_is_also_the_registry_the_champion_downloads_from(stats_tiny_config, tracking_uri,
                                                                                tmp_path, monkeypatch):
    trained, model = tracked_model_run(stats_tiny_config)
    promote(trained.run_id)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")  # not the store asked for
    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "elsewhere"))
    loaded, source = load_tracked_model(EXPERIMENT, FolderModel, tracking_uri=tracking_uri)
    assert (loaded.weights, source.described) == (model.weights, f"{CHAMPION_URI} (version 1)")
    assert champion(EXPERIMENT, tracking_uri=tracking_uri).run_id == trained.run_id


@pytest.fixture
def query(tracking_uri, capsys):
    """The CLI in-process on this test's store: (exit code, stdout, stderr)."""
    def run(*argv: str) -> tuple[int, str, str]:
        code = mlflow_query.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_the_cli_promotes_a_run_by_id_prefix_and_shows_the_champion(stats_tiny_config, query):
    trained, model = tracked_model_run(stats_tiny_config)
    code, _, err = query("champion", EXPERIMENT)
    assert code == 1 and f"{EXPERIMENT} has no model under alias 'champion'" in err and "promote RUN_ID" in err
    code, _, err = query("champion", "no_such_experiment")
    assert code == 1 and "No MLflow experiment 'no_such_experiment'" in err

    code, out, _ = query("promote", trained.run_id[:10])
    assert code == 0
    assert out.startswith(f"{CHAMPION_URI} is now version 1: run {trained.run_id} ({trained.run_name}).")
    assert f"mlflow artifacts download --artifact-uri {CHAMPION_URI} --dst-path DIR" in out
    code, out, _ = query("promote", trained.run_id, "--alias", "staging", "--json")
    assert code == 0 and json.loads(out) == {"name": EXPERIMENT, "alias": "staging", "version": "1",
                                             "run_id": trained.run_id, "uri": f"models:/{EXPERIMENT}@staging"}

    code, out, _ = query("champion", EXPERIMENT)
    assert code == 0
    assert f"{CHAMPION_URI}: {EXPERIMENT}, version 1" in out and f"Run ID: {trained.run_id}" in out
    assert f"model_id: {model.model_id}" in out and "test_total_time: 2.000000" in out
    code, out, _ = query("champion", EXPERIMENT, "--json")
    shown = json.loads(out)
    assert (shown["run_id"], shown["model_id"], shown["status"], shown["test_total_time"]) == (
        trained.run_id, model.model_id, "FINISHED", 2.0)


def test_the_cli_refuses_a_run_without_a_model_naming_the_fix(stats_tiny_config, query):
    with start_tracking("folder", stats_tiny_config, True) as modelless:
        modelless.log_test_results({"test_total_time": 1.0})
    code, out, err = query("promote", modelless.run_id)
    assert code == 1 and out == ""
    assert err.startswith(f"error: Run {modelless.run_id} of {EXPERIMENT} logged no model")
    code, _, err = query("promote", modelless.run_id, "--alias", "latest")
    assert code == 1 and "'latest' cannot be a model alias" in err


def verdict(low: float, high: float, threshold: float = 0.10) -> GateVerdict:
    return GateVerdict(regression=low > 1 + threshold, ratio=(low + high) / 2, low=low, high=high, paired=10,
                       threshold=threshold)


def module_record(run_id: str, status: str = "FINISHED") -> ModuleRecord:
    return ModuleRecord(nodeid="test_folder_stats_tiny.py", algorithm="folder", dataset="stats_tiny", timed=True,
                        run_id=run_id, experiment=EXPERIMENT, status=status)


def test_the_gate_promotes_a_first_champion_and_a_run_faster_beyond_noise_only(stats_tiny_config, tracking_uri):
    first, _ = tracked_model_run(stats_tiny_config)
    second, _ = tracked_model_run(stats_tiny_config)
    with start_tracking("folder", stats_tiny_config, True) as modelless:
        modelless.log_test_results({"test_total_time": 1.0})

    assert promote_if_better(module_record(first.run_id), verdict(1.2, 1.5)) is None  # a regression
    assert promote_if_better(module_record(first.run_id, "FAILED"), None) is None
    assert promote_if_better(module_record(modelless.run_id), None) is None  # Baseline's runs have no model
    assert champion(EXPERIMENT) is None
    assert promote_if_better(module_record(first.run_id), None) == (
        f"model promoted: {CHAMPION_URI} (version 1) is run {first.run_id[:8]}, the first champion of this "
        f"algorithm and dataset")
    assert promote_if_better(module_record(second.run_id), verdict(0.92, 1.03)) == (
        f"model not promoted: {CHAMPION_URI} (version 1) stays (run {first.run_id[:8]}); a run is promoted when "
        f"the whole interval lies below 1")
    assert champion(EXPERIMENT).run_id == first.run_id
    assert promote_if_better(module_record(second.run_id), verdict(0.80, 0.97)) == (
        f"model promoted: {CHAMPION_URI} (version 2) is run {second.run_id[:8]}, faster than its reference beyond "
        f"noise")
    assert champion(EXPERIMENT).run_id == second.run_id
