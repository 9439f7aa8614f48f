"""Compare algorithms from their legacy JSON results files: a table and a PNG bar chart.

    python algorithm_examples/compare_results.py --latest mscn lero baseline [--db stats_tiny] [--workload test]
    python algorithm_examples/compare_results.py --list [--db stats_tiny]
    python algorithm_examples/compare_results.py FILE.json [FILE.json ...]

Files are read from `test_example_algorithms/results/` (`--results-dir` for another folder). `--latest`
compares only what is comparable: for each algorithm the newest timed, FINISHED file of one database
(`--db`, else that of the newest such file) and one workload (`--workload`, default test), and it prints
which files it took and which newer ones it passed over. Runs from any folder.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, also when not installed

from pilotscope.Common.box_table import box_table  # noqa: E402
from pilotscope.Common.legacy_results import (RESULTS_DIR, TIMESTAMP_FORMAT, ResultsFile,  # noqa: E402
                                              latest_results_file, list_results_files, read_results_file)

BASELINE = "baseline"


def _seconds(result: ResultsFile, metric: str, digits: int = 3) -> str:
    value = result.metrics.get(metric)
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_table(results: Sequence[ResultsFile]) -> str:
    """One row per results file; `vs Baseline` is total time over the Baseline file's, when one is compared."""
    baseline = next((r for r in results if r.algorithm == BASELINE), None)
    baseline_total = baseline.metrics.get("test_total_time") if baseline else None
    rows = []
    for result in results:
        total = result.metrics.get("test_total_time")
        ratio = f"{total / baseline_total:.2f}x" if total is not None and baseline_total else "-"
        rows.append([result.algorithm, result.database, result.timestamp,
                     result.metrics.get("test_query_count", "-"), _seconds(result, "test_total_time"),
                     _seconds(result, "test_average_time", 4), _seconds(result, "test_db_execution_time"),
                     _seconds(result, "test_overhead_time"), ratio])
    return box_table(["Algorithm", "Database", "Timestamp", "Queries", "Total (s)", "Avg (s)", "DB exec (s)",
                      "Overhead (s)", "vs Baseline"], rows)


def latest_comparable(algorithms: Sequence[str], database: str | None, workload: str,
                      results_dir: Path) -> list[ResultsFile]:
    """The newest comparable file of each algorithm, all of one database and workload; says which on stdout."""
    if database is None:
        newest = [found for found in (latest_results_file(a, None, results_dir, workload, comparable=True)
                                      for a in algorithms) if found]
        if not newest:
            return []
        database = max(newest, key=lambda found: found.timestamp).database
    chosen = []
    for algorithm in algorithms:
        found = latest_results_file(algorithm, database, results_dir, workload, comparable=True)
        newest = latest_results_file(algorithm, database, results_dir)
        if newest is not None and newest.path != getattr(found, "path", None):
            print(f"note: passed over {newest.path.name}: not comparable (untimed, not FINISHED, or workload "
                  f"{newest.workload})", file=sys.stderr)
        if found is None:
            print(f"warning: no comparable results file for {algorithm} on {database} ({workload} workload) "
                  f"in {results_dir}", file=sys.stderr)
        else:
            chosen.append(found)
    if chosen:
        print(f"Comparing {database}, {workload} workload, timed and FINISHED: "
              + ", ".join(found.path.name for found in chosen))
    return chosen


def listing_table(results: Sequence[ResultsFile]) -> str:
    return box_table(["File", "Algorithm", "Database", "Timestamp", "Total (s)"],
                     [[r.path.name, r.algorithm, r.database, r.timestamp, _seconds(r, "test_total_time")]
                      for r in results])


def write_chart(results: Sequence[ResultsFile], output: Path) -> Path:
    """Bars of total time per algorithm, split into server execution and everything else."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.algorithm}\n{r.database}" for r in results]
    db_time = [r.metrics.get("test_db_execution_time", 0.0) for r in results]
    overhead = [r.metrics.get("test_overhead_time", 0.0) for r in results]
    figure, axes = plt.subplots(figsize=(max(4.0, 1.6 * len(results) + 2), 4.5))
    axes.bar(labels, db_time, label="DB execution")
    axes.bar(labels, overhead, bottom=db_time, label="Overhead (planning, steering, round trips)")
    for x, result in enumerate(results):
        total = result.metrics.get("test_total_time")
        if total is not None:
            axes.annotate(f"{total:.3f}s", (x, total), ha="center", va="bottom")
    axes.set_ylabel("Test workload time (s)")
    axes.set_title("Test workload: total time per algorithm")
    axes.legend()
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="results files to compare")
    parser.add_argument("--latest", nargs="+", metavar="ALGO", help="compare the newest file of each algorithm")
    parser.add_argument("--list", action="store_true", help="list the results files")
    parser.add_argument("--db", help="only files of this database")
    parser.add_argument("--workload", default="test", help="with --latest: the workload timed (default: test)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="folder of the results files")
    parser.add_argument("--output", type=Path, help="PNG chart path (default: <results-dir>/comparison_<time>.png)")
    args = parser.parse_args(argv)

    if args.list:
        results = [r for r in list_results_files(args.results_dir) if args.db in (None, r.database)]
        print(listing_table(results) if results else f"No results files in {args.results_dir}.")
        return 0
    if args.latest:
        results = latest_comparable(args.latest, args.db, args.workload, args.results_dir)
    elif args.files:
        try:
            results = [read_results_file(path) for path in args.files]
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: cannot read a results file: {exc!r}", file=sys.stderr)
            return 1
    else:
        parser.error("give results files, --latest ALGO [ALGO ...] or --list")
    if not results:
        print("error: nothing to compare", file=sys.stderr)
        return 1
    if len({r.database for r in results}) > 1:
        print("warning: these results are from different databases; pass --db to compare one", file=sys.stderr)
    print(comparison_table(results))
    output = args.output or args.results_dir / f"comparison_{datetime.now().strftime(TIMESTAMP_FORMAT)}.png"
    print(f"Chart: {write_chart(results, output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
