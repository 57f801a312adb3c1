"""FairFed (Ezzeldin et al., AAAI 2023, Algorithm 1) and FairFed-AF (seed 000, Section 4.4).

FedAvg whose aggregation weights follow each client's fairness. Round t:

1. every sampled client receives theta^t, measures it on its own training
   data (group confusion counts and accuracy: statistics, never raw data,
   ``score-start``) and trains locally as in FedAvg;
2. the server sums the clients' group counts into the global statistics and
   computes the global gap F^t and every local gap F_k^t of theta^t, with
   f = ``fairness`` on the attribute ``sensitive``. For a binary attribute the
   gaps are signed (rate of the first value minus rate of the second, as
   FairFed's SPD / EOD), otherwise the largest pairwise gap;
3. Delta_k = |F^t - F_k^t|; a client whose local gap is undefined (one group,
   or no positives of a group for EqOp) uses |Acc^t - Acc_k^t| instead, as in
   FairFed, and is recorded;
4. w_k^t = w_k^{t-1} - beta * (Delta_k - mean_i Delta_i), then normalised to sum
   to 1 over the round's clients (FairFed eq. 6); w^0 = n_k / n. A weight
   driven below 0 is clipped to 0 (recorded), so the average stays convex;
5. theta^{t+1} = sum_k w_k^t theta_k^t.

FairFed-AF (seed 000 extends FairFed to "adjust the weights according to both
accuracy and fairness", without a formula). fedfair's reading:
Delta_k = lambda * |Acc^t - Acc_k^t| + (1 - lambda) * |F^t - F_k^t| with
lambda = ``fairfed-acc-weight`` (default 0.5). Clients whose accuracy or
fairness departs from the federation's lose weight on either ground.

beta defaults to 1, the value FairFed uses in most of its experiments.
Every client deploys the global model. The weights of every round are in
summary.json (``weight_history``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.metrics import GroupCounts, group_rates
from fedfair.strategies.aggregation import weighted_average
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.fairness import fairness_gap
from fedfair.strategies.fedavg import FedAvgStrategy
from fedfair.strategies.specs import SPECS

RATE_OF = {"sp": ("selection_rate",), "eqop": ("tpr",), "eo": ("tpr", "fpr")}


def signed_gap(table: GroupCounts | None, notion: str) -> float:
    """FairFed's gap of one attribute: signed for two values, else the largest pairwise gap; NaN when undefined."""
    if table is None or len(table.values) < 2:
        return math.nan
    rates = group_rates(table.counts)
    if len(table.values) == 2:
        diffs = [float(rates[r][0] - rates[r][1]) for r in RATE_OF[notion]]
        if any(math.isnan(d) for d in diffs):
            return math.nan
        return max(diffs, key=abs)  # EO: the larger of the TPR and FPR differences
    return fairness_gap(table, notion)


def fairfed_weights(previous: np.ndarray, delta: np.ndarray, beta: float, sizes: np.ndarray) -> tuple[np.ndarray, int]:
    """FairFed eq. 6: w_k - beta (Delta_k - mean Delta), clipped at 0, normalised; (weights, number clipped).

    If every weight is clipped, the weights fall back to n_k / n.
    """
    raw = np.asarray(previous, dtype=np.float64) - beta * (delta - delta.mean())
    clipped = int((raw < 0).sum())
    raw = np.maximum(raw, 0.0)
    if raw.sum() <= 0:
        return sizes / sizes.sum(), clipped
    return raw / raw.sum(), clipped


class FairFedStrategy(FedAvgStrategy):
    """FairFed (Ezzeldin et al., 2023): FedAvg whose aggregation weights follow each client's fairness gap."""

    name = "fairfed"
    extra_params = SPECS["fairfed"].params

    def deltas(self, local_gap: np.ndarray, global_gap: float, local_acc: np.ndarray, global_acc: float) -> np.ndarray:
        """FairFed: |F - F_k|, or |Acc - Acc_k| where F_k is undefined."""
        fairness = np.abs(global_gap - local_gap)
        return np.where(np.isnan(fairness), np.abs(global_acc - local_acc), fairness)

    def setup(self, grid: Grid) -> None:
        self.global_model = self.initial_arrays()
        self.attribute, self.notion = self.sensitive_attribute(), self.params["fairness"]
        total = sum(n.n_train for n in self.training_nodes)
        self.weights = {n.node_id: n.n_train / total for n in self.training_nodes}  # w^0 = n_k / n
        self.history: list[dict[str, Any]] = []
        self.fallbacks: dict[str, int] = {}

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.SCORE_START: True}  # step 1: the clients' statistics of theta^t on their training data

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        ids = [r.metadata.src_node_id for r in replies]
        tables = [p.decode_groups(str(r.content[p.INFO][p.START_GROUPS])).get(self.attribute) for r in replies]
        sizes = np.array([float(r.content[p.METRICS][p.NUM_EXAMPLES]) for r in replies])
        local_acc = np.array([float(r.content[p.METRICS][p.START_ACCURACY]) for r in replies])
        pooled = tables[0]
        for t in tables[1:]:
            pooled = pooled + t
        global_gap, global_acc = signed_gap(pooled, self.notion), float((local_acc * sizes).sum() / sizes.sum())
        local_gap = np.array([signed_gap(t, self.notion) for t in tables])
        for i in np.flatnonzero(np.isnan(local_gap)):
            client = self.node(ids[i]).client
            self.fallbacks[client] = self.fallbacks.get(client, 0) + 1
        delta = self.deltas(local_gap, global_gap, local_acc, global_acc)
        new, clipped = fairfed_weights(np.array([self.weights[i] for i in ids]), delta, self.params["fairfed-beta"], sizes)
        self.weights.update(dict(zip(ids, new.tolist())))
        self.global_model = weighted_average([r.content[p.ARRAYS] for r in replies], new)
        self.history.append({"round": server_round, "global_gap": global_gap, "global_accuracy": global_acc,
                             "clipped": clipped,
                             "clients": {self.node(i).client: {"weight": w, "local_gap": g, "delta": d}
                                         for i, w, g, d in zip(ids, new.tolist(), local_gap.tolist(), delta.tolist())}})

    def summary_extra(self) -> dict[str, Any]:
        return {
            "weight_history": self.history, "fairness_fallbacks": self.fallbacks,
            "fairfed": {"fairness": self.notion, "sensitive": self.attribute, "beta": self.params["fairfed-beta"],
                        "final_weights": {self.node(i).client: w for i, w in self.weights.items()}},
        }


class FairFedAFStrategy(FairFedStrategy):
    """FairFed-AF (seed 000, Section 4.4): FairFed whose weights follow both accuracy and fairness deviations."""

    name = "fairfed-af"
    extra_params = SPECS["fairfed-af"].params

    def deltas(self, local_gap: np.ndarray, global_gap: float, local_acc: np.ndarray, global_acc: float) -> np.ndarray:
        lam = self.params["fairfed-acc-weight"]
        accuracy = np.abs(global_acc - local_acc)
        fairness = np.abs(global_gap - local_gap)
        return np.where(np.isnan(fairness), accuracy, lam * accuracy + (1 - lam) * fairness)
