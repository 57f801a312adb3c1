"""The four FeDa4Fair benchmark datasets (seed 002 Section 4) as build recipes.

``attribute-silo``: ACSIncome 2018 by state, RAC1P binarised (1 White, 2 other),
sensitive SEX and RAC1P. For each state, local LogisticRegression and XGBoost
models give the DD of each attribute; a state already counts as biased when
both models have their maximum DD on the same attribute and the smaller
maximum exceeds the threshold. Otherwise the more biased attribute (mean DD of
the two models) is made more biased: the drop rate of the positives of its
disadvantaged value rises in steps of 0.1 until the rule holds (at most 0.9;
a state that never satisfies it keeps the last rate and is named in a warning).

``value-silo``: the same with RAC1P in five values (1 White, 2 Black, 3 Asian,
4 American Indian / Alaska Native, 5 other) and the rule on the disadvantaged
value of the largest RAC1P gap.

``attribute-device`` / ``value-device``: the silo dataset's states (with their
modifications) are split IID into 6 / 4 parts; the parts whose local models
satisfy the rule are kept as cross-device clients, 20 % of them held out as
test clients.

The source is folktables ACS (``acs``, default; ``--acs-root`` offline) or any
source given with ``--source`` (e.g. ``csv-dir`` on FeDa4Fair's release, or
``synthetic-acs``). Everything is seeded; the same seed gives the same dataset.
The threshold's value is not legible in seed 002's text; the default 0.1 is
fedfair's choice (``--threshold``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError
from fedfair.metrics import GroupCounts, fairness_from_counts, group_counts
from fedfair.partitioners.audit import DEFAULT_THRESHOLD, _fit_predict, disadvantaged_value
from fedfair.partitioners.bias import Modification, apply_modification, client_rng
from fedfair.partitioners.builder import BuildSpec, build_dataset, map_values, normalise_clients, resolve_mapping
from fedfair.partitioners.partitioning import partition_client
from fedfair.partitioners.sources import load_source

RECIPES: dict[str, dict[str, Any]] = {
    "attribute-silo": {"level": "attribute", "race": "race-binary", "parts": None},
    "value-silo": {"level": "value", "race": "race-5", "parts": None},
    "attribute-device": {"level": "attribute", "race": "race-binary", "parts": 6},
    "value-device": {"level": "value", "race": "race-5", "parts": 4},
}
SENSITIVE = ["SEX", "RAC1P"]
RATE_STEP, MAX_RATE = 0.1, 0.9


def local_gaps(frame: pd.DataFrame, label: str, name: str, seed: int) -> dict[str, dict[str, tuple[float, Any]]]:
    """DD of each sensitive attribute for local LR and XGBoost: ``{model: {attr: (dd, disadvantaged value)}}``.

    The client's rows are split 70 / 30 (seeded by client name); models do not see the sensitive columns.
    """
    features = [c for c in frame.columns if c not in (label, *SENSITIVE)]
    order = client_rng(seed, name, "recipe-split").permutation(len(frame))
    cut = int(round(0.7 * len(frame)))
    train, test = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    x_train, x_test = train[features].to_numpy(np.float32), test[features].to_numpy(np.float32)
    y_train, y_test = train[label].to_numpy(np.int64), test[label].to_numpy(np.int64)
    out = {}
    for model in ("lr", "xgb"):
        pred, _ = _fit_predict(model, x_train, y_train, x_test, seed)
        gaps = {}
        for attr in SENSITIVE:
            table: GroupCounts = group_counts(y_test, pred, test[attr].to_numpy())
            fair = fairness_from_counts(table, with_pairs=False)
            gaps[attr] = (float(fair["sp"]), disadvantaged_value(table, fair["sp_pair"], "sp"))
        out[model] = gaps
    return out


def rule_holds(gaps: Mapping[str, Mapping[str, tuple[float, Any]]], level: str, threshold: float) -> tuple[bool, Any]:
    """Seed 002's rule: both models' maximum on the same attribute (value), min of the maxima > threshold."""
    if level == "attribute":
        picks = {m: max(SENSITIVE, key=lambda a: np.nan_to_num(g[a][0], nan=-1.0)) for m, g in gaps.items()}
        smallest = min(g[picks[m]][0] for m, g in gaps.items())
    else:
        picks = {m: g["RAC1P"][1] for m, g in gaps.items()}
        smallest = min(g["RAC1P"][0] for g in gaps.values())
    agree = len(set(map(str, picks.values()))) == 1
    return bool(agree and np.nan_to_num(smallest, nan=-1.0) > threshold), picks["xgb"]


def _target(gaps: Mapping[str, Mapping[str, tuple[float, Any]]], level: str) -> tuple[str, Any]:
    """Which group to exacerbate: the more biased attribute's (or RAC1P's) disadvantaged value, per XGBoost."""
    if level == "attribute":
        attr = max(SENSITIVE, key=lambda a: np.nanmean([gaps[m][a][0] for m in gaps]))
    else:
        attr = "RAC1P"
    return attr, gaps["xgb"][attr][1]


def calibrate_state(name: str, frame: pd.DataFrame, label: str, level: str, threshold: float, seed: int) -> dict[str, Any]:
    """Raise the drop rate for one state until the rule holds; returns the decision and its trail."""
    gaps = local_gaps(frame, label, name, seed)
    ok, pick = rule_holds(gaps, level, threshold)
    trail = [{"rate": 0.0, "holds": ok, "pick": str(pick)}]
    if ok:
        return {"client": name, "modification": None, "trail": trail, "reached": True}
    attr, value = _target(gaps, level)
    rate = 0.0
    while rate < MAX_RATE - 1e-9:
        rate = round(rate + RATE_STEP, 2)
        mod = Modification(client=name, attribute=attr, value=value, drop_rate=rate)
        modified, _ = apply_modification(frame, mod, label, seed, 0)
        ok, pick = rule_holds(local_gaps(modified, label, name, seed), level, threshold)
        trail.append({"rate": rate, "holds": ok, "pick": str(pick)})
        if ok:
            break
    return {"client": name, "modification": {"client": name, "attribute": attr, "value": value, "drop_rate": rate},
            "trail": trail, "reached": ok}


def _prepare(data: Mapping[str, Any], recipe: Mapping[str, Any]) -> tuple[BuildSpec, Any]:
    """The recipe's base spec (user flags kept) and its loaded, mapped source."""
    spec_data = copy.deepcopy(dict(data))
    spec_data.setdefault("source", "acs")
    opts = spec_data.setdefault("source_options", {})
    if spec_data["source"] == "acs":
        opts.setdefault("task", "ACSIncome")
        opts.setdefault("year", 2018)
    spec_data.setdefault("label", "PINCP")
    spec_data["sensitive"] = SENSITIVE
    if spec_data["source"] == "csv-dir":
        # FeDa4Fair's CSV release is already mapped (race-binary is idempotent on 1/2; race-5 is not).
        spec_data["value_labels"] = {"RAC1P": recipe["race"], **spec_data.get("value_labels", {})}
        if recipe["race"] == "race-binary":
            spec_data["mapping"] = {"RAC1P": "race-binary", **spec_data.get("mapping", {})}
    else:
        spec_data["mapping"] = {"RAC1P": recipe["race"], **spec_data.get("mapping", {})}
    spec = BuildSpec.from_dict(spec_data)
    return spec, load_source(spec.source, seed=spec.seed, **spec.load_options())


def _mapped_clients(spec: BuildSpec, source: Any) -> dict[str, pd.DataFrame]:
    """Natural clients as the builder sees them before bias exacerbation (mapped, label 0/1, integer codes)."""
    rules = resolve_mapping(spec.mapping)
    mapped = {}
    for name, frame in source.clients.items():
        for attr, rule in rules.items():
            frame = frame.assign(**{attr: map_values(frame, attr, rule)})
        mapped[name] = frame
    return normalise_clients(replace(source, clients=mapped), spec.drop_columns)


def build_recipe(
    name: str, data: Mapping[str, Any], out: str | os.PathLike[str], threshold: float | None = None,
    echo: Callable[[str], None] = print, jobs: int | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Build the FeDa4Fair benchmark ``name`` into ``out``; returns (directory, per-state decisions)."""
    from joblib import Parallel, delayed

    if name not in RECIPES:
        raise DatasetError(f"unknown recipe {name!r}; valid recipes: {', '.join(RECIPES)}")
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise DatasetError(f"threshold must be in [0, 1], got {threshold}")
    recipe = RECIPES[name]
    spec, source = _prepare(data, recipe)
    clients = _mapped_clients(spec, source)
    label = source.label
    echo(f"recipe {name}: calibrating {len(clients)} clients (threshold {threshold:g}) ...")
    jobs = jobs or min(len(clients), os.cpu_count() or 1)
    decisions = Parallel(n_jobs=jobs)(
        delayed(calibrate_state)(c, f, label, recipe["level"], threshold, spec.seed) for c, f in clients.items()
    )
    mods = [d["modification"] for d in decisions if d["modification"]]
    unreached = [d["client"] for d in decisions if not d["reached"]]
    spec.modifications = list(spec.modifications) + mods
    spec.name = spec.name or name
    notes: dict[str, Any] = {"recipe": name, "threshold": threshold, "level": recipe["level"],
                             "decisions": [{k: d[k] for k in ("client", "reached", "trail")} for d in decisions]}
    if recipe["parts"]:
        kept = _device_parts(clients, spec, label, recipe, threshold, jobs)
        spec.partitioning = {"*": f"iid:{recipe['parts']}"}
        spec.keep_clients = kept
        spec.setting = "cross-device"
        notes["device_parts_kept"] = len(kept)
    spec.notes = notes
    root = build_dataset(spec, out, source=source)
    echo(f"recipe {name}: {len(mods)} clients modified, {len(unreached)} never reached the rule"
         + (f" ({', '.join(unreached)})" if unreached else ""))
    return root, decisions


def _device_parts(clients: Mapping[str, pd.DataFrame], spec: BuildSpec, label: str, recipe: Mapping[str, Any],
                  threshold: float, jobs: int) -> list[str]:
    """Parts (of the modified states) whose local models satisfy the rule."""
    from joblib import Parallel, delayed

    from fedfair.partitioners.bias import apply_modifications

    modified, _ = apply_modifications(clients, [Modification.from_dict(m) for m in spec.modifications], label, spec.seed)
    parts = [p for c, f in modified.items() for p in partition_client(c, f, f"iid:{recipe['parts']}", spec.seed)]
    verdicts = Parallel(n_jobs=jobs)(
        delayed(_part_holds)(n, f, label, recipe["level"], threshold, spec.seed) for n, f in parts
    )
    kept = [n for (n, _), ok in zip(parts, verdicts) if ok]
    if len(kept) < 2:
        raise DatasetError(f"only {len(kept)} device parts satisfy the rule at threshold {threshold:g}; lower --threshold")
    return kept


def _part_holds(name: str, frame: pd.DataFrame, label: str, level: str, threshold: float, seed: int) -> bool:
    if len(frame) < 50 or frame[label].nunique() < 2:
        return False
    return rule_holds(local_gaps(frame, label, name, seed), level, threshold)[0]
