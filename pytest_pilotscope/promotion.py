"""The gate's promotion: a gated run whose model beats its reference becomes its algorithm's champion.

A module's run is promoted (`pilotscope.Common.model_registry.promote`: `models:/<algo>_<db>@champion`
moves to its model) when it passed the gate and either beat its reference, the verdict's whole
confidence interval below 1 (faster beyond noise, `GateVerdict.faster`), or there is no champion yet
(the first gated run that passes, also when it had no reference). Never promoted: a regression, a
run that did not finish, a run that logged no model (Baseline). What happened is one line under the
gate's verdict; `--no-train` and the load-only presets then use the champion.
"""
from __future__ import annotations

from pilotscope.Common.model_registry import NoModelLogged, champion, promote
from pilotscope.errors import PilotScopeError
from pytest_pilotscope.gate import GateVerdict
from pytest_pilotscope.records import ModuleRecord


def promote_if_better(record: ModuleRecord, verdict: GateVerdict | None) -> str | None:
    """Promote the module's run when it earned it (see the module); the line that says what happened, None
    when there is nothing to say (untracked, failed, a regression, or no model logged). `verdict` None: the
    gate passed with no reference to compare with."""
    if record.run_id is None or record.experiment is None or record.status != "FINISHED":
        return None
    if verdict is not None and verdict.regression:
        return None
    try:
        current = champion(record.experiment)
        if current is not None and not (verdict is not None and verdict.faster):
            return (f"model not promoted: {current.describe()} stays (run {current.run_id[:8]}); a run is promoted "
                    f"when the whole interval lies below 1")
        reason = ("faster than its reference beyond noise" if verdict is not None and verdict.faster
                  else "the first champion of this algorithm and dataset")
        promoted = promote(record.run_id, reason=f"promoted by the gate: {reason}")
    except NoModelLogged:
        return None
    except PilotScopeError as exc:  # the store refused: the measured run stands, the alias stays
        return f"model not promoted: {exc}"
    return f"model promoted: {promoted.describe()} is run {record.run_id[:8]}, {reason}"
