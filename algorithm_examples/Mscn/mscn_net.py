"""The MSCN network (Kipf et al., CIDR 2019): training, prediction, persistence and q-error.

The network knows nothing about SQL or tracking: it takes `SubplanBatch` arrays from the
featurizer, and reports progress only through the `on_epoch` callback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike
from threadpoolctl import ThreadpoolController
from torch import nn

from algorithm_examples.Mscn.coverage import Coverage
from algorithm_examples.Mscn.featurizer import ColumnRanges, FeatureVocabulary, SubplanBatch
from pilotscope.errors import ModelLoadError

WEIGHTS_FILE = "weights.pt"
MODEL_FILE = "model.json"
_FORMAT_VERSION = 1


def _element_mlp(input_dim: int, hidden_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(input_dim, hidden_size), nn.ReLU(),
        nn.Linear(hidden_size, hidden_size), nn.ReLU(),
    )


class IndexedSet(NamedTuple):
    """A batch of vector sets stored once per distinct vector.

    Element i of the batch is `vectors[vector_of_element[i]]` and belongs to set
    `set_of_element[i]`; `set_sizes` (B, 1) counts each set's elements.
    """

    vectors: torch.Tensor
    vector_of_element: torch.Tensor
    set_of_element: torch.Tensor
    set_sizes: torch.Tensor

    @classmethod
    def from_batch(cls, vectors: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> IndexedSet:
        """The masked elements of a batch whose element (b, s) is vectors[ids[b, s]]."""
        rows, slots = mask.nonzero(as_tuple=True)
        return cls(vectors, ids[rows, slots], rows, mask.sum(dim=1, keepdim=True))


class _SetModule(nn.Module):
    """A 2-layer MLP applied to every set element, then averaged over the set's elements.

    The MLP runs once per distinct vector of the `IndexedSet`, never on padding.
    """

    def __init__(self, input_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.mlp = _element_mlp(input_dim, hidden_size)

    def forward(self, sets: IndexedSet) -> torch.Tensor:
        hidden = self.mlp(sets.vectors).index_select(0, sets.vector_of_element)
        pooled = hidden.new_zeros(sets.set_sizes.shape[0], hidden.shape[1])
        pooled.index_add_(0, sets.set_of_element, hidden)
        return pooled / sets.set_sizes.clamp(min=1.0)


class _OneHotSetModule(nn.Module):
    """`_SetModule` for sets whose elements are one-hot or all-zero rows (tables and joins).

    Each element's MLP output then depends only on which vocabulary entry it is, so the MLP runs
    once per entry (plus the zero row) and the set average is a share-weighted sum of those rows.
    """

    def __init__(self, input_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.mlp = _element_mlp(input_dim, hidden_size)
        basis = torch.cat([torch.eye(input_dim), torch.zeros(1, input_dim)])
        self.register_buffer("basis", basis, persistent=False)

    def entry_projections(self, weight: torch.Tensor) -> torch.Tensor:
        """MLP(entry) @ weight.T for every vocabulary entry and, last, the zero row."""
        return self.mlp(self.basis) @ weight.T

    @staticmethod
    def entry_shares(elements: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, input_dim + 1): the fraction of each set's elements that is each entry / a zero row."""
        sizes = mask.sum(dim=1, keepdim=True)
        entry_counts = (elements * mask.unsqueeze(2)).sum(dim=1)
        zero_counts = sizes - entry_counts.sum(dim=1, keepdim=True)
        return torch.cat([entry_counts, zero_counts], dim=1) / sizes.clamp(min=1.0)


class MscnNet(nn.Module):
    """Three set modules (tables, joins, predicates), concatenated into a 2-layer output MLP.

    The output is the normalised log-cardinality in (0, 1) (sigmoid), see `LabelNormaliser`.
    With `pg_estimate` (the hybrid) PostgreSQL's normalised log-estimate is a fourth input of the
    merge layer and the output, without sigmoid, is that estimate plus a learned correction.
    The function is the published one, evaluated cheaper (same parameters, same result up to
    float rounding): the first output layer is applied to the concatenation block by block; for
    the one-hot table and join sets its block is folded into per-entry projections, which
    depend on the weights only and are cached outside autograd until a parameter changes; and
    each distinct predicate vector goes through the MLP once. This makes training several
    times faster and a forward pass for one query's sub-plans a fraction of a millisecond.
    """

    def __init__(self, table_dim: int, join_dim: int, predicate_dim: int, hidden_size: int = 256,
                 pg_estimate: bool = False) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.pg_estimate = pg_estimate
        self.tables = _OneHotSetModule(table_dim, hidden_size)
        self.joins = _OneHotSetModule(join_dim, hidden_size)
        self.predicates = _SetModule(predicate_dim, hidden_size)
        self.output = nn.Sequential(
            nn.Linear(3 * hidden_size, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, 1), *(() if pg_estimate else (nn.Sigmoid(),)),
        )
        if pg_estimate:
            # The hybrid: PostgreSQL's normalised log-estimate is one more input of the merge layer,
            # and the output is a correction added to it, zero at the start of training.
            self.estimate_input = nn.Linear(1, hidden_size, bias=False)
            nn.init.zeros_(self.output[2].weight)
            nn.init.zeros_(self.output[2].bias)
        self._cached_projections: tuple[torch.Tensor, torch.Tensor] | None = None
        self._cached_numpy: NumpyMscn | None = None
        self._cached_for: tuple[int, ...] = ()
        # Walking the module tree for its parameters costs more than one small query's inference: the
        # tensors are listed once; training and load_state_dict change them in place (new versions).
        self._parameter_tensors = tuple(self.parameters())

    def forward(
        self,
        tables: torch.Tensor, table_mask: torch.Tensor,
        joins: torch.Tensor, join_mask: torch.Tensor,
        predicate_vectors: torch.Tensor, predicate_ids: torch.Tensor, predicate_mask: torch.Tensor,
        estimates: torch.Tensor,
    ) -> torch.Tensor:
        """Normalised estimates (B,) for the arrays of a `SubplanBatch` (`arrays()` order), given
        PostgreSQL's normalised log-estimates (B,) (used by the hybrid only)."""
        predicate_sets = IndexedSet.from_batch(predicate_vectors, predicate_ids, predicate_mask)
        return self.estimate(tables, table_mask, joins, join_mask, predicate_sets, estimates)

    def estimate(
        self,
        tables: torch.Tensor, table_mask: torch.Tensor,
        joins: torch.Tensor, join_mask: torch.Tensor,
        predicate_sets: IndexedSet, estimates: torch.Tensor,
    ) -> torch.Tensor:
        """`forward` with the predicate sets already indexed (training builds them per mini-batch)."""
        merge = self.output[0]
        predicate_weight = merge.weight[:, 2 * self.hidden_size:]
        table_projections, join_projections = self._entry_projections()
        merged = (
            _OneHotSetModule.entry_shares(tables, table_mask) @ table_projections
            + _OneHotSetModule.entry_shares(joins, join_mask) @ join_projections
            + nn.functional.linear(self.predicates(predicate_sets), predicate_weight, merge.bias)
        )
        if not self.pg_estimate:
            return self.output[1:](merged).squeeze(1)
        merged = merged + self.estimate_input(estimates.unsqueeze(1))
        return estimates + self.output[1:](merged).squeeze(1)

    def _entry_projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled():
            return self._compute_entry_projections()
        self._refresh_caches()
        return self._cached_projections

    def numpy_inference(self) -> NumpyMscn:
        """This network's function for inference, in numpy (rebuilt when a parameter changes)."""
        with torch.no_grad():
            self._refresh_caches()
        return self._cached_numpy

    def _refresh_caches(self) -> None:
        parameter_versions = tuple(parameter._version for parameter in self._parameter_tensors)
        if self._cached_projections is None or parameter_versions != self._cached_for:
            self._cached_projections = self._compute_entry_projections()
            self._cached_numpy = NumpyMscn.of(self, self._cached_projections)
            self._cached_for = parameter_versions

    def _compute_entry_projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        table_weight, join_weight = self.output[0].weight[:, : 2 * self.hidden_size].split(self.hidden_size, dim=1)
        return self.tables.entry_projections(table_weight), self.joins.entry_projections(join_weight)


class NumpyMscn(NamedTuple):
    """`MscnNet.estimate` for inference, in numpy on a frozen copy of the weights.

    One query's few dozen sub-plans are a tiny batch: there torch's per-operator dispatch costs
    several times the arithmetic, and numpy does the same function in a fraction of the time.
    """

    table_projections: np.ndarray  # (table_dim + 1, H): the folded table block of the merge layer
    join_projections: np.ndarray
    predicate_layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight.T, bias) of the element MLP
    predicate_weight: np.ndarray  # (H, H): the predicate block of the merge layer, transposed
    merge_bias: np.ndarray
    output_weight: np.ndarray  # (H, 1), transposed
    output_bias: np.ndarray
    estimate_weight: np.ndarray | None  # (H,): the hybrid's estimate column of the merge layer; None if not

    @classmethod
    def of(cls, net: MscnNet, projections: tuple[torch.Tensor, torch.Tensor]) -> NumpyMscn:
        def array(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().numpy().copy()

        merge, output = net.output[0], net.output[2]
        linears = [layer for layer in net.predicates.mlp if isinstance(layer, nn.Linear)]
        return cls(array(projections[0]), array(projections[1]),
                   tuple((array(layer.weight.T), array(layer.bias)) for layer in linears),
                   array(merge.weight[:, 2 * net.hidden_size:].T), array(merge.bias),
                   array(output.weight.T), array(output.bias),
                   array(net.estimate_input.weight[:, 0]) if net.pg_estimate else None)

    def __call__(self, tables: np.ndarray, table_mask: np.ndarray, joins: np.ndarray, join_mask: np.ndarray,
                 predicate_vectors: np.ndarray, predicate_ids: np.ndarray, predicate_mask: np.ndarray,
                 estimates: np.ndarray) -> np.ndarray:
        """Normalised estimates (B,), as `MscnNet.forward`."""
        hidden = predicate_vectors
        for weight, bias in self.predicate_layers:
            hidden = np.maximum(hidden @ weight + bias, 0.0)
        sizes = np.maximum(predicate_mask.sum(axis=1, keepdims=True), 1.0)
        pooled = np.einsum("bs,bsh->bh", predicate_mask, hidden[predicate_ids]) / sizes
        merged = (_entry_shares(tables, table_mask) @ self.table_projections
                  + _entry_shares(joins, join_mask) @ self.join_projections
                  + pooled @ self.predicate_weight + self.merge_bias)
        if self.estimate_weight is None:
            logits = np.maximum(merged, 0.0) @ self.output_weight + self.output_bias
            return 1.0 / (1.0 + np.exp(-logits[:, 0]))
        merged = merged + estimates[:, None] * self.estimate_weight
        return estimates + (np.maximum(merged, 0.0) @ self.output_weight + self.output_bias)[:, 0]


def _entry_shares(elements: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`_OneHotSetModule.entry_shares` in numpy."""
    sizes = mask.sum(axis=1, keepdims=True)
    entry_counts = np.einsum("bse,bs->be", elements, mask)
    zero_counts = sizes - entry_counts.sum(axis=1, keepdims=True)
    return np.concatenate([entry_counts, zero_counts], axis=1) / np.maximum(sizes, 1.0)


@dataclass(frozen=True)
class LabelNormaliser:
    """log(cardinality) min-max scaled to [0, 1] with the bounds of the training labels."""

    log_min: float
    log_max: float

    @classmethod
    def fit(cls, cardinalities: ArrayLike) -> LabelNormaliser:
        logs = np.log(np.maximum(np.asarray(cardinalities, dtype=np.float64), 1.0))
        if logs.size == 0:
            raise ValueError("cannot fit a label normaliser on zero cardinalities")
        return cls(float(logs.min()), float(logs.max()))

    @property
    def span(self) -> float:
        """Width of the log range; 1 when all training labels were equal, to avoid dividing by 0."""
        return self.log_max - self.log_min or 1.0

    def normalise(self, cardinalities: ArrayLike) -> np.ndarray:
        logs = np.log(np.maximum(np.asarray(cardinalities, dtype=np.float64), 1.0))
        return (logs - self.log_min) / self.span

    def denormalise(self, normalised: ArrayLike) -> np.ndarray:
        """Cardinalities (>= 1) from normalised log values."""
        logs = np.asarray(normalised, dtype=np.float64) * self.span + self.log_min
        return np.maximum(np.exp(logs), 1.0)

    def to_dict(self) -> dict[str, float]:
        return {"log_min": self.log_min, "log_max": self.log_max}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelNormaliser:
        return cls(float(data["log_min"]), float(data["log_max"]))


@dataclass
class MscnModel:
    """A trained network with everything needed to featurize and predict exactly as in training."""

    net: MscnNet
    vocabulary: FeatureVocabulary
    label_normaliser: LabelNormaliser
    column_ranges: ColumnRanges
    hyperparameters: dict[str, Any]
    coverage: Coverage | None = None  # what its training covered; None: a model saved before coverage existed

    def save(self, folder: str | Path) -> None:
        """Write weights.pt (state dict, tensors only) and model.json (everything else)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), folder / WEIGHTS_FILE)
        description = {
            "format_version": _FORMAT_VERSION,
            "hyperparameters": self.hyperparameters,
            "vocabulary": self.vocabulary.to_dict(),
            "label_normaliser": self.label_normaliser.to_dict(),
            "column_ranges": self.column_ranges.to_dict(),
            **({"coverage": self.coverage.to_dict()} if self.coverage is not None else {}),
        }
        (folder / MODEL_FILE).write_text(json.dumps(description, indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> MscnModel:
        """Load a model saved by `save`; raises ModelLoadError naming the folder and the problem."""
        folder = Path(folder)

        def fail(problem: str) -> ModelLoadError:
            return ModelLoadError(
                f"cannot load MSCN model from '{folder}': {problem}. "
                "Retrain the model or pick another model id."
            )

        if not folder.is_dir():
            raise fail("the folder does not exist")
        for name in (MODEL_FILE, WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise fail(f"missing file {name}")
        try:
            description = json.loads((folder / MODEL_FILE).read_text())
            if description.get("format_version") != _FORMAT_VERSION:
                raise ValueError(f"unsupported format_version {description.get('format_version')!r}")
            vocabulary = FeatureVocabulary.from_dict(description["vocabulary"])
            label_normaliser = LabelNormaliser.from_dict(description["label_normaliser"])
            column_ranges = ColumnRanges.from_dict(description["column_ranges"])
            coverage = Coverage.from_dict(description["coverage"]) if "coverage" in description else None
            hyperparameters = dict(description["hyperparameters"])
            hidden_size = int(hyperparameters["hidden_size"])
            pg_estimate = bool(hyperparameters.get("pg_estimate", False))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise fail(f"{MODEL_FILE} is not a valid model description ({type(error).__name__}: {error})") from error
        try:
            state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged file
            raise fail(f"unreadable weights {WEIGHTS_FILE} ({type(error).__name__}: {error})") from error
        net = MscnNet(vocabulary.table_dim, vocabulary.join_dim, vocabulary.predicate_dim, hidden_size, pg_estimate)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as error:
            first_line = str(error).strip().splitlines()[0]
            raise fail(f"{WEIGHTS_FILE} does not match the vocabulary and hyper-parameters ({first_line})") from error
        net.eval()
        return cls(net, vocabulary, label_normaliser, column_ranges, hyperparameters, coverage)


def qerror_loss(predicted: torch.Tensor, target: torch.Tensor, span: float,
                lower_bound: torch.Tensor | None = None) -> torch.Tensor:
    """Mean q-error of unnormalised cardinalities, computed in log space to stay finite.

    max(p/t, t/p) = exp(|log p - log t|) = exp(|predicted - target| * span). Where `lower_bound`
    is set the target is only a lower bound: predicting above it costs nothing.
    """
    return torch.exp(_log_error(predicted, target, span, lower_bound)).mean()


def log_qerror_loss(predicted: torch.Tensor, target: torch.Tensor, span: float,
                    lower_bound: torch.Tensor | None = None) -> torch.Tensor:
    """Mean log q-error, |log p - log t|: the hybrid's loss. Its start is PostgreSQL's estimate, off by
    up to millions on some sub-plans, and the q-error itself would let those few drown the rest."""
    return _log_error(predicted, target, span, lower_bound).mean()


def _log_error(predicted: torch.Tensor, target: torch.Tensor, span: float,
               lower_bound: torch.Tensor | None) -> torch.Tensor:
    difference = predicted - target
    if lower_bound is not None:
        difference = torch.where(lower_bound, difference.clamp(max=0.0), difference)
    return difference.abs() * span


class _TrainingData:
    """The training sub-plans as tensors; a mini-batch's predicate MLP runs on its distinct vectors.

    Predicates repeat a lot (the sub-plans of a query share them, queries share common filters):
    typically only a third of a mini-batch's predicate elements are distinct.
    """

    def __init__(self, batch: SubplanBatch, normaliser: LabelNormaliser) -> None:
        (self.tables, self.table_mask, self.joins, self.join_mask,
         self.predicate_vectors, self.predicate_ids, self.predicate_mask) = map(torch.from_numpy, batch.arrays())
        self.estimates = torch.from_numpy(normalised_estimates(batch, normaliser))

    def rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Arguments of `MscnNet.estimate` for the sub-plans `rows`."""
        mask = self.predicate_mask[rows]
        set_of_element, slots = mask.nonzero(as_tuple=True)
        element_ids = self.predicate_ids[rows[set_of_element], slots]
        distinct, vector_of_element = torch.unique(element_ids, return_inverse=True)
        predicate_sets = IndexedSet(
            self.predicate_vectors[distinct], vector_of_element, set_of_element, mask.sum(dim=1, keepdim=True)
        )
        return (self.tables[rows], self.table_mask[rows], self.joins[rows], self.join_mask[rows], predicate_sets,
                self.estimates[rows])


def normalised_estimates(batch: SubplanBatch, normaliser: LabelNormaliser) -> np.ndarray:
    """PostgreSQL's estimates of `batch` on the labels' normalised log scale, as the network takes them."""
    return normaliser.normalise(batch.estimates).astype(np.float32)


def train_mscn(
    batch: SubplanBatch,
    cardinalities: ArrayLike,
    vocab: FeatureVocabulary,
    *,
    column_ranges: ColumnRanges | None = None,
    epochs: int = 100,
    batch_size: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
    hidden_size: int = 256,
    pg_estimate: bool = False,
    lower_bounds: ArrayLike | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[MscnModel, list[float]]:
    """Train MSCN with Adam on the mean q-error; returns the model and the per-epoch mean loss.

    `batch` holds all training sub-plans (see `SubplanBatch.concat`) and `cardinalities` their
    true row counts. `column_ranges` are the ranges the batch was featurized with; they are
    stored with the model so inference normalises identically. Same seed and data give
    identical weights on CPU. `pg_estimate` trains the hybrid (PostgreSQL's estimate in, a
    correction of it out). `lower_bounds` (bool per sub-plan) marks cardinalities that are only
    lower bounds: underestimating them is penalised, overestimating them is not.
    `on_epoch(epoch, loss)` is called after every epoch, from 0.
    Runs on torch's current thread setting: when other busy processes share the CPU, one
    thread is far faster than several (OpenMP threads then wait on each other).
    """
    labels = np.asarray(cardinalities, dtype=np.float64)
    if len(batch) == 0 or labels.shape != (len(batch),):
        raise ValueError(f"need one cardinality per sub-plan: {len(batch)} sub-plans, labels of shape {labels.shape}")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    _check_dimensions(batch, vocab)
    normaliser = LabelNormaliser.fit(labels)
    data = _TrainingData(batch, normaliser)
    targets = torch.from_numpy(normaliser.normalise(labels).astype(np.float32))
    bounds = None if lower_bounds is None else torch.from_numpy(np.asarray(lower_bounds, dtype=bool))
    if bounds is not None and bounds.shape != targets.shape:
        raise ValueError(f"need one lower-bound flag per sub-plan: {len(batch)} sub-plans, {tuple(bounds.shape)} flags")
    history: list[float] = []
    loss_function = log_qerror_loss if pg_estimate else qerror_loss
    with torch.random.fork_rng(devices=[]):  # seed without disturbing the caller's RNG
        torch.manual_seed(seed)
        net = MscnNet(vocab.table_dim, vocab.join_dim, vocab.predicate_dim, hidden_size, pg_estimate)
        optimiser = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
        shuffle = torch.Generator().manual_seed(seed)
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(len(batch), generator=shuffle)
            total = 0.0
            for start in range(0, len(batch), batch_size):
                rows = order[start:start + batch_size]
                loss = loss_function(net.estimate(*data.rows(rows)), targets[rows], normaliser.span,
                                     None if bounds is None else bounds[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(rows)
            history.append(total / len(batch))
            if on_epoch is not None:
                on_epoch(epoch, history[-1])
    net.eval()
    hyperparameters = {
        "hidden_size": hidden_size, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
        "training_subplans": len(batch), "pg_estimate": pg_estimate,
    }
    ranges = column_ranges if column_ranges is not None else ColumnRanges()
    model = MscnModel(net, vocab, normaliser, ranges, hyperparameters, Coverage.of(batch, vocab))
    return model, history


def predict(model: MscnModel, batch: SubplanBatch) -> np.ndarray:
    """Estimated cardinalities (>= 1) for every sub-plan of `batch`, in one forward pass."""
    if len(batch) == 0:
        return np.empty(0, dtype=np.float64)
    _check_dimensions(batch, model.vocabulary)
    normaliser = model.label_normaliser
    with _single_threaded_blas():
        normalised = model.net.numpy_inference()(*batch.arrays(), normalised_estimates(batch, normaliser))
    return normaliser.denormalise(normalised)


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _single_threaded_blas():
    """One BLAS thread for a query's tiny matrices: on 2 busy cores a second thread's hand-offs
    and spinning cost many times the arithmetic (26 ms instead of 6 per query under load)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _check_dimensions(batch: SubplanBatch, vocab: FeatureVocabulary) -> None:
    expected = (vocab.table_dim, vocab.join_dim, vocab.predicate_dim)
    actual = (batch.tables.shape[2], batch.joins.shape[2], batch.predicate_vectors.shape[1])
    if actual != expected:
        raise ValueError(
            f"batch feature sizes (tables, joins, predicates) {actual} do not match the vocabulary's "
            f"{expected}: featurize with the model's vocabulary"
        )


def qerror(predicted: ArrayLike, true: ArrayLike) -> np.ndarray:
    """Element-wise max(p/t, t/p), both clamped to >= 1 so empty results stay finite."""
    predicted = np.maximum(np.asarray(predicted, dtype=np.float64), 1.0)
    true = np.maximum(np.asarray(true, dtype=np.float64), 1.0)
    return np.maximum(predicted / true, true / predicted)


def qerror_summary(qerrors: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Median, p90, p95, p99, max and mean of q-errors (numpy's linear-interpolated percentiles)."""
    values = np.asarray(qerrors, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("q-error summary needs at least one q-error, all finite")
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {
        "median": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99),
        "max": float(values.max()), "mean": float(values.mean()),
    }
