"""A disk cache for collected training data (true cardinalities, candidate latencies).

Collection runs thousands of queries; its result depends only on the loaded data, the workload and
the collection settings, so it is keyed by exactly those and reused by later runs.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from pilotscope.paths import state_dir

FORMAT_VERSION = 1


def cache_key(algorithm: str, dataset_fingerprint: str, workload: Sequence[str], **settings: Any) -> str:
    payload = json.dumps({"v": FORMAT_VERSION, "algorithm": algorithm, "dataset": dataset_fingerprint,
                          "workload": list(workload), "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _path(algorithm: str, key: str) -> Path:
    return state_dir() / "cache" / algorithm / f"{key}.json"


def load(algorithm: str, key: str) -> Any | None:
    """The cached value, or None when absent or unreadable (then it is simply collected again)."""
    try:
        return json.loads(_path(algorithm, key).read_text())
    except (FileNotFoundError, ValueError):
        return None


def store(algorithm: str, key: str, value: Any) -> None:
    path = _path(algorithm, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)
