"""Small federations with a known structure, for the clustered-strategy tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fedfair.partitioners.synthetic_gaussian import sample_client
from fedfair.partitioners.writer import write_federated_dataset


def two_cluster_federation(out: Path, seed: int = 0, per_cluster: int = 3, n: int = 400,
                           one_group_client: bool = False) -> Path:
    """Clients A1.. with labels as drawn, B1.. with the same feature law but flipped labels.

    The two clusters need opposite models (Sattler et al.'s label-swap setting).
    With ``one_group_client`` client A1 holds group 1 only.
    """
    rng = np.random.default_rng(seed)
    clients = []
    for prefix, flip in (("A", False), ("B", True)):
        for k in range(1, per_cluster + 1):
            splits = {}
            for split in ("train", "test"):
                frame = sample_client((1.0, -1.0, 1.0, -1.0), n, rng)
                if flip:
                    frame["y"] = 1 - frame["y"]
                if one_group_client and prefix == "A" and k == 1:
                    frame = frame[frame["group"] == 1].reset_index(drop=True)
                splits[split] = frame
            clients.append((f"{prefix}{k}", splits))
    return write_federated_dataset(
        out, name="two-cluster", clients=clients, features=["x"], label="y", positive_label=1,
        sensitive={"group": {"values": [0, 1]}}, default_model={"model": "logreg"},
        source={"kind": "test two-cluster label swap"}, seed=seed,
    )


def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """State dict as numpy arrays (copies)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def set_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Load numpy arrays into ``model`` (names must match)."""
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in weights.items()}, strict=True)
