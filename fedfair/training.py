"""Local training and evaluation loops.

``train_local`` runs mini-batch SGD on binary cross-entropy. Later algorithms
plug in without rewriting the loop:

- ``sample_weight``: per-row weights of the loss (e.g. FairIF reweighting);
- ``penalties``: callables ``(model, batch) -> scalar tensor`` added to each
  batch's loss (e.g. FedProx's proximal term, :func:`proximal_term`, or a
  fairness regulariser). ``batch`` is a :class:`Batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fedfair.data import Split
from fedfair.metrics import GroupCounts, sensitive_counts, soft_group_counts


@dataclass
class Batch:
    """One mini-batch: features, labels, weights and the row indices it came from."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None
    index: torch.Tensor


Penalty = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of local SGD."""

    lr: float = 0.05
    epochs: int = 1
    batch_size: int = 32
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class EvalResult:
    """Loss, accuracy and the group confusion tables of one model on one split."""

    n: int
    loss: float
    accuracy: float
    groups: dict[str, GroupCounts]
    soft_groups: dict[str, GroupCounts] | None = None

    def soft_groups_json(self) -> dict[str, Any]:
        return {a: {"values": list(t.values), "counts": t.counts.tolist()} for a, t in (self.soft_groups or {}).items()}

    def groups_json(self) -> dict[str, Any]:
        return {a: t.to_json() for a, t in self.groups.items()}


def proximal_term(global_params: Sequence[torch.Tensor], mu: float) -> Penalty:
    """FedProx: (mu / 2) * ||w - w_global||^2 (Li et al., 2020, eq. 2)."""
    anchors = [p.detach().clone() for p in global_params]

    def penalty(model: nn.Module, _: Batch) -> torch.Tensor:
        return 0.5 * mu * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchors))

    return penalty


def train_local(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    seed: int,
    sample_weight: np.ndarray | None = None,
    penalties: Sequence[Penalty] = (),
) -> float:
    """Run ``config.epochs`` epochs of SGD on ``data``; return the mean batch loss.

    The shuffling order follows ``seed`` so that a run is reproducible.
    """
    x = torch.from_numpy(np.ascontiguousarray(data.x, dtype=np.float32))
    y = torch.from_numpy(data.y.astype(np.float32))
    w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(int(seed))
    model.train()
    total, batches = 0.0, 0
    for _ in range(config.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = Batch(x[idx], y[idx], None if w is None else w[idx], idx)
            logits = model(batch.x)
            losses = nn.functional.binary_cross_entropy_with_logits(logits, batch.y, reduction="none")
            loss = losses.mean() if batch.weight is None else (losses * batch.weight).sum() / batch.weight.sum()
            for penalty in penalties:
                loss = loss + penalty(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
    return total / max(batches, 1)


def _bce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(model(x), y)


def _tensors(data: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(data.x, dtype=np.float32)), torch.from_numpy(data.y.astype(np.float32))


def train_per_fedavg(model: nn.Module, data: Split, config: TrainConfig, alpha: float, seed: int) -> float:
    """Per-FedAvg local training, first-order version (Fallah et al., 2020, Algorithm 1 with eq. 8's FO gradient).

    Each local step takes two fresh mini-batches D, D' of the shuffled data:
    w_tmp = w - alpha * grad f(w; D), then w <- w - beta * grad f(w_tmp; D'),
    with beta = ``config.lr``. One epoch is one pass over the data (two batches
    per step). Returns the mean outer-batch loss.
    """
    x, y = _tensors(data)
    params = list(model.parameters())
    generator = torch.Generator().manual_seed(int(seed))
    model.train()
    total, steps = 0.0, 0
    for _ in range(config.epochs):
        order = torch.randperm(len(y), generator=generator)
        batches = [order[s : s + config.batch_size] for s in range(0, len(y), config.batch_size)]
        pairs = list(zip(batches[0::2], batches[1::2])) or [(batches[0], batches[0])]
        for inner, outer in pairs:
            start = [p.detach().clone() for p in params]
            grads = torch.autograd.grad(_bce(model, x[inner], y[inner]), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= alpha * g
            outer_loss = _bce(model, x[outer], y[outer])
            grads = torch.autograd.grad(outer_loss, params)
            with torch.no_grad():
                for p, s, g in zip(params, start, grads):
                    p.copy_(s - config.lr * g)
            total += float(outer_loss.detach())
            steps += 1
    return total / max(steps, 1)


def finetune(model: nn.Module, data: Split, steps: int, lr: float, batch_size: int, seed: int) -> None:
    """``steps`` plain SGD steps on seeded mini-batches of ``data`` (MAML-FL's personalisation before deployment)."""
    if steps <= 0 or len(data) == 0:
        return
    x, y = _tensors(data)
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    order = torch.randperm(len(y), generator=generator)
    position = 0
    for _ in range(steps):
        if position >= len(y):
            order, position = torch.randperm(len(y), generator=generator), 0
        idx = order[position : position + batch_size]
        position += batch_size
        optimizer.zero_grad()
        _bce(model, x[idx], y[idx]).backward()
        optimizer.step()


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """P(y = 1 | x) for every row."""
    model.eval()
    return torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))).numpy()


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Split, sensitive_values: Mapping[str, Sequence[Any]] | None = None, soft: bool = False,
) -> EvalResult:
    """Mean BCE loss, accuracy (threshold 0.5) and group tables for every sensitive attribute;
    ``soft`` also gives the expected (probability-weighted) tables."""
    model.eval()
    logits = model(torch.from_numpy(np.ascontiguousarray(data.x, dtype=np.float32)))
    y = torch.from_numpy(data.y.astype(np.float32))
    loss = float(nn.functional.binary_cross_entropy_with_logits(logits, y))
    y_pred = (logits.numpy() > 0).astype(np.int64)
    accuracy = float((y_pred == data.y).mean())
    groups = sensitive_counts(data.y, y_pred, data.sensitive, sensitive_values)
    soft_groups = None
    if soft:
        proba = torch.sigmoid(logits).numpy().astype(np.float64)
        soft_groups = {a: soft_group_counts(data.y, proba, g, (sensitive_values or {}).get(a))
                       for a, g in data.sensitive.items()}
    return EvalResult(n=len(data), loss=loss, accuracy=accuracy, groups=groups, soft_groups=soft_groups)
