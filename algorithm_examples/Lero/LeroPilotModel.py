"""Lero as a PilotModel: the tree-convolution ranker and its plan featurizer, trained and saved together."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from algorithm_examples.Lero import tree_conv_ranker
from algorithm_examples.Lero.candidates import SCALE_FACTORS
from algorithm_examples.Lero.plan_features import PlanFeaturizer
from algorithm_examples.Lero.tree_conv_ranker import TreeConvRanker, preference_pairs, train_ranker
from pilotscope.errors import PilotScopeError
from pilotscope.PilotModel import PilotModel

LEARNING_RATE = 1e-3
GROUPS_PER_BATCH = 16  # queries per training step
SEED = 0


class LeroPilotModel(PilotModel):
    """Scores candidate plans of one query; lower means predicted faster."""

    algorithm = "lero"
    folder_name = "Lero"

    def __init__(self, model_id: str | None = None, model_name: str | None = None) -> None:
        super().__init__(model_id, model_name)
        # Plan batches are tiny: a second OpenMP thread buys nothing, and while PostgreSQL or other
        # tests keep the cores busy its spin-waiting made scoring ~100x slower (2 ms -> 220 ms) on a
        # 2-core machine. One thread also makes training independent of the machine's core count.
        torch.set_num_threads(1)
        self.ranker: TreeConvRanker | None = None
        self.featurizer = PlanFeaturizer()

    def train(self, groups: Sequence[Sequence[tuple[Any, float]]], dataset: str, num_epoch: int,
              on_epoch: Callable[[int, float], None] | None = None, provenance: dict[str, Any] | None = None) -> None:
        """Train on candidate groups (one per query: (plan with original rows, latency seconds)).

        ``provenance`` (collection time, counts, ...) is recorded in the metadata beside what
        training itself measures.
        """
        if not groups:
            raise PilotScopeError(
                f"No Lero training data for {dataset!r}: none of the collected queries has two distinct "
                f"candidate plans (two-table joins seldom have: scaling their only join rarely changes the "
                f"plan). Collect more queries (num_collection) or use more of them (num_training).")
        started = time.perf_counter()
        self.featurizer = PlanFeaturizer()
        self.ranker = train_ranker(groups, self.featurizer, epochs=num_epoch, lr=LEARNING_RATE, seed=SEED,
                                   on_epoch=on_epoch, groups_per_batch=GROUPS_PER_BATCH)
        self.metadata.update({
            "dataset": dataset,
            "hyperparameters": {**self.ranker.hyperparameters(), "learning_rate": LEARNING_RATE,
                                "groups_per_batch": GROUPS_PER_BATCH, "seed": SEED,
                                "scale_factors": list(SCALE_FACTORS)},
            "epochs": num_epoch,
            "training_time": round(time.perf_counter() - started, 3),
            "num_queries": len(groups),
            "num_candidates": sum(len(group) for group in groups),
            "num_pairs": sum(len(preference_pairs([latency for _, latency in group])[0]) for group in groups),
            **(provenance or {}),
        })

    def score(self, plans: Sequence[Any]) -> np.ndarray:
        """Scores of one query's candidate plans (with original rows restored), in one batch."""
        if self.ranker is None:
            raise PilotScopeError(f"Lero model {self.model_id} has not been trained or loaded: train it "
                                  f"(scheduler.init() with enable_training=True) or load a saved one.")
        return tree_conv_ranker.score(self.ranker, self.featurizer, plans)

    def _save_to(self, folder: Path) -> None:
        if self.ranker is None:
            raise PilotScopeError(f"Lero model {self.model_id} has not been trained: nothing to save.")
        tree_conv_ranker.save(self.ranker, self.featurizer, folder)

    def _load_from(self, folder: Path) -> None:
        self.ranker, self.featurizer = tree_conv_ranker.load(folder)
