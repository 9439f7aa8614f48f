"""The `pilotscope` console command: manage the embedded server and datasets.

`pilotscope db start`, `db load DATASET` and `db status` print a connection URI as their last line, so
scripts can take it with `tail -n1`. It holds no password: its `passfile` parameter names the file libpq
reads the password from, so `psql "$URI"` and psycopg2 connect with it as it is; `--show-password`
prints the password in the URI instead, for clients that are not built on libpq.
"""
from __future__ import annotations

import argparse
import sys

from pilotscope.errors import PilotScopeError


def _cmd_start(args: argparse.Namespace) -> None:
    from pilotscope.embedded_server import EmbeddedServer
    info = EmbeddedServer().start()
    print(info.uri(show_password=args.show_password))


def _cmd_stop(args: argparse.Namespace) -> None:
    from pilotscope.embedded_server import EmbeddedServer
    print("stopped" if EmbeddedServer().stop() else "not running")


def _cmd_status(args: argparse.Namespace) -> int:
    from pilotscope.embedded_server import EXPERIMENT_SETTINGS, EmbeddedServer
    server = EmbeddedServer()
    if not server.is_running():
        print(f"embedded server: not running (cluster {server.data_dir})")
        return 3
    info = server.info()
    print(f"embedded server: running on {info.host}:{info.port} (cluster {server.data_dir})")
    print("experiment settings: " + ", ".join(f"{k}={v}" for k, v in EXPERIMENT_SETTINGS.items()))
    print(info.uri(show_password=args.show_password))
    return 0


def _cmd_load(args: argparse.Namespace) -> None:
    from pilotscope.datasets import load_dataset
    from pilotscope.PilotConfig import PostgreSQLConfig
    config = PostgreSQLConfig(db=args.dataset)
    dbname = load_dataset(args.dataset, config, force=args.force)
    print(config.uri(dbname, show_password=args.show_password))


def _cmd_datasets(args: argparse.Namespace) -> None:
    from pilotscope.datasets import available_datasets
    for name, dataset in sorted(available_datasets().items()):
        where = dataset.folder or dataset.upstream_base_url or (dataset.archive or {}).get("url", "")
        print(f"{name:14} {where}")


def _cmd_generate(args: argparse.Namespace) -> int:
    from pilotscope import progress
    from pilotscope.datasets import load_dataset
    from pilotscope.generated_workload import generate
    from pilotscope.PilotConfig import PostgreSQLConfig
    from pilotscope.query_generation import GenerationParams, parse_table_range
    try:
        low, high = parse_table_range(args.tables)
    except ValueError as exc:
        print(f"pilotscope: error: --tables {exc}", file=sys.stderr)
        return 2
    params = GenerationParams(count=args.count, min_tables=low, max_tables=high, max_filters=args.max_filters,
                              min_time=args.min_time, max_time=args.max_time, keep_empty=args.keep_empty)
    config = PostgreSQLConfig(db=args.db)
    load_dataset(args.db, config)
    workload = generate(args.db, config, args.seed, params, progress=progress.report, use_cache=not args.no_cache)
    text = "".join(sql + "\n" for sql in workload.sqls)
    if args.output:
        from pathlib import Path
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    print(workload.summary(), file=sys.stderr)
    return 0 if len(workload.queries) == params.count else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilotscope", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dbp = commands.add_parser("db", help="the embedded PostgreSQL server and its databases")
    db_commands = dbp.add_subparsers(dest="db_command", required=True)
    start = db_commands.add_parser("start", help="build the extension, start the server, print its URI")
    start.set_defaults(func=_cmd_start)
    db_commands.add_parser("stop", help="stop the embedded server").set_defaults(func=_cmd_stop)
    status = db_commands.add_parser("status", help="is the embedded server running, and where; print its URI")
    status.set_defaults(func=_cmd_status)
    load = db_commands.add_parser("load", help="load a dataset into a database named after it, print its URI")
    load.add_argument("dataset")
    load.add_argument("--force", action="store_true", help="reload even when that dump is already loaded")
    load.set_defaults(func=_cmd_load)
    for printing_uri in (start, status, load):
        printing_uri.add_argument(
            "--show-password", action="store_true",
            help="put the password in the printed URI; by default the URI's passfile parameter names the "
                 "file (mode 0600) libpq reads it from, and psql or psycopg2 connect with the URI as it is")
    commands.add_parser("datasets", help="list the known datasets").set_defaults(func=_cmd_datasets)
    workload = commands.add_parser("workload", help="held-out workloads").add_subparsers(
        dest="workload_command", required=True)
    gen = workload.add_parser(
        "generate", help="new queries over a dataset's join graph, kept when plain PostgreSQL's time is in a window",
        description="Generate held-out queries: the dataset's workloads give the join graph and filter columns, "
                    "the data gives the literals, plain PostgreSQL's time decides which are kept. The same "
                    "dataset, seed and parameters read the same queries from the cache (under .pilotscope/cache/). "
                    "Queries go to stdout (or --output), one per line; progress and a summary to stderr. "
                    "`pytest benchmarks --workload generated:SEED` benchmarks the default-parameter workload.")
    gen.add_argument("--db", required=True, help="dataset (loaded if needed)")
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--count", type=int, default=60, help="queries to generate (default 60)")
    gen.add_argument("--tables", default="2-8", help="tables per query, MIN-MAX (default 2-8, capped by the join graph)")
    gen.add_argument("--max-filters", type=int, default=4, help="filters per query: 1 to this (default 4)")
    gen.add_argument("--min-time", type=float, default=None,
                     help="reject queries faster than this, seconds (default 0.02; 0 on datasets under 100,000 rows)")
    gen.add_argument("--max-time", type=float, default=15.0,
                     help="statement timeout: reject queries slower than this, seconds (default 15)")
    empty = gen.add_mutually_exclusive_group()
    empty.add_argument("--keep-empty", dest="keep_empty", action="store_true", default=None,
                       help="keep queries whose COUNT(*) is 0 (default on datasets under 100,000 rows)")
    empty.add_argument("--reject-empty", dest="keep_empty", action="store_false",
                       help="reject queries whose COUNT(*) is 0 (default on larger datasets)")
    gen.add_argument("--output", "-o", help="write the queries to this file instead of stdout")
    gen.add_argument("--no-cache", action="store_true", help="generate afresh, neither reading nor writing the cache")
    gen.set_defaults(func=_cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except PilotScopeError as exc:
        print(f"pilotscope: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
