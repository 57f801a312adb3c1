"""Fair-FCA (seed 000, Section 5.1, Algorithm 1): IFCA whose cluster choice also weighs local fairness.

Cluster identity (eq. 1):

    c(i) = argmin_k  gamma * F(Z_i, Theta_k) + (1 - gamma) * Psi^f(Z_i, Theta_k)

F is the mean cross-entropy loss of cluster model Theta_k on client i's
training data and Psi^f its local fairness gap f in {SP, EqOp, EO} on the
sensitive attribute ``sensitive`` (default: the dataset's first), both computed
by the client (``query.evaluate_models``: loss and group confusion counts, no
raw data). ``fairness-estimate=hard`` (default) uses thresholded predictions,
the paper's definition; ``soft`` uses mean predicted probabilities per group
(see benchmarks/fig7_gaussian.md for why this matters on small samples).

gamma = 1 is IFCA exactly (the fairness term is not even evaluated); gamma = 0
clusters on fairness only. When Psi^f is undefined for a client (e.g. it holds
one group only, or no positives of a group for EqOp) the client falls back to
the loss term for that round; every fallback is recorded in summary.json
(``fairness_fallbacks``) and the run log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fedfair.strategies.base import ModelScore, NodeInfo
from fedfair.strategies.fairness import fairness_gap
from fedfair.strategies.ifca import IFCAStrategy
from fedfair.strategies.specs import SPECS


class FairFCAStrategy(IFCAStrategy):
    """IFCA with the fairness-aware cluster identity of eq. 1."""

    name = "fair-fca"
    extra_params = SPECS["fair-fca"].params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fallbacks: dict[str, int] = {}

    def cluster_scores(self, node: NodeInfo, scores: Sequence[ModelScore]) -> np.ndarray:
        gamma = self.params["gamma"]
        loss = np.array([s.loss for s in scores])
        if gamma == 1.0:
            return loss
        attribute, notion = self.sensitive_attribute(), self.params["fairness"]
        soft = self.params["fairness-estimate"] == "soft"
        psi = np.array([fairness_gap(s.table(attribute, soft), notion) for s in scores])
        if np.isnan(psi).any():
            # f undefined on this client (one group, or a group without the labels f needs): loss term only
            if node.client not in self.fallbacks:
                self.recorder.log(f"[yellow]fair-fca: {notion} on {attribute!r} undefined for client {node.client}; "
                                  f"it is assigned by the loss term[/yellow]")
            self.fallbacks[node.client] = self.fallbacks.get(node.client, 0) + 1
            return loss
        return gamma * loss + (1.0 - gamma) * psi  # eq. 1

    def summary_extra(self) -> dict[str, Any]:
        extra = super().summary_extra()
        extra["fairness_fallbacks"] = dict(self.fallbacks)
        extra["fair_clustering"] = {"gamma": self.params["gamma"], "fairness": self.params["fairness"],
                                    "sensitive": self.sensitive_attribute(), "estimate": self.params["fairness-estimate"]}
        return extra


