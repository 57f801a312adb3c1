"""Bias exacerbation (FeDa4Fair, seed 002 Section 3.1): drop and flip positives of a group.

A :class:`Modification` targets one client's rows that have the positive label
and belong to a group ``attribute = value`` (optionally intersected with
``extra_attribute = extra_value``). ``drop_rate`` of those rows are removed,
then ``flip_rate`` of the rows that remain in the group's positives get the
negative label. Both fractions are of the group's positives *at the time of
the step* (drop first, then flip), rounded to the nearest row. The rows are
drawn with a generator seeded from the dataset seed and the client's name, so
the same seed always modifies the same rows. Each application returns a record
with the exact numbers of rows dropped and flipped; the builder writes those
records to the manifest.

Seed 002 Section 3.1's text says "instances with negative labels", but the
released datasets (see their datasheets: "rows with a PINCP value of True ...
were removed") and fedfair's issue target the positive label; ``label`` lets a
user target the negative label instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.schemas import check_dataclass
from fedfair.partitioners.sources import same_value


@dataclass(frozen=True)
class Modification:
    """Drop / flip ``label`` rows of the group ``attribute = value`` in ``client``."""

    client: str
    attribute: str
    value: Any
    drop_rate: float = 0.0
    flip_rate: float = 0.0
    extra_attribute: str | None = None
    extra_value: Any = None
    label: int = 1

    def __post_init__(self) -> None:
        for key in ("drop_rate", "flip_rate"):
            rate = getattr(self, key)
            if not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
                raise DatasetError(f"client {self.client!r}: {key} must be in [0, 1], got {rate!r}")
        if self.label not in (0, 1):
            raise DatasetError(f"client {self.client!r}: label must be 0 or 1 (the encoded label), got {self.label!r}")
        if (self.extra_attribute is None) != (self.extra_value is None):
            raise DatasetError(f"client {self.client!r}: give both extra_attribute and extra_value, or neither")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Modification":
        """Build from a JSON / TOML table; unknown keys are an error naming them."""
        if not isinstance(data, Mapping):
            raise DatasetError(f"a modification is a table (client, attribute, value, drop_rate / flip_rate), got {data!r:.60}")
        check_keys(data, cls, f"modification {dict(data)}")
        missing = [k for k in ("client", "attribute", "value") if k not in data]
        if missing:
            raise DatasetError(f"modification {dict(data)}: missing keys {missing}")
        client = data["client"] if isinstance(data["client"], str) else str(data["client"])
        return check_dataclass(cls, {**data, "client": client}, f"modification of client {client!r}",
                               "see fedfair data build --help (--drop / --flip)")

    def group_text(self) -> str:
        text = f"{self.attribute}={self.value}"
        if self.extra_attribute is not None:
            text += f" & {self.extra_attribute}={self.extra_value}"
        return text


def check_keys(data: Mapping[str, Any], cls: type, what: str) -> None:
    """Reject keys that are not fields of the dataclass ``cls``, naming them and the valid ones."""
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise DatasetError(f"{what}: unknown keys {unknown}; valid keys: {sorted(known)}")


def client_rng(seed: int, client: str, purpose: str) -> np.random.Generator:
    """A generator that depends only on the dataset seed, the client and the purpose."""
    digest = hashlib.sha256(f"{seed}:{client}:{purpose}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def target_rows(frame: pd.DataFrame, mod: Modification, label: str) -> np.ndarray:
    """Positions of the rows a modification acts on (group and label match)."""
    for attr, value in ((mod.attribute, mod.value), (mod.extra_attribute, mod.extra_value)):
        if attr is None:
            continue
        if attr not in frame.columns:
            raise DatasetError(f"client {mod.client!r}: attribute {attr!r} is not a column; columns: {list(frame.columns)}")
        if not same_value(frame[attr], value).any():
            present = sorted(pd.unique(frame[attr]).tolist(), key=str)
            raise DatasetError(f"client {mod.client!r}: no row has {attr} = {value!r}; values present: {present}")
    mask = same_value(frame[mod.attribute], mod.value) & (frame[label].to_numpy() == mod.label)
    if mod.extra_attribute is not None:
        mask &= same_value(frame[mod.extra_attribute], mod.extra_value)
    return np.flatnonzero(mask)


def apply_modification(
    frame: pd.DataFrame, mod: Modification, label: str, seed: int, index: int = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply one modification to a client's frame (label column 0/1); return (frame, record).

    ``index`` distinguishes several modifications of the same client (each gets
    its own random stream).
    """
    rng = client_rng(seed, mod.client, f"modification-{index}")
    rows = target_rows(frame, mod, label)
    n_target = len(rows)
    n_drop = int(round(mod.drop_rate * n_target))
    dropped = rng.choice(rows, size=n_drop, replace=False) if n_drop else np.empty(0, dtype=np.int64)
    keep = np.ones(len(frame), dtype=bool)
    keep[dropped] = False
    remaining = rows[keep[rows]]
    n_flip = int(round(mod.flip_rate * len(remaining)))
    flipped = rng.choice(remaining, size=n_flip, replace=False) if n_flip else np.empty(0, dtype=np.int64)
    labels = frame[label].to_numpy().copy()
    labels[flipped] = 1 - mod.label
    out = frame.assign(**{label: labels}).iloc[np.flatnonzero(keep)].reset_index(drop=True)
    record = {
        **{k: v for k, v in asdict(mod).items() if v is not None},
        "group": mod.group_text(),
        "rows_before": int(len(frame)),
        "group_label_rows": int(n_target),
        "dropped": int(n_drop),
        "flipped": int(n_flip),
        "rows_after": int(len(out)),
    }
    return out, record


def apply_modifications(
    clients: Mapping[str, pd.DataFrame], modifications: Iterable[Modification], label: str, seed: int
) -> tuple[dict[str, pd.DataFrame], list[dict[str, Any]]]:
    """Apply every modification to its client (in the given order); unknown clients are an error."""
    out = dict(clients)
    records = []
    per_client: dict[str, int] = {}
    for mod in modifications:
        if mod.client not in out:
            raise DatasetError(f"modification targets unknown client {mod.client!r}; clients: {', '.join(list(out)[:60])}")
        index = per_client.get(mod.client, 0)
        per_client[mod.client] = index + 1
        out[mod.client], record = apply_modification(out[mod.client], mod, label, seed, index)
        if record["rows_after"] == 0:
            raise DatasetError(f"client {mod.client!r}: modification {record['group']} leaves no rows")
        records.append(record)
    return out, records


# ----- schedules: per-client rates -------------------------------------------
def linear_schedule(
    clients: Sequence[str], attribute: str, value: Any, start: float, stop: float, kind: str = "drop", **extra: Any
) -> list[Modification]:
    """Rates interpolated linearly from ``start`` (first client) to ``stop`` (last client)."""
    rates = np.linspace(start, stop, num=len(clients)) if len(clients) > 1 else np.array([start])
    return [_scheduled(c, attribute, value, float(r), kind, extra) for c, r in zip(clients, rates)]


def random_schedule(
    clients: Sequence[str], attribute: str, value: Any, low: float, high: float, seed: int, kind: str = "drop", **extra: Any
) -> list[Modification]:
    """Rates drawn uniformly in [low, high] (seeded), one per client."""
    if not 0.0 <= low <= high <= 1.0:
        raise DatasetError(f"random schedule needs 0 <= low <= high <= 1, got low={low}, high={high}")
    rates = np.random.default_rng(seed).uniform(low, high, size=len(clients))
    return [_scheduled(c, attribute, value, round(float(r), 6), kind, extra) for c, r in zip(clients, rates)]


def _scheduled(client: str, attribute: str, value: Any, rate: float, kind: str, extra: Mapping[str, Any]) -> Modification:
    if kind not in ("drop", "flip"):
        raise DatasetError(f"schedule kind must be 'drop' or 'flip', got {kind!r}")
    key = "drop_rate" if kind == "drop" else "flip_rate"
    return Modification(client=str(client), attribute=attribute, value=value, **{key: rate}, **extra)
