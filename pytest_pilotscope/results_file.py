"""A benchmark module's legacy results file: its metrics and per-query table, written once its run ends."""
from __future__ import annotations

from pilotscope.Common.legacy_results import ResultsDirError, write_results_file
from pytest_pilotscope.options import PilotOptions
from pytest_pilotscope.preflight import results_dir_message
from pytest_pilotscope.records import ModuleRecord


def write_module_results(options: PilotOptions, record: ModuleRecord) -> ResultsDirError | None:
    """Set `record.results_file`, or `record.results_error` (and a FINISHED status to FAILED) and return why."""
    stats = record.stats()
    extra = {"run_id": record.run_id, "status": record.status, "workload": options.workload,
             "rounds": options.rounds, "timed": stats.timed, "per_query": stats.table()}
    try:
        record.results_file = str(write_results_file(record.algorithm, record.dataset, stats.as_dict(), extra,
                                                     results_dir=options.results_dir))
    except ResultsDirError as error:
        record.results_error = results_dir_message(error)
        if record.status == "FINISHED":
            record.status = "FAILED"
        return error
    return None
