"""A benchmark module's MLflow run: opened with the module, given what it measured, ended with its outcome."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable

from pilotscope.Common.workload_metrics import QueryMeasurement, WorkloadStats
from pytest_pilotscope import pairing
from pytest_pilotscope.pairing import PLAIN_POSTGRESQL
from pytest_pilotscope.options import PilotOptions
from pytest_pilotscope.records import ModuleRecord

PER_QUERY_ARTIFACT = "per_query.json"
BENCHMARK_ARTIFACT = "pytest_benchmark.json"


def start_run(options: PilotOptions, record: ModuleRecord, pilot_config) -> None:
    """Open the module's run (nothing with --no-mlflow)."""
    if not options.tracked:
        return
    from pilotscope.Common.MLflowTracker import start_tracking
    record.tracker = start_tracking(record.algorithm, pilot_config, True, **options.run_params(record.preset_args))
    record.run_id, record.experiment = record.tracker.run_id, record.tracker.experiment_name


def end_run(record: ModuleRecord, baseline: dict[str, float] | None, error: BaseException | None) -> None:
    """Log the metrics, per-query times and artifacts, then end the run with `record.status` (once)."""
    tracker, record.tracker = record.tracker, None
    if tracker is None:
        return
    stats = record.stats()
    try:
        if stats.timed:
            for q in stats.counted:
                tracker.log_metrics({"query_time": q.end_to_end}, step=q.index)
        else:
            tracker.set_tags({"timings": "none: pytest-benchmark is disabled under xdist"})
        paired = pairing.summarize_queries(stats.queries)
        if paired and record.paired_against:
            tracker.set_tags({"paired_against": record.paired_against})
        tracker.log_test_results({**stats.as_dict(), **(paired.metrics() if paired else {})})
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            (folder / PER_QUERY_ARTIFACT).write_text(json.dumps(stats.table(), indent=1))
            if record.benchmark_json:  # pytest-benchmark's own encoder: params hold PilotQuery objects
                from pytest_benchmark.utils import safe_dumps
                (folder / BENCHMARK_ARTIFACT).write_text(safe_dumps(record.benchmark_json, indent=1))
            if baseline and stats.timed and record.algorithm != "baseline":
                plot_against_baseline(record, baseline, folder / "per_query_vs_baseline.png")
            if paired:
                plot_paired_times(record, folder / "paired_times.png")
            tracker.client.log_artifacts(tracker.run_id, str(folder), "benchmark")
    finally:
        tracker.end_run(record.status, error=error)


def run_per_query(run_id: str) -> list[QueryMeasurement] | None:
    """A tracked run's per-query measurements, or None when it has none."""
    from mlflow.artifacts import download_artifacts
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = download_artifacts(f"runs:/{run_id}/benchmark/{PER_QUERY_ARTIFACT}", dst_path=scratch)
            return [QueryMeasurement.from_dict(q) for q in json.loads(Path(path).read_text())]
    except Exception:  # noqa: BLE001 - a run without the artifact simply has no per-query data
        return None


def finished_runs(experiment: str, order_by: list[str], workload: str | None = None):
    """FINISHED runs of `experiment` (of `workload`, if given) that logged a total time, in `order_by` order."""
    from pilotscope.Common.tracking_store import tracking_client
    client = tracking_client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    where = "attributes.status = 'FINISHED'" + (f" and params.workload = '{workload}'" if workload else "")
    runs = client.search_runs([found.experiment_id], filter_string=where, order_by=order_by, max_results=50)
    return [r for r in runs if "test_total_time" in r.data.metrics]


def find_run(run_id: str):
    """The tracked run `run_id`, or None when the store has no such run."""
    from mlflow.exceptions import MlflowException
    from pilotscope.Common.tracking_store import tracking_client
    try:
        return tracking_client().get_run(run_id)
    except MlflowException:
        return None


def baseline_times(options: PilotOptions, record: ModuleRecord,
                   session_records: Iterable[ModuleRecord]) -> dict[str, float] | None:
    """Baseline's per-query times on the same dataset and workload: from this session, else its best tracked run."""
    for other in session_records:
        if other.algorithm == "baseline" and other.dataset == record.dataset and other.stats().timed:
            return other.stats().per_query()
    if not options.tracked:
        return None
    # of the same workload: rows are matched by query id, and q000 of generated:1 is not q000 of test
    for run in finished_runs(f"baseline_{record.dataset}", ["metrics.test_total_time ASC"], workload=options.workload)[:1]:
        queries = run_per_query(run.info.run_id)
        if queries:
            return WorkloadStats(queries).per_query()
    return None


def plot_paired_times(record: ModuleRecord, target: Path) -> None:
    """Each query's plain time against the algorithm's, log-log: below the diagonal the algorithm won."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pairs = [(q.plain_end_to_end * 1e3, q.end_to_end * 1e3) for q in record.stats().queries if q.paired_ratio]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter([p for p, _ in pairs], [a for _, a in pairs], s=10)
    low, high = min(min(pair) for pair in pairs), max(max(pair) for pair in pairs)
    for factor, style in ((1, "-"), (2, ":"), (0.5, ":")):
        ax.plot([low, high], [low * factor, high * factor], "k" + style, linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{record.paired_against or PLAIN_POSTGRESQL} (ms)")
    ax.set_ylabel(f"{record.algorithm} (ms)")
    ax.set_title(f"{record.algorithm} on {record.dataset}, per query (lines: 1x, 2x, 0.5x)")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


def plot_against_baseline(record: ModuleRecord, baseline: dict[str, float], target: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    mine = record.stats().per_query()
    ids = [q for q in sorted(mine) if q in baseline]
    fig, ax = plt.subplots(figsize=(max(8, len(ids) * 0.08), 4))
    ax.plot(range(len(ids)), [baseline[q] * 1e3 for q in ids], label="baseline", linewidth=1)
    ax.plot(range(len(ids)), [mine[q] * 1e3 for q in ids], label=record.algorithm, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("query")
    ax.set_ylabel("end-to-end time (ms)")
    ax.set_title(f"{record.algorithm} vs baseline on {record.dataset}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
