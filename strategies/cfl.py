"""CFL-Cosine (Sattler et al., 2020, "Clustered Federated Learning", Algorithm 2): recursive bipartitioning.

All training clients start in one cluster. Every round, inside every cluster c
with model theta_c, each member i trains locally from theta_c and sends
theta_i; its update is dtheta_i = theta_i - theta_c. The server computes

    mean update   dtheta_c = sum_{i in c} n_i / n_c * dtheta_i
    criteria      ||dtheta_c|| < eps1  (FL has converged to a stationary point of the cluster's objective)
                  max_i ||dtheta_i|| > eps2  (yet some clients are far from their own optimum)

and, when both hold (and the cluster has at least ``cfl-min-size`` members and
the round is past ``cfl-warmup``), splits c into the two groups c1, c2 that
minimise the largest cosine similarity between updates across the split
(Sattler et al., eq. 14). As in the authors' code, the bipartition is
complete-linkage agglomerative clustering of 1 - cos(dtheta_i, dtheta_j) cut
into two clusters. Every (new) cluster then applies its members' n_i-weighted
mean update: theta_c <- theta_c + sum n_i / n_c dtheta_i.

Defaults, documented because the paper ties them to model and data scale:
eps1 = 0.4 and eps2 = 1.6 are the values of Sattler et al.'s reference
implementation; their code also waits 20 rounds and splits only clusters with
more than 2 clients. A cluster is only split in a round where all its members
trained (relevant with ``fraction-train`` < 1). fedfair waits ``cfl-warmup`` = 5 rounds (runs here are
shorter) and keeps min size 3. The norms of every cluster and round are in
summary.json (``cfl_history``), so the thresholds can be tuned to a dataset.
Clients deploy their cluster's model; clients without training data deploy
the model of the cluster with the most training rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.strategies.aggregation import cluster_averages, flatten
from fedfair.strategies.base import Deployed, FedFairStrategy, NodeInfo
from fedfair.strategies.clustering import cluster_lists, deploy_clusters, hierarchical_clusters, named
from fedfair.strategies.specs import SPECS


class CFLCosineStrategy(FedFairStrategy):
    """Clustered FL with cosine-similarity bipartitions when FL stalls."""

    name = "cfl-cosine"
    extra_params = SPECS["cfl-cosine"].params

    # ----- the round template's hooks ----------------------------------------
    def setup(self, grid: Grid) -> None:
        self.clusters: list[list[int]] = [[n.node_id for n in self.training_nodes]]
        self.models: list[ArrayRecord] = [self.initial_arrays()]
        self.history: list[dict[str, Any]] = []
        self.deployed: dict[int, int] = {}

    @property
    def cluster_of(self) -> dict[int, int]:
        return {node_id: k for k, members in enumerate(self.clusters) for node_id in members}

    def select(self, server_round: int) -> Sequence[NodeInfo]:
        cluster_of = self.cluster_of
        return [n for n in self.sample_nodes(server_round) if n.node_id in cluster_of]

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord:
        return self.models[self.cluster_of[node.node_id]]

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        cluster_of = self.cluster_of
        start = [flatten(m) for m in self.models]
        updates = {r.metadata.src_node_id: flatten(r.content[p.ARRAYS]) - start[cluster_of[r.metadata.src_node_id]]
                   for r in replies}
        sizes = {r.metadata.src_node_id: float(r.content[p.METRICS][p.NUM_EXAMPLES]) for r in replies}
        new_clusters, start_models = [], {}
        for k, members in enumerate(self.clusters):
            parts, record = self.maybe_split(server_round, k, members, updates, sizes)
            self.history.append(record)
            for part in parts:
                start_models[len(new_clusters)] = self.models[k]
                new_clusters.append(part)
        self.clusters = new_clusters
        # theta_c + sum_{i in c} n_i / n_c dtheta_i = sum_{i in c} n_i / n_c theta_i: FedAvg inside each (new) cluster
        updated = cluster_averages(start_models, replies, self.cluster_of)
        self.models = [updated[k] for k in range(len(self.clusters))]
        self.deployed = deploy_clusters(self.nodes, self.cluster_of)

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        return {node_id: [Deployed(f"cluster {k}", self.models[k], cluster=k)] for node_id, k in self.deployed.items()}

    def final_clusters(self) -> list[list[str]]:
        return cluster_lists(named(self.nodes, self.deployed))

    def summary_extra(self) -> dict[str, Any]:
        return {"cfl_history": self.history}

    def maybe_split(self, server_round: int, k: int, members: list[int], updates: dict[int, np.ndarray],
                    sizes: dict[int, float]) -> tuple[list[list[int]], dict[str, Any]]:
        """Sattler et al.'s criteria; returns the parts (one or two) and what was measured."""
        record: dict[str, Any] = {"round": server_round, "cluster": k, "clients": [self.node(i).client for i in members]}
        if any(i not in updates for i in members):  # a cluster is only split on the updates of all its members
            return [members], {**record, "split": False, "reason": "not every member trained this round"}
        weights = np.array([sizes[i] for i in members]) / sum(sizes[i] for i in members)
        mean_norm = float(np.linalg.norm(sum(w * updates[i] for w, i in zip(weights, members))))
        max_norm = float(max(np.linalg.norm(updates[i]) for i in members))
        record.update({"mean_update_norm": mean_norm, "max_update_norm": max_norm})
        split = (server_round > self.params["cfl-warmup"] and len(members) >= self.params["cfl-min-size"]
                 and mean_norm < self.params["cfl-eps1"] and max_norm > self.params["cfl-eps2"])
        if not split:
            return [members], {**record, "split": False}
        flat = np.stack([updates[i] for i in members])
        unit = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
        similarity = unit @ unit.T
        labels = hierarchical_clusters(1.0 - similarity, 0.0, 2, "complete")  # eq. 14 bipartition
        parts = [[i for i, lab in zip(members, labels) if lab == part] for part in (0, 1)]
        cross = float(similarity[np.ix_(labels == 0, labels == 1)].max())
        self.recorder.log(f"cfl-cosine: round {server_round} splits cluster {k} into "
                          f"{[[self.node(i).client for i in p] for p in parts]} (max cross similarity {cross:.3f})")
        return parts, {**record, "split": True, "max_cross_similarity": cross,
                       "parts": [[self.node(i).client for i in p] for p in parts]}
