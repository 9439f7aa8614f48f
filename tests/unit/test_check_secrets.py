"""docker/check_secrets.sh: the shared server refuses placeholder and weak secrets, naming each, printing none.

Run with the machine's POSIX sh and, when installed, BusyBox's (the shell of compose's check-secrets service).
"""
from __future__ import annotations

import shutil
import subprocess

import pytest
from compose_secrets import CHECK_SCRIPT, PLACEHOLDER, env_example, real_secrets, refusals

SHELLS = [["sh"]] + ([["busybox", "sh"]] if shutil.which("busybox") else [])


@pytest.fixture(params=SHELLS, ids=lambda shell: shell[0])
def check(request):
    def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*request.param, str(CHECK_SCRIPT), *args], env={"PATH": "/usr/bin:/bin", **env},
                              capture_output=True, text=True, timeout=30)
    return run


def test_env_example_s_placeholders_are_refused_each_by_name_and_none_is_printed(check):
    example = env_example()
    result = check(example)
    assert result.returncode == 1
    assert refusals(result) == {"POSTGRES_PASSWORD": PLACEHOLDER, "MLFLOW_DB_PASSWORD": PLACEHOLDER,
                                "MINIO_ROOT_PASSWORD": PLACEHOLDER}
    assert "set it in .env to a new password of at least 12 letters and digits" in result.stderr
    assert "fix the 3 setting(s) above" in result.stderr
    for name in ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "MINIO_ROOT_PASSWORD", "MLFLOW_ADMIN_PASSWORD"):
        assert example[name] not in result.stdout + result.stderr


def test_real_secrets_are_accepted_on_loopback_and_beyond(check):
    for bind_address in ("127.0.0.1", "0.0.0.0", "192.0.2.7"):
        result = check(real_secrets(PILOTSCOPE_BIND_ADDRESS=bind_address))
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("value, problem", [
    ("", "is not set"),
    ("CHANGEME12345678", PLACEHOLDER),
    ("Change-Me-Please-Now", PLACEHOLDER),
    ("abc$def ghijk;l", "has characters other than letters and digits (it goes into URIs)"),
    ("p\u00e4ssw\u00f6rdp\u00e4ssw\u00f6rd", "has characters other than letters and digits (it goes into URIs)"),
    ("Short1234", "is shorter than 12 characters"),
])
def test_a_weak_password_is_refused_with_the_reason_and_without_its_value(check, value, problem):
    result = check(real_secrets(POSTGRES_PASSWORD=value))
    assert result.returncode == 1 and refusals(result) == {"POSTGRES_PASSWORD": problem}
    if value:
        assert value not in result.stdout + result.stderr


def test_an_unset_variable_is_refused_like_an_empty_one(check):
    values = real_secrets()
    del values["MINIO_ROOT_USER"]
    result = check(values)
    assert result.returncode == 1 and refusals(result) == {"MINIO_ROOT_USER": "is not set"}
    assert "set it in .env to a name of letters and digits" in result.stderr


def test_beyond_loopback_the_mlflow_admin_s_login_is_required(check):
    missing = real_secrets(PILOTSCOPE_BIND_ADDRESS="0.0.0.0")
    del missing["MLFLOW_ADMIN_PASSWORD"]
    assert refusals(check(missing)) == {"MLFLOW_ADMIN_PASSWORD": "is not set"}
    assert refusals(check(real_secrets(PILOTSCOPE_BIND_ADDRESS="0.0.0.0", MLFLOW_ADMIN_USERNAME=""))) == {
        "MLFLOW_ADMIN_USERNAME": "is not set"}
    assert refusals(check({**env_example(), "PILOTSCOPE_BIND_ADDRESS": "0.0.0.0"}))["MLFLOW_ADMIN_PASSWORD"] == (
        PLACEHOLDER)
    on_loopback = {key: value for key, value in missing.items() if key != "PILOTSCOPE_BIND_ADDRESS"}
    assert check(on_loopback).returncode == 0  # the default, 127.0.0.1: MLflow asks no login


@pytest.mark.parametrize("bind_address, needs_login", [
    (None, False), ("", False), ("127.0.0.1", False), ("::1", False), ("[::1]", False), ("localhost", False),
    ("0.0.0.0", True), ("10.1.2.3", True), ("::", True), ("mlflow.example.org", True),
])
def test_needs_login_beyond_loopback_only(check, bind_address, needs_login):
    env = {} if bind_address is None else {"PILOTSCOPE_BIND_ADDRESS": bind_address}
    assert check(env, "--needs-login").returncode == (0 if needs_login else 1)


def test_named_variables_are_checked_alone_and_a_bad_name_is_an_error(check):
    assert refusals(check({"MLFLOW_ADMIN_USERNAME": "admin"}, "MLFLOW_ADMIN_USERNAME", "MLFLOW_ADMIN_PASSWORD")) == {
        "MLFLOW_ADMIN_PASSWORD": "is not set"}
    bad = check({}, "X;touch /tmp/owned")
    assert bad.returncode == 2 and "not a variable name" in bad.stderr
