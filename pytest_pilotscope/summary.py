"""The terminal side of a session: the pilotscope summary, printed last, so the output ends with the answer."""
from __future__ import annotations

from typing import Iterable

from pytest_pilotscope import pairing
from pytest_pilotscope.records import ModuleRecord

XDIST_NOTE = ("Ran under xdist (-n): pytest-benchmark takes no timings there, so none were taken or logged; every "
              "query's result was still checked against PostgreSQL, and each module was trained and tracked on "
              "one worker.")


def module_lines(records: Iterable[ModuleRecord]) -> list[str]:
    """One block per benchmark module: what it measured, its run, its gate verdict and its results file."""
    records = list(records)
    baseline_totals = {r.dataset: r.stats().as_dict().get("test_total_time") for r in records
                       if r.algorithm == "baseline"}
    lines = []
    for record in records:
        m = record.stats().as_dict()
        line = (f"{record.algorithm:9s} {record.dataset:12s} queries {m['test_query_count']:4d}"
                f"  failed {m['test_failed_count']}  timed out {m['test_timed_out_count']}")
        if "test_total_time" in m:
            line += (f"  total {m['test_total_time']:.3f}s  avg {m['test_average_time'] * 1e3:.2f}ms"
                     f"  db {m['test_db_execution_time']:.3f}s  overhead {m['test_overhead_time']:.3f}s"
                     f"  steering {m['test_steering_time']:.3f}s")
            base = baseline_totals.get(record.dataset)
            if base and record.algorithm != "baseline":
                line += f"  vs baseline {m['test_total_time'] / base:.2f}x"
            paired = pairing.summarize_queries(record.stats().queries)
            if paired:
                line += f"  {paired.describe(record.paired_against or pairing.PLAIN_POSTGRESQL)}"
        else:
            line += "  (no timings)"
        lines.append(line + f"  run {record.run_id or '-'} [{record.status}]")
        if record.reused_model:
            lines.append(f"  model {record.reused_model} reused: same training data, parameters and code")
        if record.loaded_model:
            lines.append(f"  model {record.loaded_model}")
        if record.results_file:
            lines.append(f"  results file: {record.results_file}")
        if record.results_error:
            lines.append(f"  results file NOT written: {record.results_error}")
        if record.gate_report:
            lines.extend("  " + part for part in record.gate_report.splitlines())
    return lines


class SummaryReporter:
    """Writes the pilotscope summary section from the session's lines (and those the xdist workers sent)."""

    def __init__(self, reporter) -> None:
        self.reporter = reporter

    def write(self, lines: list[str], notes: list[str]) -> None:
        """The notes first, then one block per module, its gate verdict last."""
        if not lines:
            return
        self.reporter.ensure_newline()
        self.reporter.write_sep("=", "pilotscope summary")
        for line in notes + lines:
            self.reporter.write_line(line)

    def count_regression(self) -> None:
        """Make pytest's last line say so: "146 passed, 1 gate regression" rather than "146 passed" alone."""
        self.reporter.stats.setdefault("gate regression", []).append(self)
