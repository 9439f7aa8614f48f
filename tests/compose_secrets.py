"""docker/env.example's values, real secrets in their place, and docker/check_secrets.sh's refusals, read back.

Shared by the tests of the script (tests/unit/test_check_secrets.py) and of its compose service
(tests/integration/test_tracking_compose.py).
"""
from __future__ import annotations

import secrets
import subprocess

from pilotscope.paths import PROJECT_ROOT

CHECK_SCRIPT = PROJECT_ROOT / "docker" / "check_secrets.sh"
PLACEHOLDER = "is still the placeholder of docker/env.example"


def env_example() -> dict[str, str]:
    lines = (PROJECT_ROOT / "docker" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def real_secrets(**overrides: str) -> dict[str, str]:
    """env.example with every password replaced the way its comment says (letters and digits, >= 12)."""
    values = {key: f"A{secrets.token_hex(8)}" if key.endswith("_PASSWORD") else value
              for key, value in env_example().items()}
    return {**values, **overrides}


def refusals(result: subprocess.CompletedProcess) -> dict[str, str]:
    """Variable → what is wrong with it, from the script's `refused: VAR problem. Fix: ...` lines."""
    found = {}
    for line in result.stderr.splitlines():
        if line.startswith("refused: ") and ". Fix: " in line:
            variable, problem = line.removeprefix("refused: ").split(". Fix: ")[0].split(" ", 1)
            found[variable] = problem
    return found
