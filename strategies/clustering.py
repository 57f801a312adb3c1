"""Cluster bookkeeping shared by the clustered strategies (IFCA, Fair-FCA, FL+HC, Fair-FL+HC, CFL).

- ``hierarchical_clusters``: agglomerative clustering of a precomputed matrix;
- ``deploy_clusters``: which cluster every node deploys (also nodes that could not choose);
- ``cluster_lists`` / ``named``: assignments as client names for the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster
from scipy.cluster.hierarchy import linkage as scipy_linkage
from scipy.spatial.distance import squareform

from fedfair.strategies.nodes import NodeInfo
from fedfair.strategies.specs import NUM_CLUSTERS  # noqa: F401 (declared with the other parameters)


def hierarchical_clusters(matrix: np.ndarray, threshold: float, n_clusters: int, linkage: str) -> np.ndarray:
    """0-based cluster labels from agglomerative clustering of a symmetric matrix.

    ``n_clusters`` > 0 cuts the tree into that many clusters, otherwise it is
    cut at ``threshold`` (merge height). Labels are renumbered by first
    appearance so that client order decides cluster numbers, not scipy.
    """
    n = len(matrix)
    if n == 1:
        return np.zeros(1, dtype=int)
    sym = (np.asarray(matrix, dtype=np.float64) + np.asarray(matrix, dtype=np.float64).T) / 2
    np.fill_diagonal(sym, 0.0)
    tree = scipy_linkage(squareform(sym, checks=False), method=linkage)
    raw = fcluster(tree, t=n_clusters, criterion="maxclust") if n_clusters > 0 else fcluster(tree, t=threshold, criterion="distance")
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(r), len(order)) for r in raw], dtype=int)


def deploy_clusters(nodes: Sequence[NodeInfo], assignment: Mapping[int, int]) -> dict[int, int]:
    """Cluster every node deploys: its own (training nodes), else the cluster with the most training rows
    (nodes without training data, e.g. cross-device held-out clients, cannot choose one)."""
    rows: dict[int, int] = {}
    for node in nodes:
        if node.n_train > 0 and node.node_id in assignment:
            rows[assignment[node.node_id]] = rows.get(assignment[node.node_id], 0) + node.n_train
    largest = max(rows, key=lambda k: rows[k])
    return {n.node_id: assignment.get(n.node_id, largest) for n in nodes}


def named(nodes: Sequence[NodeInfo], assignment: Mapping[int, int]) -> dict[str, int]:
    """{node_id: cluster} -> {client name: cluster}, in partition order."""
    return {n.client: assignment[n.node_id] for n in nodes if n.node_id in assignment}


def cluster_lists(assignment: Mapping[str, int]) -> list[list[str]]:
    """{client: cluster} -> [[clients of cluster 0], [clients of cluster 1], ...] (empty clusters dropped)."""
    clusters: dict[int, list[str]] = {}
    for client, k in assignment.items():
        clusters.setdefault(k, []).append(client)
    return [clusters[k] for k in sorted(clusters)]
