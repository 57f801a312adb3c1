"""Federated datasets on disk: the directory format and its loader.

A federated dataset is a directory::

    manifest.json
    client_000/train.parquet
    client_000/test.parquet
    client_000/val.parquet      (optional)
    client_001/...

``manifest.json`` (format 1) holds::

    {"format": 1, "name": ..., "features": [...], "label": "y",
     "positive_label": <original value meaning 1>,
     "sensitive": {"sex": {"values": [1, 2], "labels": {"1": "Male", "2": "Female"}}},
     "clients": [{"name": "1", "dir": "client_000", "n_train": .., "n_test": .., "n_val": ..,
                  "role": "train" | "test" (cross-device only), "parent": "AL" (natural client)}],
     "default_model": {"model": "logreg"}, "source": {...}, "seed": 0,
     "num_classes": 2 (optional; C > 2 = a multi-class label 0..C-1),
     "input_shape": [1, 28, 28] (optional; image features: pixel columns in C-order),
     "preprocessing": [...], "modifications": [...], "synthetic": false, "warnings": [...]}

In the cross-device setting a client with ``"role": "train"`` has no test
split and one with ``"role": "test"`` (held out) has no train split; the
loader gives the missing split zero rows.

Label columns are stored as 0/1 (or 0..C-1 with ``num_classes`` = C), sensitive
columns as their (integer or string) values. The builder in ``partitioners/`` writes datasets; this module only reads
them. Each process loads a client's files once (cached).
"""

from __future__ import annotations

import contextlib
import functools

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fedfair.schemas import ClientEntry, DatasetError, ManifestModel, check, inside, read_json

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One client's split as arrays: features, 0/1 labels, sensitive groups."""

    x: np.ndarray  # float32, (n, d)
    y: np.ndarray  # int64 0/1, (n,)
    sensitive: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class ClientData:
    """A client's splits plus what the manifest says about it."""

    name: str
    partition_id: int
    train: Split
    test: Split
    val: Split | None
    sensitive_values: dict[str, list[Any]] = field(default_factory=dict)
    default_model: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 2
    input_shape: tuple[int, ...] | None = None

    @property
    def n_features(self) -> int:
        return int(self.train.x.shape[1])


@dataclass(frozen=True)
class Manifest:
    """A validated manifest.json (:class:`fedfair.schemas.ManifestModel`) and the directory holding it."""

    root: Path
    raw: dict[str, Any]  # the file's content, for its free-form parts (source, preprocessing, ...)
    spec: ManifestModel

    @property
    def name(self) -> str:
        return self.spec.name or self.root.name

    @property
    def features(self) -> list[str]:
        return list(self.spec.features)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def sensitive(self) -> dict[str, dict[str, Any]]:
        return {a: s.model_dump() for a, s in self.spec.sensitive.items()}

    @property
    def sensitive_values(self) -> dict[str, list[Any]]:
        return {a: list(s.values) for a, s in self.spec.sensitive.items()}

    @property
    def clients(self) -> list[ClientEntry]:
        return list(self.spec.clients)

    @property
    def client_names(self) -> list[str]:
        return [c.name for c in self.spec.clients]

    @property
    def default_model(self) -> dict[str, Any]:
        return self.spec.default_model.as_dict()

    @property
    def num_classes(self) -> int:
        """Classes of the label: 2 (binary, 0/1) unless the manifest says more."""
        return self.spec.num_classes

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one example's features when they are an image (e.g. (1, 28, 28)), else None."""
        return tuple(self.spec.input_shape) if self.spec.input_shape else None

    def client_dir(self, entry: ClientEntry) -> Path:
        """A client's directory: inside the dataset (relative ``dir``) or the absolute path the manifest records."""
        return inside(self.root, entry.dir, f"{self.root / MANIFEST}: client {entry.name!r}, dir")

    @functools.cached_property
    def _name_index(self) -> dict[str, int]:
        """{client name: partition id} (a 10,000-client federation looks names up for every message)."""
        return {name: i for i, name in enumerate(self.client_names)}

    def client_index(self, client: str | int) -> int:
        """Position of a client: an ``int`` is a partition id, a ``str`` a client name."""
        count = len(self._name_index)
        if isinstance(client, int) and not isinstance(client, bool):
            if 0 <= client < count:
                return client
            raise DatasetError(f"partition id {client} out of range: {self.root} has {count} clients (0..{count - 1})")
        if str(client) in self._name_index:
            return self._name_index[str(client)]
        names = self.client_names
        raise DatasetError(f"unknown client {client!r} in {self.root}: valid names are {', '.join(names)}")


FIX = "rebuild the dataset (fedfair data build / create) or correct the file"


def read_manifest(root: str | os.PathLike[str]) -> Manifest:
    """Read and validate ``root/manifest.json`` against :class:`fedfair.schemas.ManifestModel` (one-line errors
    naming the field), including that every client directory stays inside the dataset."""
    root = Path(root).expanduser().resolve()
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root} is not a fedfair dataset: {MANIFEST} not found")
    raw = read_json(path, "manifest", f"the dataset is damaged; {FIX}")
    if isinstance(raw, dict) and raw.get("format", 1) != 1 and isinstance(raw.get("format"), int):
        raise DatasetError(f"{path}: format {raw.get('format')} is not supported (expected {FORMAT_VERSION})")
    spec = check(ManifestModel, raw, path, FIX)
    manifest = Manifest(root, raw, spec)
    for k, entry in enumerate(spec.clients):
        inside(root, entry.dir, f"{path}: clients[{k}].dir")
    return manifest


def read_split(manifest: Manifest, client: ClientEntry, split: str) -> Split | None:
    """One split of one client (an entry of ``manifest.clients``) from its parquet file, not cached (use
    :func:`load_client`): None for an absent val split, an empty split for the side a cross-device client lacks."""
    import pyarrow.parquet as pq  # read directly: a third of pandas.read_parquet's time per file

    path = manifest.client_dir(client) / f"{split}.parquet"
    if not path.is_file():
        if split == "val":
            return None
        if client.role in ("train", "test") and split != client.role:
            return _empty_split(manifest)  # cross-device: a training-only or held-out test client
        raise DatasetError(f"client {client.name!r}: {split} split missing ({path}); rebuild the dataset")
    try:
        table = pq.ParquetFile(path).read()
    except Exception as err:  # pyarrow's ArrowInvalid, OSError: a damaged or foreign file
        reason = str(err).split(". ")[0]
        raise DatasetError(f"client {client.name!r}: {path} cannot be read as parquet ({reason}); rebuild the "
                           f"dataset") from None
    name = client.name
    if table.num_rows == 0:
        raise DatasetError(f"client {name!r}: the {split} split is empty ({path}); rebuild the dataset or drop the client")
    recorded = getattr(client, f"n_{split}")
    if recorded is not None and recorded != table.num_rows:
        raise DatasetError(f"client {name!r}: the manifest records n_{split} = {recorded} but {path} holds "
                           f"{table.num_rows} rows; rebuild the dataset or correct the manifest")
    needed = manifest.features + [manifest.label] + list(manifest.sensitive)
    position = {key: j for j, key in enumerate(table.column_names)}  # by index: a lookup by name scans them all
    absent = [c for c in needed if c not in position]
    if absent:
        kind = "sensitive column" if set(absent) & set(manifest.sensitive) else "column"
        raise DatasetError(f"client {name!r}, {split} split: {kind}(s) {absent} not found in {path}")

    def column(key: str) -> np.ndarray:
        return table.column(position[key]).to_numpy()

    y = column(manifest.label)
    if not np.isin(y, np.arange(manifest.num_classes)).all():
        expected = "0/1 values" if manifest.num_classes == 2 else f"class indices 0..{manifest.num_classes - 1}"
        raise DatasetError(f"client {name!r}: label column {manifest.label!r} must hold {expected}")
    x = np.empty((table.num_rows, len(manifest.features)), dtype=np.float32)
    for j, feature in enumerate(manifest.features):
        values = column(feature)
        if values.dtype.kind not in "biuf":
            raise DatasetError(f"client {name!r}, {split} split: feature column {feature!r} holds {values.dtype} "
                               f"values, not numbers ({path}); encode it (fedfair data build --categorical) and rebuild")
        x[:, j] = values
    if not np.isfinite(x).all():
        bad = [f for j, f in enumerate(manifest.features) if not np.isfinite(x[:, j]).all()]
        raise DatasetError(f"client {name!r}, {split} split: feature column(s) {bad[:5]} hold NaN / infinite values "
                           f"({path}); rebuild the dataset (fedfair data build --impute)")
    groups = {a: np.array(column(a)) for a in manifest.sensitive}
    for attr, values in groups.items():
        undeclared = _undeclared(values, manifest.sensitive_values[attr])
        if undeclared:
            raise DatasetError(f"client {name!r}, {split} split: sensitive column {attr!r} holds value(s) "
                               f"{undeclared[:5]} that {manifest.root / MANIFEST} does not declare (sensitive.{attr}."
                               f"values = {manifest.sensitive_values[attr][:10]}); rebuild the dataset or declare them")
    return Split(x=x, y=y.astype(np.int64), sensitive=groups)


def _undeclared(column: np.ndarray, declared: list[Any]) -> list[Any]:
    """Values of a sensitive column the manifest does not list (1 and 1.0 match; 1 and "1" do not)."""
    known = {(isinstance(v, str), v) for v in declared}
    present = np.unique(column) if column.dtype.kind in "biuf" else list(dict.fromkeys(column.tolist()))
    return [v.item() if isinstance(v, np.generic) else v for v in present
            if (isinstance(v, str), v.item() if isinstance(v, np.generic) else v) not in known]


def _empty_split(manifest: Manifest) -> Split:
    return Split(
        x=np.zeros((0, len(manifest.features)), dtype=np.float32),
        y=np.zeros(0, dtype=np.int64),
        sensitive={a: np.zeros(0) for a in manifest.sensitive},
    )


@lru_cache(maxsize=8)
def _manifest_cached(root: str, mtime: float) -> Manifest:
    """The manifest the client loader reads, parsed once per (dataset, version) and process: a 1,000-client
    manifest takes ~4 ms to parse, as long as reading a client's splits."""
    return read_manifest(root)


# every (dataset, client) a process serves: a Ray worker a few, the in-process engine all of a federation's
# clients (10,000 clients of 200 rows x 20 features: ~0.2 GB), loaded once each
CLIENT_CACHE_SIZE = 100_000


def _load_client_cached(root: str, mtime: float, client: str | int) -> ClientData:
    """One client's data by name or partition id, cached by its partition id (a name and an id share one copy)."""
    return _load_client_at(root, mtime, _manifest_cached(root, mtime).client_index(client))


@lru_cache(maxsize=CLIENT_CACHE_SIZE)
def _load_client_at(root: str, mtime: float, idx: int) -> ClientData:
    manifest = _manifest_cached(root, mtime)
    entry = manifest.clients[idx]
    train = read_split(manifest, entry, "train")
    test = read_split(manifest, entry, "test")
    assert train is not None and test is not None
    return ClientData(
        name=entry.name,
        partition_id=idx,
        train=train,
        test=test,
        val=read_split(manifest, entry, "val"),
        sensitive_values=manifest.sensitive_values,
        default_model=manifest.default_model,
        num_classes=manifest.num_classes,
        input_shape=manifest.input_shape,
    )


# (what, key) -> value of the file-system lookups made within :func:`lookups_held`; None outside it
_held_lookups: dict[tuple[str, Any], Any] | None = None


@contextlib.contextmanager
def lookups_held() -> Iterator[None]:
    """Within: a dataset directory's resolved path, version and kind are looked up once (:func:`held_lookup`).
    The in-process engine holds them for one exchange (a dataset does not change between one round's messages;
    1,000 clients made ~10 file-system calls each per message); elsewhere every call looks afresh."""
    global _held_lookups
    outer, _held_lookups = _held_lookups, ({} if _held_lookups is None else _held_lookups)
    try:
        yield
    finally:
        _held_lookups = outer


def held_lookup(what: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per (what, key) within :func:`lookups_held`, else every time."""
    if _held_lookups is None:
        return compute()
    if (what, key) not in _held_lookups:
        _held_lookups[what, key] = compute()
    return _held_lookups[what, key]


def _dataset_version(root: str | os.PathLike[str]) -> tuple[str, float]:
    """(resolved directory, manifest mtime) of a dataset directory."""
    path = Path(root).expanduser().resolve()
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise DatasetError(f"{path} is not a fedfair dataset: {MANIFEST} not found")
    return str(path), manifest_path.stat().st_mtime


def load_client(root: str | os.PathLike[str], client: str | int) -> ClientData:
    """Load one client's splits (by name or partition id), once per process."""
    path, mtime = held_lookup("dataset", str(root), lambda: _dataset_version(root))
    return _load_client_cached(path, mtime, client)


def validate_dataset(root: str | os.PathLike[str]) -> Manifest:
    """Load every client once, so that a bad dataset fails before training starts."""
    manifest = read_manifest(root)
    classes: set[int] = set()
    for name in manifest.client_names:
        data = load_client(manifest.root, name)
        for split in (data.train, data.test, data.val):
            if split is not None:
                classes.update(np.unique(split.y).tolist())
    if manifest.num_classes > 2 and len(classes) <= 2:
        raise DatasetError(f"{manifest.root / MANIFEST}: num_classes is {manifest.num_classes}, but the labels of "
                           f"every client hold only {sorted(classes)}: a binary label; set num_classes to 2 (or "
                           f"leave it out), or rebuild the dataset")
    return manifest
