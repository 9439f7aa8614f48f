"""docker-compose.yml: valid (`docker compose config`), wired as documented, and in step with the embedded server.

The secrets check itself (docker/check_secrets.sh) is tested in tests/unit/test_check_secrets.py; here, that
compose runs it before anything else, with the variables it checks.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from compose_secrets import PLACEHOLDER, env_example, real_secrets, refusals

from pilotscope import db
from pilotscope.embedded_server import EXPERIMENT_SETTINGS, EmbeddedServer
from pilotscope.extension_installer import pg_installation
from pilotscope.paths import PROJECT_ROOT

SECRETS = ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "PILOTSCOPE_BIND_ADDRESS",
           "MLFLOW_ADMIN_USERNAME", "MLFLOW_ADMIN_PASSWORD")


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


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def _services(env_file: Path) -> dict:
    result = _config(env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_compose_file_is_valid_and_wires_postgres_mlflow_and_minio(tmp_path):
    values = real_secrets()
    services = _services(_write_env(tmp_path / "compose.env", values))
    assert set(services) == {"check-secrets", "postgres", "minio", "minio-bucket", "mlflow"}
    assert _published_ports(services["mlflow"]) == {5000}
    assert _published_ports(services["postgres"]) == {5432}
    assert _published_ports(services["minio"]) == {9000, 9001}
    assert _published_ports(services["check-secrets"]) == set()
    assert Path(services["postgres"]["build"]["context"]) == PROJECT_ROOT / "pilotscope" / "pg_extension"
    mlflow_env = services["mlflow"]["environment"]
    password = values["MLFLOW_DB_PASSWORD"]
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"] == f"postgresql+psycopg2://mlflow:{password}@postgres:5432/mlflow"
    assert mlflow_env["MLFLOW_AUTH_DATABASE_URI"] == (
        f"postgresql+psycopg2://mlflow:{password}@postgres:5432/mlflow_auth")
    assert mlflow_env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert mlflow_env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert set(services["mlflow"]["depends_on"]) == {"check-secrets", "postgres", "minio-bucket"}
    # the image's entrypoint is docker/mlflow/start.sh, built from docker/ so that it has check_secrets.sh
    build = services["mlflow"]["build"]
    assert (Path(build["context"]) / build["dockerfile"]) == PROJECT_ROOT / "docker" / "mlflow" / "Dockerfile"
    assert services["mlflow"]["command"][:2] == ["--host", "0.0.0.0"]


def test_every_service_waits_for_the_secrets_check(tmp_path):
    services = _services(_write_env(tmp_path / "compose.env", real_secrets()))
    for name, service in services.items():
        if name != "check-secrets":
            assert service["depends_on"]["check-secrets"]["condition"] == "service_completed_successfully", name


def _bind_mounts(service: dict) -> dict[str, str]:
    """Container path → host path, from the short syntax (docker-compose 1.x) or the long one (2.x)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume["source"]
        else:
            host, container = volume.split(":")[:2]
            mounts[container] = host
    return mounts


def _check_as_compose_runs_it(env_file: Path) -> subprocess.CompletedProcess:
    """The check-secrets service of `docker compose config`: its script (the mounted file), its environment."""
    service = _services(env_file)["check-secrets"]
    assert service["entrypoint"][0] == "sh"
    script = _bind_mounts(service)[service["entrypoint"][1]]
    return subprocess.run(["sh", script], env={"PATH": "/usr/bin:/bin", **service["environment"]},
                          capture_output=True, text=True, timeout=30)


def test_compose_s_secrets_check_refuses_env_example_and_accepts_real_secrets(tmp_path):
    example = tmp_path / "example.env"
    shutil.copy(PROJECT_ROOT / "docker" / "env.example", example)
    refused = _check_as_compose_runs_it(example)
    assert refused.returncode == 1 and refusals(refused) == {
        "POSTGRES_PASSWORD": PLACEHOLDER, "MLFLOW_DB_PASSWORD": PLACEHOLDER, "MINIO_ROOT_PASSWORD": PLACEHOLDER}
    accepted = _check_as_compose_runs_it(_write_env(tmp_path / "real.env", real_secrets()))
    assert (accepted.returncode, accepted.stderr) == (0, "")


def test_compose_s_secrets_check_wants_the_mlflow_admin_beyond_loopback(tmp_path):
    team = real_secrets(PILOTSCOPE_BIND_ADDRESS="0.0.0.0")
    del team["MLFLOW_ADMIN_PASSWORD"]
    refused = _check_as_compose_runs_it(_write_env(tmp_path / "team.env", team))
    assert refused.returncode == 1 and refusals(refused) == {"MLFLOW_ADMIN_PASSWORD": "is not set"}
    example = {**env_example(), "PILOTSCOPE_BIND_ADDRESS": "0.0.0.0"}
    assert refusals(_check_as_compose_runs_it(_write_env(tmp_path / "example.env", example))) == {
        "POSTGRES_PASSWORD": PLACEHOLDER, "MLFLOW_DB_PASSWORD": PLACEHOLDER, "MINIO_ROOT_PASSWORD": PLACEHOLDER,
        "MLFLOW_ADMIN_PASSWORD": PLACEHOLDER}


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
