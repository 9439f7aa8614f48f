"""A disk cache for collected training data (true cardinalities, candidate latencies).

Collection runs thousands of queries; its result depends only on the loaded data, the workload and
the collection settings, so it is keyed by exactly those and reused by later runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any, Callable, Sequence, TypeVar

from pilotscope.atomic_file import write_atomically
from pilotscope.paths import state_dir

FORMAT_VERSION = 1
T = TypeVar("T")


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
    write_atomically(_path(algorithm, key), json.dumps(value).encode(), mode=0o644)


def cached(algorithm: str, config, sqls: Sequence[str], what: str, collect: Callable[[], Any],
           from_json: Callable[[Any], T], to_json: Callable[[T], Any], cached_only: bool = False,
           **settings: Any) -> T:
    """`collect()` once per (loaded dataset, workload, settings); later calls read the cache.

    `cached_only` refuses to collect (the caller disabled collection). Without a known dataset
    checksum nothing is cached, since an entry could then be reused for other data.
    """
    from pilotscope.datasets import loaded_fingerprint
    from pilotscope.errors import PilotScopeError

    fingerprint = loaded_fingerprint(config)
    key = cache_key(algorithm, fingerprint, sqls, **settings)
    hit = load(algorithm, key) if fingerprint else None
    if hit is not None:
        return from_json(hit)
    if cached_only:
        raise PilotScopeError(
            f"No collected {what} for these {len(sqls)} queries on {config.db!r} "
            f"(dataset checksum {fingerprint[:12] or 'unknown'}); enable collection to collect it.")
    data = collect()
    if fingerprint:
        store(algorithm, key, to_json(data))
    return data


class Journal:
    """Results appended one JSON line each as they are made, keyed by what produced them.

    A collection that is interrupted (Ctrl-C, a crash, a timeout of the whole job) keeps what it
    finished: the next one with the same loaded dataset and settings reads the journal and skips
    it, and collections of other workloads reuse the entries they share.
    """

    def __init__(self, algorithm: str, config, **settings: Any) -> None:
        from pilotscope.datasets import loaded_fingerprint

        fingerprint = loaded_fingerprint(config)
        self.path = _path(algorithm, "journal-" + cache_key(algorithm, fingerprint, [], **settings)).with_suffix(
            ".jsonl") if fingerprint else None
        self._file: IO[str] | None = None

    def load(self) -> dict[str, Any]:
        """Every entry recorded so far (a torn last line from an interruption is ignored)."""
        entries: dict[str, Any] = {}
        if self.path is None or not self.path.exists():
            return entries
        for line in self.path.read_text().splitlines():
            try:
                key, value = json.loads(line)
            except ValueError:
                continue
            entries[key] = value
        return entries

    def append(self, key: str, value: Any) -> None:
        """Record one entry; the line is on disk when this returns (the file stays open until `close`)."""
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", buffering=1)  # line-buffered: one write per entry
        self._file.write(json.dumps([key, value]) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
