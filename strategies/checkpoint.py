"""Checkpoint and resume: the server's state after every round, written atomically to the run directory.

A checkpoint holds the strategy's attributes (models, cluster assignments, FairFed weights, allocation
history, failures, bytes counted, the plug-ins' log: everything but the run's parameters, its recorder and
the node list), the round it completed and that round's evaluations. Server-side randomness is a function of
(seed, round) and clients' of their train seeds, so continuing from round r + 1 with this state gives the
same rounds as an uninterrupted run. Node ids change when SuperNodes restart: ids in the state are mapped to
the new nodes through the client names.

State kept on the clients (Standalone's personal models, FedProx's / Per-FedAvg's nothing, FairIF's row
weights, DP accountants) is not in the checkpoint: after a restart the nodes start without it, so those
strategies resume from the server-side state only (see the README).

The file is a pickle of the run's own objects: resume only runs you wrote.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pkl"


class _Pickler(pickle.Pickler):
    """Pickles models received over gRPC too: their arrays may be zero-copy memoryviews of the message buffer,
    written as bytes (what Flower's Array holds otherwise)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, memoryview):
            return bytes, (obj.tobytes(),)
        return NotImplemented


def save_checkpoint(out_dir: Path, payload: Mapping[str, Any]) -> None:
    """Write the payload atomically (a crash mid-write leaves the previous checkpoint)."""
    path = Path(out_dir) / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        _Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump(dict(payload))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_checkpoint(out_dir: Path) -> dict[str, Any] | None:
    """The run directory's checkpoint, or None when it has none."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        return pickle.load(handle)


def remap_nodes(value: Any, ids: Mapping[int, int]) -> Any:
    """``value`` with every old node id (dict key, list / tuple / set item, dataclass field) replaced by the new
    one. Flower's node ids are random 64-bit integers, so no other number in the state collides with them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {remap_nodes(k, ids): remap_nodes(v, ids) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(remap_nodes(v, ids) for v in value)
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        changes = {f.name: remap_nodes(getattr(value, f.name), ids) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if type(value).__module__.startswith(("strategies.", "fedfair.")) and hasattr(value, "__dict__"):
        remapped = copy.copy(value)  # fedfair's own helpers (byte counters, plug-in logs): their attributes
        remapped.__dict__.update({k: remap_nodes(v, ids) for k, v in vars(value).items()})
        return remapped
    return value
