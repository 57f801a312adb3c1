"""Checkpoint and resume: the server's state after every round, written atomically to the run directory.

A checkpoint holds the strategy's state (``FedFairStrategy.state_dict()``, :mod:`fedfair.strategies.state`; for
the builtins its attributes: models, cluster assignments, FairFed weights, allocation history, failures, bytes
counted, the plug-ins' log: everything but the run's parameters, its recorder and the node list), the round it
completed and that round's evaluations. Server-side randomness is a function of
(seed, round) and clients' of their train seeds, so continuing from round r + 1 with this state gives the
same rounds as an uninterrupted run. Node ids change when SuperNodes restart: ids in the state are mapped to
the new nodes through the client names.

State kept on the clients (Standalone's personal models, FedProx's / Per-FedAvg's nothing, FairIF's row
weights, DP accountants) is not in the checkpoint: after a restart the nodes start without it, so those
strategies resume from the server-side state only (see the README).

No pickle: reading a checkpoint never runs code from the file. The state is two files,

- ``checkpoint-<round>.npz``: every array (model weights as the exact bytes Flower's ``Array`` holds, numpy
  arrays), read with ``numpy.load(allow_pickle=False)``;
- ``checkpoint.json``: the format version, the fedfair version, strategy, dataset and round, the name and
  SHA-256 of the arrays file, the dataset's fingerprint and the run's parameters (what a resume checks:
  :func:`check_resume`; absent in checkpoints of older versions, which are accepted without), and the state
  as a JSON tree whose non-JSON values are tagged (``{"~": "tuple", ...}``, ``{"~": "array", ...}``, fedfair's
  own dataclasses and helper objects by class name, rebuilt field by
  field without calling any constructor; only classes of the ``fedfair`` package).

A strategy of another package that keeps objects of its own classes returns them as arrays and JSON values
from its ``state_dict()`` and rebuilds them in ``load_state_dict()``: no allow-list, no pickle. Without that,
writing fails with a one-line :class:`StateError` naming the class and this fix (:data:`STATE_FIX`).

The arrays file of round r is written first under its own name, then ``checkpoint.json`` replaces the previous
one atomically, then older arrays files are removed: a crash at any moment leaves a consistent pair.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fedfair.schemas import DatasetError

CHECKPOINT = "checkpoint.json"
FORMAT = 1
TAG = "~"
_OWN_PACKAGES = ("fedfair.",)
_CLASS_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class CheckpointError(DatasetError):
    """A checkpoint that cannot be read: damaged, of another strategy / dataset / version, or foreign."""


class StateError(CheckpointError):
    """A strategy state that cannot be written without pickle (it holds an object of a class outside fedfair)."""


class UnencodableError(TypeError):
    """A value the encoder does not write: an object of ``class_name`` (``module:qualname``), outside fedfair."""

    def __init__(self, class_name: str) -> None:
        super().__init__(f"cannot checkpoint a {class_name} without pickle")
        self.class_name = class_name


# what a strategy of another package does about a StateError
STATE_FIX = "override state_dict() / load_state_dict() to return arrays and JSON values"


def _version() -> str:
    from fedfair import __version__

    return __version__


# ----- encoding: Python state -> (JSON tree, arrays) ---------------------------------------
_ATOMS = (type(None), bool, int, float, str, bytes, np.generic)


def _count_references(value: Any, seen: dict[int, int]) -> None:
    """How often each container / object of the state is reached: objects shared by several attributes (the
    model a client deploys is the global model itself) are written once and referred to, so that they are one
    object again after loading, as the round template's identity checks expect."""
    if isinstance(value, _ATOMS):
        return
    seen[id(value)] = seen.get(id(value), 0) + 1
    if seen[id(value)] > 1:
        return
    if isinstance(value, dict):
        items: Any = [v for pair in value.items() for v in pair]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif type(value).__module__.startswith(_OWN_PACKAGES) and hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        items = []
    for item in items:
        _count_references(item, seen)


class _Encoder:
    def __init__(self, shared: Mapping[int, int] | None = None) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.shared = {k for k, n in (shared or {}).items() if n > 1}
        self.written: dict[int, int] = {}

    def encode(self, value: Any) -> Any:
        """The JSON tree of ``value``; a shared object's first occurrence is tagged with an id, later ones refer to it."""
        key = id(value)
        if key not in self.shared or isinstance(value, _ATOMS):
            return self._encode(value)
        if key in self.written:
            return {TAG: "ref", "v": self.written[key]}
        self.written[key] = len(self.written)
        return {TAG: "shared", "id": self.written[key], "v": self._encode(value)}

    def array(self, values: np.ndarray) -> str:
        if values.dtype.hasobject:
            raise TypeError("an array of Python objects cannot be checkpointed without pickle")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(values)
        return key

    def _evaluations(self, evals: list[Any]) -> dict[str, Any] | None:
        """A round's evaluations (a list of :class:`fedfair.results.ClientEval`, none of them shared) as columns:
        each field's values in one list and every confusion table's rows in one array, instead of one tagged
        dataclass and one array per client and attribute (a 1,000-client checkpoint took 0.2 s a round).
        None when the list is not that (the generic encoding then applies)."""
        if len(evals) < 2 or type(evals[0]).__name__ != "ClientEval":  # most lists: no import, no scan
            return None
        from fedfair.metrics import GroupCounts
        from fedfair.results import ClientEval

        if any(type(e) is not ClientEval or id(e) in self.shared for e in evals):
            return None
        tables = [t for e in evals for t in e.groups.values()]
        if any(type(t) is not GroupCounts or id(t) in self.shared or not isinstance(t.counts, np.ndarray)
               or t.counts.ndim != 2 for t in tables) or len({t.counts.dtype.str for t in tables}) > 1:
            return None
        names = [f.name for f in dataclasses.fields(ClientEval) if f.name != "groups"]
        groups = [[[self.encode(attr), self.encode(list(t.values)), bool(t.multiclass), len(t.counts)]
                   for attr, t in e.groups.items()] for e in evals]
        counts = np.concatenate([t.counts for t in tables]) if tables else np.zeros((0, 4), dtype=np.int64)
        return {TAG: "evals", "v": {"fields": {name: self.encode([getattr(e, name) for e in evals]) for name in names},
                                    "groups": groups, "counts": self.array(counts)}}

    def _encode(self, value: Any) -> Any:  # noqa: C901 (one branch per kind of value)
        if isinstance(value, np.generic):  # before float: np.float64 is a float, and stays an np.float64
            return {TAG: "scalar", "dtype": value.dtype.str, "v": self.encode(value.item())}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {TAG: "float", "v": repr(float(value))}
        if isinstance(value, list):
            columns = self._evaluations(value)
            return columns if columns is not None else [self.encode(v) for v in value]
        if isinstance(value, (tuple, set, frozenset)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            return {TAG: type(value).__name__, "v": [self.encode(v) for v in items]}
        if isinstance(value, dict):
            return {TAG: "dict", "v": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, np.ndarray):
            return {TAG: "array", "v": self.array(value)}
        if isinstance(value, memoryview):
            return {TAG: "bytes", "v": self.array(np.frombuffer(value.tobytes(), dtype=np.uint8))}
        if isinstance(value, bytes):
            return {TAG: "bytes", "v": self.array(np.frombuffer(value, dtype=np.uint8))}
        if isinstance(value, np.random.Generator):
            return {TAG: "generator", "v": self.encode(value.bit_generator.state)}
        from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord

        if isinstance(value, ArrayRecord):
            return {TAG: "arrayrecord", "v": [[key, self.encode(array)] for key, array in value.items()]}
        if isinstance(value, Array):
            data = value.data.tobytes() if isinstance(value.data, memoryview) else bytes(value.data)
            return {TAG: "flwr-array", "dtype": value.dtype, "shape": list(value.shape), "stype": value.stype,
                    "v": self.array(np.frombuffer(data, dtype=np.uint8))}
        if isinstance(value, (MetricRecord, ConfigRecord)):
            return {TAG: type(value).__name__, "v": self.encode(dict(value))}
        if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
            return {TAG: "tensor", "v": self.array(value.detach().cpu().numpy())}
        cls = type(value)
        name = f"{cls.__module__}:{cls.__qualname__}"
        if not cls.__module__.startswith(_OWN_PACKAGES):
            raise UnencodableError(name)
        if dataclasses.is_dataclass(value):
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {TAG: "dataclass", "class": name, "v": fields}
        if hasattr(value, "__dict__"):
            return {TAG: "object", "class": name, "v": {k: self.encode(v) for k, v in vars(value).items()}}
        raise UnencodableError(name)


# ----- decoding: (JSON tree, arrays) -> Python state, no code from the file -------------------
def _own_class(name: Any) -> type:
    """A class of fedfair's own packages by ``module:qualname``; anything else is refused."""
    if not isinstance(name, str) or not _CLASS_NAME.match(name) or not name.startswith(_OWN_PACKAGES):
        raise CheckpointError(f"refers to {name!r}, not a class of fedfair")
    module, qualname = name.split(":")
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise CheckpointError(f"refers to {name!r}, which this fedfair does not have") from None
    if not isinstance(target, type):
        raise CheckpointError(f"refers to {name!r}, which is not a class")
    return target


class _Decoder:
    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.shared: dict[int, Any] = {}

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise CheckpointError(f"names an array {key!r} that the arrays file does not hold")
        return self.arrays[key]

    def decode(self, node: Any) -> Any:  # noqa: C901 (one branch per tag)
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or TAG not in node:
            raise CheckpointError("holds a value without a type tag")
        tag, inner = node[TAG], node.get("v")
        if tag == "shared":
            value = self.decode(inner)
            self.shared[node.get("id")] = value
            return value
        if tag == "ref":
            if inner not in self.shared:
                raise CheckpointError(f"refers to an object {inner!r} it does not hold")
            return self.shared[inner]
        if tag == "float":
            if inner not in ("nan", "inf", "-inf"):
                raise CheckpointError(f"holds a float {inner!r}")
            return float(inner)
        if tag in ("tuple", "set", "frozenset"):
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](self.decode(v) for v in self._list(inner))
        if tag == "dict":
            return {self.decode(k): self.decode(v) for k, v in (self._pair(p) for p in self._list(inner))}
        if tag == "array":
            return self.array(inner).copy()
        if tag == "scalar":
            return np.dtype(str(node.get("dtype"))).type(self.decode(inner))
        if tag == "bytes":
            return self.array(inner).tobytes()
        if tag == "generator":
            state = self.decode(inner)
            generator = getattr(np.random, str(state.get("bit_generator")), None) if isinstance(state, dict) else None
            if not (isinstance(generator, type) and issubclass(generator, np.random.BitGenerator)):
                raise CheckpointError("holds a random generator of an unknown kind")
            bit = generator()
            bit.state = state
            return np.random.Generator(bit)
        from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord

        if tag == "arrayrecord":
            return ArrayRecord({str(k): self.decode(v) for k, v in (self._pair(p) for p in self._list(inner))})
        if tag == "flwr-array":
            return Array(dtype=str(node["dtype"]), shape=tuple(int(d) for d in node["shape"]), stype=str(node["stype"]),
                         data=self.array(inner).tobytes())
        if tag in ("MetricRecord", "ConfigRecord"):
            return {"MetricRecord": MetricRecord, "ConfigRecord": ConfigRecord}[tag](self.decode(inner))
        if tag == "tensor":
            import torch

            return torch.from_numpy(self.array(inner).copy())
        if tag == "evals":
            return self._evaluations(inner)
        if tag in ("dataclass", "object"):
            cls = _own_class(node.get("class"))
            if not isinstance(inner, dict):
                raise CheckpointError(f"holds a {tag} without fields")
            if tag == "dataclass" and not dataclasses.is_dataclass(cls):
                raise CheckpointError(f"says {node['class']} is a dataclass; it is not")
            obj = object.__new__(cls)  # no constructor runs: the fields are set one by one
            for key, value in inner.items():
                object.__setattr__(obj, key, self.decode(value))
            return obj
        raise CheckpointError(f"holds an unknown tag {tag!r}")

    def _evaluations(self, inner: Any) -> list[Any]:
        """The ClientEval list :meth:`_Encoder._evaluations` wrote, rebuilt field by field (no constructor runs)."""
        from fedfair.metrics import GroupCounts
        from fedfair.results import ClientEval

        if not isinstance(inner, dict) or not isinstance(inner.get("fields"), dict):
            raise CheckpointError("holds malformed evaluations")
        columns = {str(name): self._list(self.decode(values)) for name, values in inner["fields"].items()}
        groups, counts = self._list(inner.get("groups")), self.array(inner.get("counts"))
        known = {f.name for f in dataclasses.fields(ClientEval)}
        if set(columns) | {"groups"} != known or any(len(c) != len(groups) for c in columns.values()):
            raise CheckpointError("holds evaluations whose fields do not match this fedfair's")
        evals, start = [], 0
        for k, tables in enumerate(groups):
            entry = object.__new__(ClientEval)
            for name, values in columns.items():
                object.__setattr__(entry, name, values[k])
            by_attribute = {}
            for attr, values, multiclass, rows in (self._table(t) for t in self._list(tables)):
                table = object.__new__(GroupCounts)
                for name, value in (("values", values), ("counts", counts[start:start + rows].copy()),
                                    ("multiclass", multiclass)):
                    object.__setattr__(table, name, value)
                by_attribute[attr], start = table, start + rows
            object.__setattr__(entry, "groups", by_attribute)
            evals.append(entry)
        if start != len(counts):
            raise CheckpointError("holds evaluations whose confusion tables do not add up")
        return evals

    def _table(self, node: Any) -> tuple[Any, list[Any], bool, int]:
        if not isinstance(node, list) or len(node) != 4 or not isinstance(node[3], int):
            raise CheckpointError("holds a malformed confusion table")
        return self.decode(node[0]), self._list(self.decode(node[1])), bool(node[2]), node[3]

    @staticmethod
    def _list(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise CheckpointError("holds a malformed container")
        return value

    @staticmethod
    def _pair(value: Any) -> tuple[Any, Any]:
        if not isinstance(value, list) or len(value) != 2:
            raise CheckpointError("holds a malformed mapping entry")
        return value[0], value[1]


# ----- files -----------------------------------------------------------------------------------
def checksum(arrays: bytes, state: Any) -> str:
    """SHA-256 of the arrays file and the state tree (canonical JSON): a changed or truncated part shows."""
    digest = hashlib.sha256(arrays)
    digest.update(json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
    return digest.hexdigest()


def save_checkpoint(out_dir: Path, payload: Mapping[str, Any], strategy: str = "", dataset: str = "",
                    fingerprint: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None) -> None:
    """Write the payload (``round`` plus any state) atomically: arrays file, then checkpoint.json; with it the
    dataset's ``fingerprint`` (:func:`dataset_fingerprint`) and the run's ``params`` (those :func:`check_resume`
    compares), when given."""
    out_dir = Path(out_dir)
    payload = dict(payload)
    shared: dict[int, int] = {}
    _count_references(payload, shared)
    encoder = _Encoder(shared)
    tree = encoder.encode(payload)
    buffer = io.BytesIO()
    np.savez(buffer, **encoder.arrays)
    data = buffer.getvalue()
    server_round = int(payload.get("round", 0))
    arrays_name = f"checkpoint-{server_round}.npz"
    meta = {"format": FORMAT, "fedfair_version": _version(), "strategy": strategy or str(payload.get("strategy", "")),
            "dataset": dataset, "round": server_round, "arrays": arrays_name, "sha256": checksum(data, tree)}
    if fingerprint is not None:
        meta["dataset_fingerprint"] = dict(fingerprint)
    if params is not None:
        meta["params"] = compared_params(params)
    meta["state"] = tree
    _write(out_dir / arrays_name, data)
    _write(out_dir / CHECKPOINT, json.dumps(meta, allow_nan=False).encode())
    for old in out_dir.glob("checkpoint-*.npz"):
        if old.name != arrays_name:
            old.unlink(missing_ok=True)


def state_error(owner: type, state: Mapping[str, Any], error: UnencodableError) -> StateError:
    """The one-line error of a strategy whose ``state`` cannot be written: the strategy's class, the entry
    holding the foreign object, its class and :data:`STATE_FIX`."""
    where = ""
    for key, value in state.items():  # the entry that holds it (only on this error path)
        shared: dict[int, int] = {}
        _count_references(value, shared)
        try:
            _Encoder(shared).encode(value)
        except UnencodableError:
            where = f"its state entry {key!r} "
            break
    return StateError(f"cannot checkpoint strategy {owner.__module__}:{owner.__qualname__}: {where}holds a "
                      f"{error.class_name}, which fedfair does not write (no pickle); {STATE_FIX}")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_meta(out_dir: Path) -> dict[str, Any] | None:
    """checkpoint.json of a run directory, checked (:class:`fedfair.schemas.CheckpointMeta`); None without one."""
    from fedfair.schemas import CheckpointMeta, check, read_json

    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        if (Path(out_dir) / "checkpoint.pkl").is_file():
            raise CheckpointError(f"{out_dir}/checkpoint.pkl is a pickle written by an older fedfair; pickles are not "
                                  f"read (they can run code): start the run again without --resume")
        return None
    fix = "the checkpoint is damaged; start the run again without --resume"
    try:
        raw = read_json(path, "checkpoint", fix)
        if isinstance(raw, dict) and raw.get("format") != FORMAT:
            raise CheckpointError(f"{path}: checkpoint format {raw.get('format')!r} is not {FORMAT}; {fix}")
        check(CheckpointMeta, raw, path, fix)
    except CheckpointError:
        raise
    except DatasetError as err:
        raise CheckpointError(str(err)) from None
    return raw


def load_checkpoint(out_dir: Path, strategy: str | None = None, dataset: str | None = None) -> dict[str, Any] | None:
    """The run directory's checkpoint payload, or None when it has none. A damaged file, a checksum mismatch,
    or a checkpoint of another fedfair version, strategy or dataset (when given) is a CheckpointError."""
    meta = read_meta(out_dir)
    if meta is None:
        return None
    path = Path(out_dir) / CHECKPOINT
    again = "start the run again without --resume"
    if meta["fedfair_version"] != _version():
        raise CheckpointError(f"{path}: written by fedfair {meta['fedfair_version']}, this is fedfair {_version()}; "
                              f"a checkpoint resumes only with the version that wrote it ({again})")
    if strategy is not None and meta["strategy"] != strategy:
        raise CheckpointError(f"{path}: the checkpoint is a {meta['strategy']} run, not {strategy}")
    if dataset is not None and meta["dataset"] and meta["dataset"] != dataset:
        raise CheckpointError(f"{path}: the checkpoint is of dataset {meta['dataset']}, not {dataset}")
    arrays_path = Path(out_dir) / meta["arrays"]
    try:
        data = arrays_path.read_bytes()
    except OSError:
        raise CheckpointError(f"{path}: its arrays file {arrays_path.name} is missing; {again}") from None
    if checksum(data, meta["state"]) != meta["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch (it or {arrays_path.name} was changed or truncated); {again}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as err:
        raise CheckpointError(f"{arrays_path} cannot be read as arrays ({str(err).splitlines()[0]}); {again}") from None
    try:
        payload = _Decoder(arrays).decode(meta["state"])
    except CheckpointError as err:
        raise CheckpointError(f"{path}: the state {err}; {again}") from None
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: the state cannot be rebuilt ({err}); {again}") from None
    if not isinstance(payload, dict) or "round" not in payload:
        raise CheckpointError(f"{path}: the state is not a checkpoint payload; {again}")
    return payload


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
    if type(value).__module__.startswith(_OWN_PACKAGES) and hasattr(value, "__dict__"):
        remapped = copy.copy(value)  # fedfair's own helpers (byte counters, plug-in logs): their attributes
        remapped.__dict__.update({k: remap_nodes(v, ids) for k, v in vars(value).items()})
        return remapped
    return value


# ----- what a resumed run must share with the run it continues ---------------------------------
# Run parameters a resumed run may change (``fedfair run --resume DIR --set engine=ray``): they decide where and
# how fast the rounds run, not what they compute (batch-clients: the same weights to float rounding; the
# timeouts: how long the server waits; plots: whether the figures are drawn at the end).
RESUME_MAY_DIFFER = ("engine", "batch-clients", "device", "client-num-cpus", "client-num-gpus", "timeout",
                     "round-timeout", "plots")
# where the run is (its directory may have been moved, the raw files live elsewhere now) and the resume switches
# themselves: not compared either (the dataset's fingerprint checks the data itself)
_NOT_COMPARED = frozenset({*RESUME_MAY_DIFFER, "resume", "overwrite", "out-dir", "data-root", "dataset-dir"})


def compared_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a run that a resume must keep: every scalar one but :data:`RESUME_MAY_DIFFER` and the
    run's location."""
    return {k: v for k, v in sorted(params.items()) if k not in _NOT_COMPARED
            and (v is None or (isinstance(v, (str, bool, int, float)) and not (isinstance(v, float) and not math.isfinite(v))))}


_FINGERPRINTS: dict[tuple[Any, ...], dict[str, Any]] = {}  # (files and their stat) -> fingerprint, this process


def _dataset_files(root: Path) -> list[tuple[str, Path]]:
    """(name, path) of every file a run reads from the dataset ``root``: its manifest and each client's split files
    (a task set: tasks.json and each task's dataset, named ``<task>/...``)."""
    from fedfair.data import MANIFEST, SPLITS, read_manifest
    from fedfair.tasks import TASKS_FILE, is_task_set, read_task_set

    if is_task_set(root):
        files = [(TASKS_FILE, root / TASKS_FILE)]
        for task in read_task_set(root).tasks:
            files += [(f"{task.name}/{name}", path) for name, path in _dataset_files(Path(task.dataset_dir))]
        return files
    manifest = read_manifest(root)
    files = [(MANIFEST, manifest.root / MANIFEST)]
    for entry in manifest.spec.clients:
        where = manifest.client_dir(entry)
        for split in SPLITS:
            path = where / f"{split}.parquet"
            if path.is_file():
                files.append((f"{entry.dir}/{split}.parquet", path))
    return files


def dataset_fingerprint(dataset_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The fingerprint of the data a run reads: {"sha256", "files", "bytes"}; None without a dataset (deployments'
    node-config datasets).

    SHA-256 of the manifest (tasks.json) and of every client's split files, their names, sizes and contents, not
    their modification times: a dataset rebuilt with the same rows (a builtin's cache cleared and rebuilt, a copy
    made with ``cp -r``) keeps its fingerprint, one rebuilt with other rows does not. Hashing runs at ~1 GB/s, a
    few milliseconds for the tabular datasets, well under a second for the image ones, and once per process for
    files whose size and modification time did not change (cached)."""
    if not dataset_dir:
        return None
    root = Path(dataset_dir).expanduser().resolve()
    files = _dataset_files(root)
    stats = [(name, path.stat()) for name, path in files]
    key = (str(root), *((name, st.st_size, st.st_mtime_ns, st.st_ino) for name, st in stats))
    if key in _FINGERPRINTS:
        return dict(_FINGERPRINTS[key])
    digest = hashlib.sha256()
    for (name, path), (_, st) in zip(files, stats):
        digest.update(f"{name}\0{st.st_size}\0".encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    found = {"sha256": digest.hexdigest(), "files": len(files), "bytes": sum(st.st_size for _, st in stats)}
    _FINGERPRINTS[key] = found
    return dict(found)


def _describe_fingerprint(found: Mapping[str, Any]) -> str:
    return f"{str(found.get('sha256', '?'))[:12]}: {found.get('files', '?')} files, {found.get('bytes', '?')} bytes"


def check_resume(out_dir: str | os.PathLike[str], params: Mapping[str, Any], dataset_dir: str = "",
                 flag: str = "--resume") -> None:
    """Before a resumed run touches its directory: the checkpoint in ``out_dir`` is of this dataset (the same
    fingerprint) and these parameters (:func:`compared_params`), else a one-line :class:`CheckpointError` naming
    what changed and the fix. Nothing to check without a checkpoint; a checkpoint of an older fedfair that
    recorded no fingerprint or parameters is accepted as it is (only its strategy and dataset name are checked,
    by :func:`load_checkpoint`)."""
    meta = read_meta(Path(out_dir))
    if meta is None:
        return
    where = Path(out_dir).expanduser().resolve()
    recorded = meta.get("params")
    if recorded:
        now = compared_params(params)
        changed = [k for k in recorded if k in now and recorded[k] != now[k]]
        if changed:
            listing = ", ".join(f"{k} {now[k]!r} (the run's: {recorded[k]!r})" for k in changed)
            raise CheckpointError(f"{flag} {where}: parameters differ from the run's checkpoint: {listing}; a resume "
                                  f"continues the run as it was configured: start a new run with another out-dir")
    before = meta.get("dataset_fingerprint")
    if before and dataset_dir:
        now_found = dataset_fingerprint(dataset_dir)
        if now_found is not None and now_found.get("sha256") != before.get("sha256"):
            name = params.get("dataset") or dataset_dir
            raise CheckpointError(f"{flag} {where}: the dataset {name} changed since the run started (fingerprint "
                                  f"{_describe_fingerprint(before)} then, {_describe_fingerprint(now_found)} now, "
                                  f"in {Path(dataset_dir).expanduser().resolve()}): rerun from scratch with a new --out")
