"""One builder for every federated dataset: source -> map -> modify -> partition -> split -> encode -> write.

A :class:`BuildSpec` (from ``fedfair data build`` flags or a JSON / TOML file)
says everything that defines a dataset, and the manifest records it, with
every modification's exact row counts, so the directory documents itself.

Order of the steps (each recorded in ``manifest.json``):

1. load the natural clients from the source (:mod:`fedfair.partitioners.sources`);
2. value mapping (e.g. RAC1P -> White / other) before anything else;
3. label -> 0/1 (``positive`` is the raw value meaning 1);
4. bias exacerbation on the natural clients (:mod:`fedfair.partitioners.bias`): drop, then flip;
5. partitioning of each natural client (whole, IID into N, or any flwr-datasets partitioner),
   optionally renaming the resulting clients;
6. setting: cross-silo (train / val / test per client: by fractions, or the
   source's own split with ``splits="source"``) or cross-device (training
   clients and held-out test clients);
7. per-client caps on train / test rows;
8. categorical one-hot encoding with categories shared by all clients;
9. standardisation (default: per client, fitted on its train split only; all
   features or ``standardise_columns``);
10. seed 000's heterogeneity knob: multiply the features of chosen clients by a factor.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.schemas import check_dataclass, read_table
from fedfair.partitioners.bias import Modification, apply_modifications, check_keys, client_rng
from fedfair.partitioners.partitioning import partition_client
from fedfair.partitioners.sources import SPLIT_COLUMN, SourceData, check_finite, load_source, same_value
from fedfair.partitioners.writer import write_federated_dataset

# Value-mapping presets ("*" = every other value).
MAPPING_PRESETS: dict[str, dict[str, Any]] = {
    # FeDa4Fair attribute datasets: RAC1P binarised, 1 = White, 2 = other.
    "race-binary": {"map": {"1": 1, "*": 2}, "labels": {"1": "White", "2": "Other"}},
    # FeDa4Fair value datasets: 1 White, 2 Black, 3 Asian, 4 American Indian / Alaska Native, 5 other.
    "race-5": {
        "map": {"1": 1, "2": 2, "6": 3, "3": 4, "4": 4, "5": 4, "*": 5},
        "labels": {"1": "White", "2": "Black", "3": "Asian", "4": "American Indian / Alaska Native", "5": "Other"},
    },
}
SETTINGS = ("cross-silo", "cross-device")
STANDARDISE = ("client", "global", "global-minmax", "none")


@dataclass
class BuildSpec:
    """Everything that defines a built dataset (see ``fedfair data build --help``)."""

    source: str = "synthetic-acs"
    source_options: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    label: str | None = None
    positive: Any = None
    sensitive: list[str] | None = None
    mapping: dict[str, Any] = field(default_factory=dict)
    value_labels: dict[str, Any] = field(default_factory=dict)
    modifications: list[dict[str, Any]] = field(default_factory=list)
    partitioning: dict[str, Any] = field(default_factory=dict)
    setting: str = "cross-silo"
    splits: tuple[float, float, float] | str = (0.7, 0.15, 0.15)  # or "source": the source's own split
    test_clients: Any = 0.2
    max_train: int | None = None
    max_test: int | None = None
    categorical: list[str] = field(default_factory=list)
    drop_columns: list[str] = field(default_factory=list)
    sensitive_as_features: bool = False
    standardise: str = "client"
    standardise_columns: list[str] | None = None
    rename_clients: dict[str, str] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    default_model: dict[str, Any] = field(default_factory=lambda: {"model": "logreg"})
    keep_clients: list[str] | None = None
    impute: str = "none"  # missing / infinite feature values: none (an error), mean, median or drop (the rows)
    notes: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BuildSpec":
        if not isinstance(data, Mapping):
            raise DatasetError(f"build spec: expected a table of build options, got a {type(data).__name__}")
        check_keys(data, cls, "build spec")
        spec = check_dataclass(cls, dict(data), "build spec", "see fedfair data build --help for each option")
        if isinstance(spec.splits, str) and spec.splits != "source":
            raise DatasetError(f"splits must be three fractions train, val, test or 'source', got {spec.splits!r}")
        if spec.splits != "source":
            spec.splits = tuple(float(x) for x in spec.splits)  # type: ignore[assignment]
        return spec

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "BuildSpec":
        """Read a JSON or TOML spec file."""
        return cls.from_dict(read_table_file(path, "spec file"))

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`fedfair.partitioners.sources.load_source` (label / positive / sensitive included)."""
        options = dict(self.source_options)
        if self.label:
            options["label"] = self.label
        if self.positive is not None:
            options["positive"] = self.positive
        if self.sensitive:
            options["sensitive"] = list(self.sensitive)
        return options

    def validate(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise DatasetError(f"seed must be an integer in [0, 2**31), got {self.seed!r}")
        label = self.label or self.source_options.get("label")
        sensitive = self.sensitive or self.source_options.get("sensitive")
        check_roles(label if isinstance(label, str) else None,
                    list(sensitive) if isinstance(sensitive, (list, tuple)) else [], self.drop_columns, self.categorical)
        if self.setting not in SETTINGS:
            raise DatasetError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
        if self.standardise not in STANDARDISE:
            raise DatasetError(f"standardise must be one of {STANDARDISE}, got {self.standardise!r}")
        if self.splits == "source":
            return
        if isinstance(self.splits, str) or len(self.splits) != 3:
            raise DatasetError(f"splits must be three fractions train, val, test or 'source', got {self.splits!r}")
        if not all(isinstance(x, (int, float)) and np.isfinite(x) for x in self.splits):
            raise DatasetError(f"splits must be three finite fractions, got {self.splits!r}")
        train, val, test = self.splits
        if min(self.splits) < 0 or train <= 0 or test <= 0 or abs(train + val + test - 1.0) > 1e-6:
            raise DatasetError(f"splits must be train, val, test >= 0 (train, test > 0) summing to 1, got {self.splits}")
        for key in ("max_train", "max_test"):
            value = getattr(self, key)
            if value is not None and int(value) < 1:
                raise DatasetError(f"{key} must be >= 1, got {value}")
        if self.scale and not 0 < float(self.scale.get("factor", 0)) :
            raise DatasetError(f"scale.factor must be > 0, got {self.scale.get('factor')}")
        if self.scale and self.scale.get("on", "standardised") not in ("standardised", "raw"):
            raise DatasetError(f"scale.on must be standardised or raw, got {self.scale.get('on')!r}")


def read_table_file(path: str | os.PathLike[str], what: str) -> Any:
    """The content of a JSON or TOML file (``.toml`` suffix = TOML)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what} {path} not found")
    return read_table(path, what, f"correct the {what} (see fedfair data build --help)")


# ----- steps -------------------------------------------------------------------
def check_roles(label: str | None, sensitive: Sequence[str], drop_columns: Sequence[str] = (),
                categorical: Sequence[str] = ()) -> None:
    """The label, the sensitive attributes and the features are different columns: a sensitive attribute is not
    the label, and --drop-columns / --categorical name neither (each a one-line error naming the flags)."""
    if label is not None and label in sensitive:
        raise DatasetError(f"--sensitive {','.join(sensitive)} lists the label column {label!r} (--label): a "
                           f"sensitive attribute must be another column; remove {label!r} from --sensitive")
    if len(set(sensitive)) != len(sensitive):
        raise DatasetError(f"--sensitive {','.join(sensitive)} lists a column twice")
    for flag, columns in (("--drop-columns", drop_columns), ("--categorical", categorical)):
        if label is not None and label in columns:
            raise DatasetError(f"{flag} lists the label column {label!r}: the label is never a feature; remove "
                               f"{label!r} from {flag}")
        taken = [c for c in columns if c in sensitive]
        if taken:
            raise DatasetError(f"{flag} lists the sensitive attribute {taken[0]!r} (--sensitive); remove it from "
                               f"{flag} (--sensitive-as-features gives models an encoded copy)")


def resolve_mapping(mapping: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{attr: preset name | {"map": {...}, "labels": {...}} | {from: to}}`` -> explicit form."""
    out = {}
    for attr, rule in mapping.items():
        if isinstance(rule, str):
            if rule not in MAPPING_PRESETS:
                raise DatasetError(f"mapping of {attr}: unknown preset {rule!r}; presets: {', '.join(MAPPING_PRESETS)}")
            out[attr] = {"preset": rule, **MAPPING_PRESETS[rule]}
        elif isinstance(rule, Mapping) and "map" in rule:
            out[attr] = dict(rule)
        elif isinstance(rule, Mapping):
            out[attr] = {"map": dict(rule), "labels": {}}
        else:
            raise DatasetError(f"mapping of {attr}: expected a preset name or a table, got {rule!r}")
    return out


def map_values(frame: pd.DataFrame, attr: str, rule: Mapping[str, Any]) -> pd.Series:
    """Apply one value mapping (keys compared as text, ``*`` = any other value)."""
    column = frame[attr]
    keys = column.map(lambda v: str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v))
    table = {str(k): v for k, v in rule["map"].items()}
    if "*" not in table:  # a partial map would leave the other values as they are, mixed with the mapped codes
        unmapped = sorted(set(keys) - set(table), key=lambda k: (len(k), k))
        if unmapped:
            raise DatasetError(f"--map {attr}: value(s) {unmapped[:10]} of {attr!r} have no mapping (it maps "
                               f"{', '.join(list(table)[:10])}); map every value or give a default, e.g. "
                               f"{attr}={{\"1\": 1, \"*\": 2}}")
    mapped = keys.map(lambda k: table.get(k, table.get("*", None)))
    keep = mapped.isna()
    if keep.any():
        mapped[keep] = column[keep]
    try:
        return pd.to_numeric(mapped)  # codes stay numeric (int64 when integral)
    except (ValueError, TypeError):
        return mapped


def _integral(column: pd.Series) -> pd.Series:
    """Float columns holding integers (CSV codes such as 1.0) as int64."""
    if column.dtype.kind == "f" and column.notna().all() and np.all(np.mod(column.to_numpy(), 1) == 0):
        return column.astype(np.int64)
    if column.dtype == bool:
        return column.astype(np.int64)
    return column


def normalise_clients(src: SourceData, drop_columns: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """Step 3: label -> 0/1 (``src.positive`` = 1; a multi-class source keeps its class indices 0..C-1),
    integer sensitive codes, ``drop_columns`` removed."""
    check_roles(src.label, list(src.sensitive), drop_columns)
    clients: dict[str, pd.DataFrame] = {}
    for name, frame in src.clients.items():
        frame = frame.drop(columns=[c for c in drop_columns if c in frame.columns])
        if src.num_classes > 2:
            labels = frame[src.label].to_numpy()
            if not np.isin(labels, np.arange(src.num_classes)).all():
                raise DatasetError(f"client {name!r}: label {src.label!r} must hold class indices 0..{src.num_classes - 1}")
            frame = frame.assign(**{src.label: labels.astype(np.int64)})
        else:
            frame = frame.assign(**{src.label: same_value(frame[src.label], src.positive).astype(np.int64)})
        for attr in src.sensitive:
            frame[attr] = _integral(frame[attr])
        clients[name] = frame.reset_index(drop=True)
    if src.num_classes == 2 and not any(f[src.label].any() for f in clients.values()):
        seen = sorted({str(v) for f in src.clients.values() for v in pd.unique(f[src.label])[:20]})
        raise DatasetError(f"--positive {src.positive!r}: no row's label {src.label!r} equals it (every label would "
                           f"be 0); the label's values include {seen[:10]}: set --positive to the one meaning 1")
    return clients


def _split_rows(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    train_f, val_f, _ = fractions
    n_train = int(round(train_f * n))
    n_val = int(round(val_f * n))
    return [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]


def _test_client_names(names: Sequence[str], test_clients: Any, seed: int) -> list[str]:
    if isinstance(test_clients, (list, tuple)):
        unknown = [c for c in test_clients if c not in names]
        if unknown:
            raise DatasetError(f"test_clients: unknown client(s) {unknown}")
        return [str(c) for c in test_clients]
    fraction = float(test_clients)
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"test_clients must be a fraction in (0, 1) or a list of client names, got {test_clients!r}")
    k = max(1, int(round(fraction * len(names))))
    if k >= len(names):
        raise DatasetError(f"cross-device needs at least one training client: {len(names)} clients, {k} held out")
    chosen = np.random.default_rng([seed, 7]).choice(len(names), size=k, replace=False)
    return [names[i] for i in sorted(chosen)]


def _cap(frame: pd.DataFrame, limit: int | None, rng: np.random.Generator) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=int(limit), replace=False))]


def _scaled_clients(scale: Mapping[str, Any], natural: Sequence[str]) -> set[str]:
    """Natural clients whose features get multiplied: ``ids`` (1-based positions) or ``clients`` (names)."""
    chosen = {str(c) for c in scale.get("clients", [])}
    for i in scale.get("ids", []):
        if not 1 <= int(i) <= len(natural):
            raise DatasetError(f"scale.ids: id {i} out of range 1..{len(natural)} (1-based position in the client order)")
        chosen.add(natural[int(i) - 1])
    unknown = chosen - set(natural)
    if unknown:
        raise DatasetError(f"scale.clients: unknown client(s) {sorted(unknown)}")
    return chosen


# ----- the builder ---------------------------------------------------------------
def build_dataset(spec: BuildSpec, out: str | os.PathLike[str], source: SourceData | None = None) -> Path:
    """Build ``spec`` into the directory ``out`` (atomic: nothing half-written is left). ``out`` is new or empty,
    or claimed by this process (:func:`fedfair.outdirs.claim`); checked before any work."""
    from fedfair.outdirs import check, holds

    if not holds(out):
        check(out, "dataset")
    spec.validate()
    src = source or load_source(spec.source, seed=spec.seed, **spec.load_options())
    label, sensitive = src.label, list(src.sensitive)
    has_split = all(SPLIT_COLUMN in f.columns for f in src.clients.values())
    if spec.splits == "source" and spec.setting == "cross-silo" and not has_split:
        raise DatasetError(f"source {spec.source!r} has no split of its own: give --splits train,val,test fractions")
    if has_split and not (spec.splits == "source" and spec.setting == "cross-silo"):
        src.clients = {n: f.drop(columns=[SPLIT_COLUMN]) for n, f in src.clients.items()}
    steps: list[dict[str, Any]] = []
    warnings: list[str] = []
    imputed = check_finite(src, spec.drop_columns, spec.impute)  # NaN / inf: an error, or the --impute choice
    if imputed:
        steps.append(imputed)

    # 2. value mapping
    mapping = resolve_mapping(spec.mapping)
    value_labels = {a: dict(v) for a, v in src.value_labels.items()}
    for attr, rule in mapping.items():
        if attr not in next(iter(src.clients.values())).columns:
            raise DatasetError(f"mapping: unknown attribute {attr!r}")
        for name, frame in src.clients.items():
            src.clients[name] = frame.assign(**{attr: map_values(frame, attr, rule)})
        if rule.get("labels"):
            value_labels[attr] = {str(k): v for k, v in rule["labels"].items()}
        steps.append({"step": "map-values", "attribute": attr, **rule})

    for attr, labels in spec.value_labels.items():
        if isinstance(labels, str):
            if labels not in MAPPING_PRESETS:
                raise DatasetError(f"value_labels of {attr}: unknown preset {labels!r}; presets: {', '.join(MAPPING_PRESETS)}")
            labels = MAPPING_PRESETS[labels]["labels"]
        value_labels[attr] = {str(k): str(v) for k, v in labels.items()}

    # 3. label -> 0/1, sensitive codes -> ints
    clients = normalise_clients(src, spec.drop_columns)  # the positive value present, roles distinct
    natural = list(clients)

    # 4. bias exacerbation (drop before flip), on the natural clients
    mods = [Modification.from_dict(m) if isinstance(m, Mapping) else m for m in spec.modifications]
    if mods and src.num_classes > 2:
        raise DatasetError(f"bias exacerbation drops / flips positive labels: it needs a binary label, and "
                           f"{spec.source!r} has {src.num_classes} classes")
    clients, records = apply_modifications(clients, mods, label, spec.seed)

    # 5. partitioning
    parts: list[tuple[str, str, pd.DataFrame]] = []  # (client, natural client, rows)
    for name, frame in clients.items():
        rule = spec.partitioning.get(name, spec.partitioning.get("*", "whole"))
        for sub_name, sub in partition_client(name, frame, rule, spec.seed):
            parts.append((sub_name, name, sub))
    if spec.partitioning:
        steps.append({"step": "partition", "rules": spec.partitioning})
    if spec.rename_clients:
        unknown = sorted(set(spec.rename_clients) - {p[0] for p in parts})
        if unknown:
            raise DatasetError(f"rename_clients: unknown client(s) {unknown[:10]}")
        parts = [(spec.rename_clients.get(n, n), parent, rows) for n, parent, rows in parts]
        steps.append({"step": "rename-clients", "names": dict(spec.rename_clients)})
    if spec.keep_clients is not None:
        unknown = sorted(set(spec.keep_clients) - {p[0] for p in parts})
        if unknown:
            raise DatasetError(f"keep_clients: unknown client(s) {unknown[:10]}")
        keep = set(spec.keep_clients)
        parts = [p for p in parts if p[0] in keep]
        steps.append({"step": "keep-clients", "kept": len(parts)})
    twice = [(n, k) for n, k in Counter(p[0] for p in parts).items() if k > 1]
    if twice:
        raise DatasetError(f"client name {twice[0][0]!r} is given to {twice[0][1]} clients (by rename_clients or "
                           f"--partition); client names must be distinct: rename them")

    # 6-7. setting and caps
    held_out = set(_test_client_names([p[0] for p in parts], spec.test_clients, spec.seed)) if spec.setting == "cross-device" else set()
    split_frames: list[tuple[str, str, dict[str, pd.DataFrame], str]] = []
    for sub_name, parent, frame in parts:
        rng = client_rng(spec.seed, sub_name, "split")
        if spec.setting == "cross-silo" and spec.splits == "source":
            splits = {s: part.drop(columns=[SPLIT_COLUMN]) for s, part in frame.groupby(SPLIT_COLUMN, sort=False)}
            if "train" not in splits or "test" not in splits:
                raise DatasetError(f"client {sub_name!r}: the source's split gives it no train or no test rows; "
                                   f"give --splits fractions instead")
            role = "both"
        elif spec.setting == "cross-silo":
            idx = _split_rows(len(frame), spec.splits, rng)
            splits = {s: frame.iloc[i] for s, i in zip(("train", "val", "test"), idx) if len(i)}
            for s in ("train", "test"):
                if s not in splits:
                    raise DatasetError(f"client {sub_name!r}: {len(frame)} rows leave its {s} split empty; "
                                       f"merge it, lower the partition count or change --splits")
            role = "both"
        else:
            role = "test" if sub_name in held_out else "train"
            splits = {role: frame}
        splits = {s: _cap(f, spec.max_train if s == "train" else spec.max_test if s == "test" else None, rng)
                  for s, f in splits.items()}
        split_frames.append((sub_name, parent, splits, role))
    steps.append({"step": "setting", "setting": spec.setting,
                  **({"splits": spec.splits if spec.splits == "source" else list(spec.splits)} if spec.setting == "cross-silo" else {"test_clients": sorted(held_out)}),
                  "max_train": spec.max_train, "max_test": spec.max_test})

    # 8. features and categorical encoding
    columns = [c for c in next(iter(clients.values())).columns if c not in (label, *sensitive, SPLIT_COLUMN)]
    unknown_cat = [c for c in spec.categorical if c not in columns]
    if unknown_cat:
        raise DatasetError(f"categorical column(s) {unknown_cat} not found; feature columns: {columns}")
    for client, frame in clients.items():  # every client: one file's stray text makes its column text
        non_numeric = [c for c in columns if c not in spec.categorical and not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            raise DatasetError(f"non-numeric feature column(s) {non_numeric} (client {client!r}): list them in "
                               f"--categorical or --drop-columns, or fix the values that are not numbers")
    categories = {c: sorted({v for f in clients.values() for v in pd.unique(f[c])}, key=str) for c in spec.categorical}
    if categories:
        steps.append({"step": "one-hot", "categories": {c: [str(v) for v in vals] for c, vals in categories.items()}})
    sensitive_values = {a: sorted({v for f in clients.values() for v in pd.unique(f[a])}, key=lambda v: (str(type(v)), v)) for a in sensitive}

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[c for c in columns if c not in spec.categorical]].astype(np.float32)
        for col, values in categories.items():
            for v in values:
                out[f"{col}={v}"] = (frame[col].to_numpy() == v).astype(np.float32)
        if spec.sensitive_as_features:
            for attr in sensitive:
                values = sensitive_values[attr]
                if len(values) <= 2:
                    out[f"{attr}=={values[-1]}"] = (frame[attr].to_numpy() == values[-1]).astype(np.float32)
                else:
                    for v in values:
                        out[f"{attr}=={v}"] = (frame[attr].to_numpy() == v).astype(np.float32)
        return out

    # 9-10. standardise, scale
    scaled = _scaled_clients(spec.scale, natural) if spec.scale else set()
    encoded: list[tuple[str, str, dict[str, pd.DataFrame], str]] = []
    for sub_name, parent, splits, role in split_frames:
        encoded.append((sub_name, parent, {s: pd.concat([encode(f), f[[label, *sensitive]]], axis=1) for s, f in splits.items()}, role))
    features = [c for c in encoded[0][2][next(iter(encoded[0][2]))].columns if c not in (label, *sensitive)]
    scale_raw = bool(scaled) and spec.scale.get("on", "standardised") == "raw"
    if scale_raw:  # seed 000 scales the raw features: the scaled clients then stand apart after any standardisation
        factor = float(spec.scale["factor"])
        encoded = [(sub, parent, {s: f.assign(**(f[features] * factor).astype(np.float32)) for s, f in splits.items()}
                    if parent in scaled else splits, role) for sub, parent, splits, role in encoded]
    standardised = features if spec.standardise_columns is None else list(spec.standardise_columns)
    unknown_std = [c for c in standardised if c not in features]
    if unknown_std:
        raise DatasetError(f"standardise_columns: {unknown_std} are not feature columns; features: {features[:20]}")
    stats_global = None
    if spec.standardise in ("global", "global-minmax"):
        pooled = pd.concat([sp.get("train", sp.get("test"))[standardised] for _, _, sp, _ in encoded])
        if spec.standardise == "global":
            stats_global = (pooled.mean(), pooled.std(ddof=0).replace(0, 1.0))
        else:  # (x - min) / (max - min) over the union of the train splits: FeDa4Fair's evaluation code (on all rows)
            stats_global = (pooled.min(), (pooled.max() - pooled.min()).replace(0, 1.0))
    standardise_stats: dict[str, Any] = {}
    final = []
    for sub_name, parent, splits, role in encoded:
        if spec.standardise != "none":
            if stats_global is not None:
                mu, sd = stats_global
            else:
                fit = splits.get("train", splits.get("test"))[standardised]  # held-out test clients fit on their own rows
                mu, sd = fit.mean(), fit.std(ddof=0).replace(0, 1.0)
                standardise_stats[sub_name] = {"mean": mu.round(6).tolist(), "std": sd.round(6).tolist()}
            splits = {s: f.assign(**((f[standardised] - mu) / sd).astype(np.float32)) for s, f in splits.items()}
        if parent in scaled and not scale_raw:
            factor = float(spec.scale["factor"])
            splits = {s: f.assign(**(f[features] * factor).astype(np.float32)) for s, f in splits.items()}
        final.append((sub_name, splits, role, parent))
        rows = pd.concat(list(splits.values()))
        for attr in sensitive:
            present = pd.unique(rows[attr])
            if len(present) < 2:
                warnings.append(f"client {sub_name!r}: only one {attr} group ({present[0]!r}); its {attr} fairness is undefined")
        all_labels = pd.unique(rows[label])
        if len(all_labels) < 2:
            warnings.append(f"client {sub_name!r}: only label {all_labels[0]} present; EqOp / EO are undefined")
    if spec.standardise == "global-minmax":
        steps.append({"step": "standardise", "fit": "union of the train splits", "method": "min-max to [0, 1]",
                      "features": standardised, "global": {"min": stats_global[0].round(6).tolist(),
                                                           "range": stats_global[1].round(6).tolist()}})
    elif spec.standardise != "none":
        steps.append({"step": "standardise", "fit": "per client on its train split" if spec.standardise == "client"
                      else "union of the train splits", "features": standardised,
                      **({"global": {"mean": stats_global[0].round(6).tolist(), "std": stats_global[1].round(6).tolist()}}
                         if stats_global is not None else {"per_client": standardise_stats})})
    if scaled:
        steps.append({"step": "scale-features", "factor": float(spec.scale["factor"]), "clients": sorted(scaled),
                      "on": "raw features, before the standardisation" if scale_raw else "the standardised features",
                      "id_order": "1-based position in the source's client order (folktables state order for acs)"})

    name = spec.name or f"{spec.source}-{spec.setting}"
    return write_federated_dataset(
        out,
        name=name,
        clients=[(n, s) for n, s, _, _ in final],
        roles={n: r for n, _, r, _ in final},
        parents={n: p for n, _, _, p in final},
        features=features,
        label=label,
        positive_label=src.positive,
        sensitive={a: {"values": sensitive_values[a],
                       "labels": {str(v): value_labels.get(a, {}).get(str(v), str(v)) for v in sensitive_values[a]}}
                   for a in sensitive},
        default_model=spec.default_model,
        source={**src.info, "spec": _spec_json(spec), **({"recipe": spec.notes} if spec.notes else {})},
        seed=spec.seed,
        preprocessing=steps,
        modifications=records,
        synthetic=src.synthetic,
        warnings=warnings,
        num_classes=src.num_classes,
        input_shape=src.input_shape,
    )


def _spec_json(spec: BuildSpec) -> dict[str, Any]:
    data = asdict(spec)
    data.pop("notes", None)
    data["modifications"] = [m if isinstance(m, Mapping) else asdict(m) for m in spec.modifications]
    return json.loads(json.dumps(data, default=str))
