"""The pilotscope session: one per pytest session, registered in `pytest_configure`.

Lifecycle: collection parametrizes each benchmark module (`ALGORITHM`, `DATASET`) over its workload's
queries and deselects modules of other datasets; the `mlflow_run` fixture opens a `ModuleRecord` per
module and `finish_module` closes it (results file, then its run) when the module ends, or at session end
for a module cut short; the gate's references are chosen and checked once collection ends, before any
query runs, and `pytest_sessionfinish` applies the gate; the terminal summary comes last. Under
xdist each worker runs whole modules and sends its summary lines to the controller, which prints them.
All state is set in `__init__`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from pilotscope.Common.tracking_store import plain_mlflow_hint
from pytest_pilotscope import references, results_file, tracking
from pytest_pilotscope.options import PilotOptions
from pytest_pilotscope.records import ModuleRecord
from pytest_pilotscope.registry import algorithms
from pytest_pilotscope.summary import XDIST_NOTE, SummaryReporter, module_lines


@dataclass(frozen=True)
class PilotQuery:
    """One workload query of a benchmark module; `expected` is PostgreSQL's own answer (lazily)."""

    index: int
    query_id: str
    sql: str
    dataset: str
    _answers: Callable[[str, str], list] | None = None

    @property
    def expected(self) -> list:
        return self._answers(self.dataset, self.sql)


def module_target(module) -> tuple[str, str] | None:
    """A benchmark module's (ALGORITHM, DATASET), or None for any other module."""
    algorithm = getattr(module, "ALGORITHM", None)
    dataset = getattr(module, "DATASET", None)
    return (algorithm, dataset) if algorithm and dataset else None


class PilotSession:
    """Session-wide state: one record per benchmark module, the results files and the gate."""

    def __init__(self, config: pytest.Config, options: PilotOptions) -> None:
        self.config = config
        self.options = options
        self.modules: dict[str, ModuleRecord] = {}
        self.deselected_modules: set[str] = set()
        self.worker_summaries: list[str] = []  # under xdist: summary lines sent by the workers
        self.worker_results_errors: list[str] = []  # under xdist: results files the workers could not write
        self.problems: list[str] = []  # bad benchmark modules, a usage error before anything runs
        self.preflight_done = False
        self.interrupted = False
        self.regressed = False
        self.gate_references: dict[str, references.GateReference] = {}  # by module name, with --gate
        self._plain = {}
        self._kept_answer: tuple[str, str, list] | None = None  # (dataset, sql, rows): see keep_plain_answer
        self._workloads: dict[str, list[str]] = {}  # by dataset: the queries of --workload

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # ----------------------------------------------------------- collection
    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "pilot_query" not in metafunc.fixturenames:
            return
        target = module_target(metafunc.module)
        if target is None:
            self.problems.append(f"{metafunc.module.__file__}: a benchmark module needs ALGORITHM and DATASET.")
        elif target[0] not in algorithms() and not hasattr(metafunc.module, "get_preset_scheduler"):
            self.problems.append(f"{metafunc.module.__file__}: unknown algorithm {target[0]!r}. Known: "
                                 f"{', '.join(algorithms())} (or define get_preset_scheduler in the module).")
        elif target[1] == self.options.db and not self.preflight_done:
            self.preflight_done = True
            if not self.config.option.collectonly:
                from pytest_pilotscope import preflight
                self.problems.extend(preflight.problems(self.options.results_dir, tracked=self.options.tracked))
        if self.problems and self.is_worker:  # a usage error crashes an xdist worker: this it reports
            problems, self.problems = self.problems, []
            raise pytest.Collector.CollectError("\n".join(problems))
        if target is None or self.problems:  # reported as a usage error once collection ends
            metafunc.parametrize("pilot_query", [None], ids=["invalid"])
            return
        algorithm, dataset = target
        if dataset != self.options.db:
            metafunc.parametrize("pilot_query", [None], ids=["other-dataset"])
            return
        sqls = self.workload_sql(dataset)
        whole_module = pytest.mark.xdist_group(metafunc.module.__name__)  # one worker, one run, one trained model
        queries = [pytest.param(PilotQuery(i, f"q{i:03d}", sql, dataset, self.plain_answer), marks=whole_module,
                                id=f"q{i:03d}") for i, sql in enumerate(sqls)]
        metafunc.parametrize("pilot_query", queries)

    def workload_sql(self, dataset: str) -> list[str]:
        """The queries of --workload: a dataset's file, or a generated workload (generated once, then cached)."""
        from pilotscope.generated_workload import workload_sql
        if dataset not in self._workloads:
            self._workloads[dataset] = workload_sql(dataset, self.options.workload, progress=self._progress)
        return self._workloads[dataset]

    def _progress(self, message: str) -> None:
        """Generation progress, past pytest's capture (under xdist a worker's output is not shown)."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        writer = self.config.get_terminal_writer()
        if capture is None or self.is_worker:
            return
        with capture.global_and_fixture_disabled():
            writer.line(f"[pilotscope] generating {self.options.workload}: {message}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.problems:
            raise pytest.UsageError("\n".join(self.problems))
        keep, drop = [], []
        for item in items:
            module = getattr(item, "module", None)
            target = module_target(module) if module is not None else None
            if target and target[1] != self.options.db:
                drop.append(item)
                self.deselected_modules.add(f"{item.path.name} ({target[1]})")
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        if self.options.gate and not config.option.collectonly:  # a bad reference: refused before any run
            modules = {item.module for item in keep if module_target(getattr(item, "module", None))}
            self.gate_references = references.resolve_all(self.options, modules)

    # ------------------------------------------------------- plain answers
    def keep_plain_answer(self, dataset: str, sql: str, rows: list) -> None:
        """The rows a paired plain execution just returned: the next `plain_answer` of that query uses them
        instead of executing it once more (on a slow workload that execution was a third of the time).
        One answer is kept, so a workload's answers never pile up in memory."""
        self._kept_answer = (dataset, sql, rows)

    def plain_answer(self, dataset: str, sql: str) -> list:
        """PostgreSQL's result without any steering, sorted (row order is not part of the answer)."""
        from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
        from pilotscope.PilotConfig import PostgreSQLConfig
        kept, self._kept_answer = self._kept_answer, None
        if kept is not None and kept[:2] == (dataset, sql):
            return sorted(kept[2], key=repr)
        if dataset not in self._plain:
            self._plain[dataset] = PilotDataInteractor(PostgreSQLConfig(
                db=dataset, sql_execution_timeout=self.options.query_timeout))
        interactor = self._plain[dataset]
        interactor.pull_record()
        data = interactor.execute(sql)
        if data.timed_out:
            pytest.fail(f"plain PostgreSQL timed out on this query after {self.options.query_timeout} s")
        return sorted(data.records, key=repr)

    # ------------------------------------------------------------ modules
    def start_module(self, request: pytest.FixtureRequest, pilot_config, timed: bool) -> ModuleRecord:
        module = request.module
        record = ModuleRecord(nodeid=request.node.nodeid, algorithm=module.ALGORITHM, dataset=module.DATASET,
                              timed=timed, preset_args=dict(getattr(module, "PRESET_ARGS", {})))
        self.modules[module.__name__] = record
        tracking.start_run(self.options, record, pilot_config)
        return record

    def finish_module(self, record: ModuleRecord, status: str) -> None:
        """Write the results file, then log to and end the module's run with `status` (once).

        `status` is FINISHED, FAILED or KILLED; a results file that cannot be written makes a FINISHED run
        FAILED, with the reason as its `error` tag. After Ctrl-C the session ends the run KILLED before
        pytest tears the module down.
        """
        if record.status != "RUNNING":
            return
        record.status = status
        record.benchmark_json = self._benchmark_json(record)
        error = results_file.write_module_results(self.options, record)
        baseline = tracking.baseline_times(self.options, record, self.modules.values()) if record.tracker else None
        tracking.end_run(record, baseline, error)

    def _benchmark_json(self, record: ModuleRecord) -> dict | None:
        """pytest-benchmark's own JSON for this module's benchmarks (as --benchmark-json writes it)."""
        session = getattr(self.config, "_benchmarksession", None)
        if session is None or session.disabled:
            return None
        mine = [b for b in session.benchmarks if b and record.owns(b.fullname)]
        if not mine:
            return None
        return self.config.hook.pytest_benchmark_generate_json(
            config=self.config, benchmarks=mine, include_data=True, machine_info=session.get_machine_info(),
            commit_info=self.config.hook.pytest_benchmark_generate_commit_info(config=self.config))

    def owns(self, benchmark_fullname: str) -> bool:
        """Whether a pytest-benchmark benchmark times one of this session's module queries."""
        return any(record.owns(benchmark_fullname) for record in self.modules.values())

    # ------------------------------------------------------------ outcomes
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        record = self.modules.get(item.module.__name__) if hasattr(item, "module") else None
        if record is None or report.passed or report.skipped:
            return
        query = getattr(item, "callspec", None) and item.callspec.params.get("pilot_query")
        if report.when == "call" and query is not None:
            measured = record.query(query.index, query.query_id, query.sql)
            measured.failed = not measured.timed_out  # a timeout is a measurement (see workload_metrics)
        else:
            record.errors += 1

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for interactor in self._plain.values():
            interactor.close()
        for record in self.modules.values():
            if record.status == "RUNNING":  # interrupted before its module finished
                self.finish_module(record, "KILLED" if self.interrupted else "FAILED")
        if self.options.gate and not self.interrupted:
            self.regressed = references.apply_gate(self.options, self.modules, self.gate_references)
            if self.regressed:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        results_errors = [r.results_error for r in self.modules.values() if r.results_error]
        if (results_errors or self.worker_results_errors) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # measured but not kept: the session failed
        if self.is_worker:  # the controller prints the summary and sets the exit status
            self.config.workeroutput["pilotscope_summary"] = module_lines(self.modules.values())
            self.config.workeroutput["pilotscope_results_errors"] = results_errors

    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", {})
        self.worker_summaries.extend(output.get("pilotscope_summary", []))
        self.worker_results_errors.extend(output.get("pilotscope_results_errors", []))

    # ------------------------------------------------------------ terminal
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter):
        """After every other section (pytest-benchmark's tables, the short test summary): the answer."""
        yield
        reporter = SummaryReporter(terminalreporter)
        notes = []
        if self.deselected_modules:
            notes.append(f"deselected (not --db {self.options.db}): " + ", ".join(sorted(self.deselected_modules)))
        if self.worker_summaries:
            notes.append(XDIST_NOTE)
        elif any(r.stats().timed for r in self.modules.values()):
            notes.append("per-query timings: in each results file (extra_info.per_query) and run "
                         "(benchmark/per_query.json), not in pytest-benchmark's tables")
        if self.options.tracked and (self.modules or self.worker_summaries):
            notes.append(plain_mlflow_hint())
        reporter.write(module_lines(self.modules.values()) + self.worker_summaries, notes)
        if self.regressed:
            reporter.count_regression()
