"""The plugin's options: declared once, read and validated once into one `PilotOptions` (see pytest-benchmark's session).

Every option has a command-line flag and an ini key; the command line wins. `PilotOptions.from_config`
runs in `pytest_configure`, so a bad value is a usage error before anything is collected, and the rest
of the plugin reads plain attributes. A new option is one line in `OPTIONS` (or `FLAGS`) and one field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pytest

from pytest_pilotscope.gate import GateSpec

WORKLOADS = ("test", "fast", "train")  # and generated:SEED, a held-out workload (see pilotscope.generated_workload)

# option name -> (ini name, type, default, help)
OPTIONS: dict[str, tuple[str, Any, Any, str]] = {
    "db": ("pilotscope_db", str, "stats_tiny", "dataset to benchmark; modules for other datasets are deselected"),
    "epochs": ("pilotscope_epochs", int, 100, "training epochs"),
    "num_training": ("pilotscope_num_training", int, -1, "training queries (-1: all)"),
    "num_collection": ("pilotscope_num_collection", int, -1, "queries to collect training data from (-1: all)"),
    "workload": ("pilotscope_workload", str, "test", "workload to benchmark: test, fast, train, or generated:SEED (new queries; see README)"),
    "rounds": ("pilotscope_rounds", int, 1, "timed executions per query"),
    "warmup_rounds": ("pilotscope_warmup_rounds", int, 0, "untimed executions per query before timing"),
    "query_timeout": ("pilotscope_query_timeout", float, 300.0, "statement timeout per query, seconds"),
    "results_dir": ("pilotscope_results_dir", str, "", "where legacy JSON results files go"),
    "gate": ("pilotscope_gate", str, "", "regression gate, e.g. test_total_time:10%"),
    "gate_ref": ("pilotscope_gate_ref", str, "recent", "gate reference: recent, last, best, a run id, or a results file"),
}
# option -> the preset argument it sets
TRAINING_ARGUMENTS = {"epochs": "num_epoch", "num_training": "num_training", "num_collection": "num_collection"}
FLAGS: dict[str, tuple[str, str]] = {
    "no_mlflow": ("pilotscope_no_mlflow", "do not track in MLflow"),
    "no_train": ("pilotscope_no_train", "no collection or training: use the tracked model (models:/<algo>_<db>@champion, "
                 "else the best finished run's; with --no-mlflow the newest local one)"),
    "no_paired": ("pilotscope_no_paired", "do not time plain PostgreSQL beside each query (through the harness for a learned algorithm, a raw psycopg2 loop for Baseline)"),
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("pilotscope", "pilotscope benchmarks")
    for name, (ini, kind, default, help_text) in OPTIONS.items():
        group.addoption(f"--{name.replace('_', '-')}", dest=f"pilotscope_{name}", default=None,
                        type=kind, help=f"{help_text} (ini: {ini}; default {default!r})")
        parser.addini(ini, help_text, default=str(default))
    for name, (ini, help_text) in FLAGS.items():
        group.addoption(f"--{name.replace('_', '-')}", dest=f"pilotscope_{name}", action="store_true",
                        default=None, help=f"{help_text} (ini: {ini})")
        parser.addini(ini, help_text, type="bool", default=False)


def _given(config: pytest.Config, name: str) -> bool:
    """Whether the option was set on the command line or, to another value than its default, in an ini file."""
    if config.getoption(f"pilotscope_{name}") is not None:
        return True
    if name in FLAGS:
        return bool(config.getini(FLAGS[name][0]))
    ini, _, default, _ = OPTIONS[name]
    return config.getini(ini) != str(default)


def _read(config: pytest.Config, name: str) -> Any:
    """One option: the command line wins over the ini file."""
    value = config.getoption(f"pilotscope_{name}")
    if value is not None:
        return value
    if name in FLAGS:
        return config.getini(FLAGS[name][0])
    ini, kind, _, _ = OPTIONS[name]
    try:
        return kind(config.getini(ini))
    except ValueError:
        raise pytest.UsageError(f"{ini} = {config.getini(ini)!r}: expected a {kind.__name__}.") from None


@dataclass(frozen=True)
class PilotOptions:
    """Every pilotscope option of the session, validated."""

    db: str
    epochs: int
    num_training: int
    num_collection: int
    workload: str
    rounds: int
    warmup_rounds: int
    query_timeout: float
    results_dir: Path | None  # None: the default folder
    gate: GateSpec | None
    gate_ref: str
    no_mlflow: bool
    no_train: bool
    no_paired: bool
    given: frozenset[str] = frozenset()  # the options set on the command line or in an ini file

    @property
    def tracked(self) -> bool:
        return not self.no_mlflow

    @property
    def paired(self) -> bool:
        """Every algorithm's queries are timed beside plain PostgreSQL's (see `pairing`) unless --no-paired."""
        return not self.no_paired

    @classmethod
    def from_config(cls, config: pytest.Config) -> "PilotOptions":
        """Read every option once; a bad one is a `pytest.UsageError` saying what is accepted."""
        raw = {name: _read(config, name) for name in (*OPTIONS, *FLAGS)}
        _check_dataset(raw["db"])
        raw["workload"] = _workload(raw["workload"])
        if raw["rounds"] < 1 or raw["warmup_rounds"] < 0:
            raise pytest.UsageError("--rounds must be at least 1 and --warmup-rounds at least 0.")
        if raw["query_timeout"] <= 0:
            raise pytest.UsageError("--query-timeout must be a positive number of seconds.")
        raw["results_dir"] = Path(raw["results_dir"]) if raw["results_dir"] else None
        raw["gate"] = _gate(config, raw["gate"]) if raw["gate"] else None
        return cls(**raw, given=frozenset(name for name in (*OPTIONS, *FLAGS) if _given(config, name)))

    def training_args(self, module_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The preset's training arguments: a module's `PRESET_ARGS` (its dataset's sensible sizes, and
        arguments of its own preset) where the matching option was not given, the options elsewhere."""
        args = dict(module_defaults or {})
        for option, argument in TRAINING_ARGUMENTS.items():
            if option in self.given or argument not in args:
                args[argument] = getattr(self, option)
        return args

    def run_params(self, module_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What a module's MLflow run records as its parameters."""
        return {**self.training_args(module_defaults), "workload": self.workload, "rounds": self.rounds,
                "warmup_rounds": self.warmup_rounds, "train": not self.no_train}


def _workload(name: str) -> str:
    """A file workload, or `generated:SEED` written canonically (`generated:03` is `generated:3`): the name
    is what the results file, the run's parameters and the gate's references record and compare."""
    if name in WORKLOADS:
        return name
    from pilotscope.generated_workload import WORKLOAD_PREFIX, workload_seed
    seed = workload_seed(name)
    if seed is None:
        raise pytest.UsageError(f"--workload must be one of {', '.join(WORKLOADS)}, or generated:SEED "
                                f"(SEED a non-negative integer, e.g. generated:1).")
    return f"{WORKLOAD_PREFIX}{seed}"


def _check_dataset(db: str) -> None:
    from pilotscope.datasets import available_datasets
    from pilotscope.errors import ConfigurationError
    from pilotscope.PilotConfig import PostgreSQLConfig
    known = available_datasets()
    if db not in known:
        raise pytest.UsageError(f"--db {db!r}: unknown dataset. Known datasets: {', '.join(sorted(known))}.")
    try:
        PostgreSQLConfig(db=db)  # a malformed PILOTSCOPE_DATABASE_URL is a usage error, before anything runs
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


def _gate(config: pytest.Config, text: str) -> GateSpec:
    try:
        spec = GateSpec.parse(text)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        raise pytest.UsageError("--gate needs timings, and pytest-benchmark takes none under xdist (-n): "
                                "run the gated benchmark without -n.")
    return spec
