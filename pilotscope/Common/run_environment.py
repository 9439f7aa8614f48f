"""What a benchmark run's numbers depend on besides the algorithm: server, settings, code, packages.

Recorded with every tracked run so that two runs can be judged comparable. Values are read from
the server itself (an external server may differ from the embedded one's fixed settings). Only
names and versions are recorded: never a password, a connection URI or a git remote.
"""
from __future__ import annotations

import subprocess

from pilotscope import db
from pilotscope.embedded_server import EXPERIMENT_SETTINGS
from pilotscope.paths import PROJECT_ROOT
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import package_versions

GIT_COMMIT_TAG = "mlflow.source.git.commit"  # the tag MLflow's UI shows as the run's source version


def git_state() -> dict[str, str]:
    """The checkout's commit and whether it has uncommitted changes; empty outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                                    timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {GIT_COMMIT_TAG: commit, "git_dirty": str(bool(status)).lower()}


def server_environment(config: PostgreSQLConfig) -> dict[str, str]:
    """The PostgreSQL version and the experiment settings as the server reports them."""
    conn = db.connect(config, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version')")
            values = {"postgres_version": cur.fetchone()[0]}
            for name in EXPERIMENT_SETTINGS:
                cur.execute("SELECT current_setting(%s)", (name,))
                values[f"pg.{name}"] = cur.fetchone()[0]
    finally:
        conn.close()
    values["database_server"] = "embedded" if config.is_embedded else f"{config.db_host}:{config.db_port}"
    return values


def run_environment(config: PostgreSQLConfig) -> dict[str, str]:
    """Everything above as flat string tags: server, settings, git state, `version.<package>`."""
    tags = {**server_environment(config), **git_state()}
    tags.update({f"version.{name}": version for name, version in package_versions().items()})
    return tags
