"""The knob space without a server: its ranges, the server's values read into it, and its settings."""
from __future__ import annotations

import pytest

from algorithm_examples.KnobTuning.knob_space import (KNOB_SPACE, Knob, configuration_space, plain_values,
                                                      settings_of)
from pilotscope.errors import ConfigurationError

MACHINE_MB = 24 * 1024
CORES = 2
SPACE = {knob.name: knob for knob in KNOB_SPACE}


def test_the_default_space_fits_a_24_gib_two_core_machine():
    assert list(SPACE) == ["shared_buffers", "work_mem", "effective_cache_size", "random_page_cost",
                           "effective_io_concurrency", "max_parallel_workers_per_gather"]
    assert max(SPACE["shared_buffers"].choices) <= MACHINE_MB // 4  # the usual ceiling, a quarter of memory
    assert min(SPACE["shared_buffers"].choices) == 128  # PostgreSQL's own default
    hash_mem_multiplier = 2
    assert max(SPACE["work_mem"].choices) * hash_mem_multiplier <= 1024  # per hash node
    assert max(SPACE["effective_cache_size"].choices) < MACHINE_MB
    assert max(SPACE["max_parallel_workers_per_gather"].choices) == CORES
    assert (SPACE["random_page_cost"].low, SPACE["random_page_cost"].high) == (1.0, 4.0)
    for name in ("shared_buffers", "work_mem", "effective_cache_size"):
        ladder = SPACE[name].choices
        assert SPACE[name].unit == "MB" and all(b == 2 * a for a, b in zip(ladder, ladder[1:])), name
    assert all(knob.why for knob in KNOB_SPACE)


@pytest.mark.parametrize("name, setting, unit, value", [
    ("shared_buffers", "65536", "8kB", 512),  # pg_settings counts shared_buffers in 8 kB blocks
    ("work_mem", "65536", "kB", 64),
    ("effective_cache_size", "524288", "8kB", 4096),
    ("random_page_cost", "1.1", None, 1.1),
    ("effective_io_concurrency", "1", None, 1),
])
def test_the_servers_setting_is_read_in_the_knobs_unit(name, setting, unit, value):
    read = SPACE[name].value_of(setting, unit)
    assert read == value and type(read) is type(value)


def test_a_unit_postgresql_does_not_use_is_refused():
    with pytest.raises(ConfigurationError, match="'8pages' is not a memory unit"):
        SPACE["work_mem"].value_of("3", "8pages")


def test_values_become_settings_as_postgresql_reads_them():
    assert SPACE["shared_buffers"].setting(1024) == "1024MB"
    assert SPACE["random_page_cost"].setting(1.23456) == "1.23"
    assert SPACE["random_page_cost"].setting(4.0) == "4"
    assert SPACE["max_parallel_workers_per_gather"].setting(2) == "2"
    assert Knob("shared_buffers").setting(65536) == "65536"  # a bare knob: the server's own unit


def test_the_servers_own_value_is_always_a_candidate_and_the_default():
    between = SPACE["shared_buffers"].around(300)
    assert between.default == 300 and between.choices == (128, 256, 300, 512, 1024, 2048, 4096)
    assert SPACE["shared_buffers"].around(512).choices == SPACE["shared_buffers"].choices
    wider = SPACE["random_page_cost"].around(6.5)
    assert (wider.low, wider.high, wider.default) == (1.0, 6.5, 6.5)


def test_the_search_space_starts_at_the_servers_configuration():
    knobs = [SPACE["shared_buffers"].around(512), SPACE["random_page_cost"].around(4.0),
             SPACE["max_parallel_workers_per_gather"].around(0)]
    space = configuration_space(knobs, seed=3)
    default = plain_values(space.get_default_configuration())
    assert default == {"shared_buffers": 512, "random_page_cost": 4.0, "max_parallel_workers_per_gather": 0}
    assert settings_of(knobs, default) == {"shared_buffers": "512MB", "random_page_cost": "4",
                                           "max_parallel_workers_per_gather": "0"}
    sampled = plain_values(space.sample_configuration())
    assert sampled["shared_buffers"] in knobs[0].choices and 1.0 <= sampled["random_page_cost"] <= 4.0
    assert all(type(value) in (int, float) for value in sampled.values())  # no numpy scalars
