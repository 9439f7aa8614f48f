"""The model registry: the model to use for an algorithm and dataset, as a registered model version with an alias.

The registered model is named like its experiment (`mscn_stats_tiny`) and the alias is `champion`, so
`models:/mscn_stats_tiny@champion` is the champion's model for any MLflow client (`mlflow artifacts
download --artifact-uri models:/mscn_stats_tiny@champion`, `mlflow.artifacts.download_artifacts`, the UI's
Models page). A version's source is the run's `runs:/<run_id>/model`: the plain model folder and its JSON
that `MLflowTracker.log_model` logged, so what the alias downloads loads with `load_from_folder` as any
download of the run does. `promote` moves the alias (the `mlflow_query.py promote` command, or the gate
when a run beats its reference); `champion` reads it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pilotscope.Common.tracking_store import TrackingError, display_uri, tracking_client

CHAMPION = "champion"
MODEL_ARTIFACT_PATH = "model"  # where MLflowTracker.log_model puts a model's files
# MLflow's alias rule, checked before a version is created so a bad alias leaves nothing behind
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESERVED_ALIAS = re.compile(r"latest|v[0-9]+", re.IGNORECASE)


class PromotionRefused(TrackingError):
    """A run whose model cannot become a registered version: unknown, not FINISHED, or with no model."""


class NoModelLogged(PromotionRefused):
    """The run logged no model (Baseline's runs, a run that failed before saving one)."""


@dataclass(frozen=True)
class AliasedVersion:
    """One registered model version under an alias: what `models:/<name>@<alias>` resolves to."""

    name: str  # the registered model, named like the experiment
    alias: str
    version: str
    run_id: str  # the run that logged the model

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"

    def describe(self) -> str:
        """Where a run that loaded this model says it came from: `models:/mscn_stats_tiny@champion (version 3)`."""
        return f"{self.uri} (version {self.version})"


def check_alias(alias: str) -> str:
    """`alias` if MLflow accepts it as an alias; otherwise a PromotionRefused saying what is accepted."""
    if not _ALIAS.fullmatch(alias) or _RESERVED_ALIAS.fullmatch(alias):
        raise PromotionRefused(f"{alias!r} cannot be a model alias: use letters, digits, '_' and '-' (at most 255), "
                               f"not 'latest' or v<number>, which MLflow reserves; e.g. --alias {CHAMPION}.")
    return alias


def promote(run_id: str, alias: str = CHAMPION, reason: str | None = None,
            tracking_uri: str | None = None) -> AliasedVersion:
    """Register the model run `run_id` logged as a version of its experiment's registered model and point
    `alias` at it. A run already registered keeps its version (only the alias moves); `reason` becomes a new
    version's description.

    Refused (PromotionRefused, naming the fix) for an unknown run, a run that is not FINISHED, and a run
    that logged no model.
    """
    from mlflow.exceptions import MlflowException

    check_alias(alias)
    client = tracking_client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise PromotionRefused(f"No run {run_id!r} in {display_uri(client.tracking_uri)}: give a run id from "
                               f"`python scripts/mlflow_query.py runs <experiment>`.") from None
    name = client.get_experiment(run.info.experiment_id).name
    if run.info.status != "FINISHED":
        raise PromotionRefused(f"Run {run_id} of {name} is {run.info.status}, not FINISHED: its model was not "
                               f"measured on the whole workload. Promote a FINISHED run (see `python "
                               f"scripts/mlflow_query.py runs {name}`).")
    if not _logged_model(client, run):
        raise NoModelLogged(f"Run {run_id} of {name} logged no model (no files under {MODEL_ARTIFACT_PATH}/): only a "
                            f"run that trained or loaded a model with tracking on can be promoted. Promote one "
                            f"that has param model_id (see `python scripts/mlflow_query.py runs {name}`).")
    try:
        _ensure_registered_model(client, name)
        version = next((v.version for v in client.search_model_versions(f"run_id = '{run.info.run_id}'")
                        if v.name == name), None)
        if version is None:
            version = client.create_model_version(name, f"runs:/{run.info.run_id}/{MODEL_ARTIFACT_PATH}",
                                                  run_id=run.info.run_id, description=reason,
                                                  tags={"model_id": run.data.params["model_id"]}).version
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise TrackingError(f"Cannot register run {run_id}'s model as {name}@{alias} in "
                            f"{display_uri(client.tracking_uri)}: {exc.message}") from None
    return AliasedVersion(name, alias, str(version), run.info.run_id)


def champion(experiment: str, alias: str = CHAMPION, tracking_uri: str | None = None) -> AliasedVersion | None:
    """The version `alias` points at in `experiment`'s registered model, or None when there is none."""
    from mlflow.exceptions import MlflowException

    client = tracking_client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(experiment, check_alias(alias))
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":  # no such registered model, or no such alias
            return None
        raise TrackingError(f"Cannot read {experiment}@{alias} in {display_uri(client.tracking_uri)}: "
                            f"{exc.message}") from None
    return AliasedVersion(experiment, alias, str(version.version), version.run_id)


def download_uri(version: AliasedVersion, tracking_uri: str | None = None) -> str:
    """Where `version`'s files are, as `models:/<name>@<alias>` resolves, read from this store's registry.

    (MLflow's own `models:/` download asks the process-wide registry URI, which need not be this store.)
    """
    return tracking_client(tracking_uri).get_model_version_download_uri(version.name, version.version)


def _logged_model(client, run) -> bool:
    """Whether the run logged a model: param `model_id` and that model's folder under `model/`."""
    model_id = run.data.params.get("model_id")
    if not model_id:
        return False
    logged = client.list_artifacts(run.info.run_id, MODEL_ARTIFACT_PATH)
    return any(entry.is_dir and entry.path == f"{MODEL_ARTIFACT_PATH}/{model_id}" for entry in logged)


def _ensure_registered_model(client, name: str) -> None:
    """Create the registered model `name` unless it exists (another process may create it at the same time)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description=f"Models of experiment {name}; "
                                                             f"alias {CHAMPION}: the one to use.")
        except MlflowException:
            client.get_registered_model(name)  # created meanwhile; anything else raises here
