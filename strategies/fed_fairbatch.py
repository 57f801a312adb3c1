"""Fed-FairBatch (declearn's federated FairBatch: Roh, Lee, Whang, Suh, "FairBatch: Batch Selection for Model
Fairness", ICLR 2021, with the federated statistics of :mod:`fedfair.strategies.group_weighting`).

FairBatch is a bilevel scheme: the inner level trains on batches drawn with probabilities p_{y,a} per cell
(label y, attribute value a, binary label and attribute); the outer level moves those probabilities by a fixed
step alpha toward the cell whose loss is larger (FairBatch Section 3, the update rules of its Appendix A.1 as
declearn's FairbatchSamplingController implements them). With n the federation's row count, n_{y,a} its cell
counts, P_y = n_{y.} / n, Q_a = n_{.a} / n and L_{y,a} the mean loss of cell (y, a) at the global model:

- eqop: lambda = p_{1,a0} (starts at n_{1,a0} / n), p = [[n_{0,a0}/n, n_{0,a1}/n], [lambda, P_1 - lambda]];
  lambda += alpha if L_{1,a0} > L_{1,a1}, -= alpha if smaller, kept in [0, P_1];
- eo: lambda_1 = p_{0,a0}, lambda_2 = p_{1,a0} (start at the empirical shares),
  p = [[lambda_1, P_0 - lambda_1], [lambda_2, P_1 - lambda_2]]; with d_y = L_{y,a0} - L_{y,a1}, the label with
  the larger |d_y| moves its lambda by alpha sign(d_y), kept in [0, P_y];
- sp: lambda_1 = p_{0,a0}, lambda_2 = p_{0,a1}, p = [[lambda_1, lambda_2], [Q_a0 - lambda_1, Q_a1 - lambda_2]];
  with l_{y,a} = L_{y,a} n_{y,a} / n_{.a} and d_y = l_{y,a0} - l_{y,a1}: if |d_0| > |d_1| lambda_1 -= alpha
  sign(d_0) in [0, Q_a0], else lambda_2 += alpha sign(d_1) in [0, Q_a1]. Here L_{y,a} is the mean loss of the
  cell against the positive label (every row scored as y = 1), FairBatch's demographic-parity loss in its
  released sampler, so that sum_y l_{y,a} tracks how rarely group a is predicted positive. declearn's
  controller has the same update but feeds it the model's ordinary loss; with that loss the y = 0 half of the
  rule pushes the other way (on the attribute-silo release it raised the SEX SP gap, see
  benchmarks/baselines.md), so fedfair follows FairBatch here.

The probabilities start at the empirical shares (plain FedAvg) and are updated at the start of every round,
before training, from the global model's statistics (declearn's fairness round).

Units of ``fairbatch-alpha`` (default 0.005, the number FairBatch's and declearn's code default to): fedfair's
lambda is a cell probability p_{y,a} (in [0, P_y], or [0, Q_a] for sp) and alpha moves that probability.
FairBatch's own lambda is a share within a label (eqopp, eqodds: the share of a0 among label y's rows, in
[0, 1]) or within a group (dp), so its step alpha moves the cell probability by alpha x P_y (alpha x Q_a).
fedfair's 0.005 is therefore 1 / P_y times FairBatch's 0.005 step (about 4x with 25 % positive labels); to take
FairBatch's step alpha_FB, set ``fairbatch-alpha`` = alpha_FB x P_y (alpha_FB x Q_a for sp).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedfair.strategies.group_weighting import GroupWeightedStrategy
from fedfair.strategies.specs import SPECS


def fairbatch_initial(notion: str, n: np.ndarray) -> np.ndarray:
    """The lambdas at the empirical cell shares; n is the (2, 2) count array [y, a]."""
    share = n / n.sum()
    return {"eqop": share[1, :1], "eo": share[:, 0], "sp": share[0, :]}[notion].astype(np.float64).copy()


def fairbatch_probabilities(notion: str, lam: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The sampling probability of every cell, (2, 2) [y, a], summing to 1."""
    share = n / n.sum()
    if notion == "eqop":
        return np.array([share[0], [lam[0], share[1].sum() - lam[0]]])
    if notion == "eo":
        return np.array([[lam[0], share[0].sum() - lam[0]], [lam[1], share[1].sum() - lam[1]]])
    q = share.sum(axis=0)
    return np.array([lam, q - lam])


def fairbatch_step(notion: str, lam: np.ndarray, n: np.ndarray, mean_loss: np.ndarray, alpha: float) -> np.ndarray:
    """One outer step of FairBatch on the cells' mean losses L_{y,a}; returns the new lambdas."""
    share = n / n.sum()
    lam = np.array(lam, dtype=np.float64)
    if notion == "eqop":
        lam[0] = np.clip(lam[0] + alpha * np.sign(mean_loss[1, 0] - mean_loss[1, 1]), 0.0, share[1].sum())
        return lam
    if notion == "eo":
        d = mean_loss[:, 0] - mean_loss[:, 1]
        y = 0 if abs(d[0]) > abs(d[1]) else 1
        lam[y] = np.clip(lam[y] + alpha * np.sign(d[y]), 0.0, share[y].sum())
        return lam
    scaled = mean_loss * n / n.sum(axis=0)  # l_{y,a} = sum of cell (y, a)'s losses / n_{.a}
    d = scaled[:, 0] - scaled[:, 1]
    q = share.sum(axis=0)
    if abs(d[0]) > abs(d[1]):
        lam[0] = np.clip(lam[0] - alpha * np.sign(d[0]), 0.0, q[0])
    else:
        lam[1] = np.clip(lam[1] + alpha * np.sign(d[1]), 0.0, q[1])
    return lam


class FedFairBatchStrategy(GroupWeightedStrategy):
    """FedAvg on FairBatch's cell sampling probabilities, moved each round toward the cell with the larger loss."""

    name = "fed-fairbatch"
    binary_attribute = True
    extra_params = SPECS["fed-fairbatch"].params

    def initial_state(self, counts: np.ndarray) -> dict[str, Any]:
        return {"lambda": fairbatch_initial(self.notion, counts)}

    def update(self, state: dict[str, Any], stats: dict[str, np.ndarray], server_round: int) -> dict[str, Any]:
        # FairBatch's demographic-parity loss is the loss against the positive label for every row (its released
        # sampler: "ones tensor puts as the true label"): l_{y,a} then tracks group a's positive predictions
        loss = stats["loss_positive"] if self.notion == "sp" else stats["loss"]
        mean_loss = loss / np.maximum(stats["n"], 1)
        return {"lambda": fairbatch_step(self.notion, state["lambda"], self.counts, mean_loss,
                                         self.params["fairbatch-alpha"])}

    def cell_weights(self, state: dict[str, Any]) -> np.ndarray:
        return fairbatch_probabilities(self.notion, state["lambda"], self.counts)
