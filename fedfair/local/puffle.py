"""PUFFLE's fairness regulariser (Corbucci et al., ECAI 2024; seed 002 Section 5) as a client-side plug-in.

Local loss per batch: (1 - lambda) * CE + lambda * DPL (PUFFLE's learning.py; CE
alone when DPL is 0), where DPL is the batch's demographic disparity computed from
the softmax probabilities (PUFFLE's RegularizationLoss):

    P(Y_hat = k | Z = z) = sum of p_k over the rows with Z = z predicted k / |Z = z|
    DPL = max over classes k and groups z of |P(Y_hat = k | Z = z) - P(Y_hat = k | Z != z)|

(the sum runs over the rows whose argmax is k, as PUFFLE's code does, so the
term is differentiable through p_k). A group missing from the batch is compared
through the server's aggregated statistics (the sum of p_k over predicted-k rows
and the row count per group, summed over the clients' training splits after
their last training, shared as counts, never rows); without them the pair is
skipped.

lambda: ``puffle-tune=true`` (default) moves lambda toward the target disparity
``puffle-target`` with PUFFLE's momentum rule after every step:
velocity <- momentum * velocity + (target - DPL), lambda <- clip(lambda -
alpha * velocity, 0, 1) (``puffle-alpha``, ``puffle-momentum``). PUFFLE measures
the updated model's DPL on the same batch with an extra forward pass; fedfair
measures it on the next batch's forward pass, which the loss needs anyway (the
same model, a different batch), so a step costs one forward and one backward
pass. Each round starts from PUFFLE's "disparity" rule: lambda_0 = 0 when the
received model's disparity on the training split is at most the target, else
(DD - target) / DD. ``puffle-tune=false`` keeps lambda = ``puffle-lambda``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fedfair.config import SENSITIVE_PARAM, Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective
from fedfair.training import Batch, Penalty, batch_loss

SHARED_PREFIX = "puffle"


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """n x K probabilities: softmax of K logits, or [1 - sigmoid, sigmoid] of one binary logit."""
    if logits.dim() > 1:
        return torch.softmax(logits, dim=1)
    p = torch.sigmoid(logits)
    return torch.stack([1 - p, p], dim=1)


def group_sums(probs: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(G x K sums of p_k over each group's rows predicted k, G row counts)."""
    predicted = nn.functional.one_hot(probs.argmax(dim=1), probs.shape[1]).to(probs.dtype)
    members = nn.functional.one_hot(groups, n_groups).to(probs.dtype)  # n x G
    return members.T @ (probs * predicted), members.sum(dim=0)


def demographic_disparity(probs: torch.Tensor, groups: torch.Tensor, n_groups: int,
                          shared: tuple[np.ndarray, np.ndarray] | None = None) -> torch.Tensor:
    """PUFFLE's DPL of one batch (differentiable); ``shared`` = the server's (G x K sums, G counts) used for
    groups absent from the batch (or when the batch has no row outside a group)."""
    sums, counts = group_sums(probs, groups, n_groups)
    total_sums, total = sums.sum(dim=0, keepdim=True), counts.sum()
    rest_sums, rest = total_sums - sums, total - counts
    rate = sums / counts.clamp(min=1)[:, None]
    rest_rate = rest_sums / rest.clamp(min=1)[:, None]
    present, others = counts > 0, rest > 0
    if shared is not None:
        s_sums = torch.as_tensor(shared[0], dtype=probs.dtype)
        s_counts = torch.as_tensor(shared[1], dtype=probs.dtype)
        shared_rate = s_sums / s_counts.clamp(min=1)[:, None]
        shared_rest = (s_sums.sum(0, keepdim=True) - s_sums) / (s_counts.sum() - s_counts).clamp(min=1)[:, None]
        rate = torch.where(present[:, None], rate, shared_rate)
        rest_rate = torch.where(others[:, None], rest_rate, shared_rest)
        present = present | (s_counts > 0)
        others = others | ((s_counts.sum() - s_counts) > 0)
    valid = (present & others)[:, None].expand_as(rate)
    gaps = (rate - rest_rate).abs()
    if not bool(valid.any()):
        return probs.sum() * 0.0
    return gaps[valid].max()


def start_lambda(disparity: float, target: float) -> float:
    """PUFFLE's "disparity" start: 0 at or under the target, else (DD - target) / DD."""
    return 0.0 if disparity <= target else (disparity - target) / disparity


class PuffleRegulariser:
    """The penalty lambda * (DPL - CE) on the batch's logits, so that CE + penalty = (1 - lambda) CE + lambda DPL;
    before each step after the first, lambda follows PUFFLE's momentum rule on the batch's DPL."""

    def __init__(self, codes: torch.Tensor, n_groups: int, lam: float, tune: bool, target: float, alpha: float,
                 momentum: float, shared: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.codes, self.n_groups, self.lam = codes, n_groups, lam  # codes: every training row's group
        self.tune, self.target, self.alpha, self.momentum = tune, target, alpha, momentum
        self.shared = shared
        self.velocity, self.steps = 0.0, 0
        self.history: list[float] = []

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits = batch.logits if batch.logits is not None else model(batch.x)
        dpl = demographic_disparity(class_probabilities(logits), self.codes[batch.index], self.n_groups, self.shared)
        if self.tune and self.steps > 0:  # the model after the previous step, measured on this batch
            self.velocity = self.momentum * self.velocity + (self.target - float(dpl.detach()))
            self.lam = float(np.clip(self.lam - self.alpha * self.velocity, 0.0, 1.0))
        self.steps += 1
        self.history.append(self.lam)
        if float(dpl.detach()) <= 0:
            return logits.sum() * 0.0
        return self.lam * (dpl - batch_loss(model, batch))


class Puffle(LocalObjective):
    """PUFFLE: (1 - lambda) CE + lambda DPL on the run's sensitive attribute, lambda tuned toward a target."""

    name = "puffle"
    params = {
        "sensitive": SENSITIVE_PARAM,
        "puffle-target": Param(float, 0.05, "PUFFLE: target demographic disparity DD (seed 002 uses 0.05 on SEX)",
                               "float in [0, 1]", lambda x: 0 <= x <= 1),
        "puffle-tune": Param(bool, True, "PUFFLE: tune lambda toward the target during training (else fixed)"),
        "puffle-lambda": Param(float, 0.5, "PUFFLE: the fixed lambda when puffle-tune=false", "float in [0, 1]",
                               lambda x: 0 <= x <= 1),
        "puffle-alpha": Param(float, 1.0, "PUFFLE: step size of the lambda update", "float > 0", lambda x: x > 0),
        "puffle-momentum": Param(float, 0.0, "PUFFLE: momentum of the lambda update", "float in [0, 1)",
                                 lambda x: 0 <= x < 1),
    }

    def penalties(self, model: nn.Module, data: ClientData) -> list[Penalty]:
        attribute = self.values["sensitive"] or next(iter(data.sensitive_values), "")
        if attribute not in data.train.sensitive:
            self.fallback(f"no sensitive attribute {attribute!r} in the client's data")
            return []
        values = data.sensitive_values.get(attribute) or sorted(np.unique(data.train.sensitive[attribute]).tolist())
        codes = {v: i for i, v in enumerate(values)}
        shared = self.shared_statistics(attribute, len(values))
        groups = torch.as_tensor(np.array([codes.get(v, 0) for v in data.train.sensitive[attribute].tolist()]))
        with torch.no_grad():
            model.eval()
            start = float(demographic_disparity(class_probabilities(model(torch.as_tensor(data.train.x))), groups,
                                                len(values), shared))
            model.train()
        tune = bool(self.values["puffle-tune"])
        lam = start_lambda(start, self.values["puffle-target"]) if tune else float(self.values["puffle-lambda"])
        self.regulariser = PuffleRegulariser(groups, len(values), lam, tune, self.values["puffle-target"],
                                             self.values["puffle-alpha"], self.values["puffle-momentum"], shared)
        self.attribute, self.values_list, self.groups = attribute, values, groups
        self.report["puffle-dd-start"] = start
        self.report["puffle-lambda-start"] = lam
        return [self.regulariser]

    def shared_statistics(self, attribute: str, n_groups: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The server's aggregated (sums, counts) for this attribute, if it sent them."""
        stats = self.shared.get(f"{SHARED_PREFIX}:{attribute}")
        if not stats:
            return None
        sums, counts = np.asarray(stats["sums"], dtype=np.float64), np.asarray(stats["counts"], dtype=np.float64)
        return (sums, counts) if sums.shape[0] == n_groups else None

    def finish(self, model: nn.Module, data: ClientData) -> None:
        """After training: the final lambda and this client's statistics for the server to aggregate."""
        if not hasattr(self, "regulariser"):
            return
        self.report["puffle-lambda"] = self.regulariser.lam
        with torch.no_grad():
            model.eval()
            probs = class_probabilities(model(torch.as_tensor(data.train.x)))
            sums, counts = group_sums(probs, self.groups, len(self.values_list))
            self.report["puffle-dd-end"] = float(demographic_disparity(probs, self.groups, len(self.values_list)))
        self.share[f"{SHARED_PREFIX}:{self.attribute}"] = {"sums": sums.tolist(), "counts": counts.tolist()}

