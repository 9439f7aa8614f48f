"""pytest-pilotscope: benchmark modules that train, track and time learned query optimizers.

A benchmark module names its algorithm and dataset and has one test over the workload's queries::

    ALGORITHM = "mscn"
    DATASET = "stats_tiny"

    def test_query(pilot_query, benchmark_query):
        result = benchmark_query(pilot_query)         # pytest-benchmark pedantic timing
        assert result.records == pilot_query.expected  # PostgreSQL's own answer

Each module is one MLflow run (`mlflow_run`), its scheduler is trained or loaded once
(`trained_scheduler`), per-query timings come from pytest-benchmark, a legacy results file is
written at the end of the session, and `--gate` compares the run with a reference.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from pytest_pilotscope.records import ModuleRecord

ALGORITHMS: dict[str, str] = {
    "baseline": "algorithm_examples.Baseline.BaselinePresetScheduler:get_baseline_preset_scheduler",
    "mscn": "algorithm_examples.Mscn.MscnPresetScheduler:get_mscn_preset_scheduler",
    "lero": "algorithm_examples.Lero.LeroPresetScheduler:get_lero_preset_scheduler",
}
# Extra quality metrics of an algorithm, logged to the module's run: (scheduler, config, sqls, tracker) -> dict
EVALUATIONS: dict[str, str] = {
    "mscn": "algorithm_examples.Mscn.MscnPresetScheduler:evaluate_qerror",
}
WORKLOADS = ("test", "fast", "train")

# option name -> (ini name, type, default, help)
OPTIONS: dict[str, tuple[str, Any, Any, str]] = {
    "db": ("pilotscope_db", str, "stats_tiny", "dataset to benchmark; modules for other datasets are deselected"),
    "epochs": ("pilotscope_epochs", int, 100, "training epochs"),
    "num_training": ("pilotscope_num_training", int, -1, "training queries (-1: all)"),
    "num_collection": ("pilotscope_num_collection", int, -1, "queries to collect training data from (-1: all)"),
    "workload": ("pilotscope_workload", str, "test", "workload to benchmark: test, fast or train"),
    "rounds": ("pilotscope_rounds", int, 1, "timed executions per query"),
    "warmup_rounds": ("pilotscope_warmup_rounds", int, 0, "untimed executions per query before timing"),
    "query_timeout": ("pilotscope_query_timeout", float, 300.0, "statement timeout per query, seconds"),
    "results_dir": ("pilotscope_results_dir", str, "", "where legacy JSON results files go"),
    "gate": ("pilotscope_gate", str, "", "regression gate, e.g. test_total_time:10%"),
    "gate_ref": ("pilotscope_gate_ref", str, "best", "gate reference: best, last, a run id, or a JSON file"),
}
FLAGS: dict[str, tuple[str, str]] = {
    "no_mlflow": ("pilotscope_no_mlflow", "do not track in MLflow"),
    "no_train": ("pilotscope_no_train", "no collection or training: use the best tracked (or newest local) model"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pilotscope", "pilotscope benchmarks")
    for name, (ini, kind, default, help_text) in OPTIONS.items():
        group.addoption(f"--{name.replace('_', '-')}", dest=f"pilotscope_{name}", default=None,
                        type=kind, help=f"{help_text} (ini: {ini}; default {default!r})")
        parser.addini(ini, help_text, default=str(default))
    for name, (ini, help_text) in FLAGS.items():
        group.addoption(f"--{name.replace('_', '-')}", dest=f"pilotscope_{name}", action="store_true",
                        default=None, help=f"{help_text} (ini: {ini})")
        parser.addini(ini, help_text, type="bool", default=False)


def option(config: pytest.Config, name: str) -> Any:
    """A pilotscope option: the command line wins over the ini file."""
    value = config.getoption(f"pilotscope_{name}")
    if value is not None:
        return value
    if name in FLAGS:
        return config.getini(FLAGS[name][0])
    ini, kind, _, _ = OPTIONS[name]
    return kind(config.getini(ini))


def results_dir(config: pytest.Config) -> Path | None:
    """--results-dir, or None for the default folder."""
    folder = option(config, "results_dir")
    return Path(folder) if folder else None


def xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def timings_enabled(config: pytest.Config) -> bool:
    """pytest-benchmark disables itself under xdist (and with --benchmark-disable): no timings then."""
    session = getattr(config, "_benchmarksession", None)
    return session is not None and not session.disabled


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from pilotscope.datasets import available_datasets
    from pilotscope.errors import ConfigurationError
    from pilotscope.PilotConfig import PostgreSQLConfig
    config.addinivalue_line("markers", "perf: performance benchmarks (pytest-benchmark)")
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"  # one benchmark module = one worker, one run, one trained model
    db = option(config, "db")
    known = available_datasets()
    if db not in known:
        raise pytest.UsageError(f"--db {db!r}: unknown dataset. Known datasets: {', '.join(sorted(known))}.")
    try:
        PostgreSQLConfig(db=db)  # a malformed PILOTSCOPE_DATABASE_URL is a usage error, before anything runs
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    if option(config, "workload") not in WORKLOADS:
        raise pytest.UsageError(f"--workload must be one of {', '.join(WORKLOADS)}.")
    if option(config, "gate"):
        from pytest_pilotscope.gate import GateSpec
        try:
            GateSpec.parse(option(config, "gate"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if getattr(config.option, "numprocesses", None) or xdist_worker(config):
            raise pytest.UsageError("--gate needs timings, and pytest-benchmark takes none under xdist (-n): "
                                    "run the gated benchmark without -n.")
    config.pluginmanager.register(PilotSession(config), "pilotscope-session")


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


class PilotSession:
    """Session-wide state: one record per benchmark module, the results files and the gate."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.modules: dict[str, ModuleRecord] = {}
        self.deselected_modules: set[str] = set()
        self.worker_summaries: list[str] = []  # under xdist: summary lines sent by the workers
        self.worker_results_errors: list[str] = []  # under xdist: results files the workers could not write
        self.problems: list[str] = []  # bad benchmark modules, a usage error before anything runs
        self.preflight_done = False
        self.interrupted = False
        self._plain = {}

    # ----------------------------------------------------------- collection
    def module_target(self, module) -> tuple[str, str] | None:
        algorithm = getattr(module, "ALGORITHM", None)
        dataset = getattr(module, "DATASET", None)
        return (algorithm, dataset) if algorithm and dataset else None

    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "pilot_query" not in metafunc.fixturenames:
            return
        target = self.module_target(metafunc.module)
        if target is None:
            self.problems.append(f"{metafunc.module.__file__}: a benchmark module needs ALGORITHM and DATASET.")
        elif target[0] not in ALGORITHMS and not hasattr(metafunc.module, "get_preset_scheduler"):
            self.problems.append(f"{metafunc.module.__file__}: unknown algorithm {target[0]!r}. Known: "
                                 f"{', '.join(ALGORITHMS)} (or define get_preset_scheduler in the module).")
        elif target[1] == option(self.config, "db") and not self.preflight_done:
            self.preflight_done = True
            if not self.config.option.collectonly:
                from pytest_pilotscope import preflight
                self.problems.extend(preflight.problems(results_dir(self.config),
                                                        tracked=not option(self.config, "no_mlflow")))
        if self.problems and xdist_worker(self.config):  # a usage error crashes an xdist worker: this it reports
            problems, self.problems = self.problems, []
            raise pytest.Collector.CollectError("\n".join(problems))
        if target is None or self.problems:  # reported as a usage error once collection ends
            metafunc.parametrize("pilot_query", [None], ids=["invalid"])
            return
        algorithm, dataset = target
        if dataset != option(self.config, "db"):
            metafunc.parametrize("pilot_query", [None], ids=["other-dataset"])
            return
        from pilotscope.datasets import load_sql
        sqls = load_sql(dataset, option(self.config, "workload"))
        queries = [PilotQuery(i, f"q{i:03d}", sql, dataset, self.plain_answer) for i, sql in enumerate(sqls)]
        metafunc.parametrize("pilot_query", queries, ids=[q.query_id for q in queries])

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.problems:
            raise pytest.UsageError("\n".join(self.problems))
        keep, drop = [], []
        for item in items:
            module = getattr(item, "module", None)
            target = self.module_target(module) if module is not None else None
            if target and target[1] != option(config, "db"):
                drop.append(item)
                self.deselected_modules.add(f"{item.path.name} ({target[1]})")
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    # ------------------------------------------------------- plain answers
    def plain_answer(self, dataset: str, sql: str) -> list:
        """PostgreSQL's result without any steering, sorted (row order is not part of the answer)."""
        from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
        from pilotscope.PilotConfig import PostgreSQLConfig
        if dataset not in self._plain:
            self._plain[dataset] = PilotDataInteractor(PostgreSQLConfig(
                db=dataset, sql_execution_timeout=option(self.config, "query_timeout")))
        interactor = self._plain[dataset]
        interactor.pull_record()
        data = interactor.execute(sql)
        if data.timed_out:
            pytest.fail(f"plain PostgreSQL timed out on this query after {option(self.config, 'query_timeout')} s")
        return sorted(data.records, key=repr)

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
            record.record(query.index, query.query_id).failed = True
        else:
            record.errors += 1

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from pytest_pilotscope import reporting
        for interactor in self._plain.values():
            interactor.close()
        for record in self.modules.values():
            if record.status == "RUNNING":  # interrupted before its module finished
                reporting.finish_run(self.config, record, "KILLED" if self.interrupted else "FAILED")
        if option(self.config, "gate") and not self.interrupted:
            if reporting.apply_gate(self.config, self.modules.values()):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        results_errors = [r.results_error for r in self.modules.values() if r.results_error]
        if (results_errors or self.worker_results_errors) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # measured but not kept: the session failed
        if xdist_worker(self.config):  # the controller prints the summary and sets the exit status
            self.config.workeroutput["pilotscope_summary"] = reporting.summary_lines(self.config, self)
            self.config.workeroutput["pilotscope_results_errors"] = results_errors

    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", {})
        self.worker_summaries.extend(output.get("pilotscope_summary", []))
        self.worker_results_errors.extend(output.get("pilotscope_results_errors", []))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        from pytest_pilotscope import reporting
        reporting.terminal_summary(self.config, terminalreporter, self)


def pilot_session(config: pytest.Config) -> PilotSession:
    return config.pluginmanager.get_plugin("pilotscope-session")


def _resolve(target: str) -> Callable:
    module_name, function = target.split(":")
    return getattr(importlib.import_module(module_name), function)


def load_preset(module) -> Callable:
    return getattr(module, "get_preset_scheduler", None) or _resolve(ALGORITHMS[module.ALGORITHM])


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def pilot_config(pytestconfig: pytest.Config):
    """The benchmark database's config: the embedded server unless an external one is configured."""
    from pilotscope.datasets import load_dataset
    from pilotscope.PilotConfig import PostgreSQLConfig
    db = option(pytestconfig, "db")
    config = PostgreSQLConfig(db=db, sql_execution_timeout=option(pytestconfig, "query_timeout"))
    load_dataset(db, config)
    return config


@pytest.fixture(scope="module")
def mlflow_run(request: pytest.FixtureRequest, pilot_config):
    """One MLflow run per benchmark module (None with --no-mlflow); ended by the module's outcome."""
    from pytest_pilotscope import reporting
    session = pilot_session(request.config)
    module = request.module
    record = ModuleRecord(nodeid=request.node.nodeid, algorithm=module.ALGORITHM, dataset=module.DATASET,
                          timed=timings_enabled(request.config))
    session.modules[module.__name__] = record
    if not option(request.config, "no_mlflow"):
        from pilotscope.Common.MLflowTracker import start_tracking
        record.tracker = start_tracking(module.ALGORITHM, pilot_config, True, **reporting.run_params(request.config))
        record.run_id, record.experiment = record.tracker.run_id, record.tracker.experiment_name
    yield record.tracker
    reporting.finish_run(request.config, record, "FAILED" if record.failed else "FINISHED")


@pytest.fixture(scope="module")
def trained_scheduler(request: pytest.FixtureRequest, pilot_config, mlflow_run):
    """The module's algorithm, collected and trained (or loaded with --no-train), logging into mlflow_run."""
    from pilotscope import progress
    preset = load_preset(request.module)
    train = not option(request.config, "no_train")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    writer = request.config.get_terminal_writer()

    def show(message: str) -> None:
        with capture.global_and_fixture_disabled():
            writer.line(f"[pilotscope] {message}")

    progress.set_sink(show)
    try:
        scheduler, _ = preset(pilot_config, enable_collection=train, enable_training=train,
                              num_collection=option(request.config, "num_collection"),
                              num_training=option(request.config, "num_training"),
                              num_epoch=option(request.config, "epochs"),
                              use_mlflow=mlflow_run is not None, tracker=mlflow_run)
        evaluation = EVALUATIONS.get(request.module.ALGORITHM)
        if evaluation and mlflow_run is not None:
            from pilotscope.datasets import load_sql
            metrics = _resolve(evaluation)(scheduler, pilot_config,
                                           load_sql(pilot_config.db, option(request.config, "workload")), mlflow_run)
            show("quality: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items() if k.endswith("_median")))
    finally:
        progress.set_sink(None)
    yield scheduler
    scheduler.close()


@pytest.fixture
def benchmark_query(request: pytest.FixtureRequest, benchmark, trained_scheduler):
    """Time `trained_scheduler.execute(sql)` for one query with pytest-benchmark (pedantic)."""
    session = pilot_session(request.config)
    record = session.modules[request.module.__name__]
    rounds = option(request.config, "rounds")
    warmup = option(request.config, "warmup_rounds")

    def run(query: PilotQuery):
        benchmark.group = f"{record.algorithm} on {record.dataset}"
        result = benchmark.pedantic(trained_scheduler.execute, args=(query.sql,), rounds=rounds,
                                    warmup_rounds=warmup)
        entry = record.record(query.index, query.query_id)
        entry.db_execution, entry.overhead, entry.timed_out = (result.db_execution_time, result.steering_time,
                                                                result.timed_out)
        if record.timed and benchmark.stats is not None:
            entry.end_to_end = benchmark.stats.stats.median
        if result.timed_out:
            entry.failed = True
            pytest.fail(f"{query.query_id} timed out after {option(request.config, 'query_timeout')} s")
        result.records = sorted(result.records, key=repr)
        return result

    return run
