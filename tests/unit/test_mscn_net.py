"""MSCN network: deterministic training, learning, persistence and q-error (no database)."""

from __future__ import annotations

import dataclasses

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm_examples.Mscn.featurizer import (
    ColumnRanges,
    FeatureVocabulary,
    QueryAnalysis,
    SubplanBatch,
    analyze_query,
    featurize_subplans,
)
from algorithm_examples.Mscn.mscn_net import (
    LabelNormaliser,
    MscnModel,
    _TrainingData,
    log_qerror_loss,
    normalised_estimates,
    predict,
    qerror,
    qerror_loss,
    qerror_summary,
    train_mscn,
)
from pilotscope.datasets import load_training_sql
from pilotscope.errors import ModelLoadError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAIN_QUERIES = 60
SMALL = {"hidden_size": 32, "batch_size": 64}


def connected_subsets(analysis: QueryAnalysis) -> list[str]:
    """Sub-plan keys as PostgreSQL would list them: every connected set of aliases, sorted."""
    aliases = sorted(analysis.alias_to_table)
    neighbours = {alias: set() for alias in aliases}
    for edge in analysis.joins:
        first, second = edge.aliases
        neighbours[first].add(second)
        neighbours[second].add(first)
    keys = []
    for size in range(1, len(aliases) + 1):
        for subset in itertools.combinations(aliases, size):
            reached, frontier = {subset[0]}, [subset[0]]
            while frontier:
                for neighbour in neighbours[frontier.pop()] & set(subset) - reached:
                    reached.add(neighbour)
                    frontier.append(neighbour)
            if len(reached) == size:
                keys.append(" ".join(subset))
    return keys


def learnable_cardinalities(batch: SubplanBatch) -> np.ndarray:
    """A deterministic function of the features: more tables -> larger, predicate values shrink it."""
    tables = batch.table_mask.sum(axis=1)
    values = (batch.predicates[:, :, -2] * batch.predicate_mask).sum(axis=1)
    return np.round(10 ** (1.0 + 0.8 * tables - 0.6 * values))


@pytest.fixture(scope="module")
def training_data() -> tuple[SubplanBatch, np.ndarray, FeatureVocabulary, ColumnRanges]:
    queries = load_training_sql("stats_tiny")[:TRAIN_QUERIES]
    analyses = [analyze_query(sql) for sql in queries]
    bounds: dict[str, tuple[float, float]] = {}
    for analysis in analyses:
        for found in analysis.predicates:
            low, high = bounds.get(found.column, (found.value, found.value))
            bounds[found.column] = (min(low, found.value), max(high, found.value))
    vocab = FeatureVocabulary.from_analyses(analyses)
    ranges = ColumnRanges(bounds)
    batches = []
    for analysis in analyses:
        batch, unsupported = featurize_subplans(analysis, connected_subsets(analysis), vocab, ranges)
        assert unsupported == []
        batches.append(batch)
    batch = SubplanBatch.concat(batches)
    return batch, learnable_cardinalities(batch), vocab, ranges


def test_training_is_deterministic_and_leaves_the_global_rng_alone(training_data) -> None:
    batch, cards, vocab, _ = training_data
    rng_before = torch.random.get_rng_state()
    first, first_history = train_mscn(batch, cards, vocab, epochs=3, seed=7, **SMALL)
    second, second_history = train_mscn(batch, cards, vocab, epochs=3, seed=7, **SMALL)
    other, _ = train_mscn(batch, cards, vocab, epochs=3, seed=8, **SMALL)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert first_history == second_history
    for name, tensor in first.net.state_dict().items():
        assert torch.equal(tensor, second.net.state_dict()[name]), name
    np.testing.assert_array_equal(predict(first, batch), predict(second, batch))
    assert not np.array_equal(predict(first, batch), predict(other, batch))


def test_loss_decreases_on_learnable_labels(training_data) -> None:
    batch, cards, vocab, ranges = training_data
    calls: list[tuple[int, float]] = []
    model, history = train_mscn(
        batch, cards, vocab, column_ranges=ranges, epochs=40, batch_size=64, hidden_size=64, lr=3e-3,
        seed=0, on_epoch=lambda epoch, loss: calls.append((epoch, loss)),
    )
    assert calls == list(enumerate(history))
    assert all(type(loss) is float for _, loss in calls)
    assert history[-1] < history[0] / 3
    constant_guess = np.full(len(cards), np.exp(np.log(cards).mean()))
    constant_median = qerror_summary(qerror(constant_guess, cards))["median"]
    assert qerror_summary(qerror(predict(model, batch), cards))["median"] < min(1.5, constant_median / 2)


def test_predictions_are_cardinalities_of_the_batch(training_data) -> None:
    batch, cards, vocab, _ = training_data
    model, _ = train_mscn(batch, cards, vocab, epochs=1, seed=0, **SMALL)
    predictions = predict(model, batch)
    assert predictions.shape == (len(batch),)
    assert np.all(predictions >= 1.0) and np.all(predictions <= cards.max() * (1 + 1e-6))
    empty = SubplanBatch((), *(array[:0] for array in batch.arrays()[:4]), batch.predicate_vectors,
                         *(array[:0] for array in batch.arrays()[5:]), batch.estimates[:0])
    assert predict(model, empty).shape == (0,)


def published_forward(net: torch.nn.Module, batch: SubplanBatch) -> torch.Tensor:
    """MSCN computed literally as in the paper's code: every padded element through its MLP."""
    tables, table_mask, joins, join_mask = map(torch.from_numpy, batch.arrays()[:4])
    predicates, predicate_mask = torch.from_numpy(batch.predicates), torch.from_numpy(batch.predicate_mask)

    def pooled(module: torch.nn.Module, elements: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (module.mlp(elements) * mask.unsqueeze(2)).sum(dim=1) / mask.sum(dim=1, keepdim=True)

    merged = torch.cat(
        [pooled(net.tables, tables, table_mask), pooled(net.joins, joins, join_mask),
         pooled(net.predicates, predicates, predicate_mask)],
        dim=1,
    )
    return net.output(merged).squeeze(1)


def test_fast_and_numpy_evaluation_equal_the_published_computation(training_data) -> None:
    batch, cards, vocab, _ = training_data
    model, _ = train_mscn(batch, cards, vocab, epochs=2, seed=0, **SMALL)
    assert (batch.join_mask.sum(axis=1) == 1).any() and (batch.predicate_mask.sum(axis=1) > 3).any()
    estimates = normalised_estimates(batch, model.label_normaliser)
    with torch.no_grad():
        expected = published_forward(model.net, batch)
        torch.testing.assert_close(model.net(*map(torch.from_numpy, (*batch.arrays(), estimates))), expected)
        training_view = _TrainingData(batch, model.label_normaliser).rows(torch.arange(len(batch)))
        torch.testing.assert_close(model.net.estimate(*training_view), expected)
    np.testing.assert_allclose(model.net.numpy_inference()(*batch.arrays(), estimates), expected.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert len(training_view[4].vectors) < len(training_view[4].vector_of_element) / 3
    with torch.no_grad():  # the cached table/join projections must follow changed weights
        model.net.joins.mlp[0].weight.mul_(-1.5)
        model.net.output[0].weight[:, :32].add_(0.1)
        changed = published_forward(model.net, batch)
        torch.testing.assert_close(model.net(*map(torch.from_numpy, (*batch.arrays(), estimates))), changed)
    np.testing.assert_allclose(model.net.numpy_inference()(*batch.arrays(), estimates), changed.numpy(),
                               rtol=1e-5, atol=1e-6)


def with_estimates(batch: SubplanBatch, estimates: np.ndarray) -> SubplanBatch:
    return dataclasses.replace(batch, estimates=np.asarray(estimates, dtype=np.float64))


def test_the_hybrid_starts_at_postgres_estimates_and_learns_a_correction(training_data) -> None:
    batch, cards, vocab, _ = training_data
    biased = with_estimates(batch, cards * np.where(batch.table_mask.sum(axis=1) > 1, 20.0, 1.0))  # joins 20x off
    untrained, _ = train_mscn(biased, cards, vocab, epochs=0, seed=0, pg_estimate=True, **SMALL)
    np.testing.assert_allclose(predict(untrained, biased), np.maximum(biased.estimates, 1.0), rtol=1e-4)
    model, _ = train_mscn(biased, cards, vocab, epochs=30, seed=0, pg_estimate=True, **SMALL)
    assert qerror_summary(qerror(predict(model, biased), cards))["p90"] < 3.0, "the 20x join bias is learned"
    estimates = normalised_estimates(biased, model.label_normaliser)
    with torch.no_grad():
        expected = model.net(*map(torch.from_numpy, (*biased.arrays(), estimates)))
    np.testing.assert_allclose(model.net.numpy_inference()(*biased.arrays(), estimates), expected.numpy(),
                               rtol=1e-5, atol=1e-5)


def test_save_and_load_round_trip(training_data, tmp_path: Path) -> None:
    batch, cards, vocab, ranges = training_data
    model, _ = train_mscn(batch, cards, vocab, column_ranges=ranges, epochs=2, seed=1, **SMALL)
    model.save(tmp_path / "mscn")
    loaded = MscnModel.load(tmp_path / "mscn")
    np.testing.assert_array_equal(predict(loaded, batch), predict(model, batch))
    assert loaded.vocabulary == vocab
    assert loaded.label_normaliser == model.label_normaliser
    assert loaded.column_ranges.to_dict() == ranges.to_dict()
    assert loaded.hyperparameters == model.hyperparameters


@pytest.fixture()
def saved_model(training_data, tmp_path: Path) -> Path:
    batch, cards, vocab, _ = training_data
    model, _ = train_mscn(batch, cards, vocab, epochs=1, seed=0, **SMALL)
    folder = tmp_path / "model-42"
    model.save(folder)
    return folder


def drop_first_column(folder: Path) -> None:
    description = json.loads((folder / "model.json").read_text())
    description["vocabulary"]["columns"] = description["vocabulary"]["columns"][1:]
    (folder / "model.json").write_text(json.dumps(description))


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda folder: [path.unlink() for path in folder.iterdir()] and folder.rmdir(), "does not exist"),
        (lambda folder: (folder / "weights.pt").unlink(), "missing file weights.pt"),
        (lambda folder: (folder / "model.json").unlink(), "missing file model.json"),
        (lambda folder: (folder / "weights.pt").write_bytes(b"not a torch file"), "unreadable weights"),
        (lambda folder: (folder / "model.json").write_text("{"), "model.json is not a valid"),
        (drop_first_column, "does not match"),
    ],
    ids=["missing folder", "missing weights", "missing description", "corrupt weights", "corrupt json",
         "shape mismatch"],
)
def test_loading_a_broken_model_names_the_folder_and_problem(saved_model: Path, damage, problem: str) -> None:
    damage(saved_model)
    with pytest.raises(ModelLoadError) as caught:
        MscnModel.load(saved_model)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert str(saved_model) in message and problem in message and "Retrain" in message


def test_training_rejects_mismatched_labels(training_data) -> None:
    batch, cards, vocab, _ = training_data
    with pytest.raises(ValueError, match="one cardinality per sub-plan"):
        train_mscn(batch, cards[:-1], vocab, epochs=1)


def test_label_normaliser_maps_log_range_to_unit_interval() -> None:
    normaliser = LabelNormaliser.fit([0, 1, 100])
    assert (normaliser.log_min, normaliser.log_max) == (0.0, pytest.approx(np.log(100)))
    np.testing.assert_allclose(normaliser.normalise([1, 10, 100, 1000]), [0, 0.5, 1, 1.5])
    np.testing.assert_allclose(normaliser.denormalise([0, 0.5, 1]), [1, 10, 100])
    constant = LabelNormaliser.fit([5, 5])
    np.testing.assert_allclose(constant.denormalise(constant.normalise([5])), [5])
    assert LabelNormaliser.from_dict(json.loads(json.dumps(normaliser.to_dict()))) == normaliser


def test_a_lower_bound_costs_only_when_underestimated() -> None:
    predicted, target = torch.tensor([0.2, 0.8, 0.2, 0.8]), torch.tensor([0.5, 0.5, 0.5, 0.5])
    bound = torch.tensor([False, False, True, True])
    for loss in (qerror_loss, log_qerror_loss):
        per_sample = [loss(predicted[i:i + 1], target[i:i + 1], 10.0, bound[i:i + 1]).item() for i in range(4)]
        assert per_sample[0] == per_sample[1] == per_sample[2] > per_sample[3]
        assert per_sample[3] == (1.0 if loss is qerror_loss else 0.0)


def test_qerror_and_summary_on_a_hand_checked_example() -> None:
    np.testing.assert_array_equal(qerror([10, 1, 0, 5], [1, 10, 0, 4]), [10, 10, 1, 1.25])
    summary = qerror_summary([1, 2, 3, 4, 10])
    assert summary == {
        "median": 3.0, "p90": pytest.approx(7.6), "p95": pytest.approx(8.8), "p99": pytest.approx(9.76),
        "max": 10.0, "mean": 4.0,
    }
    with pytest.raises(ValueError):
        qerror_summary([])
