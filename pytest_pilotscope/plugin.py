"""pytest-pilotscope: benchmark modules that train, track and time learned query optimizers.

A benchmark module names its algorithm and dataset and has one test over the workload's queries::

    ALGORITHM = "mscn"
    DATASET = "stats_tiny"

    def test_query(pilot_query, benchmark_query):
        result = benchmark_query(pilot_query)         # pytest-benchmark pedantic timing
        assert result.records == pilot_query.expected  # PostgreSQL's own answer

Each module is one MLflow run (`mlflow_run`), its scheduler is trained or loaded once
(`trained_scheduler`), per-query timings come from pytest-benchmark, a legacy results file is
written when the module ends, and `--gate` compares the run with a reference. This module holds the
hooks and fixtures; the options are read once (`options.py`), the session keeps the state
(`session.py`), and what was measured goes to MLflow (`tracking.py`), the results file
(`results_file.py`), the gate (`references.py`) and the terminal (`summary.py`).
"""
from __future__ import annotations

import inspect

import pytest

from pilotscope.Common.workload_metrics import QueryMeasurement
from pytest_pilotscope.options import PilotOptions, add_options
from pytest_pilotscope.pairing import PLAIN_POSTGRESQL, RAW_DRIVER, PlainRounds, RawDriver
from pytest_pilotscope.registry import get_algorithm
from pytest_pilotscope.session import PilotQuery, PilotSession

SESSION_NAME = "pilotscope-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "perf: performance benchmarks (pytest-benchmark)")
    keep_modules_whole(config)
    config.pluginmanager.register(PilotSession(config, PilotOptions.from_config(config)), SESSION_NAME)


def keep_modules_whole(config: pytest.Config) -> None:
    """Under `-n`, xdist's default `load` becomes `loadgroup`: the same for other tests, but a benchmark
    module's queries (each marked `xdist_group` with its module) stay on one worker, one run, one model."""
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
    if getattr(config, "workerinput", {}).get("pilotscope_loadgroup"):
        config.option.loadgroup = True  # what xdist's worker sets from the command line, which had no --dist


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: a worker rebuilds its options from the command line, so it is told the controller's --dist."""
    node.workerinput["pilotscope_loadgroup"] = node.config.option.dist == "loadgroup"


def pilot_session(config: pytest.Config) -> PilotSession:
    return config.pluginmanager.get_plugin(SESSION_NAME)


@pytest.hookimpl(hookwrapper=True, optionalhook=True)
def pytest_benchmark_group_stats(config: pytest.Config, benchmarks, group_by):
    """pytest-benchmark's tables leave out the benchmark modules' queries: one row per query buries the answer."""
    outcome = yield
    session = pilot_session(config)
    groups = [(name, [b for b in members if not session.owns(b["fullname"])]) for name, members in outcome.get_result()]
    outcome.force_result([(name, members) for name, members in groups if members])


def timings_enabled(config: pytest.Config) -> bool:
    """pytest-benchmark disables itself under xdist (and with --benchmark-disable): no timings then."""
    session = getattr(config, "_benchmarksession", None)
    return session is not None and not session.disabled


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def pilot_config(pytestconfig: pytest.Config):
    """The benchmark database's config: the embedded server unless an external one is configured."""
    from pilotscope.datasets import load_dataset
    from pilotscope.PilotConfig import PostgreSQLConfig
    options = pilot_session(pytestconfig).options
    config = PostgreSQLConfig(db=options.db, sql_execution_timeout=options.query_timeout)
    load_dataset(options.db, config)
    return config


@pytest.fixture(scope="module")
def mlflow_run(request: pytest.FixtureRequest, pilot_config):
    """One MLflow run per benchmark module (None with --no-mlflow); ended by the module's outcome."""
    session = pilot_session(request.config)
    record = session.start_module(request, pilot_config, timed=timings_enabled(request.config))
    yield record.tracker
    session.finish_module(record, "FAILED" if record.failed else "FINISHED")


@pytest.fixture(scope="module")
def trained_scheduler(request: pytest.FixtureRequest, pilot_config, mlflow_run):
    """The module's algorithm, collected and trained (or loaded with --no-train), logging into mlflow_run."""
    from pilotscope import progress
    options = pilot_session(request.config).options
    module = request.module
    algorithm = None if hasattr(module, "get_preset_scheduler") else get_algorithm(module.ALGORITHM)
    preset = module.get_preset_scheduler if algorithm is None else algorithm.load_preset()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    writer = request.config.get_terminal_writer()

    def show(message: str) -> None:
        with capture.global_and_fixture_disabled():
            writer.line(f"[pilotscope] {message}")

    progress.set_sink(show)
    try:
        record = pilot_session(request.config).modules[module.__name__]
        offered = {"enable_collection": not options.no_train, "enable_training": not options.no_train,
                   **options.training_args(record.preset_args), "use_mlflow": mlflow_run is not None,
                   "tracker": mlflow_run, "workloads": (options.workload,)}
        scheduler, _ = preset(pilot_config, **preset_arguments(preset, offered))
        model = scheduler.pilot_model
        if model is not None and model.reused:
            record.reused_model = model.model_id
        if model is not None and model.loaded_from:
            record.loaded_model = f"{model.model_id} from {model.loaded_from}"
        evaluation = algorithm.load_evaluation() if algorithm else None
        if evaluation and mlflow_run is not None:
            sqls = pilot_session(request.config).workload_sql(pilot_config.db)
            metrics = evaluation(scheduler, pilot_config, sqls, mlflow_run)
            show("quality: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items() if k.endswith("_median")))
    finally:
        progress.set_sink(None)
    yield scheduler
    scheduler.close()


def preset_arguments(preset, offered: dict) -> dict:
    """What of `offered` the preset takes: a preset with `**kwargs` all but `workloads`, which only a preset
    that prepares per workload names (truecard); a PilotScope preset only the arguments it names (it
    tracks nothing itself, and the module's run still records its timings)."""
    parameters = inspect.signature(preset).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {name: value for name, value in offered.items() if name != "workloads" or name in parameters}
    return {name: value for name, value in offered.items() if name in parameters}


@pytest.fixture(scope="module")
def plain_run(request: pytest.FixtureRequest, pilot_config, trained_scheduler):
    """What the module's rounds are timed beside (None: not paired). See `pairing`: the same scheduler
    without steering for an algorithm that steers, a raw psycopg2 loop for one that decides nothing."""
    session = pilot_session(request.config)
    record = session.modules[request.module.__name__]
    if not (record.timed and session.options.paired):
        yield None
        return
    if trained_scheduler.steering is not None:
        record.paired_against = PLAIN_POSTGRESQL
        def steer_false(sql: str) -> list | None:
            result = trained_scheduler.execute_query(sql, steer=False)
            return None if result.timed_out else result.records

        yield steer_false
        return
    record.paired_against = RAW_DRIVER
    raw = RawDriver(pilot_config, session.options.query_timeout)
    yield raw
    raw.close()


@pytest.fixture
def benchmark_query(request: pytest.FixtureRequest, benchmark, trained_scheduler, plain_run):
    """Time `trained_scheduler.execute_query(sql)` for one query with pytest-benchmark (pedantic).

    Unless --no-paired, the rounds are timed paired (see `plain_run`): plain PostgreSQL runs the
    query beside each round, alternating who goes first, and its rows are the query's `expected`.
    """
    session = pilot_session(request.config)
    options = session.options
    record = session.modules[request.module.__name__]

    def run(query: PilotQuery):
        benchmark.group = f"{record.algorithm} on {record.dataset}"
        beside = PlainRounds(plain_run, query.sql, query.index) if plain_run else None
        result = benchmark.pedantic(trained_scheduler.execute_query, args=(query.sql,), rounds=options.rounds,
                                    warmup_rounds=options.warmup_rounds, setup=beside and beside.before,
                                    teardown=beside and beside.after)
        measured = QueryMeasurement.from_result(result, query.query_id, query.index)
        measured.end_to_end = benchmark.stats.stats.median if record.timed else None  # the median of the rounds
        measured.plain_end_to_end = beside.median_time(options.rounds) if beside else None
        if beside and beside.rows is not None:
            session.keep_plain_answer(query.dataset, query.sql, beside.rows)
        record.queries[query.query_id] = measured
        if result.timed_out:
            pytest.fail(f"{query.query_id} timed out after {options.query_timeout} s")
        result.records = sorted(result.records, key=repr)
        return result

    return run
