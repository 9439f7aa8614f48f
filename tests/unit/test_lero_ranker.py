"""Lero tree-convolution ranker: training, scoring, determinism, persistence, speed."""

import itertools

import numpy as np
import pytest

from algorithm_examples.Lero.plan_features import PlanFeaturizer
from algorithm_examples.Lero.tree_conv_ranker import (
    TreeConvRanker,
    best_index,
    load,
    preference_pairs,
    save,
    score,
    train_ranker,
)
from pilotscope.errors import ModelLoadError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TABLES = ("orders", "customer", "lineitem", "part", "supplier", "nation")
TABLE_SIZES = (40, 600, 80_000, 2_000_000)
BIG_OUTER_ROWS = 1_000


def scan(table, rows, relationship, index=False):
    node = {"Node Type": "Index Scan" if index else "Seq Scan", "Parent Relationship": relationship,
            "Parallel Aware": False, "Async Capable": False, "Relation Name": table, "Alias": table[:2],
            "Startup Cost": 0.43 if index else 0.0, "Total Cost": 8.0 if index else rows * 0.02,
            "Plan Rows": 1 if index else rows, "Plan Width": 24}
    if index:
        node.update({"Scan Direction": "Forward", "Index Name": f"{table}_pkey", "Index Cond": "(id = x.id)"})
    return node


def join(method, outer, inner_table, inner_rows):
    """Join ``outer`` with a base table the way PostgreSQL would lay the nodes out."""
    if method == "Hash Join":
        table_scan = scan(inner_table, inner_rows, "Outer")
        inner = {"Node Type": "Hash", "Parent Relationship": "Inner", "Parallel Aware": False,
                 "Async Capable": False, "Startup Cost": table_scan["Total Cost"],
                 "Total Cost": table_scan["Total Cost"], "Plan Rows": inner_rows, "Plan Width": 24,
                 "Plans": [table_scan]}
    else:
        inner = scan(inner_table, inner_rows, "Inner", index=True)
    rows = max(1, min(outer["Plan Rows"], inner_rows))
    return {"Node Type": method, "Parent Relationship": "Outer", "Parallel Aware": False, "Async Capable": False,
            "Join Type": "Inner", "Startup Cost": 0.0,
            "Total Cost": outer["Total Cost"] + inner["Total Cost"] + rows * 0.01,
            "Plan Rows": rows, "Plan Width": 48, "Inner Unique": True, "Plans": [outer, inner]}


def left_deep_plan(order, methods, table_rows):
    """A left-deep plan and its latency: a Nested Loop over a big outer input is what makes plans slow."""
    node = scan(order[0], table_rows[order[0]], "Outer")
    latency = 0.1
    for table, method in zip(order[1:], methods):
        outer_rows = node["Plan Rows"]
        if method == "Nested Loop":
            latency += 10.0 if outer_rows > BIG_OUTER_ROWS else 0.2
        else:
            latency += 1.0
        node = join(method, node, table, table_rows[table])
    root = {"Node Type": "Aggregate", "Strategy": "Plain", "Partial Mode": "Simple", "Parallel Aware": False,
            "Async Capable": False, "Startup Cost": node["Total Cost"], "Total Cost": node["Total Cost"] + 1,
            "Plan Rows": 1, "Plan Width": 8, "Plans": [{**node, "Parent Relationship": "Outer"}]}
    return [{"Plan": root}], latency


def synthetic_groups(n_queries, seed, n_tables=3, candidates_per_query=8):
    """Per query: random table sizes, candidates = sampled join orders × join methods."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(n_queries):
        tables = list(rng.choice(TABLES, size=n_tables, replace=False))
        table_rows = {t: int(rng.choice(TABLE_SIZES)) for t in tables}
        options = list(itertools.product(itertools.permutations(tables),
                                         itertools.product(("Hash Join", "Nested Loop"), repeat=n_tables - 1)))
        chosen = rng.choice(len(options), size=min(candidates_per_query, len(options)), replace=False)
        groups.append([left_deep_plan(*options[i], table_rows) for i in chosen])
    return groups


@pytest.fixture(scope="module")
def trained():
    featurizer = PlanFeaturizer()
    losses = []
    model = train_ranker(synthetic_groups(48, seed=1), featurizer, epochs=25, lr=1e-3, seed=7,
                         on_epoch=lambda epoch, loss: losses.append((epoch, loss)))
    return model, featurizer, losses


def test_on_epoch_called_once_per_epoch_and_loss_falls(trained):
    _, _, losses = trained
    assert [epoch for epoch, _ in losses] == list(range(25))
    assert all(isinstance(loss, float) and loss >= 0 for _, loss in losses)
    assert losses[-1][1] < 0.5 * losses[0][1]


def test_ranker_picks_the_fast_plan_on_held_out_queries(trained):
    model, featurizer, _ = trained
    held_out = [g for g in synthetic_groups(40, seed=99) if len({lat for _, lat in g}) > 1]
    hits, regret, default_regret = 0, 0.0, 0.0
    for group in held_out:
        latencies = np.array([lat for _, lat in group])
        chosen = best_index(score(model, featurizer, [plan for plan, _ in group]))
        hits += latencies[chosen] == latencies.min()
        regret += latencies[chosen] - latencies.min()
        default_regret += latencies.mean() - latencies.min()
    assert hits >= 0.85 * len(held_out)
    assert regret < 0.2 * default_regret


def test_another_plan_is_chosen_only_when_it_beats_the_first_by_the_margin():
    scores = np.array([1.0, -1.5, 0.5])
    assert best_index(scores) == 1
    assert best_index(scores, margin=2.5) == 1 and best_index(scores, margin=2.6) == 0
    assert best_index(np.array([-1.0, 0.0]), margin=0.0) == 0 and best_index(np.array([-1.0, 0.0]), margin=5) == 0


def test_same_seed_same_scores_other_seed_other_scores():
    groups = synthetic_groups(8, seed=3)
    plans = [plan for plan, _ in groups[0]]

    def scores_for(seed):
        featurizer = PlanFeaturizer()
        model = train_ranker(groups, featurizer, epochs=3, seed=seed)
        return score(model, featurizer, plans)

    first = scores_for(11)
    np.testing.assert_array_equal(first, scores_for(11))
    assert not np.array_equal(first, scores_for(12))


def test_score_of_a_plan_does_not_depend_on_its_batch(trained):
    model, featurizer, _ = trained
    plans = [plan for plan, _ in synthetic_groups(1, seed=5)[0]]
    together = score(model, featurizer, plans)
    alone = np.concatenate([score(model, featurizer, [p]) for p in plans])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    assert together.shape == (len(plans),)


def test_preference_pairs_order_faster_first_and_skip_ties():
    faster, slower = preference_pairs([3.0, 1.0, 3.0, 300.0])
    assert sorted(zip(faster.tolist(), slower.tolist())) == [(0, 3), (1, 0), (1, 2), (1, 3), (2, 3)]


def test_training_without_any_preference_fails():
    plan, _ = left_deep_plan(("orders", "part"), ("Hash Join",), {"orders": 40, "part": 600})
    timed_out = [(plan, 300.0), (plan, 300.0)]
    with pytest.raises(ValueError, match="nothing to rank"):
        train_ranker([timed_out], PlanFeaturizer(), epochs=1)


def test_save_load_gives_identical_scores(trained, tmp_path):
    model, featurizer, _ = trained
    plans = [plan for plan, _ in synthetic_groups(2, seed=8)[1]]
    save(model, featurizer, tmp_path / "lero-model")
    loaded_model, loaded_featurizer = load(tmp_path / "lero-model")
    assert isinstance(loaded_model, TreeConvRanker)
    np.testing.assert_array_equal(score(model, featurizer, plans), score(loaded_model, loaded_featurizer, plans))


@pytest.mark.parametrize("damage, problem", [
    (lambda folder: (folder / "model.pt").write_bytes(b"not a torch file"), "model.pt"),
    (lambda folder: (folder / "featurizer.json").write_text("{not json"), "featurizer.json"),
    (lambda folder: (folder / "hyperparameters.json").unlink(), "hyperparameters.json is missing"),
    (lambda folder: (folder / "hyperparameters.json").write_text('{"in_features": 3, "channels": [8], '
                                                                 '"mlp_hidden": 4}'), "features"),
])
def test_corrupt_folder_raises_model_load_error(trained, tmp_path, damage, problem):
    model, featurizer, _ = trained
    folder = tmp_path / "lero-model"
    save(model, featurizer, folder)
    damage(folder)
    with pytest.raises(ModelLoadError, match="retrain") as caught:
        load(folder)
    assert str(folder) in str(caught.value)
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_folder_raises_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(tmp_path / "never-trained")


def test_fifteen_six_table_plans_score_in_one_batch():
    """Its time is measured in benchmarks/test_lero_overhead.py, not asserted here."""
    groups = synthetic_groups(2, seed=4, n_tables=6, candidates_per_query=15)
    featurizer = PlanFeaturizer().fit([plan for group in groups for plan, _ in group])
    wide_model = TreeConvRanker(featurizer.feature_dim)
    plans = [plan for plan, _ in groups[0]]
    assert len(plans) == 15 and 12 * 15 <= featurizer.transform(plans).features.shape[0] <= 17 * 15
    scores = score(wide_model, featurizer, plans)
    assert scores.shape == (15,) and 0 <= best_index(scores) < 15
