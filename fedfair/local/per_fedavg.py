"""Per-FedAvg's local meta-step (Fallah et al., 2020, Algorithm 1, first-order version with eq. 8's gradient).

Each step takes two fresh mini-batches D, D' of the shuffled data:
w_tmp = w - alpha * grad f(w; D), then w <- w - beta * grad f(w_tmp; D'), with
beta = the loop's ``lr``. One epoch is one pass over the data (two batches per
step). f is the loop's batch loss, so row weights and penalties apply to both
gradients. The reported loss is the outer batch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fedfair.config import Param
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:
    import torch
    from torch import nn

    from fedfair.training import Batch, LossFn, TrainConfig


class PerFedAvgStep:
    """w <- w - beta * grad f(w - alpha * grad f(w; D); D') (first-order MAML)."""

    batches_per_step = 2

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def __call__(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches: Sequence[Batch],
                 loss_fn: LossFn, config: TrainConfig) -> torch.Tensor:
        import torch

        inner, outer = batches
        params = list(model.parameters())
        start = [p.detach().clone() for p in params]
        grads = torch.autograd.grad(loss_fn(model, inner), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= self.alpha * g
        outer_loss = loss_fn(model, outer)
        grads = torch.autograd.grad(outer_loss, params)
        with torch.no_grad():
            for p, s, g in zip(params, start, grads):
                p.copy_(s - config.lr * g)
        return outer_loss


class PerFedAvg(LocalObjective):
    """MAML-FL's local training: the Per-FedAvg meta-step."""

    name = "per-fedavg"
    params = {
        "maml-alpha": Param(float, 0.01, "MAML-FL: inner step size alpha of the Per-FedAvg local update", "float > 0",
                            lambda x: x > 0),
    }

    def step(self) -> PerFedAvgStep:
        return PerFedAvgStep(float(self.values["maml-alpha"]))

