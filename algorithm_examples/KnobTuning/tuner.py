"""Bayesian optimisation of knobs with SMAC3: which configuration runs a workload fastest.

`search` is the loop, independent of any server: SMAC's random-forest surrogate proposes a
configuration, `evaluate` measures it, SMAC is told its cost. The first trial is the server's own
configuration (the knobs' defaults), so the best trial is at least as good as it on the tuning
workload. SMAC and its forest are seeded: with the same seed and the same costs, the same
configurations are proposed; measured costs differ run to run, so after the first few trials
(the seeded initial design) the proposals may too.

`KnobTuner` measures on the embedded server (`TrialServer`): a configuration's cost is the executor
seconds of one pass over the tuning workload, after an untimed pass (a restart empties the buffer
cache), each query cut at `query_timeout` and then counted with it (a lower bound, as in
`workload_metrics`). A configuration the server cannot start with, or whose queries run out of a
resource (SQLSTATE class 53, e.g. out of memory), is a failed trial; SMAC is told the worst cost a
trial can have, every query timing out. Any other error ends the tuning (the server is still given back).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import psycopg2

from algorithm_examples.KnobTuning.knob_space import Knob, Number, configuration_space, plain_values, settings_of
from algorithm_examples.KnobTuning.trial_server import TrialServer
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.errors import PilotScopeError
from pilotscope.Exception.Exception import DatabaseStartException
from pilotscope.PilotConfig import PostgreSQLConfig

INSUFFICIENT_RESOURCES = "53"  # SQLSTATE class: out of memory, disk full, too many connections


class TrialFailed(PilotScopeError):
    """A configuration could not be measured because of the configuration (the server refused or ran out)."""


@dataclass(frozen=True)
class Measurement:
    """One timed pass over a workload."""

    seconds: float  # executor seconds, a timed-out query counted with its timeout
    timed_out: int = 0


@dataclass(frozen=True)
class Trial:
    """One configuration tried: its settings, and what it cost (None: it failed, see `error`)."""

    number: int
    settings: dict[str, str]
    values: dict[str, Number] = field(default_factory=dict)  # the same, as numbers in the knobs' units
    cost: float | None = None
    timed_out: int = 0
    error: str = ""

    def as_dict(self) -> dict:
        return {"number": self.number, "settings": self.settings, "cost": self.cost, "timed_out": self.timed_out,
                "error": self.error}


@dataclass(frozen=True)
class TuningResult:
    """Every trial in order; the first is the server's own configuration."""

    trials: tuple[Trial, ...]

    @property
    def default(self) -> Trial:
        return self.trials[0]

    @property
    def best(self) -> Trial:
        """The cheapest trial that did not fail (the earlier of equals)."""
        measured = [trial for trial in self.trials if trial.cost is not None]
        if not measured:
            raise TrialFailed(f"All {len(self.trials)} trials failed; the first: {self.trials[0].error}. "
                              f"Check the server's log and the knob space.")
        return min(measured, key=lambda trial: (trial.cost, trial.number))


Evaluate = Callable[[Mapping[str, str]], Measurement]


def search(knobs: Sequence[Knob], evaluate: Evaluate, n_trials: int, seed: int, failure_cost: float,
           on_trial: Callable[[Trial], None] | None = None) -> TuningResult:
    """`n_trials` configurations of `knobs`, the knobs' defaults first, then as SMAC proposes.

    :param evaluate: measures one configuration's settings; raises `TrialFailed` for a failed one.
    :param failure_cost: what SMAC is told a failed trial cost.
    :param on_trial: called after each trial (progress, tracking); an exception there ends the search.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.model.random_forest import RandomForest
    from smac.runhistory.dataclasses import TrialInfo, TrialValue
    from smac.runhistory.enumerations import StatusType

    space = configuration_space(knobs, seed)
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="pilotscope-smac-") as scratch:
        scenario = Scenario(space, deterministic=True, n_trials=n_trials, seed=seed, output_directory=Path(scratch))
        design = HyperparameterOptimizationFacade.get_initial_design(scenario, n_configs=max(1, n_trials // 4))
        # the facade's forest (10 trees, log costs, every feature per split), but on one thread (joblib's threads
        # only wait on each other on two busy cores) and with no cap on leaves (scikit-learn preallocates for
        # SMAC's cap of 2**20: 0.3 s a tree; a tree of a few dozen trials has a few dozen leaves)
        forest = RandomForest(space, log_y=True, n_trees=10, ratio_features=1.0, min_samples_split=2,
                              min_samples_leaf=1, max_leaf_nodes=None, seed=seed, n_jobs=1)
        smac = HyperparameterOptimizationFacade(scenario, _measured_by_search, model=forest, initial_design=design,
                                                logging_level=False, overwrite=True)
        for number in range(n_trials):
            info = TrialInfo(space.get_default_configuration(), seed=seed) if number == 0 else smac.ask()
            values = plain_values(info.config)
            settings = settings_of(knobs, values)
            try:
                measured = evaluate(settings)
            except TrialFailed as failure:
                trial = Trial(number, settings, values, error=str(failure))
                smac.tell(info, TrialValue(cost=failure_cost, status=StatusType.CRASHED))
            else:
                trial = Trial(number, settings, values, measured.seconds, measured.timed_out)
                smac.tell(info, TrialValue(cost=measured.seconds))
            trials.append(trial)
            if on_trial is not None:
                on_trial(trial)
    return TuningResult(tuple(trials))


def _measured_by_search(config, seed: int = 0) -> float:
    """SMAC's facade wants a target function; `search` measures through ask and tell instead."""
    raise AssertionError("search() evaluates configurations itself")


class KnobTuner:
    """Configurations measured on a `TrialServer` with a workload (see the module)."""

    def __init__(self, server: TrialServer, interactor: PilotDataInteractor, sqls: Sequence[str],
                 query_timeout: float, warmup_passes: int = 1) -> None:
        if not sqls:
            raise ValueError("a tuning workload needs at least one query")
        self.server = server
        self.interactor = interactor
        self.sqls = list(sqls)
        self.query_timeout = query_timeout
        self.warmup_passes = warmup_passes

    def measure(self, settings: Mapping[str, str], sqls: Sequence[str] | None = None) -> Measurement:
        """Put `settings` in effect and time a pass over `sqls` (default: the tuning workload)."""
        try:
            per_query = self.server.apply(settings)
        except DatabaseStartException as exc:
            raise TrialFailed(f"the server did not start with it ({exc})") from exc
        for _ in range(self.warmup_passes):
            self._pass(per_query, sqls or self.sqls)
        return self._pass(per_query, sqls or self.sqls)

    def tune(self, n_trials: int, seed: int, on_trial: Callable[[Trial], None] | None = None) -> TuningResult:
        return search(self.server.knobs, self.measure, n_trials, seed,
                      failure_cost=len(self.sqls) * self.query_timeout, on_trial=on_trial)

    def _pass(self, settings: Mapping[str, str], sqls: Sequence[str]) -> Measurement:
        seconds, timed_out = 0.0, 0
        for sql in sqls:
            try:
                data = self.interactor.execute(sql, timeout=self.query_timeout, settings=settings)
            except psycopg2.Error as exc:
                if (exc.pgcode or "").startswith(INSUFFICIENT_RESOURCES):
                    raise TrialFailed(f"a query ran out of a resource: {(exc.pgerror or str(exc)).strip()}") from exc
                raise
            if data.timed_out:
                timed_out += 1
            seconds += self.query_timeout if data.timed_out else data.execution_time
        return Measurement(seconds, timed_out)


def tune_knobs(config: PostgreSQLConfig, sqls: Sequence[str], knobs: Sequence[Knob], n_trials: int, seed: int = 0,
               query_timeout: float = 10.0, on_trial: Callable[[Trial], None] | None = None) -> TuningResult:
    """Tune `knobs` of the embedded server on `sqls`; the server ends with exactly its settings from before."""
    with TrialServer(config, knobs) as server, PilotDataInteractor(config) as interactor:
        return KnobTuner(server, interactor, sqls, query_timeout).tune(n_trials, seed, on_trial)
