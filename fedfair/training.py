"""The one local training loop, and evaluation.

``train_local`` runs mini-batch steps on binary cross-entropy; the client-side
plug-ins of :mod:`fedfair.local` shape it without rewriting it:

- ``sample_weight``: per-row weights of the loss (e.g. FairIF reweighting), scaled to mean 1;
- ``penalties``: callables ``(model, batch) -> scalar tensor`` added to each
  batch's loss (e.g. FedProx's proximal term, :func:`proximal_term`, or a
  fairness regulariser). ``batch`` is a :class:`Batch`: features, labels,
  weights and the rows' sensitive groups;
- ``step``: how one optimisation step uses its batches (default one SGD step
  on one batch; Per-FedAvg's meta-step uses two);
- ``TrainConfig.max_steps``: a fixed number of steps instead of epochs
  (fine-tuning before deployment).

Every loop draws its mini-batches from :func:`epoch_order` (a seeded
permutation per epoch), so runs are reproducible.

Device: everything runs where the model's parameters are (:func:`model_device`;
the ClientApp moves the model to the run's ``device``). On a CUDA device each
split's features, labels and group codes are copied there once per process
(:func:`split_tensors`, cached per (split, device)), an epoch's shuffled order
is moved there in one copy and the loss is summed there, so a step costs no host
round-trip; model outputs come back with ``.cpu()`` only to be scored. On the
CPU the tensors are views of the split's arrays, built per call as before, and
the numbers are bit-identical to the CPU-only code.
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from fedfair.data import Split
from fedfair.metrics import GroupCounts, sensitive_counts, soft_group_counts, value_index


@dataclass
class Batch:
    """One mini-batch: features, labels, row weights (None = uniform), group codes per sensitive attribute
    (index into the attribute's sorted values on this split) and the row indices it came from."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None
    index: torch.Tensor
    groups: Mapping[str, torch.Tensor] = field(default_factory=dict)
    # the model's logits on x, set by the loop once per loss evaluation so penalties reuse them
    logits: torch.Tensor | None = None
    # factor of the batch loss a penalty may set (e.g. PUFFLE's 1 - lambda), applied after the penalties ran
    loss_scale: float = 1.0


Penalty = Callable[[nn.Module, Batch], torch.Tensor]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class EvalResult:
    """Loss, accuracy and the group confusion tables of one model on one split (``soft_groups``:
    expected counts from predicted probabilities, when asked for)."""

    n: int
    loss: float
    accuracy: float
    groups: dict[str, GroupCounts]
    soft_groups: dict[str, GroupCounts] | None = None


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of local SGD. With ``max_steps`` the loop stops after that many
    optimisation steps, cycling through the data as often as needed (``epochs`` is then ignored)."""

    lr: float = 0.05
    epochs: int = 1
    batch_size: int = 32
    max_steps: int | None = None
    optimizer: str = "sgd"  # or "adam" (e.g. FairIF's centralised setting, Appendix B)
    # DP-SGD (opacus): per-row gradients clipped to dp_clip, Gaussian noise dp_noise x dp_clip per step; 0 = off
    dp_noise: float = 0.0
    dp_clip: float = 1.0


class Step(Protocol):
    """One optimisation step of the loop: consumes ``batches_per_step`` batches, returns the loss it reports."""

    batches_per_step: int

    def __call__(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches: Sequence[Batch],
                 loss_fn: LossFn, config: TrainConfig) -> torch.Tensor: ...


def row_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-row cross-entropy: binary on one logit, softmax on C logits (labels are class indices as floats)."""
    if logits.dim() > 1:
        return nn.functional.cross_entropy(logits, y.long(), reduction="none")
    return nn.functional.binary_cross_entropy_with_logits(logits, y.float(), reduction="none")


def batch_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Cross-entropy of the batch (binary on one logit, softmax on C logits; the batch's logits when the
    loop has set them): the plain mean, or with row weights (mean 1 over the split) the mean of weight x
    loss, an unbiased mini-batch estimate of the weighted loss sum_i w_i l_i / n (e.g. FairIF's eq. 15)."""
    logits = batch.logits if batch.logits is not None else model(batch.x)
    losses = row_losses(logits, batch.y)
    return losses.mean() if batch.weight is None else (losses * batch.weight).mean()


class SGDStep:
    """The plain step: loss of one batch (plus penalties), backward, optimiser step."""

    batches_per_step = 1

    def __call__(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches: Sequence[Batch],
                 loss_fn: LossFn, config: TrainConfig) -> torch.Tensor:
        loss = loss_fn(model, batches[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss


def proximal_term(global_params: Sequence[torch.Tensor], mu: float) -> Penalty:
    """FedProx: (mu / 2) * ||w - w_global||^2 (Li et al., 2020, eq. 2)."""
    anchors = [p.detach().clone() for p in global_params]

    def penalty(model: nn.Module, _: Batch) -> torch.Tensor:
        return 0.5 * mu * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchors))

    return penalty


def epoch_order(n: int, batch_size: int, generator: torch.Generator,
                device: torch.device | str | None = None) -> list[torch.Tensor]:
    """Row indices of one epoch's mini-batches: a seeded permutation (drawn on the CPU, so every device sees the
    same order) cut into ``batch_size`` chunks, moved to ``device`` in one copy."""
    order = torch.randperm(n, generator=generator)
    if device is not None and torch.device(device).type != "cpu":
        order = order.to(device)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def step_batches(batches: Sequence[torch.Tensor], k: int) -> list[tuple[torch.Tensor, ...]]:
    """Group an epoch's batches k at a time (fresh batches for each of a step's k uses);
    an epoch with fewer than k batches reuses its first."""
    if k == 1:
        return [(b,) for b in batches]
    return list(zip(*[batches[i::k] for i in range(k)])) or [tuple(batches[0] for _ in range(k))]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (or buffers; the CPU for a model without either)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


class ResidentSplit:
    """A split's features (float32), labels (float32) and group codes (int64, per attribute, made when first
    asked for) as tensors on one device."""

    def __init__(self, data: Split, device: torch.device) -> None:
        self.device = device
        self.x = torch.from_numpy(np.ascontiguousarray(data.x, dtype=np.float32)).to(device)
        self.y = torch.from_numpy(data.y.astype(np.float32)).to(device)
        self.sensitive = data.sensitive
        self._codes: dict[str, torch.Tensor] = {}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.x, self.y, *self._codes.values()))

    def codes(self, attribute: str) -> torch.Tensor:
        """Group codes of every row for one attribute (index into the attribute's sorted values), computed the
        first time a penalty asks for them (a run whose plug-ins never read the rows' groups never touches them)."""
        if attribute not in self._codes:
            codes = np.unique(self.sensitive[attribute], return_inverse=True)[1].astype(np.int64).reshape(-1)
            self._codes[attribute] = torch.from_numpy(codes).to(self.device)
        return self._codes[attribute]


# splits resident on an accelerator, per (split, device), least recently used first; bounded by DEVICE_CACHE_BYTES
_RESIDENT: OrderedDict[tuple[int, str], tuple[weakref.ref, ResidentSplit]] = OrderedDict()
DEVICE_CACHE_BYTES = 4 * 1024**3


def split_tensors(data: Split, device: torch.device | str = "cpu") -> ResidentSplit:
    """``data`` as tensors on ``device``. On an accelerator they are copied there once per process and kept
    (cache per (split, device), least recently used splits dropped beyond :data:`DEVICE_CACHE_BYTES`); on the
    CPU they are views of the split's arrays, built per call (nothing to save)."""
    device = torch.device(device)
    if device.type == "cpu":
        return ResidentSplit(data, device)
    key = (id(data), str(device))
    hit = _RESIDENT.get(key)
    if hit is not None and hit[0]() is data:
        _RESIDENT.move_to_end(key)
        return hit[1]
    resident = ResidentSplit(data, device)
    def forget(dead: weakref.ref, key: tuple[int, str] = key) -> None:  # the split is gone: so is its copy
        if _RESIDENT.get(key, (None,))[0] is dead:
            del _RESIDENT[key]

    try:
        ref = weakref.ref(data, forget)
    except TypeError:  # an object without weak references: not cached
        return resident
    _RESIDENT[key] = (ref, resident)
    while len(_RESIDENT) > 1 and sum(r.nbytes for _, r in _RESIDENT.values()) > DEVICE_CACHE_BYTES:
        _RESIDENT.popitem(last=False)
    return resident


class SplitTensors:
    """A split as tensors on a device (:func:`split_tensors`) with one training call's row weights;
    :meth:`batch` slices one mini-batch."""

    def __init__(self, data: Split, sample_weight: np.ndarray | None = None, scale_weight: bool = True,
                 device: torch.device | str = "cpu") -> None:
        self.resident = split_tensors(data, device)
        self.x, self.y = self.resident.x, self.resident.y
        self.weight = None
        if sample_weight is not None:  # scaled to mean 1 over the split (unbiased batch means) unless told not to
            weight = np.asarray(sample_weight, dtype=np.float64)
            if scale_weight and weight.mean() > 0:
                weight = weight / weight.mean()
            self.weight = torch.as_tensor(weight, dtype=torch.float32).to(self.resident.device)
        self.sensitive = data.sensitive

    @property
    def device(self) -> torch.device:
        return self.resident.device

    def __len__(self) -> int:
        return len(self.y)

    def codes(self, attribute: str) -> torch.Tensor:
        """Group codes of every row for one attribute (:meth:`ResidentSplit.codes`)."""
        return self.resident.codes(attribute)

    def batch(self, idx: torch.Tensor) -> Batch:
        return Batch(self.x[idx], self.y[idx], None if self.weight is None else self.weight[idx], idx,
                     BatchGroups(self, idx))


class BatchGroups(Mapping):
    """A batch's group codes per sensitive attribute, read on demand."""

    def __init__(self, tensors: SplitTensors, idx: torch.Tensor) -> None:
        self.tensors, self.idx = tensors, idx

    def __getitem__(self, attribute: str) -> torch.Tensor:
        return self.tensors.codes(attribute)[self.idx]

    def __iter__(self):
        return iter(self.tensors.sensitive)

    def __len__(self) -> int:
        return len(self.tensors.sensitive)


def train_local(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    seed: int,
    sample_weight: np.ndarray | None = None,
    penalties: Sequence[Penalty] = (),
    step: Step | None = None,
    on_epoch: Callable[[int, float], bool] | None = None,
    scale_weight: bool = True,
) -> float:
    """The one local training loop: mini-batch epochs (or ``config.max_steps`` steps) of ``step``
    (default :class:`SGDStep`) on ``data``; returns the mean loss the steps report.

    Each step's loss is :func:`batch_loss` with ``sample_weight`` (scaled to mean 1 over the split unless
    ``scale_weight`` is False: weights that already carry the federation's scale) plus every penalty. The
    shuffling order follows ``seed`` so that a run is reproducible. ``on_epoch(epoch, mean loss)`` returning
    True stops the loop early (e.g. at convergence).
    """
    step = step or SGDStep()
    if len(data) == 0 or config.max_steps == 0:
        return 0.0
    tensors = SplitTensors(data, sample_weight, scale_weight, model_device(model))
    if config.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer {config.optimizer!r}: use sgd or adam")
    optimizer = (torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(int(seed))
    private = None
    if config.dp_noise > 0:
        model, optimizer = private = make_private(model, optimizer, config, seed)

    def loss_fn(m: nn.Module, batch: Batch) -> torch.Tensor:
        batch.logits = m(batch.x)  # one forward pass, shared by the loss and the penalties
        batch.loss_scale = 1.0
        extra = [penalty(m, batch) for penalty in penalties]
        loss = batch_loss(m, batch)
        if batch.loss_scale != 1.0:
            loss = loss * batch.loss_scale
        for term in extra:
            loss = loss + term
        return loss

    model.train()
    try:
        return _loop(model, tensors, config, step, optimizer, generator, loss_fn, on_epoch)
    finally:
        if private is not None:
            private[0]._close()  # remove opacus' hooks: the caller's model is used plainly afterwards


def make_private(model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                 seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """DP-SGD through opacus: per-row gradients (GradSampleModule) clipped and noised by its DPOptimizer
    (noise seeded from ``seed``). The wrapped module shares the model's parameters."""
    try:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer
    except ImportError:
        raise ImportError("DP-SGD needs opacus: pip install opacus (or pip install 'fedfair[dp]')") from None
    wrapped = GradSampleModule(model)
    noise = torch.Generator(device=model_device(model)).manual_seed(int(seed) + 7919)  # opacus draws on the device
    private = DPOptimizer(optimizer, noise_multiplier=config.dp_noise, max_grad_norm=config.dp_clip,
                          expected_batch_size=config.batch_size, generator=noise)
    return wrapped, private


def _loop(model: nn.Module, tensors: SplitTensors, config: TrainConfig, step: Step,
          optimizer: torch.optim.Optimizer, generator: torch.Generator, loss_fn: LossFn,
          on_epoch: Callable[[int, float], bool] | None) -> float:
    total, steps = 0.0, 0
    on_host = tensors.device.type == "cpu"
    epochs = itertools.count() if config.max_steps is not None else range(config.epochs)
    for epoch in epochs:
        epoch_total, epoch_steps = 0.0, 0
        order = epoch_order(len(tensors), config.batch_size, generator, tensors.device)
        for group in step_batches(order, step.batches_per_step):
            loss = step(model, optimizer, [tensors.batch(idx) for idx in group], loss_fn, config)
            if on_host:
                epoch_total += float(loss.detach())
            else:  # summed on the device in float64 (the same sum as Python's floats): no sync per step
                epoch_total = loss.detach().double() + epoch_total
            epoch_steps += 1
            if steps + epoch_steps == config.max_steps:
                return float(total + epoch_total) / (steps + epoch_steps)
        epoch_total = float(epoch_total)
        total, steps = total + epoch_total, steps + epoch_steps
        if on_epoch is not None and on_epoch(epoch, epoch_total / max(epoch_steps, 1)):
            break
    return total / max(steps, 1)


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """P(y = 1 | x) for every row."""
    model.eval()
    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(model_device(model))
    return torch.sigmoid(model(features)).cpu().numpy()


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Split, sensitive_values: Mapping[str, Sequence[Any]] | None = None, soft: bool = False,
) -> EvalResult:
    """Mean cross-entropy loss, accuracy (binary: threshold 0.5; C classes: argmax) and group tables for
    every sensitive attribute; ``soft`` also gives the expected (probability-weighted) tables."""
    model.eval()
    tensors = split_tensors(data, model_device(model))
    return score_logits(model(tensors.x), data, tensors.y, sensitive_values, soft)


def score_logits(logits: torch.Tensor, data: Split, y: torch.Tensor,
                 sensitive_values: Mapping[str, Sequence[Any]] | None = None, soft: bool = False) -> EvalResult:
    """:func:`evaluate`'s scores of a model's ``logits`` on every row of ``data`` (``y``: its labels as float32
    on the logits' device); shared with :func:`fedfair.batched.evaluate_batched`."""
    if logits.dim() > 1:
        return _evaluate_multiclass(logits, data, sensitive_values, soft, y.long())
    loss = float(nn.functional.binary_cross_entropy_with_logits(logits, y))
    y_pred = (logits > 0).cpu().numpy().astype(np.int64)
    accuracy = float((y_pred == data.y).mean())
    groups = sensitive_counts(data.y, y_pred, data.sensitive, sensitive_values)
    soft_groups = None
    if soft:
        proba = torch.sigmoid(logits).cpu().numpy().astype(np.float64)
        soft_groups = {a: soft_group_counts(data.y, proba, g, (sensitive_values or {}).get(a))
                       for a, g in data.sensitive.items()}
    return EvalResult(n=len(data), loss=loss, accuracy=accuracy, groups=groups, soft_groups=soft_groups)


def cell_losses(model: nn.Module, data: Split, attribute: str,
                values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row counts, summed cross-entropy of ``model`` and summed cross-entropy against the positive label (every
    row taken as y = 1: FairBatch's demographic-parity loss) per cell (label y, value a of ``attribute``) of a
    binary-label split: three (2, len(values)) arrays, [y, a] (one forward pass, three bincounts)."""
    model.eval()
    with torch.no_grad():
        tensors = split_tensors(data, model_device(model))
        logits = model(tensors.x)
        losses = row_losses(logits, tensors.y).cpu().numpy().astype(np.float64)
        positive = row_losses(logits, torch.ones(len(data.y), device=logits.device)).cpu().numpy().astype(np.float64)
    cell = data.y.astype(np.int64) * len(values) + value_index(data.sensitive[attribute], values)
    size = 2 * len(values)
    counts = np.bincount(cell, minlength=size).reshape(2, -1)
    return (counts, np.bincount(cell, weights=losses, minlength=size).reshape(2, -1),
            np.bincount(cell, weights=positive, minlength=size).reshape(2, -1))


def _evaluate_multiclass(logits: torch.Tensor, data: Split, sensitive_values: Mapping[str, Sequence[Any]] | None,
                         soft: bool, y: torch.Tensor | None = None) -> EvalResult:
    """C > 2 classes: softmax cross-entropy, argmax accuracy, per-group correct / wrong counts (AD only);
    soft tables hold the expected counts under the predicted probability of the true class. ``y``: the labels
    as class indices on the logits' device (default: from ``data``)."""
    y = torch.from_numpy(data.y.astype(np.int64)).to(logits.device) if y is None else y
    loss = float(nn.functional.cross_entropy(logits, y)) if len(y) else float("nan")
    y_pred = logits.argmax(dim=1).cpu().numpy()
    accuracy = float((y_pred == data.y).mean()) if len(y) else float("nan")
    groups = sensitive_counts(data.y, y_pred, data.sensitive, sensitive_values, multiclass=True)
    soft_groups = None
    if soft:
        p_true = torch.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1).cpu().numpy().astype(np.float64)
        soft_groups = {}
        for a, g in data.sensitive.items():  # y = 1 everywhere: tp = sum p_true (expected correct), fn = the rest
            table = soft_group_counts(np.ones(len(y)), p_true, g, (sensitive_values or {}).get(a))
            soft_groups[a] = GroupCounts(table.values, table.counts, multiclass=True)
    return EvalResult(n=len(data), loss=loss, accuracy=accuracy, groups=groups, soft_groups=soft_groups)
