"""Model arithmetic on ``ArrayRecord``: flatten, weighted averages per group, distances.

Pure functions of models and numbers (no messaging), shared by every strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
import torch
from scipy.spatial.distance import pdist, squareform
from flwr.app import ArrayRecord, Message

from fedfair import protocol as p


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


def group_averages(models: Mapping[Hashable, ArrayRecord], replies: Sequence[Message],
                   group_of: Callable[[Message], Hashable]) -> dict[Hashable, ArrayRecord]:
    """Each group's model (a cluster's, a task's) replaced by the n_i-weighted average of the replies
    ``group_of`` assigns to it (FedAvg per group); a group without replies keeps its model."""
    updated = dict(models)
    for key in updated:
        members = [r for r in replies if group_of(r) == key]
        if members:
            updated[key] = weighted_average([r.content[p.ARRAYS] for r in members],
                                            [r.content[p.METRICS][p.NUM_EXAMPLES] for r in members])
    return updated


def cluster_averages(models: Mapping[int, ArrayRecord], replies: Sequence[Message],
                     cluster_of: Mapping[int, int]) -> dict[int, ArrayRecord]:
    """FedAvg inside each cluster: :func:`group_averages` with the replying node's cluster."""
    return group_averages(models, replies, lambda r: cluster_of[r.metadata.src_node_id])  # type: ignore[return-value]


def pairwise_distances(models: Sequence[ArrayRecord]) -> np.ndarray:
    """Euclidean distances ||theta_i - theta_j|| between flattened models (square matrix)."""
    return squareform(pdist(np.stack([flatten(m) for m in models]), metric="euclidean"))
