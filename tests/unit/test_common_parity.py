"""PilotScope's Common helpers: TimeStatistic, Drawer, Util."""
from __future__ import annotations

import threading

import pytest

from pilotscope.Common.Drawer import Drawer
from pilotscope.Common.TimeStatistic import TimeStatistic
from pilotscope.Common.Util import is_number, json_str_to_json_obj


@pytest.fixture(autouse=True)
def fresh_statistics():
    TimeStatistic.clear()
    yield
    TimeStatistic.clear()


def test_time_statistic_sums_and_counts_per_name():
    TimeStatistic.add_time("mscn", 1.5)
    TimeStatistic.add_time("mscn", 0.5)
    TimeStatistic.add_time("lero", 2.0)
    for _ in range(3):
        TimeStatistic.start("query")
        TimeStatistic.end("query")
    assert TimeStatistic.get_sum_data()["mscn"] == 2.0
    assert TimeStatistic.get_count_data() == {"mscn": 2, "lero": 1, "query": 3}
    assert TimeStatistic.get_average_data()["mscn"] == 1.0
    assert TimeStatistic.get_sum_data()["query"] >= 0.0
    report = TimeStatistic.report()
    assert list(report.columns) == ["name", "count", "total_time", "average_time"]
    assert report.set_index("name").loc["lero", "average_time"] == 2.0


def test_time_statistic_end_without_start_names_the_timer():
    with pytest.raises(RuntimeError, match="'never started'"):
        TimeStatistic.end("never started")


def test_time_statistic_times_each_thread_on_its_own():
    TimeStatistic.start("shared name")
    other = threading.Thread(target=lambda: (TimeStatistic.start("shared name"), TimeStatistic.end("shared name")))
    other.start()
    other.join()
    TimeStatistic.end("shared name")  # this thread's start survived the other thread's end
    assert TimeStatistic.get_count_data() == {"shared name": 2}


def test_draw_bar_writes_a_png_and_leaves_pyplot_alone(tmp_path):
    import matplotlib.pyplot as plt
    target = Drawer.draw_bar({"Mscn": 3.0, "Lero": [1.0, 2.0]}, str(tmp_path / "charts" / "mscn_stats_tiny"))
    assert target == tmp_path / "charts" / "mscn_stats_tiny.png"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == []


@pytest.mark.parametrize("value, expected", [(1, True), ("2.5", True), ("-3e4", True), ("abc", False),
                                              (None, False), ({}, False)])
def test_is_number(value, expected):
    assert is_number(value) is expected


def test_json_str_to_json_obj_takes_text_a_dict_or_explains_one_element_list():
    assert json_str_to_json_obj('{"Plan": {"Node Type": "Seq Scan"}}') == {"Plan": {"Node Type": "Seq Scan"}}
    assert json_str_to_json_obj('[{"Plan": 1}]') == {"Plan": 1}
    assert json_str_to_json_obj({"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="exactly one"):
        json_str_to_json_obj("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        json_str_to_json_obj("3")


def test_pg_hints_name_each_scan_join_and_the_join_order():
    from pilotscope.Common.Util import get_pg_hints
    plan = {"Plan": {"Node Type": "Aggregate", "Plans": [{"Node Type": "Hash Join", "Plans": [
        {"Node Type": "Seq Scan", "Alias": "b"},
        {"Node Type": "Hash", "Plans": [{"Node Type": "Nested Loop", "Plans": [
            {"Node Type": "Index Scan", "Alias": "u"}, {"Node Type": "Bitmap Heap Scan", "Alias": "c", "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "c_idx"}]}]}]}]}]}}
    assert get_pg_hints(plan).splitlines() == [
        "/*+", "SeqScan(b)", "IndexScan(u)", "BitmapScan(c)", "NestLoop(u c)", "HashJoin(b u c)",
        "Leading((b (u c)))", "*/"]
    assert "Leading" not in get_pg_hints({"Plan": {"Node Type": "Seq Scan", "Alias": "b"}})
