"""Run one algorithm end to end through the pytest plugin: training per flags, the test workload, results.

    python test_example_algorithms/unified_test.py --algo mscn --db stats_tiny [--no-mlflow] [--epochs N]

It writes the two-line benchmark module (`ALGORITHM`, `DATASET`, one test) into a temporary folder and
runs pytest on it, so this script and `pytest benchmarks` measure, track and report the same way: an
MLflow run in experiment `<algo>_<db>` unless `--no-mlflow`, the legacy results file
`test_example_algorithms/results/<algo>_<db>_<YYYYmmdd_HHMMSS>.json`, and the pilotscope summary as the
last lines. `--no-train` skips collection and training and uses the tracked model
(`models:/<algo>_<db>@champion`, else the best finished run's; the newest local one with `--no-mlflow`). Runs from any folder; the exit status is pytest's.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # the project, also when not installed

from pytest_pilotscope.registry import algorithms  # noqa: E402

BENCHMARK_MODULE = '''\
ALGORITHM = {algorithm!r}
DATASET = {dataset!r}


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
'''


def pytest_arguments(args: argparse.Namespace, module: Path) -> list[str]:
    """The pytest command line running `module` with the script's options."""
    command = [sys.executable, "-m", "pytest", str(module), "-p", "no:cacheprovider", f"--rootdir={module.parent}",
               "--db", args.db, "--epochs", str(args.epochs), "--workload", "test"]
    if args.results_dir:
        command.append(f"--results-dir={args.results_dir}")
    return command + ["--no-mlflow"] * args.no_mlflow + ["--no-train"] * args.no_train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", required=True, choices=sorted(algorithms()))
    parser.add_argument("--db", default="stats_tiny", help="dataset / database name (default: stats_tiny)")
    parser.add_argument("--no-mlflow", action="store_true", help="track nothing in MLflow")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default: 100)")
    parser.add_argument("--no-train", action="store_true",
                        help="no collection or training: use the tracked model (models:/<algo>_<db>@champion, else "
                             "the best finished run's; newest local with --no-mlflow)")
    parser.add_argument("--results-dir", type=Path,
                        help="where the JSON results file goes (default: test_example_algorithms/results)")
    args = parser.parse_args(argv)
    # a fresh session: an outer pytest's (xdist) variables would switch pytest-benchmark off in this one
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="unified_test_") as folder:
        module = Path(folder) / f"test_{args.algo}_{args.db}.py"
        module.write_text(BENCHMARK_MODULE.format(algorithm=args.algo, dataset=args.db))
        return subprocess.run(pytest_arguments(args, module), env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
