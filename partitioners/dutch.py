"""The Dutch census 2001 data (Van der Laan 2001; the fairness literature's 60,420-row extract).

Not available offline and not downloaded: put the file in a local directory
and pass ``--data-root DIR`` (or set ``FEDFAIR_DATA_ROOT``). Layout: ``dutch.csv``
(or ``dutch.csv.zip``) in DIR or in ``DIR/dutch/``, with a header row and the
columns of Le Quy et al.'s survey extract (Kamiran & Calders' ARFF converted
to CSV): ``sex``, ``age``, ``household_position``, ``household_size``,
``prev_residence_place``, ``citizenship``, ``country_birth``, ``edu_level``,
``economic_status``, ``cur_eco_activity``, ``Marital_status`` and the label
``occupation`` (``2_1``: a prestigious, high-level occupation, positive;
``5_4_9``: not).

Cleaned table: ``sex`` 1 = male / 2 = female (the sensitive attribute, seed
001's gender; the file may code it 1 / 2 or as words), the other ten columns
as categories (one-hot by the builder), ``occupation`` 0 / 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.paths import data_folders

FILES = ("dutch.csv", "dutch.csv.zip")
CATEGORICAL = ["age", "household_position", "household_size", "prev_residence_place", "citizenship",
               "country_birth", "edu_level", "economic_status", "cur_eco_activity", "Marital_status"]
LABEL = "occupation"
POSITIVE = "2_1"


def find_dutch_file(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The local dutch.csv: in ``data_root``, its ``dutch/`` folder, or FEDFAIR_DATA_ROOT's."""
    candidates = data_folders(data_root, "dutch")
    for folder in candidates:
        for name in FILES:
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no --data-root and no FEDFAIR_DATA_ROOT)"
    raise DatasetError(f"Dutch census file dutch.csv not found (it is not downloadable offline): put it in a "
                       f"directory and pass --data-root DIR; the layout is in partitioners/dutch.py. Looked in: {looked}. "
                       f"Offline, seed 001's 4-client experiment runs on the stand-in builtin adult-dutch-standin")


def _sex_codes(column: pd.Series) -> np.ndarray:
    text = column.astype(str).str.strip().str.lower()
    codes = np.where(text.isin(["1", "male", "m"]), 1, np.where(text.isin(["2", "female", "f"]), 2, 0))
    if (codes == 0).any():
        raise DatasetError(f"dutch.csv: sex values {sorted(set(text[codes == 0]))[:5]} are neither 1 / 2 nor male / female")
    return codes


def read_dutch(path: Path) -> pd.DataFrame:
    """The cleaned table (see the module docstring)."""
    raw = pd.read_csv(path, dtype=str)
    absent = [c for c in ["sex", *CATEGORICAL, LABEL] if c not in raw.columns]
    if absent:
        raise DatasetError(f"{path}: column(s) {absent} missing; expected {['sex', *CATEGORICAL, LABEL]}")
    labels = raw[LABEL].str.strip()
    unknown = sorted(set(labels) - {POSITIVE, "5_4_9"})
    if unknown:
        raise DatasetError(f"{path}: occupation values {unknown[:5]}: expected 2_1 (high-level) or 5_4_9")
    table = raw[CATEGORICAL].apply(lambda c: c.str.strip())
    table["sex"] = _sex_codes(raw["sex"])
    table[LABEL] = (labels == POSITIVE).astype(int)
    return table
