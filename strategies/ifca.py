"""IFCA (Ghosh et al., 2020): iterative federated clustering with K cluster models.

Every round (seed 000, Algorithm 1 with gamma = 1):

1. each client with training data scores the K cluster models on its own
   training data (``query.evaluate_models``) and takes the cluster with the
   lowest score, c(i) = argmin_k F(Z_i, Theta_k) (ties: the lower k);
2. the sampled clients run local SGD from Theta_{c(i)};
3. the server updates each cluster model with the n_i-weighted average of its
   members' local models, Theta_k = Theta_k - sum_{i in C_k} n_i / n_{C_k}
   (Theta_k - theta_i) (Algorithm 1, "Update the cluster model"; the sum of
   n_i runs over the cluster's members, as in Ghosh et al.); a cluster nobody
   chose keeps its model.

Initialisation (Algorithm 1: "start clusters by randomly selecting one client
for each"): ``ifca-init=client`` draws K distinct training clients with the run
seed; cluster k's model is client k's local model after one round of local
training from the seeded initial model. ``ifca-init=random`` uses K
independently seeded random models instead (Ghosh et al.'s variant).

Each client deploys, and is evaluated with, the updated model of the cluster it
chose this round. Clients without training data (cross-device held-out
clients) cannot score models on training data: they deploy the model of the
cluster holding the most training rows. Fair-FCA (``strategies/fair_fca.py``)
only changes the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.strategies.aggregation import cluster_averages
from fedfair.strategies.base import Deployed, FedFairStrategy, ModelScore, NodeInfo
from fedfair.strategies.clustering import cluster_lists, deploy_clusters, named
from fedfair.strategies.specs import SPECS


class IFCAStrategy(FedFairStrategy):
    """K cluster models; clients pick the cluster whose model scores best on their data."""

    name = "ifca"
    extra_params = SPECS["ifca"].params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.models: list[ArrayRecord] = []
        self.assignment: dict[int, int] = {}
        self.deployed: dict[int, int] = {}

    # ----- the score: Fair-FCA overrides it ------------------------------
    def cluster_scores(self, node: NodeInfo, scores: Sequence[ModelScore]) -> np.ndarray:
        """Score of each cluster model for one client (lower is better): IFCA uses the loss F(Z_i, Theta_k)."""
        return np.array([s.loss for s in scores])

    @classmethod
    def check_dataset(cls, params: Mapping[str, Any], facts: Any) -> None:
        """Before any work: K clusters need at least K clients with training data."""
        k, pool = params["num-clusters"], facts.training_clients
        if k < 1:
            raise ParamError(f"{cls.name} needs num-clusters >= 1, got {k}")
        if k > pool:
            raise ParamError(f"num-clusters = {k} is larger than the number of clients with training data ({pool}); "
                             f"choose num-clusters <= {pool}")

    # ----- algorithm ------------------------------------------------------
    def num_clusters(self) -> int:
        k, pool = self.params["num-clusters"], len(self.training_nodes)
        if k < 1:
            raise ParamError(f"{self.name} needs num-clusters >= 1, got {k}")
        if k > pool:
            raise ParamError(f"num-clusters = {k} is larger than the number of clients with training data ({pool}); "
                             f"choose num-clusters <= {pool}")
        return k

    def initial_models(self, grid: Grid, k: int) -> list[ArrayRecord]:
        """Algorithm 1's initialisation (see the module docstring)."""
        if self.params["ifca-init"] == "random":
            return [self.initial_arrays(seed=self.params["seed"] * 100 + j) for j in range(k)]
        rng = np.random.default_rng([self.params["seed"], 7])
        pool = self.training_nodes
        chosen = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]
        init = self.initial_arrays()
        replies = self.send(grid, [self.train_message(n, 0, init) for n in chosen], "initial cluster models")
        by_node = {r.metadata.src_node_id: r.content[p.ARRAYS] for r in replies}
        self.notes.append(f"initial cluster models: local models of clients {[n.client for n in chosen]}")
        missing = [j for j, n in enumerate(chosen) if n.node_id not in by_node]
        if missing:  # a chosen client that failed: its cluster starts from a seeded random model instead
            self.notes.append(f"initial cluster models {missing}: their client failed, seeded random models instead")
        return [by_node[n.node_id] if n.node_id in by_node else self.initial_arrays(seed=self.params["seed"] * 100 + j)
                for j, n in enumerate(chosen)]

    def assign(self, grid: Grid, server_round: int, models: Sequence[ArrayRecord]) -> dict[int, int]:
        """c(i) for every training client: argmin of :meth:`cluster_scores` (eq. 1)."""
        scores = self.score_models(grid, server_round, models, self.training_nodes)
        # a client that did not answer keeps its previous cluster (cluster 0 before it ever chose one)
        return {node.node_id: int(np.argmin(self.cluster_scores(node, scores[node.node_id]))) if node.node_id in scores
                else self.assignment.get(node.node_id, 0) for node in self.training_nodes}

    # ----- the round template's hooks ----------------------------------------
    def setup(self, grid: Grid) -> None:
        self.models = self.initial_models(grid, self.num_clusters())

    def begin_round(self, grid: Grid, server_round: int) -> None:
        self.assignment = self.assign(grid, server_round, self.models)

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord:
        return self.models[self.assignment[node.node_id]]

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        # Algorithm 1: n_i-weighted average of each cluster's local models
        updated = cluster_averages(dict(enumerate(self.models)), replies, self.assignment)
        self.models = [updated[j] for j in range(len(self.models))]
        self.deployed = deploy_clusters(self.nodes, self.assignment)
        self.history.append({"round": server_round, "clusters": named(self.nodes, self.deployed)})

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        return {node_id: [Deployed(f"cluster {k}", self.models[k], cluster=k)] for node_id, k in self.deployed.items()}

    def final_clusters(self) -> list[list[str]]:
        return cluster_lists(named(self.nodes, self.deployed))

    def summary_extra(self) -> dict[str, Any]:
        return {"cluster_history": self.history, "notes": self.notes}
