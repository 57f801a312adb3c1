"""Write a federated dataset directory (the only writer of the format in fedfair.data)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fedfair.data import FORMAT_VERSION, MANIFEST, SPLITS, DatasetError, read_manifest
from fedfair.outdirs import publish, staging


def write_federated_dataset(
    out: str | os.PathLike[str],
    *,
    name: str,
    clients: Sequence[tuple[str, Mapping[str, pd.DataFrame]]],
    features: Sequence[str],
    label: str,
    positive_label: Any,
    sensitive: Mapping[str, Mapping[str, Any]],
    default_model: Mapping[str, Any],
    source: Mapping[str, Any],
    seed: int,
    preprocessing: Sequence[Mapping[str, Any]] = (),
    modifications: Sequence[Mapping[str, Any]] = (),
    synthetic: bool = False,
    roles: Mapping[str, str] | None = None,
    parents: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
    num_classes: int = 2,
    input_shape: Sequence[int] | None = None,
) -> Path:
    """Write ``clients`` (name -> {split: frame}) plus manifest.json and DATASHEET.md to ``out``.

    The directory is written to a temporary sibling and renamed into place, so a
    reader never sees a half-written dataset; if ``out`` appears meanwhile (a
    concurrent builder won), the finished copy is kept and ours is discarded. An
    existing ``out`` is written only when this process claimed it
    (:func:`fedfair.outdirs.claim`): then fedfair's own entries are replaced.

    ``roles`` (cross-device) marks clients that only train (``"train"``: no
    test split) or are held out for testing (``"test"``: no train split);
    ``parents`` names the natural client (state) each client was cut from.
    ``num_classes`` > 2 and ``input_shape`` (image features) are recorded only when given.
    """
    roles, parents = roles or {}, parents or {}
    out = Path(out).expanduser().resolve()
    columns = list(features) + [label] + list(sensitive)
    entries = []
    with staging(out, "dataset") as tmp:  # removed however this ends; a killed writer's is removed by the next
        for idx, (client_name, splits) in enumerate(clients):
            role = roles.get(str(client_name), "both")
            needed = {"both": ("train", "test"), "train": ("train",), "test": ("test",)}.get(role)
            if needed is None:
                raise DatasetError(f"client {client_name!r}: role must be both, train or test, got {role!r}")
            if any(s not in splits for s in needed):
                raise DatasetError(f"client {client_name!r} (role {role}): needs splits {list(needed)}, got {sorted(splits)}")
            cdir = f"client_{idx:03d}"
            (tmp / cdir).mkdir()
            entry: dict[str, Any] = {"name": str(client_name), "dir": cdir}
            if role != "both":
                entry["role"] = role
            if str(client_name) in parents:
                entry["parent"] = str(parents[str(client_name)])
            for split in SPLITS:
                if split not in splits:
                    continue
                frame = splits[split]
                absent = [c for c in columns if c not in frame.columns]
                if absent:
                    raise DatasetError(f"client {client_name!r}, {split}: columns {absent} missing")
                if len(frame) == 0:
                    raise DatasetError(f"client {client_name!r}: the {split} split is empty")
                frame[columns].reset_index(drop=True).to_parquet(tmp / cdir / f"{split}.parquet", index=False)
                entry[f"n_{split}"] = int(len(frame))
            entries.append(entry)
        manifest = {
            "format": FORMAT_VERSION,
            "name": name,
            "features": list(features),
            "label": label,
            "positive_label": positive_label,
            "sensitive": {a: dict(spec) for a, spec in sensitive.items()},
            "clients": entries,
            "default_model": dict(default_model),
            "source": dict(source),
            "seed": int(seed),
            "preprocessing": list(preprocessing),
            "modifications": list(modifications),
            "synthetic": bool(synthetic),
            "warnings": list(warnings),
            **({"num_classes": int(num_classes)} if num_classes != 2 else {}),
            **({"input_shape": [int(d) for d in input_shape]} if input_shape else {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
        from fedfair.partitioners.datasheet import DATASHEET, datasheet_text

        (tmp / DATASHEET).write_text(datasheet_text(tmp))  # a new build: no audit yet
        publish(tmp, out, "dataset", last=(MANIFEST,))  # fedfair.outdirs: only into a new / empty / claimed directory
    read_manifest(out)
    return out


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj)}")
