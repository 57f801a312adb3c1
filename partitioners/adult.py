"""UCI Adult's raw files: where they are, and the cleaned table (seed 000, Section 4.3 and Appendix C.3).

Raw files ``adult.data`` and ``adult.test`` are read from a local directory
(``data_root`` argument, or the environment variable ``FEDFAIR_DATA_ROOT``; the
files may sit in it or in its ``adult/`` subfolder). Otherwise they are
downloaded from the UCI repository into the fedfair cache.

Sensitive attributes: ``race`` (1 = White, 2 = Non-White) and ``sex``
(1 = Male, 2 = Female). Both splits of the original release are pooled
(48,842 rows); the ``adult`` source hands them to the builder, which makes the
``adult`` / ``adult-iid`` builtins (:mod:`fedfair.partitioners.builtins`).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.paths import cache_dir, data_folders

UCI_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
FILES = ("adult.data", "adult.test")
COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]
CATEGORICAL = ["workclass", "marital-status", "occupation", "relationship", "native-country"]
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
LOG_SCALED = ["capital-gain", "capital-loss"]

# Seed 000 Sec. 4.3: "5 clients, each with an unbalanced number of samples based
# on race". The paper gives no shares; these reproduce the structure it reports:
# clients 0-2 are mostly White and 3-4 hold most Non-White rows (IFCA's clusters
# {0,1,2} / {3,4}), and client 2 is much smaller (FL+HC's {0,1,3,4} / {2}).
RACE_SHARES = {1: [0.30, 0.30, 0.10, 0.15, 0.15], 2: [0.05, 0.05, 0.02, 0.44, 0.44]}


def find_raw_files(data_root: str | os.PathLike[str] | None = None, download: bool = True) -> Path:
    """Directory holding adult.data and adult.test: local first, then the UCI download."""
    candidates = data_folders(data_root, "adult")
    cached = cache_dir() / "raw" / "adult"
    candidates.append(cached)
    for folder in candidates:
        if all((folder / f).is_file() for f in FILES):
            return folder
    if download:
        try:
            cached.mkdir(parents=True, exist_ok=True)
            for name in FILES:
                tmp = cached / f".{name}.part"
                urllib.request.urlretrieve(UCI_BASE + name, tmp)  # noqa: S310 (fixed https URL)
                tmp.rename(cached / name)
            return cached
        except OSError as err:
            reason = f"download from {UCI_BASE} failed ({err})"
    else:
        reason = "download disabled"
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetError(
        f"UCI Adult raw files not found and {reason}. Put adult.data and adult.test in a directory "
        f"and pass --data-root DIR (or set FEDFAIR_DATA_ROOT=DIR). Looked in: {looked}"
    )


def read_adult(folder: Path) -> pd.DataFrame:
    """Both raw files, cleaned: 48,842 rows, label 0/1, race / sex as codes."""
    frames = []
    for name in FILES:
        frame = pd.read_csv(
            folder / name, header=None, names=COLUMNS, skipinitialspace=True,
            skiprows=1 if name == "adult.test" else 0, na_values=[], keep_default_na=False,
        )
        frames.append(frame.dropna(subset=["income"]))
    data = pd.concat(frames, ignore_index=True)
    data = data[data["income"].astype(str).str.len() > 0]
    income = data["income"].astype(str).str.rstrip(".")
    if not set(income.unique()) <= {">50K", "<=50K"}:
        raise DatasetError(f"{folder}: unexpected income labels {sorted(income.unique())[:5]}")
    out = pd.DataFrame({"income": (income == ">50K").astype(np.int64)})
    out["race"] = np.where(data["race"].to_numpy() == "White", 1, 2).astype(np.int64)
    out["sex"] = np.where(data["sex"].to_numpy() == "Male", 1, 2).astype(np.int64)
    for col in NUMERIC:
        values = data[col].astype(float).to_numpy()
        out[col] = np.log1p(values) if col in LOG_SCALED else values
    dummies = pd.get_dummies(data[CATEGORICAL].astype(str), prefix=CATEGORICAL, prefix_sep="=", dtype=np.float32)
    out = pd.concat([out.reset_index(drop=True), dummies.reset_index(drop=True)], axis=1)
    out["race=Non-White"] = (out["race"] == 2).astype(np.float32)
    out["sex=Female"] = (out["sex"] == 2).astype(np.float32)
    return out
