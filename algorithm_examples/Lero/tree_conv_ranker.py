"""Lero's learned ranker: a tree-convolution network scoring plans, trained on pairwise preferences.

The network follows Lero (Zhu et al., VLDB 2023), itself built on Neo/Bao's TBCNN-style tree
convolution: three convolution layers (256 → 128 → 64 channels) each mixing a node with its left
and right child, a per-plan layer norm and LeakyReLU between them, dynamic max pooling over the
nodes and a small MLP giving one score per plan. Only the order of scores within one query
matters; lower means predicted faster.

Plan batches are tiny, so torch should run on one intra-op thread: ``LeroPilotModel`` sets that
once for the process (see there why).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from algorithm_examples.Lero.plan_features import PlanBatch, PlanFeaturizer
from pilotscope.errors import ModelLoadError

WEIGHTS_FILE = "model.pt"
FEATURIZER_FILE = "featurizer.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
CONV_CHANNELS: tuple[int, ...] = (256, 128, 64)
MLP_HIDDEN = 32

CandidateGroup = Sequence[tuple[Any, float]]  # one query's candidates: (EXPLAIN plan, latency seconds)


class TreeConvLayer(nn.Module):
    """One binary tree convolution: out(node) = W_self·x(node) + W_left·x(left) + W_right·x(right) + b.

    The three weight matrices are one Linear over the concatenation; a missing child reads the
    zero row prepended at index 0, which is why child indices are 1-based.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weights = nn.Linear(3 * in_channels, out_channels)

    def forward(self, x: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([x.new_zeros(1, x.shape[1]), x])
        return self.weights(torch.cat([x, padded[left], padded[right]], dim=1))


def tree_layer_norm(x: torch.Tensor, plan_index: torch.Tensor, node_counts: torch.Tensor,
                    eps: float = 1e-5) -> torch.Tensor:
    """Normalise each plan over all its nodes and channels (Lero's LayerNormTree).

    Statistics use the plan's own nodes only, so a plan's score never depends on which other
    plans share its batch.
    """
    n_plans = node_counts.shape[0]
    values_per_plan = node_counts.to(x.dtype) * x.shape[1]
    sums = x.new_zeros(n_plans).index_add(0, plan_index, x.sum(dim=1))
    mean = sums / values_per_plan
    centred = x - mean[plan_index].unsqueeze(1)
    squares = x.new_zeros(n_plans).index_add(0, plan_index, centred.square().sum(dim=1))
    std = (squares / (values_per_plan - 1).clamp(min=1)).sqrt()
    return centred / (std[plan_index].unsqueeze(1) + eps)


class TreeConvRanker(nn.Module):
    """Scores plans: tree convolutions, per-plan max pooling, MLP → one scalar (lower = faster)."""

    def __init__(self, in_features: int, channels: Sequence[int] = CONV_CHANNELS,
                 mlp_hidden: int = MLP_HIDDEN) -> None:
        super().__init__()
        self.in_features = in_features
        self.channels = tuple(channels)
        self.mlp_hidden = mlp_hidden
        widths = (in_features, *self.channels)
        self.convs = nn.ModuleList(TreeConvLayer(a, b) for a, b in zip(widths, widths[1:]))
        self.head = nn.Sequential(nn.Linear(self.channels[-1], mlp_hidden), nn.LeakyReLU(),
                                  nn.Linear(mlp_hidden, 1))

    def hyperparameters(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "channels": list(self.channels), "mlp_hidden": self.mlp_hidden}

    def forward(self, batch: PlanBatch) -> torch.Tensor:
        """Scores of shape (batch.n_plans,)."""
        x = torch.from_numpy(batch.features)
        left = torch.from_numpy(batch.left)
        right = torch.from_numpy(batch.right)
        plan_index = torch.from_numpy(batch.plan_index)
        node_counts = torch.bincount(plan_index, minlength=batch.n_plans)
        for depth, conv in enumerate(self.convs):
            x = tree_layer_norm(conv(x, left, right), plan_index, node_counts)
            if depth < len(self.convs) - 1:
                x = F.leaky_relu(x)
        pooled = x.new_full((batch.n_plans, x.shape[1]), float("-inf"))
        pooled = pooled.scatter_reduce(0, plan_index.unsqueeze(1).expand_as(x), x, "amax")
        return self.head(pooled).squeeze(1)


def preference_pairs(latencies: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Indices (faster, slower) of every candidate pair with different latencies."""
    lat = np.asarray(latencies, dtype=np.float64)
    faster, slower = np.nonzero(lat[:, None] < lat[None, :])
    return faster, slower


def train_ranker(
    groups: Sequence[CandidateGroup],
    featurizer: PlanFeaturizer,
    epochs: int,
    lr: float = 1e-3,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    groups_per_batch: int = 16,
) -> TreeConvRanker:
    """Fit ``featurizer`` on the training plans, then train a ranker with pairwise logistic loss.

    Each step scores every candidate of ``groups_per_batch`` queries in one forward pass and
    averages softplus(score_faster − score_slower) over all their same-query pairs with different
    latencies (timed-out candidates, given latency = timeout, are simply the slow side).
    ``on_epoch(epoch, mean pair loss)`` is called after every epoch. Seeded and deterministic on CPU.
    """
    featurizer.fit(plan for group in groups for plan, _ in group)
    batches, pairs = [], []
    for group in groups:
        faster, slower = preference_pairs([latency for _, latency in group])
        if len(faster):
            batches.append(featurizer.transform([plan for plan, _ in group]))
            pairs.append((torch.from_numpy(faster), torch.from_numpy(slower)))
    if not batches:
        raise ValueError("no query has two candidates with different latencies: nothing to rank")

    order_rng = np.random.default_rng(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TreeConvRanker(featurizer.feature_dim)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for epoch in range(epochs):
            loss_sum, pair_count = 0.0, 0
            order = order_rng.permutation(len(batches))
            for start in range(0, len(order), groups_per_batch):
                chosen = order[start:start + groups_per_batch]
                scores = model(PlanBatch.concat([batches[i] for i in chosen]))
                offsets = np.cumsum([0] + [batches[i].n_plans for i in chosen[:-1]])
                faster = torch.cat([pairs[i][0] + int(o) for i, o in zip(chosen, offsets)])
                slower = torch.cat([pairs[i][1] + int(o) for i, o in zip(chosen, offsets)])
                loss = F.softplus(scores[faster] - scores[slower]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(faster)
                pair_count += len(faster)
            if on_epoch is not None:
                on_epoch(epoch, loss_sum / pair_count)
    return model


def score(model: TreeConvRanker, featurizer: PlanFeaturizer, plans: Sequence[Any]) -> np.ndarray:
    """Scores of ``plans`` (lower = predicted faster) from one batched forward pass."""
    if not plans:
        raise ValueError("no plans to score")
    batch = featurizer.transform(plans)
    with torch.inference_mode():
        return model(batch).numpy()


def best_index(scores: np.ndarray, margin: float = 0.0) -> int:
    """Index of the plan predicted fastest (first one on ties), or 0 unless it beats plan 0 by `margin`.

    Scores are trained with a pairwise logistic loss, so `scores[0] - scores[i]` is the ranker's log-odds
    that plan i is faster than plan 0: a margin of log(9) switches only at odds of 9 to 1 or better.
    """
    best = int(np.argmin(scores))
    return best if scores[0] - scores[best] >= margin else 0


def save(model: TreeConvRanker, featurizer: PlanFeaturizer, folder: str | Path) -> None:
    """Write weights, featurizer and hyper-parameters into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    (folder / FEATURIZER_FILE).write_text(json.dumps(featurizer.to_dict()))
    (folder / HYPERPARAMETERS_FILE).write_text(json.dumps(model.hyperparameters()))


def load(folder: str | Path) -> tuple[TreeConvRanker, PlanFeaturizer]:
    """Read a model written by ``save``; any missing or corrupt part raises ``ModelLoadError``."""
    folder = Path(folder)

    def fail(problem: str) -> ModelLoadError:
        return ModelLoadError(f"cannot load Lero model from {folder}: {problem}; "
                              "retrain the model or pick another model id")

    if not folder.is_dir():
        raise fail("folder does not exist")
    for name in (WEIGHTS_FILE, FEATURIZER_FILE, HYPERPARAMETERS_FILE):
        if not (folder / name).is_file():
            raise fail(f"{name} is missing")
    try:
        featurizer = PlanFeaturizer.from_dict(json.loads((folder / FEATURIZER_FILE).read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise fail(f"{FEATURIZER_FILE} is corrupt ({error})") from error
    try:
        hyper = json.loads((folder / HYPERPARAMETERS_FILE).read_text())
        model = TreeConvRanker(int(hyper["in_features"]), [int(c) for c in hyper["channels"]],
                               int(hyper["mlp_hidden"]))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as error:
        raise fail(f"{HYPERPARAMETERS_FILE} is corrupt ({error})") from error
    if model.in_features != featurizer.feature_dim:
        raise fail(f"model expects {model.in_features} features but the featurizer makes "
                   f"{featurizer.feature_dim}")
    try:
        model.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True))
    except Exception as error:  # torch raises many types (pickle, zip, shape) for a bad file
        raise fail(f"{WEIGHTS_FILE} is corrupt or does not match the hyper-parameters ({error})") from error
    return model, featurizer
