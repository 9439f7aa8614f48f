"""Where pilotscope keeps its state: one folder per project checkout, git-ignored."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The folder holding the embedded server, downloaded datasets and caches.

    `PILOTSCOPE_HOME` overrides the default `<project>/.pilotscope`, e.g. when the checkout lives
    somewhere the unprivileged server user cannot reach.
    """
    return Path(os.environ.get("PILOTSCOPE_HOME") or PROJECT_ROOT / ".pilotscope").resolve()
