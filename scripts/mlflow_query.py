"""Query the tracked experiments from the terminal.

    python scripts/mlflow_query.py list
    python scripts/mlflow_query.py runs mscn_stats_tiny --limit 5
    python scripts/mlflow_query.py best mscn_stats_tiny --metric test_total_time [--maximize]
    python scripts/mlflow_query.py compare 3a2f1d4b 4b3c2a5d
    python scripts/mlflow_query.py promote 3a2f1d4b [--alias champion]
    python scripts/mlflow_query.py champion mscn_stats_tiny [--alias champion]

Run ids may be given as unique prefixes. `--json` (after the subcommand) prints machine-readable
output instead of tables. The store is the project's (see pilotscope/Common/tracking_store.py);
`MLFLOW_TRACKING_URI` selects another.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, also when not installed

from pilotscope.Common.box_table import box_table  # noqa: E402
from pilotscope.Common.metric_meaning import SeriesSummary, change, meaning  # noqa: E402
from pilotscope.Common.MLflowTracker import MLflowTracker  # noqa: E402
from pilotscope.Common.model_registry import CHAMPION, champion, promote  # noqa: E402
from pilotscope.Common.tracking_store import (TrackingError, check_store, display_uri,  # noqa: E402
                                              get_experiment_id, tracking_client)
from pilotscope.errors import PilotScopeError  # noqa: E402

CORE_PARAMS = ("algorithm", "dataset", "num_epoch", "num_training", "num_collection", "model_id")
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{1,32}")
RULE = "=" * 79


class RunLookupError(TrackingError):
    """A run id prefix matches no run, or more than one."""


def _ordered_params(params: dict[str, str]) -> list[tuple[str, str]]:
    """The core params in the guide's order, then the rest alphabetically."""
    core = [(key, params[key]) for key in CORE_PARAMS if key in params]
    return core + sorted((key, value) for key, value in params.items() if key not in CORE_PARAMS)


def _seconds(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}s"


def _start_time(run) -> str:
    return datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc).isoformat(timespec="seconds")


def resolve_run(client, prefix: str):
    """The one run whose id starts with `prefix` (any experiment, deleted runs included)."""
    from mlflow.entities import ViewType

    prefix = prefix.lower()
    if not RUN_ID_PATTERN.fullmatch(prefix):
        raise RunLookupError(f"{prefix!r} is not a run id or run id prefix (1-32 hexadecimal characters).")
    experiment_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    matches = client.search_runs(experiment_ids, filter_string=f"attributes.run_id LIKE '{prefix}%'",
                                 run_view_type=ViewType.ALL, max_results=10) if experiment_ids else []
    if not matches:
        raise RunLookupError(f"No run id starts with {prefix!r} in {display_uri(client.tracking_uri)}.")
    if len(matches) > 1:
        listed = ", ".join(f"{run.info.run_id} ({run.info.run_name})" for run in matches)
        raise RunLookupError(f"Run id prefix {prefix!r} is ambiguous: it matches {listed}"
                             f"{' and more' if len(matches) == 10 else ''}. Give more characters.")
    return matches[0]


# ----------------------------------------------------------------------------- subcommands
def cmd_list(client, args: argparse.Namespace) -> Any:
    from mlflow.entities import ViewType

    rows = []
    for experiment in sorted(client.search_experiments(view_type=ViewType.ALL), key=lambda e: int(e.experiment_id)):
        count, token = 0, None
        while True:
            page = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000,
                                      page_token=token)
            count += len(page)
            token = page.token
            if not token:
                break
        rows.append({"id": experiment.experiment_id, "name": experiment.name,
                     "stage": experiment.lifecycle_stage, "runs": count})
    if args.json:
        return rows
    return box_table(["ID", "Name", "Stage", "# Runs"], [list(row.values()) for row in rows], [None, 40, None, None])


def cmd_runs(client, args: argparse.Namespace) -> Any:
    experiment_id = get_experiment_id(client, args.experiment)
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=args.limit)
    rows = [{"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
             "start_time": _start_time(run), "test_total_time": run.data.metrics.get("test_total_time"),
             "test_average_time": run.data.metrics.get("test_average_time"),
             "algorithm": run.data.params.get("algorithm"), "dataset": run.data.params.get("dataset")}
            for run in runs]
    if args.json:
        return rows
    if not rows:
        return f"No runs in {args.experiment}."
    return box_table(["Run ID", "Name", "Status", "Total Time", "Avg Time", "Algorithm", "Dataset"],
                     [[r["run_id"], r["run_name"], r["status"], _seconds(r["test_total_time"], 3),
                       _seconds(r["test_average_time"], 4), r["algorithm"] or "-", r["dataset"] or "-"]
                      for r in rows],
                     [8, 40, None, None, None, 12, 16])


def cmd_best(client, args: argparse.Namespace) -> Any:
    best = MLflowTracker.get_best_run(args.experiment, args.metric, ascending=not args.maximize,
                                      tracking_uri=client.tracking_uri)
    if best is None:
        raise TrackingError(f"No finished run in {args.experiment} has metric {args.metric!r}.")
    if args.json:
        return best
    lines = [RULE, f"Best run in {args.experiment} (by {args.metric})", RULE,
             f"Run ID: {best['run_id']}", f"Run Name: {best['run_name']}",
             f"{args.metric}: {best['metric_value']:.6f}", "", "Parameters:"]
    lines += [f"  {key}: {value}" for key, value in _ordered_params(best["params"])]
    lines += ["", f"Artifact URI: {best['artifact_uri']}"]
    return "\n".join(lines)


def cmd_promote(client, args: argparse.Namespace) -> Any:
    run = resolve_run(client, args.run)
    promoted = promote(run.info.run_id, args.alias, reason="promoted with mlflow_query.py promote",
                       tracking_uri=client.tracking_uri)
    if args.json:
        return {**vars(promoted), "uri": promoted.uri}
    return "\n".join([f"{promoted.uri} is now version {promoted.version}: run {run.info.run_id} ({run.info.run_name}).",
                      "Used by `pytest --no-train` and the presets with enable_training=False, "
                      "enable_collection=False, use_mlflow=True;",
                      f"download: mlflow artifacts download --artifact-uri {promoted.uri} --dst-path DIR"])


def cmd_champion(client, args: argparse.Namespace) -> Any:
    get_experiment_id(client, args.experiment)  # a misspelt experiment: the error lists the ones there are
    current = champion(args.experiment, args.alias, tracking_uri=client.tracking_uri)
    if current is None:
        raise TrackingError(f"{args.experiment} has no model under alias {args.alias!r}: promote a run with "
                            f"`python scripts/mlflow_query.py promote RUN_ID --alias {args.alias}`.")
    run = client.get_run(current.run_id)
    total = run.data.metrics.get("test_total_time")
    if args.json:
        return {**vars(current), "uri": current.uri, "run_name": run.info.run_name, "status": run.info.status,
                "model_id": run.data.params.get("model_id"), "test_total_time": total}
    return "\n".join([RULE, f"{current.uri}: {args.experiment}, version {current.version}", RULE,
                      f"Run ID: {current.run_id}", f"Run Name: {run.info.run_name}", f"Status: {run.info.status}",
                      f"model_id: {run.data.params.get('model_id', '-')}",
                      f"test_total_time: {'-' if total is None else f'{total:.6f}'}"])


def _series(client, run, key: str) -> SeriesSummary:
    """A metric's whole history: MLflow's run record keeps only the latest step."""
    history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
    return SeriesSummary.of([m.value for m in history] or [run.data.metrics[key]])


def _diff_text(key: str, first: SeriesSummary | None, second: SeriesSummary | None) -> tuple[float | None, str]:
    """Run 2's last value minus run 1's, as the guide shows it (`+0.6260 ⬆️`); none for per-query series."""
    if first is None or second is None or meaning(key).per_item:
        return None, "-"
    diff = second.last - first.last
    marker = " ⬆️" if diff > 0 else " ⬇️" if diff < 0 else ""
    shown = f"{int(diff):+d}" if meaning(key).count and diff == int(diff) else f"{diff:+.4f}"
    return diff, f"{shown}{marker}"


def cmd_compare(client, args: argparse.Namespace) -> Any:
    runs = [resolve_run(client, args.run1), resolve_run(client, args.run2)]
    keys = sorted(set(runs[0].data.metrics) | set(runs[1].data.metrics))
    series = [{key: _series(client, run, key) for key in run.data.metrics} for run in runs]
    params = [key for key, _ in _ordered_params({**runs[0].data.params, **runs[1].data.params})]
    compared = {}
    for key in keys:
        first, second = series[0].get(key), series[1].get(key)
        diff, shown = _diff_text(key, first, second)
        verdict = "" if diff is None else change(key, first.last, second.last)
        compared[key] = {"diff": diff, "shown": shown, "change": verdict}
    if args.json:
        return {"runs": [{"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
                          "metrics": run.data.metrics, "params": run.data.params,
                          "steps": {key: summary.steps for key, summary in found.items()}}
                         for run, found in zip(runs, series)],
                "metric_diff": {key: row["diff"] for key, row in compared.items()},
                "metric_change": {key: row["change"] or None for key, row in compared.items()}}
    info = box_table(["", "Run 1", "Run 2"],
                     [["Run ID", runs[0].info.run_id[:8], runs[1].info.run_id[:8]],
                      ["Run Name", runs[0].info.run_name, runs[1].info.run_name],
                      ["Status", runs[0].info.status, runs[1].info.status]])

    def value(found: dict[str, SeriesSummary], key: str) -> str:
        return found[key].describe(key) if key in found else "-"
    metric_rows = [[key, value(series[0], key), value(series[1], key), compared[key]["shown"],
                    compared[key]["change"]] for key in keys]
    param_rows = [[p, runs[0].data.params.get(p, "-"), runs[1].data.params.get(p, "-")] for p in params]
    parts = [info]
    if metric_rows:
        parts += ["", "Metrics (a step metric: its last value, range and number of steps; "
                      "2 vs 1: better or worse for that metric):",
                  box_table(["Metric", "Run 1", "Run 2", "Diff (2-1)", "2 vs 1"], metric_rows)]
    if param_rows:
        parts += ["", "Params:", box_table(["Param", "Run 1", "Run 2"], param_rows, [None, 40, 40])]
    return "\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="experiments and their run counts").set_defaults(
        handler=cmd_list)
    runs = commands.add_parser("runs", parents=[common], help="the newest runs of an experiment")
    runs.add_argument("experiment")
    runs.add_argument("--limit", type=int, default=10, help="how many runs (default: 10)")
    runs.set_defaults(handler=cmd_runs)
    best = commands.add_parser("best", parents=[common], help="the best finished run of an experiment")
    best.add_argument("experiment")
    best.add_argument("--metric", default="test_total_time", help="metric to rank by (default: test_total_time)")
    best.add_argument("--maximize", action="store_true", help="higher is better (default: lower)")
    best.set_defaults(handler=cmd_best)
    promoted = commands.add_parser("promote", parents=[common],
                                   help="register a finished run's model and point an alias (champion) at it")
    promoted.add_argument("run", help="run id or unique prefix")
    promoted.add_argument("--alias", default=CHAMPION, help=f"alias to move (default: {CHAMPION})")
    promoted.set_defaults(handler=cmd_promote)
    current = commands.add_parser("champion", parents=[common], help="the run an experiment's alias points at")
    current.add_argument("experiment")
    current.add_argument("--alias", default=CHAMPION, help=f"alias to read (default: {CHAMPION})")
    current.set_defaults(handler=cmd_champion)
    compare = commands.add_parser("compare", parents=[common], help="two runs side by side")
    compare.add_argument("run1", help="run id or unique prefix")
    compare.add_argument("run2", help="run id or unique prefix")
    compare.set_defaults(handler=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_store()  # an unusable store (down, refusing the login, damaged) is one clear line, no password
        output = args.handler(tracking_client(), args)
    except PilotScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(output, indent=2) if args.json else output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
