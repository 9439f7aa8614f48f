"""Run one algorithm end to end: preset scheduler (training per flags), the test workload, results.

    python test_example_algorithms/unified_test.py --algo mscn --db stats_tiny [--no-mlflow] [--epochs N]

Tracked in MLflow (experiment `<algo>_<db>`: params, per-epoch loss, model, test metrics, stage
`tested`) unless `--no-mlflow`; always writes the legacy results file
`test_example_algorithms/results/<algo>_<db>_<YYYYmmdd_HHMMSS>.json`. `--no-train` skips collection and
training and uses the best tracked model (the newest local one with `--no-mlflow`). Runs from any
folder; presets are imported by name, so an algorithm works here as soon as its preset exists.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, also when not installed

from pilotscope.Common.legacy_results import RESULTS_DIR, write_results_file  # noqa: E402
from pilotscope.Common.tracking_store import TRACKING_URI_ENV, display_uri  # noqa: E402
from pilotscope.Common.workload_metrics import summarize_test_results  # noqa: E402
from pilotscope.datasets import load_test_sql  # noqa: E402
from pilotscope.errors import PilotScopeError  # noqa: E402
from pilotscope.PilotConfig import PostgreSQLConfig  # noqa: E402

ALGORITHM_FOLDERS = {"mscn": "Mscn", "lero": "Lero", "baseline": "Baseline"}


def preset_scheduler_factory(algorithm: str) -> Callable:
    """`algorithm_examples.<Algo>.<Algo>PresetScheduler.get_<algo>_preset_scheduler`."""
    folder = ALGORITHM_FOLDERS[algorithm]
    module_name = f"algorithm_examples.{folder}.{folder}PresetScheduler"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        raise PilotScopeError(f"The {algorithm} preset scheduler is not available: {module_name} does not exist "
                              f"in this checkout.") from exc
    return getattr(module, f"get_{algorithm}_preset_scheduler")


def run(algorithm: str, database: str, use_mlflow: bool, epochs: int, train: bool,
        results_dir: Path) -> dict:
    """Run the algorithm and return what the summary prints."""
    preset = preset_scheduler_factory(algorithm)
    scheduler, tracker = preset(PostgreSQLConfig(db=database), enable_collection=train, enable_training=train,
                                num_epoch=epochs, use_mlflow=use_mlflow)
    try:
        with tracker or contextlib.nullcontext():  # ends the run FINISHED, FAILED or KILLED
            results = [scheduler.execute(sql) for sql in load_test_sql(database)]
            metrics = summarize_test_results(results)
            if tracker:
                tracker.log_test_results(metrics)
    finally:
        scheduler.close()
    model = scheduler.pilot_model
    extra_info = {"epochs": epochs, "trained": train, "model_id": getattr(model, "model_id", None),
                  "mlflow_run_id": tracker.run_id if tracker else None,
                  "mlflow_experiment": tracker.experiment_name if tracker else None}
    path = write_results_file(algorithm, database, metrics, extra_info, results_dir=results_dir)
    return {"metrics": metrics, "results_file": path, "tracker": tracker}


def print_summary(algorithm: str, database: str, outcome: dict) -> None:
    metrics, tracker = outcome["metrics"], outcome["tracker"]
    print(f"{algorithm} on {database}: {metrics['test_query_count']} queries, "
          f"{metrics['test_timed_out_count']} timed out")
    print(f"  total {metrics['test_total_time']:.3f}s  average {metrics['test_average_time']:.4f}s  "
          f"db execution {metrics['test_db_execution_time']:.3f}s  overhead {metrics['test_overhead_time']:.3f}s")
    if tracker:
        print(f"MLflow run {tracker.run_id} ({tracker.run_name}) in experiment {tracker.experiment_name}, "
              f"store {display_uri(tracker.tracking_uri)}")
        if not os.environ.get(TRACKING_URI_ENV):
            print(f"  plain mlflow commands find it with: export {TRACKING_URI_ENV}={tracker.tracking_uri}")
    print(f"Results file: {outcome['results_file']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", required=True, choices=sorted(ALGORITHM_FOLDERS))
    parser.add_argument("--db", default="stats_tiny", help="dataset / database name (default: stats_tiny)")
    parser.add_argument("--no-mlflow", action="store_true", help="track nothing in MLflow")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default: 100)")
    parser.add_argument("--no-train", action="store_true",
                        help="no collection or training: use the best tracked model (newest local with --no-mlflow)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where the JSON results file goes (default: test_example_algorithms/results)")
    args = parser.parse_args(argv)
    try:
        outcome = run(args.algo, args.db, not args.no_mlflow, args.epochs, not args.no_train, args.results_dir)
    except PilotScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print_summary(args.algo, args.db, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
