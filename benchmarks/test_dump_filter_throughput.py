"""Throughput of the dump filter against piping the raw dump, on stats_approx (the largest dataset).

Both sides write the decompressed dump (held in memory, so neither pays for gzip or disk) into a pipe
to `cat > /dev/null`, as the loader writes into psql: the raw side in 1 MB blocks, the other through
`checked_dump`, and, for scale, line by line unfiltered (how the loader wrote the dump before the
filter). The passes alternate so that machine noise hits all alike; `extra_info` has the ratios of
the medians and the throughputs.
"""
from __future__ import annotations

import functools
import gzip
import io
import statistics
import subprocess
import time
from typing import Iterable, Iterator

import pytest

from pilotscope.datasets import get_dataset
from pilotscope.dump_filter import checked_dump

REPS = 5

pytestmark = pytest.mark.perf


def _raw(dump: bytes) -> Iterator[bytes]:
    return iter(functools.partial(io.BytesIO(dump).read, 1 << 20), b"")


def _pipe(pieces: Iterable[bytes]) -> float:
    sink = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    start = time.perf_counter()
    for piece in pieces:
        sink.stdin.write(piece)
    sink.stdin.close()
    sink.wait()
    return time.perf_counter() - start


def test_filter_throughput_against_raw_pipe(benchmark):
    path = get_dataset("stats_approx").dump_path()
    with gzip.open(path, "rb") as source:
        dump = source.read()
    raw, filtered, by_line = [], [], []
    for _ in range(REPS):
        raw.append(_pipe(_raw(dump)))
        filtered.append(_pipe(checked_dump(io.BytesIO(dump))))
        by_line.append(_pipe(io.BytesIO(dump)))
    benchmark.pedantic(lambda: _pipe(checked_dump(io.BytesIO(dump))), rounds=1, iterations=1)
    seconds = {name: statistics.median(times) for name, times in
               (("raw", raw), ("filtered", filtered), ("by_line", by_line))}
    megabytes = len(dump) / 1e6
    benchmark.extra_info.update(filtered_over_raw=round(seconds["filtered"] / seconds["raw"], 3),
                                filtered_over_by_line=round(seconds["filtered"] / seconds["by_line"], 3),
                                **{f"{name}_mb_per_s": round(megabytes / s, 1) for name, s in seconds.items()})
    print(f"\nstats_approx dump, {megabytes:.0f} MB: " + ", ".join(f"{n} {s:.3f} s" for n, s in seconds.items())
          + f"; filtered/raw {seconds['filtered'] / seconds['raw']:.2f}, "
          f"filtered/by_line {seconds['filtered'] / seconds['by_line']:.2f}")
