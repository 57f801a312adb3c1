"""Helpers shared by the clustered and fairness-aware strategies.

- model arithmetic on ``ArrayRecord``: flatten, weighted average, difference;
- ``fairness_gap``: a fairness notion f in {SP, EqOp, EO} of one group table
  (Psi^f of seed 000 eq. 1 / eq. 2), NaN when undefined on the client;
- the parameters that Fair-FCA and Fair-FL+HC share (gamma, f, attribute);
- ``hierarchical_clusters``: agglomerative clustering of a precomputed matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord

from fedfair.config import Param
from fedfair.metrics import GroupCounts, pair_gaps

FAIRNESS_NOTIONS = ("sp", "eqop", "eo")

NUM_CLUSTERS = Param(int, 2, "IFCA / Fair-FCA / FL+HC / Fair-FL+HC: number of clusters K (seed 000 uses 2); "
                     "for FL+HC 0 = cut the tree at hc-threshold instead", "integer >= 0", lambda x: x >= 0)

FAIRNESS_PARAMS: dict[str, Param] = {
    "gamma": Param(float, 0.5, "Fair-FCA / Fair-FL+HC: accuracy-fairness trade-off gamma (1 = IFCA / FL+HC, 0 = fairness only)",
                   "float in [0, 1]", lambda x: 0.0 <= x <= 1.0),
    "fairness": Param(str, "sp", "fairness notion f used by fair strategies: sp, eqop or eo", "sp, eqop or eo",
                      lambda x: x in FAIRNESS_NOTIONS),
    "sensitive": Param(str, "", "sensitive attribute the fair strategies use; '' = the dataset's first"),
    "fairness-estimate": Param(str, "hard", "how fair strategies estimate f on a client: hard (thresholded predictions, "
                               "the paper's definition) or soft (mean predicted probabilities)", "hard or soft",
                               lambda x: x in ("hard", "soft")),
}


def state_of(arrays: ArrayRecord) -> dict[str, np.ndarray]:
    """{name: numpy array} of a model."""
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in arrays.to_torch_state_dict().items()}


def record_of(state: Mapping[str, np.ndarray]) -> ArrayRecord:
    """ArrayRecord (float32 tensors) from {name: numpy array}."""
    return ArrayRecord(torch_state_dict={k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in state.items()})


def flatten(arrays: ArrayRecord) -> np.ndarray:
    """All parameters of a model as one float64 vector (fixed key order)."""
    return np.concatenate([v.ravel() for v in state_of(arrays).values()])


def weighted_average(models: Sequence[ArrayRecord], weights: Sequence[float]) -> ArrayRecord:
    """sum_i w_i theta_i / sum_i w_i."""
    w = np.asarray(weights, dtype=np.float64)
    if len(models) == 0 or w.sum() <= 0:
        raise ValueError("weighted_average needs at least one model with positive weight")
    states = [state_of(m) for m in models]
    return record_of({k: sum(wi * s[k] for wi, s in zip(w, states)) / w.sum() for k in states[0]})


def cluster_averages(models: Mapping[int, ArrayRecord], replies: Sequence[Any],
                     cluster_of: Mapping[int, int]) -> dict[int, ArrayRecord]:
    """Each cluster's model replaced by the n_i-weighted average of its members' replies (FedAvg per cluster);
    a cluster without replies keeps its model."""
    updated = dict(models)
    for k in updated:
        members = [r for r in replies if cluster_of[r.metadata.src_node_id] == k]
        if members:
            updated[k] = weighted_average([r.content["arrays"] for r in members],
                                          [r.content["metrics"]["num-examples"] for r in members])
    return updated


def fairness_gap(table: GroupCounts | None, notion: str) -> float:
    """Psi^f of one client: the max pairwise gap of ``notion`` over the attribute's values; NaN when undefined."""
    if table is None or len(table.values) < 2:
        return math.nan
    _, _, gaps = pair_gaps(table.counts)
    defined = gaps[notion][~np.isnan(gaps[notion])]
    return float(defined.max()) if len(defined) else math.nan


def parse_groups(text: str | dict[str, Any]) -> dict[str, GroupCounts]:
    """{attribute: GroupCounts} from a client's JSON (hard counts are ints, soft counts floats)."""
    import json

    data = json.loads(text) if isinstance(text, str) else text
    out = {}
    for attribute, table in data.items():
        counts = np.asarray(table["counts"], dtype=np.float64).reshape(-1, 4)
        if np.all(counts == np.round(counts)):  # hard counts stay integers (they can be merged with GroupCounts.__add__)
            counts = counts.astype(np.int64)
        out[attribute] = GroupCounts(list(table["values"]), counts)
    return out


def hierarchical_clusters(matrix: np.ndarray, threshold: float, n_clusters: int, linkage: str) -> np.ndarray:
    """0-based cluster labels from agglomerative clustering of a symmetric matrix.

    ``n_clusters`` > 0 cuts the tree into that many clusters, otherwise it is
    cut at ``threshold`` (merge height). Labels are renumbered by first
    appearance so that client order decides cluster numbers, not scipy.
    """
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import squareform

    n = len(matrix)
    if n == 1:
        return np.zeros(1, dtype=int)
    sym = (np.asarray(matrix, dtype=np.float64) + np.asarray(matrix, dtype=np.float64).T) / 2
    np.fill_diagonal(sym, 0.0)
    tree = scipy_linkage(squareform(sym, checks=False), method=linkage)
    raw = fcluster(tree, t=n_clusters, criterion="maxclust") if n_clusters > 0 else fcluster(tree, t=threshold, criterion="distance")
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(r), len(order)) for r in raw], dtype=int)


def cluster_lists(assignment: Mapping[str, int]) -> list[list[str]]:
    """{client: cluster} -> [[clients of cluster 0], [clients of cluster 1], ...] (empty clusters dropped)."""
    clusters: dict[int, list[str]] = {}
    for client, k in assignment.items():
        clusters.setdefault(k, []).append(client)
    return [clusters[k] for k in sorted(clusters)]
