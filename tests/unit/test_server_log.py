"""The suite's check of the server log for backend crashes, on log files written here."""
from __future__ import annotations

from server_log import crash_lines, log_marks

CRASH = ("2026-11-30 06:04:23.724 UTC [8719] LOG:  server process (PID 9441) was terminated by signal 11: "
         "Segmentation fault")
TERMINATED = "2026-11-30 06:04:23.724 UTC [8719] LOG:  server process (PID 9441) was terminated by exception 0xC0000005"


def test_only_crashes_written_after_the_mark_count(tmp_path):
    log = tmp_path / "postgresql-06.log"
    log.write_text(f"{CRASH}\n")  # before the session
    start = log_marks([log])
    assert crash_lines([log], start) == []
    with open(log, "a") as handle:
        handle.write("2026-11-30 07:00:00.000 UTC [1] LOG:  checkpoint starting: time\n" + TERMINATED + "\n")
    assert crash_lines([log], start) == [TERMINATED]


def test_a_log_file_truncated_and_rewritten_is_read_from_its_start(tmp_path):
    log = tmp_path / "postgresql-07.log"
    log.write_text("2026-11-29 07:00:00.000 UTC [1] LOG:  yesterday\n" * 3)
    start = log_marks([log])
    log.write_text("2026-11-30 07:00:00.000 UTC [1] LOG:  rotated in\n" + CRASH + "\n" + "x" * 200 + "\n")
    assert crash_lines([log], start) == [CRASH]


def test_a_log_file_created_after_the_mark_is_read_whole(tmp_path):
    start = log_marks([])
    log = tmp_path / "postgresql-08.log"
    log.write_text(CRASH + "\n")
    assert crash_lines([log], start) == [CRASH]
