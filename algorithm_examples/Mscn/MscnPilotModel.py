"""MSCN as a PilotModel: the network with its vocabulary, label scale and column ranges, trained and saved together."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from algorithm_examples.Mscn.coverage import bounded
from algorithm_examples.Mscn.featurizer import (ColumnRanges, FeatureVocabulary, SubplanBatch, UnsupportedQueryError,
                                                analyze_query, featurize_subplans)
from algorithm_examples.Mscn.mscn_net import MscnModel, predict, train_mscn
from pilotscope.errors import PilotScopeError
from pilotscope.PilotModel import PilotModel

HIDDEN_SIZE = 256
BATCH_SIZE = 512
LEARNING_RATE = 1e-3
SEED = 0
PG_ESTIMATE = True  # the hybrid: PostgreSQL's estimate in, a correction of it out (False: MSCN as published)


class MscnPilotModel(PilotModel):
    """Estimates the rows of every sub-plan of a query; PostgreSQL's estimate where it cannot."""

    algorithm = "mscn"
    folder_name = "Mscn"

    def __init__(self, model_id: str | None = None, model_name: str | None = None,
                 pg_estimate: bool = PG_ESTIMATE) -> None:
        super().__init__(model_id, model_name)
        self.pg_estimate = pg_estimate
        # One query's sub-plans are a tiny batch: with 2 threads on 2 shared cores OpenMP's
        # spin-waiting makes inference and training many times slower; one thread also makes
        # training independent of the machine's core count.
        torch.set_num_threads(1)
        self.mscn: MscnModel | None = None

    def train(self, queries: Sequence[tuple[str, Mapping[str, float], Mapping[str, float]]],
              column_ranges: Mapping[str, Sequence[float]], dataset: str, num_epoch: int,
              on_epoch: Callable[[int, float], None] | None = None, provenance: dict[str, Any] | None = None) -> None:
        """Train on every sub-plan (base and join) of `queries`: (sql, key → true rows, key → PostgreSQL's rows).

        For the hybrid, a sub-plan without true rows (its count timed out: mostly the largest joins)
        is not dropped, which would teach the model that joins are smaller than they are:
        PostgreSQL's estimate of it, which the hybrid sees, is a lower bound it is penalised for
        going below. MSCN as published does not see that estimate and trains on counted ones only.
        Queries the featurizer cannot analyse, and sub-plans it cannot featurize, are left out and
        counted in the metadata beside ``provenance`` (what collecting the data took).
        """
        started = time.perf_counter()
        analysed = []
        for sql, cards, pg_rows in queries:
            try:
                analysed.append((analyze_query(sql), cards, pg_rows))
            except UnsupportedQueryError:
                continue
        vocabulary = FeatureVocabulary.from_analyses(analysis for analysis, _, _ in analysed)
        ranges = ColumnRanges({column: (low, high) for column, (low, high) in column_ranges.items()})
        batches, labels, lower_bounds, skipped_subplans = [], [], [], 0
        for analysis, cards, pg_rows in analysed:
            keys = list(pg_rows) if self.pg_estimate else list(cards)
            batch, unsupported = featurize_subplans(analysis, keys, vocabulary, ranges, pg_rows)
            skipped_subplans += len(unsupported)
            if len(batch):
                batches.append(batch)
                labels += [cards.get(key, pg_rows[key]) for key in batch.keys]
                lower_bounds += [key not in cards for key in batch.keys]
        if all(lower_bounds):
            raise PilotScopeError(
                f"No MSCN training data for {dataset!r}: no sub-plan of the {len(queries)} collected queries has "
                f"a true cardinality the featurizer can use. Collect more queries (num_collection).")
        self.mscn, _ = train_mscn(SubplanBatch.concat(batches), labels, vocabulary, column_ranges=ranges,
                                  epochs=num_epoch, batch_size=BATCH_SIZE, lr=LEARNING_RATE, seed=SEED,
                                  hidden_size=HIDDEN_SIZE, pg_estimate=self.pg_estimate,
                                  lower_bounds=lower_bounds, on_epoch=on_epoch)
        self.metadata.update({
            "dataset": dataset,
            "hyperparameters": {"hidden_size": HIDDEN_SIZE, "batch_size": BATCH_SIZE, "lr": LEARNING_RATE,
                                "epochs": num_epoch, "seed": SEED, "pg_estimate": self.pg_estimate},
            "epochs": num_epoch,
            "training_time": round(time.perf_counter() - started, 3),
            "num_training_queries": len(analysed),
            "num_unanalysable_queries": len(queries) - len(analysed),
            "num_training_samples": len(labels) - sum(lower_bounds),
            "num_lower_bound_samples": sum(lower_bounds),
            "num_unfeaturizable_subplans": skipped_subplans,
            **(provenance or {}),
        })

    def estimate(self, sql: str, pg_rows: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
        """Rows for every sub-plan key of `pg_rows` (PostgreSQL's estimates) in one batched pass.

        Returns the estimates and the keys that kept PostgreSQL's estimate: all of them when the
        query cannot be analysed, else those the featurizer cannot represent and those outside what
        the training data covered (see `coverage`); a covered estimate stays within
        `coverage.MAX_CORRECTION` of PostgreSQL's.
        """
        if self.mscn is None:
            raise PilotScopeError(f"MSCN model {self.model_id} has not been trained or loaded: train it "
                                  f"(scheduler.init() with enable_training=True) or load a saved one.")
        try:
            analysis = analyze_query(sql)
        except UnsupportedQueryError:
            return dict(pg_rows), list(pg_rows)
        batch, unsupported = featurize_subplans(analysis, list(pg_rows), self.mscn.vocabulary,
                                                self.mscn.column_ranges, pg_rows)
        estimates = predict(self.mscn, batch)
        if self.mscn.coverage is not None:
            covered = self.mscn.coverage.covered(batch, self.mscn.vocabulary)
            estimates = bounded(estimates, batch.estimates, covered)
            unsupported += [key for key, inside in zip(batch.keys, covered) if not inside]
        cards = dict(pg_rows)
        cards.update(zip(batch.keys, estimates.tolist()))
        return cards, unsupported

    def _save_to(self, folder: Path) -> None:
        if self.mscn is None:
            raise PilotScopeError(f"MSCN model {self.model_id} has not been trained: nothing to save.")
        self.mscn.save(folder)

    def _load_from(self, folder: Path) -> None:
        self.mscn = MscnModel.load(folder)
        self.pg_estimate = self.mscn.net.pg_estimate
