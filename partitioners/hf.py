"""Any Hugging Face dataset as a FeDa4Fair source (seed 002, Section 3: dataset-agnostic use through the
``datasets`` library and Flower's FederatedDataset).

``load_hf_source(path, split, label, sensitive, positive, natural_client)`` reads, through ``datasets``:

- a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``;
- a directory of ``.parquet``, ``.csv`` or ``.arrow`` files, or one such file;
- a hub name (``user/name``), only when the hub is reachable; offline and not cached it is a one-line error.

Rows become one natural client (named after the dataset), or one per value of ``natural_client`` (e.g. a
state or hospital column, then dropped from the features). Image columns (``datasets.Image``) become pixel
features ``<column>_px0``.. in [0, 1] with ``input_shape`` (channels, height, width), so CelebA or FairFace
go through the same builder as ACS. A ``ClassLabel`` label with more than two names and no ``positive`` is
a multi-class label (class indices); otherwise ``positive`` (default 1, or True for a boolean label) is the
positive value. Every later step (mapping, bias exacerbation, partitioning, splits, audit) is the builder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError

FILE_KINDS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def _open(path: str, split: str) -> Any:
    """The ``datasets.Dataset`` of ``split`` behind ``path`` (a saved directory, data files or a hub name)."""
    import datasets

    local = Path(path).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").is_file() or (local / "dataset_dict.json").is_file()):
        loaded = datasets.load_from_disk(str(local))
    elif local.exists():
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.suffix in FILE_KINDS)
        kinds = {FILE_KINDS.get(p.suffix) for p in files}
        if not files or None in kinds or len(kinds) != 1:
            raise DatasetError(f"hf: {local} holds no dataset saved with save_to_disk and no single kind of "
                               f"{', '.join(FILE_KINDS)} files; give one of those")
        loaded = datasets.load_dataset(kinds.pop(), data_files={split: [str(p) for p in files]})
    else:
        try:
            loaded = datasets.load_dataset(path, split=split)
        except Exception as err:  # offline, unknown name, no access
            offline = datasets.config.HF_HUB_OFFLINE or "offline" in str(err).lower() or "connect" in str(err).lower()
            why = "the Hugging Face hub is offline here" if offline else str(err).splitlines()[0][:200]
            raise DatasetError(f"hf: {path!r} is not a local directory or file and cannot be loaded from the hub "
                               f"({why}); save it with Dataset.save_to_disk where it can be downloaded and give "
                               f"that directory") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DatasetError(f"hf {path}: no split {split!r}; it has {', '.join(loaded)} (use --split)")
        loaded = loaded[split]
    return loaded


def _pixels(dataset: Any, column: str) -> tuple[np.ndarray, tuple[int, int, int]]:
    """An image column as rows of pixels in [0, 1], channels first, and its (channels, height, width)."""
    images = [np.asarray(image, dtype=np.float32) for image in dataset[column]]
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise DatasetError(f"hf: image column {column!r} holds images of several sizes {sorted(shapes)[:3]}; resize "
                           f"them to one size first (e.g. dataset.map with PIL's resize)")
    stack = np.stack(images)
    stack = stack[:, None] if stack.ndim == 3 else np.transpose(stack, (0, 3, 1, 2))  # (n, C, H, W)
    scale = 255.0 if stack.max(initial=0.0) > 1.0 else 1.0
    return (stack / scale).reshape(len(images), -1), tuple(int(d) for d in stack.shape[1:])  # type: ignore[return-value]


def load_hf_source(path: str | None = None, split: str = "train", label: str | None = None, positive: Any = None,
                   sensitive: Sequence[str] | None = None, natural_client: str | None = None, **_: Any) -> SourceData:
    """A Hugging Face dataset as natural clients (module docstring)."""
    import datasets

    from fedfair.partitioners.sources import SourceData

    if not path:
        raise DatasetError("hf: give --path (a save_to_disk directory, data files or a hub name)")
    if not label:
        raise DatasetError("hf: give the label column (--label)")
    sensitive = list(sensitive or [])
    dataset = _open(str(path), split)
    features = dataset.features
    absent = [c for c in [label, *sensitive, *([natural_client] if natural_client else [])] if c not in features]
    if absent:
        raise DatasetError(f"hf {path}: column(s) {absent} not found; columns: {list(features)}")
    images = [c for c, kind in features.items() if isinstance(kind, datasets.Image)]
    if len(images) > 1:
        raise DatasetError(f"hf {path}: several image columns {images}; keep one (dataset.remove_columns)")
    frame = dataset.remove_columns(images).to_pandas() if images else dataset.to_pandas()
    input_shape = None
    if images:
        pixels, input_shape = _pixels(dataset, images[0])
        frame = pd.concat([pd.DataFrame(pixels, columns=[f"{images[0]}_px{i}" for i in range(pixels.shape[1])]),
                           frame.reset_index(drop=True)], axis=1)
    label_kind = features[label]
    num_classes = 2
    if isinstance(label_kind, datasets.ClassLabel) and label_kind.num_classes > 2 and positive is None:
        num_classes = label_kind.num_classes
    elif positive is None:
        positive = True if frame[label].dtype == bool else 1
    name = Path(str(path)).name or str(path)
    if natural_client:
        values = frame[natural_client].unique()
        if len(values) < 2:
            raise DatasetError(f"hf {path}: the natural-client column {natural_client!r} has one value ({values[0]!r}): "
                               f"nothing to split; leave --natural-client out and partition with --partition")
        clients = {str(value): part.drop(columns=[natural_client]).reset_index(drop=True)
                   for value, part in frame.groupby(natural_client, sort=True)}
    else:
        clients = {name: frame}
    value_labels = {c: {str(i): n for i, n in enumerate(features[c].names)}
                    for c in sensitive if isinstance(features[c], datasets.ClassLabel)}
    info = {"kind": "hf", "path": str(path), "split": split, "rows": int(len(frame)),
            "fingerprint": getattr(dataset, "_fingerprint", ""), "datasets_version": datasets.__version__,
            **({"natural_client": natural_client} if natural_client else {}), **({"image_column": images[0]} if images else {})}
    return SourceData(clients=clients, label=label, positive=positive if num_classes == 2 else None, sensitive=sensitive,
                      value_labels=value_labels, info=info, num_classes=num_classes, input_shape=input_shape).check()
