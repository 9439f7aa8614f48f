"""MSCN's per-query steering overhead on stats_tiny (target: median ≤ 2 ms), and what training it costs (≤ 90 s).

The overhead benchmark trains a model through the preset on the whole training workload (the
collection is cached under the state folder, so later runs only train), then runs the test
workload through the MSCN scheduler. A query's steering time is what the scheduler measures
around deciding: the plan-only pull of the sub-plan estimates (one round trip), analysing,
featurizing, one batched prediction and formatting the cards. pytest-benchmark times whole passes;
`extra_info` carries the median over queries of each query's median steering time across them. The cost benchmark collects (with an empty cache) and trains 100 epochs.
"""
from __future__ import annotations

import pytest
from steering_overhead import measure_steering_overhead

from algorithm_examples.Mscn.MscnPresetScheduler import get_mscn_preset_scheduler
from pilotscope import collection_cache
from pilotscope.datasets import load_dataset
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import MODEL_DIR_ENV

NUM_EPOCH = 10  # the overhead does not depend on how well the model is trained
COST_EPOCHS = 100

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def config() -> PostgreSQLConfig:
    config = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", config)
    return config


@pytest.fixture(scope="module")
def scheduler(config, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_DIR_ENV, str(tmp_path_factory.mktemp("models")))
        mscn, _ = get_mscn_preset_scheduler(config, num_epoch=NUM_EPOCH, use_mlflow=False)
        yield mscn
        mscn.close()


def test_mscn_steering_overhead(benchmark, scheduler):
    measure_steering_overhead(benchmark, scheduler, "MSCN", target_ms=2.0)


def test_mscn_collection_and_training_cost(benchmark, config, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)  # empty: one round collects for real

    def collect_and_train():
        mscn, _ = get_mscn_preset_scheduler(config, num_epoch=COST_EPOCHS, use_mlflow=False)
        mscn.close()
        return mscn.pilot_model.metadata

    benchmark.group = "MSCN collection + training (stats_tiny, whole training workload)"
    meta = benchmark.pedantic(collect_and_train, rounds=1, iterations=1)
    total = meta["collection_time"] + meta["training_time"]
    benchmark.extra_info.update({"collection_s": meta["collection_time"], "training_s": meta["training_time"],
                                 "total_s": round(total, 3), "target_s": 90.0, "epochs": COST_EPOCHS,
                                 "training_subplans": meta["num_training_samples"]})
    print(f"\nMSCN on stats_tiny: collection {meta['collection_time']} s ({meta['num_collection_queries']} queries), "
          f"training {meta['training_time']} s ({COST_EPOCHS} epochs, {meta['num_training_samples']} sub-plans): "
          f"{total:.1f} s in all (target ≤ 90 s)")
