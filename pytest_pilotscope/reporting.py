"""Where a benchmark module's measurements go: its MLflow run, the results file, the gate, the terminal."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pytest

from pilotscope.Common.legacy_results import ResultsDirError, write_results_file
from pytest_pilotscope.preflight import results_dir_message
from pytest_pilotscope.records import ModuleRecord

PER_QUERY_ARTIFACT = "per_query.json"
BENCHMARK_ARTIFACT = "pytest_benchmark.json"


def _option(config, name):
    from pytest_pilotscope.plugin import option
    return option(config, name)


def run_params(config: pytest.Config) -> dict[str, Any]:
    return {"num_epoch": _option(config, "epochs"), "num_training": _option(config, "num_training"),
            "num_collection": _option(config, "num_collection"), "workload": _option(config, "workload"),
            "rounds": _option(config, "rounds"), "warmup_rounds": _option(config, "warmup_rounds"),
            "train": not _option(config, "no_train")}


# -------------------------------------------------------------------- MLflow
def finish_run(config: pytest.Config, record: ModuleRecord, status: str) -> None:
    """Write the results file, log what the module measured, then end its run with `status`.

    `status` is FINISHED, FAILED or KILLED; a results file that cannot be written makes a FINISHED run
    FAILED, with the reason as its `error` tag. Once only: after Ctrl-C the session ends the run KILLED
    before pytest tears the module down.
    """
    if record.status != "RUNNING":
        return
    record.status = status
    record.benchmark_json = _benchmark_json(config, record)
    results_error = write_legacy_results(config, record)
    tracker, record.tracker = record.tracker, None
    if tracker is None:
        return
    metrics = record.metrics()
    try:
        if record.timed:
            for q in record.per_query_table():
                if q["end_to_end"] is not None:
                    tracker.log_metrics({"query_time": q["end_to_end"]}, step=q["index"])
        else:
            tracker.set_tags({"timings": "none: pytest-benchmark is disabled under xdist"})
        tracker.log_test_results(metrics)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            (folder / PER_QUERY_ARTIFACT).write_text(json.dumps(record.per_query_table(), indent=1))
            if record.benchmark_json:  # pytest-benchmark's own encoder: params hold PilotQuery objects
                from pytest_benchmark.utils import safe_dumps
                (folder / BENCHMARK_ARTIFACT).write_text(safe_dumps(record.benchmark_json, indent=1))
            baseline = baseline_times(config, record)
            if baseline and record.timed and record.algorithm != "baseline":
                plot_against_baseline(record, baseline, folder / "per_query_vs_baseline.png")
            tracker.client.log_artifacts(tracker.run_id, str(folder), "benchmark")
    finally:
        tracker.end_run(record.status, error=results_error)


def _benchmark_json(config: pytest.Config, record: ModuleRecord) -> dict | None:
    """pytest-benchmark's own JSON for this module's benchmarks (as --benchmark-json writes it)."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return None
    mine = [b for b in session.benchmarks if b and b.fullname.startswith(record.nodeid.rsplit("::", 1)[0])]
    if not mine:
        return None
    return config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=mine, include_data=True, machine_info=session.get_machine_info(),
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config))


def _run_per_query(run_id: str, tracking_uri: str | None = None) -> list[dict] | None:
    from mlflow.artifacts import download_artifacts
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = download_artifacts(f"runs:/{run_id}/benchmark/{PER_QUERY_ARTIFACT}", dst_path=scratch,
                                      tracking_uri=tracking_uri)
            return json.loads(Path(path).read_text())
    except Exception:  # noqa: BLE001 - a run without the artifact simply has no per-query data
        return None


def _finished_runs(experiment: str, exclude: str | None, order_by: list[str]):
    from pilotscope.Common.tracking_store import tracking_client
    client = tracking_client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=order_by, max_results=50)
    return [r for r in runs if r.info.run_id != exclude and "test_total_time" in r.data.metrics]


def baseline_times(config: pytest.Config, record: ModuleRecord) -> dict[str, float] | None:
    """Baseline's per-query times on the same dataset: from this session, else its best tracked run."""
    from pytest_pilotscope.plugin import pilot_session
    for other in pilot_session(config).modules.values():
        if other.algorithm == "baseline" and other.dataset == record.dataset and other.timed:
            return other.per_query_times()
    if _option(config, "no_mlflow"):
        return None
    for run in _finished_runs(f"baseline_{record.dataset}", None, ["metrics.test_total_time ASC"])[:1]:
        table = _run_per_query(run.info.run_id)
        if table:
            return {q["query_id"]: q["end_to_end"] for q in table if q.get("end_to_end") is not None}
    return None


def plot_against_baseline(record: ModuleRecord, baseline: dict[str, float], target: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    mine = record.per_query_times()
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


# ------------------------------------------------------------- results file
def write_legacy_results(config: pytest.Config, record: ModuleRecord) -> ResultsDirError | None:
    """Set `record.results_file`, or `record.results_error` (and a FINISHED status to FAILED) and return why."""
    from pytest_pilotscope.plugin import results_dir
    extra = {"run_id": record.run_id, "status": record.status, "workload": _option(config, "workload"),
             "rounds": _option(config, "rounds"), "timed": record.timed, "per_query": record.per_query_table()}
    try:
        record.results_file = str(write_results_file(record.algorithm, record.dataset, record.metrics(), extra,
                                                     results_dir=results_dir(config)))
    except ResultsDirError as error:
        record.results_error = results_dir_message(error)
        if record.status == "FINISHED":
            record.status = "FAILED"
        return error
    return None


# ---------------------------------------------------------------------- gate
def reference_times(config: pytest.Config, record: ModuleRecord, metric: str) -> tuple[dict[str, float] | None, str]:
    """The reference's per-query seconds for `metric`, and a description of where they come from."""
    ref = _option(config, "gate_ref")
    path = Path(ref)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise pytest.UsageError(f"--gate-ref {ref}: no such file.")
        return _times_from_file(path, metric), f"file {path}"
    if _option(config, "no_mlflow"):
        raise pytest.UsageError("--gate-ref best/last/RUN_ID needs MLflow: drop --no-mlflow or give a JSON file.")
    if ref in ("best", "last"):
        order = ["metrics.test_total_time ASC"] if ref == "best" else ["attributes.start_time DESC"]
        runs = _finished_runs(record.experiment, record.run_id, order)
        if not runs:
            return None, f"no earlier FINISHED run in {record.experiment}"
        run_id = runs[0].info.run_id
    else:
        run_id = ref
    table = _run_per_query(run_id)
    if table is None:
        raise pytest.UsageError(f"--gate-ref {ref}: run {run_id} has no per-query timings to compare with.")
    return _times_from_table(table, metric), f"run {run_id}"


def _times_from_table(table: list[dict], metric: str) -> dict[str, float]:
    times = {}
    for q in table:
        total, db = q.get("end_to_end"), q.get("db_execution")
        if total is None or q.get("failed"):
            continue
        if metric == "test_total_time":
            times[q["query_id"]] = total
        elif db is not None:
            times[q["query_id"]] = db if metric == "test_db_execution_time" else total - db
    return times


def _times_from_file(path: Path, metric: str) -> dict[str, float]:
    raw = json.loads(path.read_text())
    if "benchmarks" in raw:  # pytest-benchmark JSON: only end-to-end medians
        if metric != "test_total_time":
            raise pytest.UsageError(f"{path} is a pytest-benchmark file: it can only gate test_total_time.")
        return {b["name"].split("[")[-1].rstrip("]"): b["stats"]["median"] for b in raw["benchmarks"]}
    per_query = (raw.get("extra_info") or {}).get("per_query")
    if per_query is None:
        raise pytest.UsageError(f"{path} has no per-query timings (extra_info.per_query).")
    return _times_from_table(per_query, metric)


def apply_gate(config: pytest.Config, records: Iterable[ModuleRecord]) -> bool:
    """Judge every timed module against its reference; True when any regressed."""
    from pytest_pilotscope.gate import GateSpec, judge
    spec = GateSpec.parse(_option(config, "gate"))
    regressed = False
    for record in records:
        if not record.timed:
            record.gate_report = "gate: not judged, this run took no timings"
            continue
        reference, source = reference_times(config, record, spec.metric)
        current = record.per_query_times(spec.metric)
        if not reference or not set(reference) & set(current):
            record.gate_report = f"gate: pass (no reference to compare with: {source})"
            continue
        verdict = judge(current, reference, spec.threshold)
        regressed |= verdict.regression
        record.gate_report = f"gate {spec.metric} vs {source}: {verdict.describe()}"
    return regressed


# ------------------------------------------------------------------ terminal
def summary_lines(config: pytest.Config, session) -> list[str]:
    """One block per benchmark module: what it measured, its run and its results file."""
    lines = []
    baseline_totals = {r.dataset: r.metrics().get("test_total_time") for r in session.modules.values()
                       if r.algorithm == "baseline"}
    for record in session.modules.values():
        m = record.metrics()
        line = (f"{record.algorithm:9s} {record.dataset:12s} queries {int(m['test_query_count']):4d}"
                f"  failed {int(m['test_failed_count'])}  timed out {int(m['test_timed_out_count'])}")
        if record.timed and "test_total_time" in m:
            line += (f"  total {m['test_total_time']:.3f}s  avg {m['test_average_time'] * 1e3:.2f}ms"
                     f"  db {m['test_db_execution_time']:.3f}s  overhead {m['test_overhead_time']:.3f}s")
            base = baseline_totals.get(record.dataset)
            if base and record.algorithm != "baseline":
                line += f"  vs baseline {m['test_total_time'] / base:.2f}x"
        else:
            line += "  (no timings)"
        lines.append(line + f"  run {record.run_id or '-'} [{record.status}]")
        if record.gate_report:
            lines.extend("  " + part for part in record.gate_report.splitlines())
        if record.results_file:
            lines.append(f"  results file: {record.results_file}")
        if record.results_error:
            lines.append(f"  results file NOT written: {record.results_error}")
    if session.deselected_modules:
        lines.append(f"deselected (not --db {_option(config, 'db')}): " + ", ".join(sorted(session.deselected_modules)))
    return lines


def terminal_summary(config: pytest.Config, reporter, session) -> None:
    lines = summary_lines(config, session) + session.worker_summaries
    if not lines:
        return
    reporter.write_sep("=", "pilotscope summary")
    for line in lines:
        reporter.write_line(line)
    if session.worker_summaries:
        reporter.write_line("Ran under xdist (-n): pytest-benchmark takes no timings there, so none were taken "
                            "or logged; every query's result was still checked against PostgreSQL, and each "
                            "module was trained and tracked on one worker.")
