"""Sources: one raw table per natural client (a US state, a CSV file, ...).

Every source returns a :class:`SourceData`: ``clients`` maps a natural client's
name to a frame holding its features, the label (raw values) and the sensitive
columns. :mod:`fedfair.partitioners.builder` turns that into a federated dataset.

- ``acs``: a folktables task (ACSIncome, ACSEmployment, ACSHealthInsurance,
  ACSPublicCoverage or any ``folktables.BasicProblem`` by name), one client per
  state. Offline, ``acs_root`` must hold the folktables layout
  ``<acs_root>/<year>/<horizon>/psam_p<FIPS>.csv`` (e.g.
  ``acs/2018/1-Year/psam_p01.csv`` for Alabama; years before 2017 use
  ``ss<yy>p<state>.csv``); otherwise files are downloaded from census.gov into
  the fedfair cache.
- ``csv-dir``: a directory of per-client CSV files (``.csv`` or ``.csv.gz``).
- ``hf``: any Hugging Face dataset through ``datasets`` (a ``save_to_disk``
  directory, parquet / csv / arrow files, or a hub name when online), one
  natural client or one per value of a column (:mod:`fedfair.partitioners.hf`).
- ``synthetic-acs``: an offline ACSIncome-schema generator with state-to-state
  heterogeneity (clearly marked synthetic).
- ``adult``: UCI Adult, one natural client (partition it).
- ``synthetic-gaussian-8``: seed 000's Table 2 clients, with their own train / test split.
- ``mnist``, ``fashion-mnist``, ``emnist``, ``cifar10``, ``digits``: image sets
  from local files (:mod:`fedfair.partitioners.images`), one natural client each, a
  multi-class label and ``input_shape``; partition them (e.g. ``pathological``).
"""

from __future__ import annotations

import inspect
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.paths import cache_dir

# folktables' state order (50 states + PR); seed 000's "state IDs" are 1-based positions in it.
ACS_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR",
)
ACS_TASKS = ("ACSIncome", "ACSEmployment", "ACSHealthInsurance", "ACSPublicCoverage")
ACS_VALUE_LABELS: dict[str, dict[str, str]] = {
    "SEX": {"1": "Male", "2": "Female"},
    "RAC1P": {
        "1": "White", "2": "Black", "3": "American Indian", "4": "Alaska Native",
        "5": "American Indian and/or Alaska Native", "6": "Asian", "7": "Native Hawaiian / Pacific Islander",
        "8": "Some other race", "9": "Two or more races",
    },
}
# A source that comes with its own split marks each row "train", "val" or "test" in this column;
# the builder honours it with ``splits="source"`` and drops it otherwise.
SPLIT_COLUMN = "__split__"
# Stray index columns of pandas / pyarrow exports (FeDa4Fair's device release has them).
INDEX_COLUMN_PREFIXES = ("Unnamed:", "__index_level_")
SPEC_FILES = ("fedfair-source.json", "spec.json")


@dataclass
class SourceData:
    """Raw natural clients plus what the builder needs to know about them."""

    clients: dict[str, pd.DataFrame]
    label: str
    positive: Any
    sensitive: list[str]
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False
    num_classes: int = 2  # > 2: the label holds class indices 0..C-1 (no positive value)
    input_shape: tuple[int, ...] | None = None  # image features: pixel columns in C-order

    def check(self) -> "SourceData":
        """Every client non-empty with the label and the sensitive columns."""
        if not self.clients:
            raise DatasetError(f"source {self.info.get('kind')}: no clients")
        for name, frame in self.clients.items():
            if len(frame) == 0:
                raise DatasetError(f"client {name!r}: no rows in the source")
            absent = [c for c in [self.label, *self.sensitive] if c not in frame.columns]
            if absent:
                raise DatasetError(f"client {name!r}: column(s) {absent} not found; columns: {list(frame.columns)}")
        return self


IMPUTE = ("none", "mean", "median", "drop")


def _missing(column: pd.Series) -> np.ndarray:
    """Rows of a column that are NaN / None, or +-inf in a numeric column."""
    missing = np.array(column.isna().to_numpy(), dtype=bool)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        missing |= ~np.isfinite(column.to_numpy(dtype=np.float64, na_value=np.nan))
    return missing


def check_finite(src: SourceData, drop_columns: Sequence[str] = (), impute: str = "none") -> dict[str, Any] | None:
    """Source tables hold no NaN / None / infinite value: in the label or a sensitive column that is an error
    naming the column, the client and the row count; in a feature, too, unless ``impute`` says what to do:
    ``mean`` / ``median`` (of that natural client's finite values of the column, over all its rows, before the
    split), or ``drop`` (the rows). Returns the preprocessing step to record (None when nothing was imputed)."""
    if impute not in IMPUTE:
        raise DatasetError(f"impute must be one of {', '.join(IMPUTE)}, got {impute!r}")
    fixed: dict[str, dict[str, int]] = {}
    for name, frame in src.clients.items():
        for column in [src.label, *src.sensitive]:
            bad = int(_missing(frame[column]).sum())
            if bad:
                what = "label" if column == src.label else "sensitive column"
                raise DatasetError(f"client {name!r}: {what} {column!r} has {bad} missing / NaN / infinite value(s) "
                                   f"of {len(frame)} rows; fill or drop those rows in the source")
        features = [c for c in frame.columns if c not in (src.label, *src.sensitive, SPLIT_COLUMN, *drop_columns)]
        gaps = {c: _missing(frame[c]) for c in features}
        gaps = {c: rows for c, rows in gaps.items() if rows.any()}
        if not gaps:
            continue
        if impute == "none":
            column, rows = next(iter(gaps.items()))
            others = f" (and {len(gaps) - 1} more column(s))" if len(gaps) > 1 else ""
            raise DatasetError(f"client {name!r}: feature {column!r} has {int(rows.sum())} missing / NaN / infinite "
                               f"value(s) of {len(frame)} rows{others}; fix the source, leave the column out "
                               f"(--drop-columns) or choose --impute mean, median or drop")
        if impute == "drop":
            keep = ~np.logical_or.reduce(list(gaps.values()))
            if not keep.any():
                raise DatasetError(f"client {name!r}: --impute drop leaves no row (every row has a missing feature)")
            src.clients[name] = frame[keep].reset_index(drop=True)
            fixed[name] = {"rows_dropped": int((~keep).sum())}
            continue
        frame = frame.copy()
        for column, rows in gaps.items():
            if not pd.api.types.is_numeric_dtype(frame[column]):
                raise DatasetError(f"client {name!r}: feature {column!r} is not numeric; --impute {impute} needs "
                                   f"numbers: use --impute drop or --drop-columns {column}")
            finite = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)[~rows]
            if len(finite) == 0:
                raise DatasetError(f"client {name!r}: feature {column!r} has no finite value to impute from; "
                                   f"use --drop-columns {column}")
            value = float(np.mean(finite) if impute == "mean" else np.median(finite))
            frame[column] = frame[column].astype(np.float64).where(~rows, value)
            fixed.setdefault(name, {})[column] = int(rows.sum())
        src.clients[name] = frame
    return {"step": "impute", "method": impute, "clients": fixed} if fixed else None


def same_value(values: Any, value: Any) -> np.ndarray:
    """``values == value`` that matches 2 with 2.0 (CSV floats), True with "True" and "2" with 2."""
    values = np.asarray(values)
    if values.dtype == bool:
        return values == (str(value).lower() in ("true", "1", "1.0"))
    if np.issubdtype(values.dtype, np.number):
        try:
            return values == float(value)
        except (TypeError, ValueError):
            return np.zeros(len(values), dtype=bool)
    return values.astype(str) == str(value)


def _states(states: Sequence[str] | None) -> list[str]:
    if not states:
        return list(ACS_STATES)
    states = [s.strip().upper() for s in states]
    unknown = [s for s in states if s not in ACS_STATES]
    if unknown:
        raise DatasetError(f"unknown state(s) {unknown}; valid: {', '.join(ACS_STATES)}")
    return states


# ----- acs (folktables) --------------------------------------------------------
def acs_problem(task: str) -> Any:
    """The folktables problem named ``task``."""
    import folktables

    problem = getattr(folktables, task, None)
    if not isinstance(problem, folktables.BasicProblem):
        names = sorted(n for n in dir(folktables) if isinstance(getattr(folktables, n), folktables.BasicProblem))
        raise DatasetError(f"unknown folktables task {task!r}; valid tasks: {', '.join(names)}")
    return problem


def load_acs(
    task: str = "ACSIncome",
    year: int = 2018,
    horizon: str = "1-Year",
    states: Sequence[str] | None = None,
    acs_root: str | os.PathLike[str] | None = None,
    sensitive: Sequence[str] = ("SEX", "RAC1P"),
    **_: Any,
) -> SourceData:
    """One client per state from folktables (local files under ``acs_root`` or a download)."""
    from folktables import ACSDataSource

    if horizon not in ("1-Year", "5-Year"):
        raise DatasetError(f"horizon must be '1-Year' or '5-Year', got {horizon!r}")
    problem = acs_problem(task)
    root = Path(acs_root).expanduser() if acs_root else cache_dir() / "raw" / "acs"
    source = ACSDataSource(survey_year=str(year), horizon=horizon, survey="person", root_dir=str(root))
    clients = {}
    for state in _states(states):
        try:
            raw = source.get_data(states=[state], download=acs_root is None)
        except (FileNotFoundError, OSError) as err:
            where = root / str(year) / horizon
            raise DatasetError(
                f"ACS {year} {horizon} person file for {state} not found under {where} ({err}). "
                f"Offline: place folktables' files there (psam_p<FIPS>.csv, e.g. psam_p01.csv for AL) "
                f"and pass --acs-root {root}"
            ) from err
        features, target, _ = problem.df_to_pandas(raw)
        frame = features.reset_index(drop=True)
        frame[problem.target] = target.iloc[:, 0].to_numpy()
        clients[state] = frame
    absent = [a for a in sensitive if a not in next(iter(clients.values())).columns]
    if absent:
        raise DatasetError(f"sensitive attribute(s) {absent} are not columns of {task}; columns: {problem.features}")
    return SourceData(
        clients=clients, label=problem.target, positive=True, sensitive=list(sensitive),
        value_labels={a: ACS_VALUE_LABELS[a] for a in sensitive if a in ACS_VALUE_LABELS},
        info={"kind": "acs", "task": task, "year": int(year), "horizon": horizon, "root": str(root)},
    ).check()


# ----- csv-dir -----------------------------------------------------------------
def _client_name(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_csv_file(file: Path) -> pd.DataFrame:
    """One source CSV; an empty, binary or malformed file is a DatasetError naming it."""
    try:
        frame = pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{file} is empty: expected a CSV with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetError(f"{file} cannot be read as CSV ({reason}); fix or remove the file") from None
    # pandas renames a repeated name X to X.1; stray index columns (dropped later) may repeat: FeDa4Fair's device
    # release has an unnamed first column and one named "Unnamed: 0", read as "Unnamed: 0" and "Unnamed: 0.1"
    duplicated = [c for c in frame.columns if str(c).rsplit(".", 1)[0] in frame.columns and "." in str(c)
                  and str(c).rsplit(".", 1)[1].isdigit() and not str(c).startswith(INDEX_COLUMN_PREFIXES)]
    if duplicated:
        raise DatasetError(f"{file}: column name(s) {duplicated[:3]} repeat another column's name; rename them")
    return frame


def read_source_spec(path: Path) -> dict[str, Any]:
    """The optional spec file of a csv-dir (label, positive, sensitive, value_labels)."""
    from fedfair.schemas import read_json

    for name in SPEC_FILES:
        if (path / name).is_file():
            spec = read_json(path / name, "source spec", "correct the file (label, positive, sensitive, value_labels)")
            if not isinstance(spec, dict):
                raise DatasetError(f"{path / name}: expected an object with label, positive, sensitive, value_labels")
            return spec
    return {}


def load_csv_dir(
    path: str | os.PathLike[str],
    label: str | None = None,
    positive: Any = None,
    sensitive: Sequence[str] | None = None,
    states: Sequence[str] | None = None,
    **_: Any,
) -> SourceData:
    """Per-client CSV files; the client name is the file name without ``.csv[.gz]``.

    When every file ends in ``_0`` (FeDa4Fair's silo release: ``AK_0.csv.gz``)
    the suffix is dropped so clients are named by state. Stray index columns
    (``Unnamed: 0``, ``__index_level_0__``) are dropped. ``label``, ``positive``
    and ``sensitive`` come from the arguments or from a ``fedfair-source.json``
    in the directory. Files with different columns are an error naming them.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"csv-dir: {root} is not a directory")
    files = sorted(p for p in root.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    if not files:
        raise DatasetError(f"csv-dir: no .csv or .csv.gz files in {root}")
    spec = read_source_spec(root)
    label = label or spec.get("label")
    sensitive = list(sensitive or spec.get("sensitive") or [])
    if not label:
        raise DatasetError(f"csv-dir {root}: give the label column (--label) or put it in {SPEC_FILES[0]}")
    if not sensitive:
        raise DatasetError(f"csv-dir {root}: give the sensitive columns (--sensitive A,B) or put them in {SPEC_FILES[0]}")
    frames, ignored = {}, []
    for file in files:
        frame = read_csv_file(file)
        frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith(INDEX_COLUMN_PREFIXES)])
        if label not in frame.columns and not set(sensitive) & set(frame.columns):
            ignored.append(file.name)  # not client data (e.g. FeDa4Fair's *_modifications.csv)
            continue
        frames[file] = frame
    if not frames:
        raise DatasetError(f"csv-dir {root}: no file has the label column {label!r}")
    names = [_client_name(p) for p in frames]
    if all(n.endswith("_0") for n in names):
        names = [n[:-2] for n in names]
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        files_of = [f.name for f, n in zip(frames, names) if n == twice[0]]
        raise DatasetError(f"csv-dir {root}: files {files_of} all give client {twice[0]!r} (a client is its file "
                           f"name without .csv[.gz]); remove or rename all but one")
    if states:
        wanted = [s.strip() for s in states]
        unknown = [s for s in wanted if s not in names]
        if unknown:
            raise DatasetError(f"csv-dir {root}: unknown client(s) {unknown}; files give {', '.join(names)}")
    clients: dict[str, pd.DataFrame] = {}
    reference: list[str] = []
    first = ""
    for (file, frame), name in zip(frames.items(), names):
        if states and name not in wanted:
            continue
        if not reference:
            reference, first = list(frame.columns), file.name
        elif set(frame.columns) != set(reference):
            extra, missing = sorted(set(frame.columns) - set(reference)), sorted(set(reference) - set(frame.columns))
            raise DatasetError(
                f"csv-dir: {file.name} (client {name!r}) has inconsistent columns: extra {extra}, missing {missing} "
                f"compared with {first}"
            )
        clients[name] = frame[reference]
    absent = [c for c in [label, *sensitive] if c not in reference]
    if absent:
        raise DatasetError(f"csv-dir {root}: column(s) {absent} not found; columns: {reference}")
    if positive is None:
        positive = spec.get("positive", True if next(iter(clients.values()))[label].dtype == bool else 1)
    # Only SEX's coding is certain: a CSV's RAC1P may be raw (1-9) or already mapped (FeDa4Fair's 5 values).
    value_labels = spec.get("value_labels") or ({"SEX": ACS_VALUE_LABELS["SEX"]} if "SEX" in sensitive else {})
    return SourceData(
        clients=clients, label=label, positive=positive, sensitive=sensitive, value_labels=value_labels,
        info={"kind": "csv-dir", "path": str(root.resolve()), "files": len(clients), "ignored_files": ignored},
    ).check()


# ----- synthetic-acs -----------------------------------------------------------
def synthetic_acs(states: Sequence[str] | None = None, seed: int = 0, rows_per_state: int = 2000,
                  sensitive: Sequence[str] = ("SEX", "RAC1P"), **_: Any) -> SourceData:
    """Offline ACSIncome-schema data (SYNTHETIC) with state-to-state heterogeneity.

    Per state the generator draws: a size (``rows_per_state`` x a log-normal
    factor), a race distribution over RAC1P codes 1-9 (Dirichlet around
    national shares, White share between about 0.35 and 0.95), a female
    share, an income intercept (label rate roughly 0.2-0.55) and gaps in the
    log-odds of PINCP > 50k for women and for each non-White code. Features
    follow the ACSIncome codes (AGEP, COW, SCHL, MAR, OCCP, POBP, RELP, WKHP,
    SEX, RAC1P); the label depends on schooling, hours, age and the gaps, so
    both the labels and models trained on them carry state-specific bias. ``sensitive`` picks the sensitive
    attributes among the columns (as for ``acs``); the others stay features.
    """
    columns = ("AGEP", "COW", "SCHL", "MAR", "OCCP", "POBP", "RELP", "WKHP", "SEX", "RAC1P")
    absent = [a for a in sensitive if a not in columns]
    if absent:
        raise DatasetError(f"sensitive attribute(s) {absent} are not columns of synthetic-acs; columns: {', '.join(columns)}")
    rng = np.random.default_rng(seed)
    national = np.array([0.62, 0.12, 0.01, 0.003, 0.007, 0.06, 0.002, 0.08, 0.05])
    clients = {}
    for state in _states(states):
        n = max(50, int(rows_per_state * rng.lognormal(0.0, 0.4)))
        race_p = rng.dirichlet(national * 60 + 0.05)
        race = rng.choice(np.arange(1, 10), size=n, p=race_p)
        sex = np.where(rng.random(n) < rng.uniform(0.42, 0.52), 2, 1)
        # Features depend on the groups (state-specific), so models that never see SEX / RAC1P still
        # pick up the gaps through proxies, as on real ACS data.
        schooling_gap = rng.uniform(0.0, 3.0, size=10)
        schooling_gap[1] = 0.0
        age = np.clip(rng.normal(43, 14, n), 17, 90).round()
        schl = np.clip(rng.normal(18.5 - schooling_gap[race], 3.0, n), 1, 24).round()
        wkhp = np.clip(rng.normal(41 - rng.uniform(3, 9) * (sex == 2), 10, n), 1, 99).round()
        intercept = rng.normal(-1.0, 0.35)
        sex_gap = rng.uniform(0.2, 1.0)
        race_gap = rng.uniform(0.0, 1.2, size=10)
        race_gap[1] = 0.0
        logit = (intercept + 0.45 * (schl - 18) + 0.08 * (wkhp - 38) + 0.03 * (age - 43)
                 - sex_gap * (sex == 2) - race_gap[race])
        label = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        clients[state] = pd.DataFrame({
            "AGEP": age, "COW": np.where(rng.random(n) < 0.3 + 0.2 * (sex == 2), 4.0, rng.integers(1, 9, n)), "SCHL": schl,
            "MAR": rng.integers(1, 6, n).astype(float), "OCCP": rng.integers(10, 9830, n).astype(float),
            "POBP": rng.integers(1, 555, n).astype(float), "RELP": rng.integers(0, 18, n).astype(float),
            "WKHP": wkhp, "SEX": sex.astype(float), "RAC1P": race.astype(float), "PINCP": label,
        })
    return SourceData(
        clients=clients, label="PINCP", positive=True, sensitive=list(sensitive),
        value_labels={a: ACS_VALUE_LABELS[a] for a in sensitive if a in ACS_VALUE_LABELS},
        info={"kind": "synthetic-acs", "note": "SYNTHETIC data with the ACSIncome schema, not census data",
              "rows_per_state": rows_per_state},
        synthetic=True,
    ).check()


# ----- adult and synthetic-gaussian-8 -------------------------------------------
def load_adult_source(data_root: str | None = None, sensitive: list[str] | None = None, **_: Any) -> SourceData:
    """UCI Adult (48,842 rows) as one natural client ``adult``; partition it. ``sensitive`` orders race and sex
    (the first is the runs' default attribute)."""
    from fedfair.partitioners.adult import find_raw_files, read_adult

    order = list(sensitive) if sensitive else ["race", "sex"]
    if sorted(order) != ["race", "sex"]:
        raise DatasetError(f"Adult's sensitive attributes are race and sex, got {order}")
    table = read_adult(find_raw_files(data_root))
    return SourceData(
        clients={"adult": table}, label="income", positive=1, sensitive=order,
        value_labels={"race": {"1": "White", "2": "Non-White"}, "sex": {"1": "Male", "2": "Female"}},
        info={"kind": "adult", "rows": int(len(table))},
    ).check()


def load_law_source(data_root: str | None = None, rows: int | None = None, seed: int = 0, **_: Any) -> SourceData:
    """Law School (Kusner et al.'s file, :mod:`fedfair.partitioners.law`) as one natural client ``law``; ``rows`` keeps
    a seeded sample (seed 001's 20,798)."""
    from fedfair.partitioners.law import find_law_file, read_law

    table = read_law(find_law_file(data_root))
    if rows is not None and int(rows) < len(table):
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(table), size=int(rows), replace=False))
        table = table.iloc[keep].reset_index(drop=True)
    return SourceData(
        clients={"law": table}, label="pass", positive=1, sensitive=["race", "sex"],
        value_labels={"race": {"1": "White", "2": "Non-White"}, "sex": {"1": "Male", "2": "Female"}},
        info={"kind": "law", "rows": int(len(table))},
    ).check()


def load_dutch_source(data_root: str | None = None, **_: Any) -> SourceData:
    """The Dutch census 2001 extract (local file only, :mod:`fedfair.partitioners.dutch`) as one natural client ``dutch``."""
    from fedfair.partitioners.dutch import find_dutch_file, read_dutch

    table = read_dutch(find_dutch_file(data_root))
    return SourceData(
        clients={"dutch": table}, label="occupation", positive=1, sensitive=["sex"],
        value_labels={"sex": {"1": "Male", "2": "Female"}}, info={"kind": "dutch", "rows": int(len(table))},
    ).check()


def gaussian_source(seed: int = 0, n_train: int = 1200, n_test: int = 1200, group_share: float = 0.5,
                    label_share: float = 0.5, **_: Any) -> SourceData:
    """Seed 000 Table 2's 8 Gaussian clients (SYNTHETIC): per client ``n_train`` then ``n_test`` rows drawn
    with balanced groups and labels (``group_share`` / ``label_share``), marked as the source's own split."""
    from fedfair.partitioners.synthetic_gaussian import TABLE_2_MEANS, sample_client

    for key, value in (("group_share", group_share), ("label_share", label_share)):
        if not 0.0 < value < 1.0:
            raise DatasetError(f"{key} must be in (0, 1), got {value}")
    rng = np.random.default_rng(seed)
    clients = {}
    for name, means in TABLE_2_MEANS.items():
        parts = [sample_client(means, n, rng, group_share, label_share).assign(**{SPLIT_COLUMN: split})
                 for split, n in (("train", n_train), ("test", n_test))]
        clients[name] = pd.concat(parts, ignore_index=True)
    return SourceData(
        clients=clients, label="y", positive=1, sensitive=["group"],
        value_labels={"group": {"0": "b (f_0)", "1": "a (f_1, advantaged)"}},
        info={"kind": "synthetic-gaussian-8", "paper": "seed 000, Appendix C.5, Table 2",
              "means_f11_f10_f01_f00": TABLE_2_MEANS, "sigma": 1.0, "n_train": n_train, "n_test": n_test,
              "group_share": group_share, "label_share": label_share},
        synthetic=True,
    ).check()


def image_source(name: str, data_root: str | None = None, limit: int | None = None, seed: int = 0,
                 emnist_split: str = "balanced", rotate: int = 0, label_noise: float = 0.0, **_: Any) -> SourceData:
    """An image set (:mod:`fedfair.partitioners.images`) as one natural client named after it: pixel columns
    ``px0``.. in [0, 1], multi-class ``label``, no sensitive attribute. ``limit`` keeps a seeded sample of
    rows; ``rotate`` turns every image by that many quarter turns and ``label_noise`` replaces that seeded
    fraction of the labels by another class drawn uniformly (variants that make distinct tasks)."""
    from fedfair.partitioners.images import load_images

    if not 0.0 <= float(label_noise) < 1.0:
        raise DatasetError(f"label_noise must be in [0, 1), got {label_noise}")
    images = load_images(name, data_root, emnist_split)
    rng = np.random.default_rng([seed, 11])
    rows = np.arange(len(images.labels))
    if limit is not None and int(limit) < len(rows):
        rows = np.sort(rng.choice(len(rows), size=int(limit), replace=False))
    pixels, labels = images.pixels[rows], images.labels[rows].copy()
    if rotate % 4:
        pixels = np.rot90(pixels.reshape(-1, *images.input_shape), k=int(rotate), axes=(2, 3)).reshape(len(rows), -1)
    if label_noise > 0:
        noisy = rng.random(len(labels)) < float(label_noise)
        labels[noisy] = (labels[noisy] + rng.integers(1, images.num_classes, int(noisy.sum()))) % images.num_classes
    frame = pd.DataFrame(np.ascontiguousarray(pixels), columns=[f"px{i}" for i in range(pixels.shape[1])])
    frame["label"] = labels
    variant = {k: v for k, v in (("limit", limit), ("rotate", rotate), ("label_noise", label_noise)) if v}
    return SourceData(
        clients={name: frame}, label="label", positive=None, sensitive=[],
        info={**images.source, "rows_used": int(len(rows)), **variant},
        num_classes=images.num_classes, input_shape=images.input_shape,
    ).check()


def _hf(**options: Any) -> SourceData:
    from fedfair.partitioners.hf import load_hf_source

    return load_hf_source(**options)


def _ci_mnist(**options: Any) -> SourceData:
    from fedfair.partitioners.ci_mnist import ci_mnist_source

    return ci_mnist_source(**options)


SOURCES = {
    "acs": load_acs,
    "ci-mnist": _ci_mnist,
    "csv-dir": load_csv_dir,
    "hf": _hf,
    "synthetic-acs": synthetic_acs,
    "adult": load_adult_source,
    "law": load_law_source,
    "dutch": load_dutch_source,
    "synthetic-gaussian-8": gaussian_source,
    **{name: (lambda name: lambda **options: image_source(name, **options))(name)
       for name in ("mnist", "fashion-mnist", "emnist", "cifar10", "digits")},
}
IMAGE_SOURCES = ("mnist", "fashion-mnist", "emnist", "cifar10", "digits")


def load_source(kind: str, **options: Any) -> SourceData:
    """Load the source ``kind`` with its options: a builtin, a ``fedfair.sources`` entry point or a plugin
    ``package.module:load`` (a function taking the build spec's source options and returning a
    :class:`SourceData`)."""
    from fedfair import plugins

    if kind in SOURCES:
        loader = SOURCES[kind]
    else:
        try:
            loader = plugins.resolve("source", kind, {})
        except plugins.UnknownNameError:
            raise DatasetError(plugins.unknown_message("source", kind, SOURCES)) from None
        except plugins.PluginError as err:
            raise DatasetError(str(err)) from None
    try:
        inspect.signature(loader).bind(**options)
    except TypeError as err:
        raise DatasetError(f"source {kind!r}: {err} (see fedfair data build --help)") from None
    given_roles = {k: options[k] for k in ROLE_OPTIONS if options.get(k) is not None}
    if kind in SOURCES:
        accepted = source_options(kind)
        ignored = [k for k in options if k not in accepted and k not in ROLE_OPTIONS and k != "seed"]
        if ignored:
            raise DatasetError(f"source {kind!r} does not use {_flag(ignored[0])}: remove it ({kind} reads "
                               f"{', '.join(_flag(k) for k in sorted(accepted - {'seed'})) or 'no option'})")
        options = {k: v for k, v in options.items() if k in accepted}  # label / sensitive it fixes: checked below
    for key in ("path", "acs_root", "data_root"):
        if options.get(key) is not None and not isinstance(options[key], (str, os.PathLike)):
            raise DatasetError(f"source {kind!r}: option {key!r} must be a path (text), got {options[key]!r:.60}")
    if kind in SOURCES:
        data = loader(**options)
    else:
        try:
            data = loader(**options)
        except (ValueError, TypeError, OSError) as err:  # a plugin's own complaint about its options or files
            raise DatasetError(f"source {kind!r}: {err}") from None
    if not isinstance(data, SourceData):
        raise DatasetError(f"source {kind!r} returned a {type(data).__name__}, not a "
                           f"fedfair.partitioners.sources.SourceData")
    if kind in SOURCES:  # a source with its own label / sensitive attributes: a different --label is not used
        own = {"label": data.label, "positive": data.positive, "sensitive": list(data.sensitive)}
        for key, value in given_roles.items():
            if key not in source_options(kind) and not _same_role(value, own[key]):
                what = {"label": "label", "positive": "positive label value", "sensitive": "sensitive attributes"}[key]
                raise DatasetError(f"source {kind!r} has its own {what} ({own[key]!r}) and does not use {_flag(key)} "
                                   f"{value!r}: remove {_flag(key)}")
    return data


ROLE_OPTIONS = ("label", "positive", "sensitive")
_FLAGS = ("path", "split", "natural_client", "task", "year", "horizon", "states", "acs_root", "data_root",
          "rows_per_state", *ROLE_OPTIONS)


def _flag(option: str) -> str:
    """The ``fedfair data build`` flag of a source option (``source_options.<name>`` of a spec file otherwise)."""
    return "--" + option.replace("_", "-") if option in _FLAGS else f"source_options.{option}"


def _same_role(given: Any, own: Any) -> bool:
    if isinstance(own, list):
        return [str(v) for v in (given if isinstance(given, (list, tuple)) else [given])] == [str(v) for v in own]
    return str(given) == str(own)


def source_options(kind: str) -> set[str]:
    """The options a builtin source reads (its loader's named parameters); any other is an error, not ignored."""
    if kind == "hf":
        from fedfair.partitioners.hf import load_hf_source as loader
    elif kind == "ci-mnist":
        from fedfair.partitioners.ci_mnist import ci_mnist_source as loader
    elif kind in IMAGE_SOURCES:
        loader = image_source
    else:
        loader = SOURCES[kind]
    named = {name for name, p in inspect.signature(loader).parameters.items()
             if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}
    return named - ({"name"} if loader is image_source else set())
