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
