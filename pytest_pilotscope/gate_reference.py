"""The gate's side of a session: each timed module's reference times, and its verdict against them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pytest

from pilotscope.Common.workload_metrics import QueryMeasurement, WorkloadStats
from pytest_pilotscope.gate import judge
from pytest_pilotscope.options import PilotOptions
from pytest_pilotscope.records import ModuleRecord
from pytest_pilotscope.tracking import finished_runs, run_per_query


def reference_times(options: PilotOptions, record: ModuleRecord) -> tuple[dict[str, float] | None, str]:
    """The reference's per-query seconds for the gated metric, and where they come from."""
    metric, ref = options.gate.metric, options.gate_ref
    path = Path(ref)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise pytest.UsageError(f"--gate-ref {ref}: no such file.")
        return _times_from_file(path, metric), f"file {path}"
    if not options.tracked:
        raise pytest.UsageError("--gate-ref best/last/RUN_ID needs MLflow: drop --no-mlflow or give a JSON file.")
    if ref in ("best", "last"):
        order = ["metrics.test_total_time ASC"] if ref == "best" else ["attributes.start_time DESC"]
        runs = finished_runs(record.experiment, record.run_id, order)
        if not runs:
            return None, f"no earlier FINISHED run in {record.experiment}"
        run_id = runs[0].info.run_id
    else:
        run_id = ref
    queries = run_per_query(run_id)
    if queries is None:
        raise pytest.UsageError(f"--gate-ref {ref}: run {run_id} has no per-query timings to compare with.")
    return WorkloadStats(queries).per_query(metric), f"run {run_id}"


def _times_from_file(path: Path, metric: str) -> dict[str, float]:
    raw = json.loads(path.read_text())
    if "benchmarks" in raw:  # pytest-benchmark JSON: only end-to-end medians
        if metric != "test_total_time":
            raise pytest.UsageError(f"{path} is a pytest-benchmark file: it can only gate test_total_time.")
        return {b["name"].split("[")[-1].rstrip("]"): b["stats"]["median"] for b in raw["benchmarks"]}
    per_query = (raw.get("extra_info") or {}).get("per_query")
    if per_query is None:
        raise pytest.UsageError(f"{path} has no per-query timings (extra_info.per_query).")
    return WorkloadStats(QueryMeasurement.from_dict(q) for q in per_query).per_query(metric)


def apply_gate(options: PilotOptions, records: Iterable[ModuleRecord]) -> bool:
    """Judge every timed module against its reference (its `gate_report` says how); True when any regressed."""
    metric = options.gate.metric
    regressed = False
    for record in records:
        if not record.stats().timed:
            record.gate_report = "gate: not judged, this run took no timings"
            continue
        reference, source = reference_times(options, record)
        current = record.stats().per_query(metric)
        if not reference or not set(reference) & set(current):
            record.gate_report = f"gate: pass (no reference to compare with: {source})"
            continue
        verdict = judge(current, reference, options.gate.threshold)
        regressed |= verdict.regression
        record.gate_report = f"gate {metric} vs {source}: {verdict.describe()}"
    return regressed
