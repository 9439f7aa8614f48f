"""docker-compose.yml: valid (`docker compose config`), wired as documented, and in step with the embedded server."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pilotscope import db
from pilotscope.embedded_server import EXPERIMENT_SETTINGS, EmbeddedServer
from pilotscope.extension_installer import pg_installation
from pilotscope.paths import PROJECT_ROOT

SECRETS = ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")


def _compose() -> list[str]:
    """`docker compose` when the plugin is there, else the standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("Neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose).")


def _config(env_file: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in SECRETS}
    return subprocess.run([*_compose(), "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)


def _published_ports(service: dict) -> set[int]:
    """Host ports, from the short syntax (docker-compose 1.x) or the long one (docker compose 2.x)."""
    ports = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add(int(port["published"]))
        else:
            ports.add(int(port.split(":")[-2]))
    return ports


def test_the_compose_file_is_valid_and_wires_postgres_mlflow_and_minio(tmp_path):
    env_file = tmp_path / "compose.env"
    shutil.copy(PROJECT_ROOT / "docker" / "env.example", env_file)
    result = _config(env_file)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "minio", "minio-bucket", "mlflow"}
    assert _published_ports(services["mlflow"]) == {5000}
    assert _published_ports(services["postgres"]) == {5432}
    assert _published_ports(services["minio"]) == {9000, 9001}
    assert Path(services["postgres"]["build"]["context"]) == PROJECT_ROOT / "pilotscope" / "pg_extension"
    mlflow_env = services["mlflow"]["environment"]
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"] == "postgresql+psycopg2://mlflow:change-me-mlflow@postgres:5432/mlflow"
    assert mlflow_env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert mlflow_env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert set(services["mlflow"]["depends_on"]) == {"postgres", "minio-bucket"}


def test_the_compose_file_refuses_to_run_without_passwords(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _config(empty)
    assert result.returncode != 0 and "set POSTGRES_PASSWORD in .env" in result.stderr


def test_the_compose_server_has_the_embedded_server_s_experiment_settings():
    conf = (PROJECT_ROOT / "docker" / "postgres" / "pilotscope.conf").read_text()
    settings = dict(re.findall(r"^(\w+) = '?([^'\n]*)'?$", conf, flags=re.MULTILINE))
    assert {name: settings.get(name) for name in EXPERIMENT_SETTINGS} == EXPERIMENT_SETTINGS
    assert settings["shared_preload_libraries"] == "pilotscope"


@pytest.mark.serial  # creates the role `mlflow` the script creates, so that the script fails
def test_the_mlflow_role_s_password_never_reaches_the_server_log_even_when_its_creation_fails(stats_tiny_config):
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS mlflow")
        cur.execute("CREATE ROLE mlflow")
    password = f"Known{secrets.token_hex(8)}"
    kwargs = stats_tiny_config.connection_kwargs("postgres")
    env = {**os.environ, "PATH": f"{pg_installation().bindir}:{os.environ['PATH']}", "PGHOST": kwargs["host"],
           "PGPORT": str(kwargs["port"]), "PGPASSFILE": kwargs["passfile"], "POSTGRES_USER": kwargs["user"],
           "MLFLOW_DB_PASSWORD": password}
    try:
        run = subprocess.run(["sh", str(PROJECT_ROOT / "docker/postgres/initdb/10-mlflow-database.sh")], env=env,
                             capture_output=True, text=True, timeout=60)
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS mlflow")
        admin.close()
    assert run.returncode != 0 and 'role "mlflow" already exists' in run.stderr
    log = "\n".join(path.read_text(errors="replace") for path in EmbeddedServer().log_files())
    assert 'role "mlflow" already exists' in log
    assert password not in log
