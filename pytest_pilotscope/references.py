"""The gate's side of a session: each gated module's reference, chosen and checked before anything runs,
and the module's verdict against it once it ran.

A reference is only comparable when it measured the same thing: a FINISHED run (a failed or killed
run's numbers are partial) of the same algorithm on the same dataset and workload, with per-query
measurements that carry their SQL, since queries are paired by their text and not by their position in
a file that may have changed. A learned module gated on its paired ratios also needs the reference's
plain PostgreSQL times. An explicit reference (`--gate-ref RUN_ID|FILE.json`) that falls short is
refused with the reason, a usage error before any query runs; when choosing one (`recent`, `last`,
`best`), runs that fall short are passed over.

`recent` (the default) is the per-query median over the RECENT newest comparable runs: unlike the
fastest run ever recorded (`best`), it is not biased low, and unlike the last run alone one odd run
cannot move it much.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from statistics import median
from typing import Callable, Iterable, Mapping, Sequence

import pytest

from pilotscope.Common.workload_metrics import QueryMeasurement, WorkloadStats
from pytest_pilotscope.gate import GateSpec, GateVerdict, judge, judge_paired
from pytest_pilotscope.options import PilotOptions
from pytest_pilotscope.promotion import promote_if_better
from pytest_pilotscope.records import ModuleRecord

RECENT = 5
CHOICES = ("recent", "last", "best")
_BEST_ORDER = {False: "metrics.test_total_time ASC", True: "metrics.paired_geomean_ratio ASC"}  # by Target.paired


class ReferenceRefused(ValueError):
    """An explicitly named reference that cannot be compared with this run."""


@dataclass(frozen=True)
class Target:
    """What the gated module measures, which its reference must match."""

    algorithm: str
    dataset: str
    workload: str
    paired: bool  # gated on paired ratios: the reference needs plain times too


@dataclass(frozen=True)
class ReferenceRun:
    """One candidate reference, as read from a tracked run or a results file."""

    source: str  # "run <id>" or "file <path>"
    status: str | None
    algorithm: str | None
    dataset: str | None
    workload: str | None
    per_query: Sequence[QueryMeasurement] | None


def per_sql(queries: Iterable[QueryMeasurement],
            value: Callable[[QueryMeasurement], float | None]) -> dict[str, float]:
    """`value` of each counted (not failed) query that has one, keyed by the query's SQL text."""
    found = {}
    for query in queries:
        number = None if query.failed or not query.sql else value(query)
        if number is not None:
            found[query.sql] = number
    return found


def problems(run: ReferenceRun, target: Target) -> list[str]:
    """Why `run` cannot be `target`'s reference (empty when it can)."""
    found = []
    if run.status != "FINISHED":
        found.append(f"it is {run.status or 'of unknown status'}, not FINISHED")
    for what, theirs, ours in (("algorithm", run.algorithm, target.algorithm),
                               ("dataset", run.dataset, target.dataset),
                               ("workload", run.workload, target.workload)):
        if theirs != ours:
            found.append(f"its {what} is {theirs or 'not recorded'}, not {ours}")
    queries = run.per_query or []
    if not WorkloadStats(queries).per_query():
        found.append("it has no per-query timings")
    elif not all(q.sql for q in queries):
        found.append("its per-query rows do not carry their SQL (recorded before queries were paired by text)")
    elif target.paired and not any(q.paired_ratio is not None for q in queries):
        found.append("it has no paired plain PostgreSQL times (run it without --no-paired)")
    return found


@dataclass(frozen=True)
class Reference:
    """One or more comparable runs; per query (keyed by SQL) the median over them."""

    source: str
    runs: tuple[ReferenceRun, ...]

    def _median(self, value: Callable[[QueryMeasurement], float | None]) -> dict[str, float]:
        by_sql: dict[str, list[float]] = {}
        for run in self.runs:
            for sql, found in per_sql(run.per_query or [], value).items():
                by_sql.setdefault(sql, []).append(found)
        return {sql: median(values) for sql, values in by_sql.items()}

    def times(self, metric: str) -> dict[str, float]:
        return self._median(lambda q: q.seconds(metric))

    def ratios(self) -> dict[str, float]:
        """Per query, the median algorithm / plain PostgreSQL ratio."""
        return self._median(lambda q: q.paired_ratio)

    def judge(self, queries: Sequence[QueryMeasurement], spec: GateSpec, paired: bool) -> GateVerdict | None:
        """A run's queries against this reference (on paired ratios if `paired`); None: nothing in common."""
        labels = {q.sql: q.query_id for q in queries}
        if paired:
            current, expected, verdict = per_sql(queries, lambda q: q.paired_ratio), self.ratios(), judge_paired
        else:
            current, expected, verdict = per_sql(queries, lambda q: q.seconds(spec.metric)), self.times(spec.metric), judge
        if not set(current) & set(expected):
            return None
        return verdict(current, expected, spec.threshold, labels=labels)


def check(run: ReferenceRun, target: Target) -> Reference:
    """`run` as the reference, or ReferenceRefused saying why it is not comparable."""
    found = problems(run, target)
    if found:
        raise ReferenceRefused(f"--gate-ref: {run.source} cannot be the reference of {target.algorithm} on "
                               f"{target.dataset} ({target.workload} workload): " + "; ".join(found) + ".")
    return Reference(run.source, (run,))


def choose(candidates: Iterable[ReferenceRun], target: Target, how: str) -> Reference | None:
    """The reference `how` picks among candidates (newest first; best first for `best`), comparable ones only.

    Candidates are read lazily (each one is an artifact download) until enough comparable ones are found.
    """
    usable = tuple(islice((run for run in candidates if not problems(run, target)), RECENT if how == "recent" else 1))
    if not usable:
        return None
    if how == "recent":
        return Reference(f"the per-query median of {len(usable)} recent runs "
                         f"({', '.join(run.source.split()[-1][:8] for run in usable)})", usable)
    return Reference(usable[0].source, usable)


# ------------------------------------------------------------------ reading
def from_results_file(path: Path) -> ReferenceRun:
    """A results file (`--results-dir`) as a candidate; a pytest-benchmark JSON has no status or SQL."""
    from pilotscope.Common.legacy_results import read_results_file
    source = f"file {path}"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReferenceRefused(f"--gate-ref {path}: cannot read it ({exc}).") from None
    if "benchmarks" in raw:
        raise ReferenceRefused(f"--gate-ref {path} is a pytest-benchmark file: it records no run status and no "
                               f"SQL per query. Give a results file (see --results-dir) or a run id.")
    try:
        results = read_results_file(path)
    except (KeyError, TypeError) as exc:
        raise ReferenceRefused(f"--gate-ref {path} is not a results file (missing {exc}).") from None
    extra = results.extra_info
    per_query = extra.get("per_query")
    return ReferenceRun(source, extra.get("status"), results.algorithm, results.database, extra.get("workload"),
                        None if per_query is None else [QueryMeasurement.from_dict(q) for q in per_query])


def from_run(run) -> ReferenceRun:
    """A tracked MLflow run as a candidate (its per-query artifact is downloaded)."""
    from pytest_pilotscope.tracking import run_per_query
    params = run.data.params
    return ReferenceRun(f"run {run.info.run_id}", run.info.status, params.get("algorithm"), params.get("dataset"),
                        params.get("workload"), run_per_query(run.info.run_id))


def resolve(ref: str, target: Target, tracked: bool) -> tuple[Reference | None, str]:
    """The reference `--gate-ref` names for `target`, or None and why there is none (a pass with a note).

    Raises ReferenceRefused for a named run or file that is missing or not comparable.
    """
    path = Path(ref)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise ReferenceRefused(f"--gate-ref {ref}: no such file.")
        reference = check(from_results_file(path), target)
        return reference, reference.source
    if not tracked:
        raise ReferenceRefused("--gate-ref recent/last/best/RUN_ID needs MLflow: drop --no-mlflow or give a "
                               "results file.")
    from pilotscope.Common.MLflowTracker import experiment_name_for
    from pytest_pilotscope.tracking import find_run, finished_runs
    if ref not in CHOICES:
        run = find_run(ref)
        if run is None:
            raise ReferenceRefused(f"--gate-ref {ref}: no such run in the tracking store. Give a run id, a "
                                   f"results file or one of {', '.join(CHOICES)}.")
        reference = check(from_run(run), target)
        return reference, reference.source
    experiment = experiment_name_for(target.algorithm, target.dataset)
    order = _BEST_ORDER[target.paired] if ref == "best" else "attributes.start_time DESC"
    runs = finished_runs(experiment, [order], workload=target.workload)
    reference = choose((from_run(run) for run in runs), target, ref)
    if reference is None:
        return None, f"no comparable FINISHED run of {experiment} on the {target.workload} workload"
    return reference, reference.source


# --------------------------------------------------------------- the session
@dataclass(frozen=True)
class GateReference:
    """A gated module's target and its reference (None: none to compare with, and `source` says why)."""

    target: Target
    reference: Reference | None
    source: str


def resolve_all(options: PilotOptions, modules: Iterable) -> dict[str, GateReference]:
    """Each gated benchmark module's reference, by module name; a refused one is a usage error."""
    resolved = {}
    for module in modules:
        target = Target(module.ALGORITHM, module.DATASET, options.workload,
                        paired=options.paired and options.gate.metric == "test_total_time")
        try:
            resolved[module.__name__] = GateReference(target, *resolve(options.gate_ref, target, options.tracked))
        except ReferenceRefused as exc:
            raise pytest.UsageError(str(exc)) from None
    return resolved


def apply_gate(options: PilotOptions, records: Mapping[str, ModuleRecord],
               references: Mapping[str, GateReference]) -> bool:
    """Judge every timed module against its reference and promote a model that beat it (`promotion`); each
    module's `gate_report` says how. True when any regressed."""
    regressed = False
    for name, record in records.items():
        if not record.stats().timed:
            record.gate_report = "gate: not judged, this run took no timings"
            continue
        gated = references[name]
        verdict = gated.reference and gated.reference.judge(record.stats().queries, options.gate, gated.target.paired)
        if verdict is None:
            report = f"gate: pass (no reference to compare with: {gated.source})"
        else:
            regressed |= verdict.regression
            report = f"gate {options.gate.metric} vs {gated.source}: {verdict.describe()}"
        promoted = promote_if_better(record, verdict)
        record.gate_report = report if promoted is None else f"{report}\n{promoted}"
    return regressed
