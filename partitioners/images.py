"""Image datasets from local files (nothing is downloaded): MNIST, Fashion-MNIST, EMNIST, CIFAR-10, digits.

Where the files are looked for, in order: ``data_root``, ``$FEDFAIR_DATA_ROOT``
(each as given and with the set's folder name appended), then system paths.
Layouts:

- ``mnist``: the IDX files ``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]`` (folder ``mnist``), or, when those are
  absent, ``mnist_5k.csv.gz`` (784 pixel columns, then the label; 5,000 rows).
- ``fashion-mnist``: the same four IDX file names (folder ``fashion-mnist``;
  the Debian package ``dataset-fashion-mnist`` installs them in
  ``/usr/share/datasets/fashion-mnist``).
- ``emnist``: ``emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]``
  (folder ``emnist``, the "gzip" release of NIST; split ``balanced`` by default).
  EMNIST stores images transposed; they are turned upright here. Labels of the
  ``letters`` split start at 1 and are shifted to 0.
- ``cifar10``: the binary release (``cifar-10-binary.tar.gz``), ``data_batch_1.bin`` ..
  ``data_batch_5.bin`` and ``test_batch.bin``, each record one label byte then
  3,072 pixel bytes (channel-major), folder ``cifar-10-batches-bin``. The python
  release is a set of pickles, which fedfair does not load (a pickle can run
  code): an error says to use the binary release.
- ``digits``: scikit-learn's bundled 8 x 8 digits (1,797 rows, always available).

Every set is returned as pixels scaled to [0, 1] (float32, one row per image in
C-order of ``input_shape``) and integer labels 0..C-1; the official train and
test files are pooled (fedfair splits each client itself).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedfair.data import DatasetError

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{k}.bin" for k in range(1, 6)) + ("test_batch.bin",)
CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte + channel-major pixels
FOLDERS = {"mnist": ("mnist",), "fashion-mnist": ("fashion-mnist",), "emnist": ("emnist",),
           "cifar10": ("cifar-10-batches-bin", "cifar10")}
SYSTEM_DIRS = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist",)}
IMAGE_SETS = ("mnist", "fashion-mnist", "emnist", "cifar10", "digits")


@dataclass(frozen=True)
class Images:
    """Pixels in [0, 1] (n x prod(input_shape), float32), labels 0..C-1, and what they are."""

    pixels: np.ndarray
    labels: np.ndarray
    input_shape: tuple[int, int, int]
    num_classes: int
    source: dict


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as a uint8 array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: {body.size} bytes of data for the declared shape {dims.tolist()}")
    return body.reshape(dims)


def _candidates(name: str, data_root: str | os.PathLike[str] | None) -> list[Path]:
    roots = [r for r in (data_root, os.environ.get("FEDFAIR_DATA_ROOT")) if r]
    out = []
    for root in roots:
        out.append(Path(root).expanduser())
        out += [Path(root).expanduser() / folder for folder in FOLDERS.get(name, ())]
    return out + [Path(p) for p in SYSTEM_DIRS.get(name, ())]


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _missing(name: str, looked: Sequence[Path], wanted: str) -> DatasetError:
    return DatasetError(
        f"{name}: {wanted} not found and fedfair downloads nothing. Put the files in a directory and pass "
        f"--data-root DIR (or set FEDFAIR_DATA_ROOT=DIR; DIR or DIR/{FOLDERS.get(name, (name,))[0]}). "
        f"Looked in: {', '.join(str(p) for p in looked) or 'nothing (no data root given)'}"
    )


def _idx_set(name: str, folder: Path, stems: Sequence[str], transpose: bool = False, shift: int = 0) -> Images:
    arrays = [read_idx(_find(folder, s)) for s in stems]  # type: ignore[arg-type]
    images = np.concatenate([arrays[0], arrays[2]])
    if transpose:
        images = images.transpose(0, 2, 1)
    labels = np.concatenate([arrays[1], arrays[3]]).astype(np.int64) - shift
    n, height, width = images.shape
    return Images((images.reshape(n, -1) / 255.0).astype(np.float32), labels, (1, height, width),
                  int(labels.max()) + 1, {"kind": name, "files": str(folder), "rows": int(n)})


def load_images(name: str, data_root: str | os.PathLike[str] | None = None, emnist_split: str = "balanced") -> Images:
    """The image set ``name`` (see the module docstring for the layouts)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return Images((digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64), (1, 8, 8), 10,
                      {"kind": "digits", "files": "sklearn.datasets.load_digits", "rows": int(len(digits.target))})
    if name not in FOLDERS:
        raise DatasetError(f"unknown image set {name!r}; valid: {', '.join(IMAGE_SETS)}")
    looked = _candidates(name, data_root)
    for folder in looked:
        if name in ("mnist", "fashion-mnist") and all(_find(folder, s) for s in IDX_FILES):
            return _idx_set(name, folder, IDX_FILES)
        if name == "emnist":
            stems = [f"emnist-{emnist_split}-{s.replace('t10k', 'test')}" for s in IDX_FILES]
            if all(_find(folder, s) for s in stems):
                return _idx_set(name, folder, stems, transpose=True, shift=1 if emnist_split == "letters" else 0)
        if name == "cifar10" and all((folder / f).is_file() for f in CIFAR_FILES):
            return _cifar(folder)
        if name == "cifar10" and (folder / "data_batch_1").is_file():
            raise DatasetError(f"cifar10: {folder} holds the python release (pickles), which fedfair does not load "
                               f"(a pickle can run code); use the binary release cifar-10-binary.tar.gz "
                               f"({', '.join(CIFAR_FILES)})")
    if name == "mnist":
        for folder in looked:
            if (folder / "mnist_5k.csv.gz").is_file():
                return _mnist_csv(folder / "mnist_5k.csv.gz")
    wanted = {"mnist": f"the IDX files ({', '.join(IDX_FILES)}, .gz or not) or mnist_5k.csv.gz",
              "fashion-mnist": f"the IDX files ({', '.join(IDX_FILES)}, .gz or not)",
              "emnist": f"emnist-{emnist_split}-*-ubyte[.gz] files", "cifar10": f"{', '.join(CIFAR_FILES)}"}[name]
    raise _missing(name, looked, wanted)


def _mnist_csv(path: Path) -> Images:
    import pandas as pd

    table = pd.read_csv(path, header=None).to_numpy()
    if table.shape[1] != 785:
        raise DatasetError(f"{path}: expected 784 pixel columns and a label, got {table.shape[1]} columns")
    return Images((table[:, :784] / 255.0).astype(np.float32), table[:, 784].astype(np.int64), (1, 28, 28), 10,
                  {"kind": "mnist", "files": str(path), "rows": int(len(table))})


def _cifar(folder: Path) -> Images:
    records = []
    for name in CIFAR_FILES:
        raw = np.fromfile(folder / name, dtype=np.uint8)
        if raw.size == 0 or raw.size % CIFAR_RECORD:
            raise DatasetError(f"cifar10: {folder / name} is not a CIFAR-10 binary batch ({raw.size} bytes, not a "
                               f"multiple of {CIFAR_RECORD})")
        records.append(raw.reshape(-1, CIFAR_RECORD))
    table = np.concatenate(records)
    labels = table[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetError(f"cifar10: {folder} holds label {int(labels.max())}; CIFAR-10 labels are 0..9")
    return Images((table[:, 1:] / 255.0).astype(np.float32), labels, (3, 32, 32), 10,
                  {"kind": "cifar10", "files": str(folder), "rows": int(len(table))})
