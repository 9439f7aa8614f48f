"""Settings PilotScope's examples and tests import: where results go and which server they control.

`example_pg_bin` and `example_pgdata` are the embedded server's binaries and data folders, the only
server `PostgreSQLConfig.enable_deep_control_local` accepts, so upstream tests run unedited.
"""
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.extension_installer import pg_installation

pg_stats_test_result_table = "pg_stats_test_result"
base_time_statistic_file_path = "Results/"

example_pg_bin = str(pg_installation().bindir)
example_pgdata = str(EmbeddedServer().data_dir)


def get_time_statistic_xlsx_file_path(algo_name: str, workload_name: str) -> str:
    """Where an example writes its per-query time table (a spreadsheet)."""
    return f"{base_time_statistic_file_path}{algo_name}_{workload_name}.xlsx"


def get_time_statistic_img_path(algo_name: str, workload_name: str) -> str:
    """The name (no extension) an example's time chart is saved under."""
    return f"{algo_name}_{workload_name}"
