"""Fair-FL+HC (seed 000, Section 5.1, Algorithm 2): FL+HC whose clustering matrix weighs local fairness.

    Clusters = HierarchicalClustering(gamma * D + (1 - gamma) * Psi^f(Z, theta), P)      (eq. 2)

D_ij = ||theta_i - theta_j|| between the personalised models. Psi is symmetric
and built from a cross-evaluation: every client scores every personalised
model on its own training data (``query.evaluate_models``, group counts only).
Let psi(j <- i) be the f-gap of client i's model on client j's data.

Two readings of Psi, ``psi-reading``:

- ``cross`` (default): Psi_ij = max(psi(j <- i), psi(i <- j)), "the worst-case
  f-fairness when client i's model is evaluated on client j's data, or vice
  versa" - the paper's text. We follow the text because it is the only reading
  in which Psi relates *pairs* of clients (it says whether i and j can share a
  model fairly), which is what a clustering matrix needs.
- ``self``: Psi_ij = max(psi(i <- i), psi(j <- j)), the formula as printed,
  max(Psi^f(Z_i, theta_i), Psi^f(Z_j, theta_j)): each client's own model on
  its own data. It is cheap (the diagonal of the same cross-evaluation).

The diagonal of the matrix is 0. gamma = 1 is FL+HC exactly (no
cross-evaluation is even requested). An undefined psi (a client with one
group, or without the labels f needs) makes that entry fall back to the
distance term D_ij; fallbacks are recorded in summary.json. The scale of D
depends on the model; ``hc-normalise-distance=true`` divides D by its largest
entry so that both terms lie in [0, 1] (off by default: eq. 2 as written).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import ArrayRecord
from flwr.serverapp import Grid

from fedfair.strategies.base import NodeInfo
from fedfair.strategies.aggregation import pairwise_distances
from fedfair.strategies.fairness import fairness_gap
from fedfair.strategies.flhc import FLHCStrategy
from fedfair.strategies.specs import SPECS


def psi_from_cross(on: np.ndarray, reading: str) -> np.ndarray:
    """Psi from the cross-evaluation ``on[j, i]`` = f-gap of client i's model on client j's data.

    ``cross``: Psi_ij = max(on[j, i], on[i, j]); ``self``: Psi_ij = max(on[i, i], on[j, j]).
    NaN where a term is undefined; 0 on the diagonal.
    """
    on = np.asarray(on, dtype=np.float64)
    if reading == "self":
        own = np.diag(on)
        psi = np.maximum.outer(own, own)
    elif reading == "cross":
        psi = np.maximum(on, on.T)
    else:
        raise ValueError(f"unknown psi-reading {reading!r}: use cross or self")
    np.fill_diagonal(psi, 0.0)
    return psi


class FairFLHCStrategy(FLHCStrategy):
    """FL+HC with the fairness-aware clustering matrix of eq. 2."""

    name = "fair-flhc"
    extra_params = SPECS["fair-flhc"].params

    def clustering_matrix(self, grid: Grid, server_round: int, nodes: list[NodeInfo],
                          models: list[ArrayRecord]) -> np.ndarray:
        distances = pairwise_distances(models)
        gamma = self.params["gamma"]
        if gamma == 1.0:
            return distances
        if self.params["hc-normalise-distance"] and distances.max() > 0:
            distances = distances / distances.max()
        psi = self.psi_matrix(grid, server_round, nodes, models)
        self.matrix["distance"] = np.round(distances, 6).tolist()
        self.matrix["psi"] = np.where(np.isnan(psi), None, np.round(psi, 6)).tolist()
        undefined = np.isnan(psi)
        if undefined.any():
            pairs = [(nodes[i].client, nodes[j].client) for i, j in zip(*np.nonzero(np.triu(undefined, 1)))]
            self.warn(f"{self.params['fairness']} undefined for {len(pairs)} client pair(s) (e.g. {pairs[:3]}): "
                      f"those entries use the distance term only")
        mixed = gamma * distances + (1.0 - gamma) * np.where(undefined, 0.0, psi)  # eq. 2
        return np.where(undefined, distances, mixed)

    def psi_matrix(self, grid: Grid, server_round: int, nodes: list[NodeInfo], models: list[ArrayRecord]) -> np.ndarray:
        """Psi^f per client pair (see the module docstring for the two readings)."""
        attribute, notion = self.sensitive_attribute(), self.params["fairness"]
        soft = self.params["fairness-estimate"] == "soft"
        scores = self.score_models(grid, server_round, models, nodes)
        # on[j, i] = f-gap of model i on client j's data
        # a client that did not answer has no gaps: NaN, so its pairs use the distance term only
        on = np.array([[fairness_gap(s.table(attribute, soft), notion) for s in scores[node.node_id]]
                       if node.node_id in scores else [np.nan] * len(models) for node in nodes])
        return psi_from_cross(on, self.params["psi-reading"])

    def summary_extra(self) -> dict[str, Any]:
        fair = {"gamma": self.params["gamma"], "fairness": self.params["fairness"], "sensitive": self.sensitive_attribute(),
                "estimate": self.params["fairness-estimate"], "psi_reading": self.params["psi-reading"]}
        return {**super().summary_extra(), "fair_clustering": fair}
