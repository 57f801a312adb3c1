"""The Law School admissions data (LSAC bar passage study, Wightman 1998), Kusner et al.'s version.

Read from ``law.csv.zip`` (or ``law.csv``) in a local directory: the
``data_root`` argument or ``FEDFAIR_DATA_ROOT``, the file in it or in its
``law/`` subfolder. Columns: LSAT, UGPA, ZFYA, one-hot ``Race_*`` (eight
values), ``Sex_1`` / ``Sex_2`` and ``PF_0`` / ``PF_1`` (fail / pass the bar):
21,791 rows. It is not downloaded (no stable public URL serves this layout):
put the file there.

Cleaned table: LSAT, UGPA, ZFYA (features), ``race`` 1 = White / 2 = non-White
and ``sex`` 1 = Male / 2 = Female (sensitive, also features as indicators),
``pass`` 0 / 1 (label). Reading of the sex codes: ``Sex_2`` is the larger group
(56 %), as men are in the LSAC study, so Sex_2 = Male. Seed 001 uses the
fairness literature's 11-feature version (decile1b, decile3, lsat, ugpa,
zfygpa, zgpa, fulltime, fam_inc, male, tier, race; 20,798 rows): this one has 5
of them (lsat, ugpa, zfygpa, sex, race).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.paths import data_folders

FILES = ("law.csv.zip", "law.csv")
NUMERIC = ["LSAT", "UGPA", "ZFYA"]


def find_law_file(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The local law.csv.zip (or law.csv): in ``data_root``, its ``law/`` folder, or FEDFAIR_DATA_ROOT's."""
    candidates = data_folders(data_root, "law")
    for folder in candidates:
        for name in FILES:
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no --data-root and no FEDFAIR_DATA_ROOT)"
    raise DatasetError(f"Law School file law.csv.zip not found: put Kusner et al.'s law.csv.zip (LSAT, UGPA, ZFYA, "
                       f"Race_*, Sex_1/2, PF_0/1) in a directory and pass --data-root DIR. Looked in: {looked}")


def read_law(path: Path) -> pd.DataFrame:
    """The cleaned table (see the module docstring)."""
    raw = pd.read_csv(path)
    needed = [*NUMERIC, "Race_White", "Sex_1", "Sex_2", "PF_1"]
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise DatasetError(f"{path}: column(s) {absent} missing; expected Kusner et al.'s layout "
                           f"(LSAT, UGPA, ZFYA, Race_*, Sex_1/2, PF_0/1), found {list(raw.columns)[:12]}")
    return pd.DataFrame({
        **{c: raw[c].astype(float) for c in NUMERIC},
        "race": np.where(raw["Race_White"] == 1, 1, 2),
        "sex": np.where(raw["Sex_2"] == 1, 1, 2),
        "pass": raw["PF_1"].astype(int),
    })
