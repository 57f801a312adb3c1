"""Fed-FairGrad (declearn's federated FairGrad: Maheshwari, Perrot, "FairGrad: Fairness Aware Gradient Descent",
TMLR 2023, with the federated statistics of :mod:`fedfair.strategies.group_weighting`).

FairGrad writes a group-fairness notion in the canonical form (FairGrad eq. 2) over the cells k = (label y,
value a; any number of values):

    F_k(h) = C_k^0 + sum_{k'} C_k^{k'} P(h(x) != y | k'),

keeps two multipliers per cell, lambda_k (F_k <= eps) and delta_k (F_k >= -eps), updated by projected ascent

    lambda_k <- max(0, lambda_k + eta (F_k - eps)),     delta_k <- max(0, delta_k - eta (F_k + eps)),

and trains on the reweighted loss with cell weights (FairGrad's Algorithm 1)

    w_k = P_k + sum_{k'} C_{k'}^{k} (lambda_{k'} - delta_{k'}),     P_k = n_k / n,

which may be negative. Constants (n the rows, n_y / n_a those with label y / value a, n_k of the cell):

- sp (binary label): C_k^0 = n_k / n_a - n_y / n; C_k^{k'} = s (n_{k'} / n - [a = a'] n_{k'} / n_a) with
  s = -1 when y != y';
- eo: C_k^0 = 0; C_k^{k'} = [y = y'] (n_{k'} / n_y - [k = k']);
- eqop: eo's rows for the positive label y = 1, the others 0.

As in declearn, the F_k are measured once per round at the global model (the federation's cell error rates, at
the start of the round, before training) and the weights held for that round's local steps. ``fairgrad-eta``
defaults to 0.01 and ``fairgrad-eps`` to 1e-6 (declearn's defaults; FairGrad tunes eta per dataset).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedfair.strategies.group_weighting import GroupWeightedStrategy
from fedfair.strategies.specs import SPECS


def fairgrad_constants(notion: str, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C^0 of shape (K,), C of shape (K, K)) over the cells k = y * A + a of the (2, A) count array n."""
    counts = n.reshape(-1).astype(np.float64)
    labels = np.repeat(np.arange(n.shape[0]), n.shape[1])
    values = np.tile(np.arange(n.shape[1]), n.shape[0])
    same_label = labels[:, None] == labels[None, :]
    same_value = values[:, None] == values[None, :]
    n_label, n_value, total = n.sum(axis=1)[labels], n.sum(axis=0)[values], counts.sum()
    if notion == "sp":
        c0 = counts / n_value - n_label / total
        c = (counts[None, :] / total - same_value * counts[None, :] / n_value[:, None]) * np.where(same_label, 1.0, -1.0)
        return c0, c
    c = same_label * (counts[None, :] / n_label[:, None] - np.eye(len(counts)))
    if notion == "eqop":
        c[labels != 1] = 0.0
    return np.zeros(len(counts)), c


def fairgrad_step(lam: np.ndarray, delta: np.ndarray, fairness: np.ndarray, eta: float,
                  eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Projected ascent on the two multipliers of every cell."""
    return np.maximum(0.0, lam + eta * (fairness - eps)), np.maximum(0.0, delta - eta * (fairness + eps))


def fairgrad_weights(n: np.ndarray, c: np.ndarray, lam: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """w_k = P_k + sum_k' C_{k'}^{k} (lambda_k' - delta_k'), flat over the cells."""
    return n.reshape(-1) / n.sum() + c.T @ (lam - delta)


class FedFairGradStrategy(GroupWeightedStrategy):
    """FedAvg on FairGrad's cell weights, from multipliers of the fairness constraints updated every round."""

    name = "fed-fairgrad"
    extra_params = SPECS["fed-fairgrad"].params

    def initial_state(self, counts: np.ndarray) -> dict[str, Any]:
        k = counts.size
        return {"lambda": np.zeros(k), "delta": np.zeros(k), "fairness": np.zeros(k)}

    def update(self, state: dict[str, Any], stats: dict[str, np.ndarray], server_round: int) -> dict[str, Any]:
        c0, c = fairgrad_constants(self.notion, self.counts)
        errors = 1 - stats["correct"].reshape(-1) / np.maximum(stats["n"].reshape(-1), 1)
        fairness = c0 + c @ errors
        lam, delta = fairgrad_step(state["lambda"], state["delta"], fairness, self.params["fairgrad-eta"],
                                   self.params["fairgrad-eps"])
        return {"lambda": lam, "delta": delta, "fairness": fairness}

    def cell_weights(self, state: dict[str, Any]) -> np.ndarray:
        _, c = fairgrad_constants(self.notion, self.counts)
        return fairgrad_weights(self.counts, c, state["lambda"], state["delta"]).reshape(self.counts.shape)
