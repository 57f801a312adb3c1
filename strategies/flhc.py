"""FL+HC (Briggs et al., 2020): FedAvg, then one hierarchical clustering of the clients' models.

Seed 000, Algorithm 2 with gamma = 1:

1. ``hc-k1`` rounds of FedAvg from the seeded initial model (every client
   deploys the global model);
2. each training client personalises the global model with ``hc-local-epochs``
   epochs of local SGD (the E local steps) and sends theta_i;
3. the server clusters the clients by agglomerative clustering of the
   clustering matrix, for FL+HC the Euclidean distances D_ij = ||theta_i - theta_j||
   (Fair-FL+HC adds a fairness term, ``strategies/fair_flhc.py``), cut at the
   distance ``hc-threshold`` or into ``num-clusters`` clusters when that is > 0,
   with ``hc-linkage`` (ward by default, Briggs et al.'s choice);
4. each cluster starts from the n_i-weighted average of its members'
   personalised models and runs FedAvg on its own for the remaining
   rounds - ``hc-k1`` rounds (k2); clients deploy their cluster's model.

A cut that gives one cluster per client (no collaboration left) is recorded as
a warning in summary.json (``notes``), as is a single cluster. Clients without
training data, and clients that failed in the personalisation step (no model to
cluster), deploy / join the cluster with the most training rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.strategies.aggregation import cluster_averages, pairwise_distances, weighted_average
from fedfair.strategies.base import Deployed, FedFairStrategy, NodeInfo
from fedfair.strategies.clustering import cluster_lists, deploy_clusters, hierarchical_clusters, named
from fedfair.strategies.specs import LINKAGES, SPECS  # noqa: F401 (LINKAGES: the accepted linkages)


class FLHCStrategy(FedFairStrategy):
    """FedAvg for k1 rounds, cluster once on the personalised models, FedAvg per cluster for k2 rounds."""

    name = "flhc"
    extra_params = SPECS["flhc"].params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []
        self.matrix: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        super().check_params(params)
        k1, rounds = params["hc-k1"], params["rounds"]
        if k1 >= rounds:
            raise ParamError(f"hc-k1 = {k1} leaves no round after clustering: set rounds > hc-k1 (rounds = {rounds})")

    @classmethod
    def check_dataset(cls, params: Mapping[str, Any], facts: Any) -> None:
        """Before any work: num-clusters clusters need at least as many clients with training data."""
        if params["num-clusters"] > facts.training_clients:
            raise ParamError(f"num-clusters = {params['num-clusters']} is larger than the number of clients with "
                             f"training data ({facts.training_clients})")

    # ----- the clustering matrix: Fair-FL+HC overrides it ------------------
    def clustering_matrix(self, grid: Grid, server_round: int, nodes: list[NodeInfo],
                          models: list[ArrayRecord]) -> np.ndarray:
        """FL+HC: Euclidean distances between the personalised models (the D of eq. 2)."""
        return pairwise_distances(models)

    # ----- algorithm ------------------------------------------------------
    def cluster(self, grid: Grid, server_round: int, global_model: ArrayRecord) -> dict[int, int]:
        """Personalise, build the clustering matrix, cut the tree, start each cluster from its members'
        n_i-weighted average (``self.models``): {node_id: cluster} for training nodes."""
        nodes = self.training_nodes
        replies = self.send(grid, [self.train_message(n, server_round, global_model,
                                                      **{p.LOCAL_EPOCHS: self.params["hc-local-epochs"]}) for n in nodes],
                            "personalisation before clustering")
        by_node = {r.metadata.src_node_id: r.content[p.ARRAYS] for r in replies}
        absent = [n for n in nodes if n.node_id not in by_node]
        nodes = [n for n in nodes if n.node_id in by_node]  # clients that failed join a cluster afterwards
        models = [by_node[n.node_id] for n in nodes]
        matrix = self.clustering_matrix(grid, server_round, nodes, models)
        self.matrix["clustering"] = np.round(matrix, 6).tolist()
        self.matrix["clients"] = [n.client for n in nodes]
        labels = hierarchical_clusters(matrix, self.params["hc-threshold"], self.params["num-clusters"],
                                       self.params["hc-linkage"])
        n_clusters = len(set(labels.tolist()))
        if n_clusters == len(nodes) and len(nodes) > 1:
            self.warn(f"the clustering gives one cluster per client ({n_clusters}): no collaboration after round "
                      f"{server_round}; raise hc-threshold (now {self.params['hc-threshold']}) or set num-clusters")
        elif n_clusters == 1 and len(nodes) > 1:
            self.warn("the clustering gives a single cluster: FL+HC reduces to FedAvg; lower hc-threshold or set num-clusters")
        self.models = {
            k: weighted_average([m for m, lab in zip(models, labels) if lab == k],
                                [n.n_train for n, lab in zip(nodes, labels) if lab == k])
            for k in range(n_clusters)
        }
        assigned = {n.node_id: int(lab) for n, lab in zip(nodes, labels)}
        if absent:  # no personalised model to cluster: the cluster with the most training rows
            rows = np.bincount(labels, weights=[n.n_train for n in nodes], minlength=n_clusters)
            assigned.update({n.node_id: int(np.argmax(rows)) for n in absent})
            self.warn(f"clients {[n.client for n in absent]} failed before the clustering: they join cluster "
                      f"{int(np.argmax(rows))}, the one with the most training rows")
        return assigned

    def warn(self, text: str) -> None:
        self.notes.append(f"warning: {text}")
        self.recorder.log(f"[yellow]{self.name}: {text}[/yellow]")

    # ----- the round template's hooks ----------------------------------------
    def clustered(self, server_round: int) -> bool:
        return server_round > self.params["hc-k1"]

    def setup(self, grid: Grid) -> None:
        k1, rounds = self.params["hc-k1"], self.params["rounds"]
        if k1 >= rounds:
            raise ParamError(f"hc-k1 = {k1} leaves no round after clustering: set rounds > hc-k1 (rounds = {rounds})")
        if self.params["num-clusters"] > len(self.training_nodes):
            raise ParamError(f"num-clusters = {self.params['num-clusters']} is larger than the number of clients with "
                             f"training data ({len(self.training_nodes)})")
        self.models: dict[int, ArrayRecord] = {0: self.initial_arrays()}
        self.cluster_of = {n.node_id: 0 for n in self.nodes}

    def begin_round(self, grid: Grid, server_round: int) -> None:
        if server_round == self.params["hc-k1"] + 1:
            self.cluster_of = deploy_clusters(self.nodes, self.cluster(grid, server_round, self.models[0]))

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord:
        return self.models[self.cluster_of[node.node_id]]

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        """One FedAvg round inside every cluster (one cluster before clustering)."""
        self.models = cluster_averages(self.models, replies, self.cluster_of)
        clustered = self.clustered(server_round)
        self.history.append({"round": server_round, "clusters": named(self.nodes, self.cluster_of) if clustered else None})

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        if not self.clustered(server_round):
            return {n.node_id: [Deployed("global", self.models[0])] for n in self.nodes}
        return {n.node_id: [Deployed(f"cluster {k}", self.models[k], cluster=k)]
                for n, k in ((n, self.cluster_of[n.node_id]) for n in self.nodes)}

    def final_clusters(self) -> list[list[str]]:
        return cluster_lists(named(self.nodes, self.cluster_of))

    def summary_extra(self) -> dict[str, Any]:
        return {"cluster_history": self.history, "notes": self.notes, "clustering": self.matrix}
