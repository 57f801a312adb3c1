"""Client-level bias audit of a federated dataset (FeDa4Fair, seed 002 Sections 3.1 and 4).

For every client, DD (demographic disparity = SP) and EOD (equalized odds
difference = EO, the larger of the TPR and FPR gaps) per sensitive attribute,
at the three FeDa4Fair levels: attribute (max over value pairs), value (the
pair, and the disadvantaged value of that pair) and attribute-value (every
pair, in ``pairs.csv``). They are computed

- on the labels (``model = labels``: data bias; all of the client's rows; EOD
  is left empty because predictions equal to the labels have no TPR / FPR gap),
- on local models trained on the client's train split and scored on its test
  split: ``lr`` (scikit-learn LogisticRegression after standard scaling) and
  ``xgb`` (XGBoost, 100 trees, hist). A client with a single split
  (cross-device) is split 70 / 30 with the dataset seed.

By default the local models do not see the sensitive columns (as in
FeDa4Fair); ``include_sensitive`` adds them one-hot encoded. Clients run in
parallel (joblib processes). Metrics come from :mod:`fedfair.metrics`, so an
undefined value (one group, or no positives in a group) is NaN with the reason
in the ``notes`` column, never 0.

The *disadvantaged value* of a pair is the group with the lower selection
rate (DD) or the lower rate in the larger of the TPR / FPR gaps (EOD); seed
002's Tables 5-6 count clients by that value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import ClientData, DatasetError, load_client, read_manifest
from fedfair.metrics import (
    GroupCounts,
    fairness_from_counts,
    group_rates,
    intersection_name,
    sensitive_counts,
)
from fedfair.partitioners.bias import client_rng

AUDIT_MODELS = ("labels", "lr", "xgb")
DEFAULT_THRESHOLD = 0.1


@dataclass(frozen=True)
class AuditResult:
    """Paths of what :func:`audit_dataset` wrote, and the audit table."""

    out: Path
    table: pd.DataFrame
    pairs: pd.DataFrame


def parse_models(models: str | Sequence[str]) -> list[str]:
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    unknown = [m for m in names if m not in AUDIT_MODELS]
    if unknown:
        raise DatasetError(f"unknown audit model(s) {unknown}; valid: {', '.join(AUDIT_MODELS)}")
    return ["labels"] + [m for m in names if m != "labels"]


# ----- metrics of one prediction vector ------------------------------------------
def disadvantaged_value(table: GroupCounts, pair: Sequence[Any] | None, metric: str) -> Any:
    """The value of ``pair`` with the lower rate (selection rate for DD; TPR or FPR for EOD)."""
    if not pair:
        return None
    rates = group_rates(table.counts)
    a, b = (table.values.index(v) for v in pair)
    if metric == "sp":
        key = "selection_rate"
    else:
        tpr_gap = abs(rates["tpr"][a] - rates["tpr"][b])
        fpr_gap = abs(rates["fpr"][a] - rates["fpr"][b])
        key = "tpr" if tpr_gap >= fpr_gap else "fpr"
    return pair[0] if rates[key][a] <= rates[key][b] else pair[1]


def bias_row(
    y_true: np.ndarray, y_pred: np.ndarray, sensitive: Mapping[str, np.ndarray], values: Mapping[str, Sequence[Any]],
    intersectional: bool, with_eod: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Audit columns, attribute-value rows and notes for one (client, model)."""
    row: dict[str, Any] = {}
    pairs: list[dict[str, Any]] = []
    notes: list[str] = []
    for attr, table in sensitive_counts(y_true, y_pred, sensitive, values, intersectional).items():
        fair = fairness_from_counts(table, with_pairs=True)
        for metric, short in (("sp", "dd"), ("eo", "eod")):
            if metric == "eo" and not with_eod:
                row[f"{short}_{attr}"], row[f"{short}_{attr}_pair"], row[f"{short}_{attr}_value"] = math.nan, "", ""
                continue
            pair = fair[f"{metric}_pair"]
            row[f"{short}_{attr}"] = fair[metric]
            row[f"{short}_{attr}_pair"] = "" if pair is None else f"{pair[0]}-{pair[1]}"
            worst = disadvantaged_value(table, pair, metric)
            row[f"{short}_{attr}_value"] = "" if worst is None else str(worst)
            if metric in fair.get("undefined", {}) and (metric == "sp" or with_eod):
                notes.append(f"{short} {attr}: " + "; ".join(fair["undefined"][metric][:2]))
        for p in fair["pairs"]:
            pairs.append({
                "attribute": attr, "a": p["a"], "b": p["b"], "dd": p["sp"], "eod": p["eo"] if with_eod else None,
                "n_a": fair["n"].get(str(p["a"])), "n_b": fair["n"].get(str(p["b"])),
            })
    return row, pairs, notes


# ----- local models -------------------------------------------------------------
def _design(x: np.ndarray, sensitive: Mapping[str, np.ndarray], values: Mapping[str, Sequence[Any]], include: bool) -> np.ndarray:
    if not include:
        return x
    cols = [x]
    for attr, vals in values.items():
        for v in vals[1:]:
            cols.append((sensitive[attr] == v).astype(np.float32)[:, None])
    return np.hstack(cols)


def _fit_predict(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """Train ``lr`` or ``xgb``; a single-label train split gives a constant predictor (noted)."""
    labels = np.unique(y_train)
    if len(labels) < 2:
        return np.full(len(x_test), labels[0] if len(labels) else 0, dtype=np.int64), f"{kind}: train split has one label, constant prediction"
    if kind == "lr":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    else:
        from xgboost import XGBClassifier

        model = XGBClassifier(n_estimators=100, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0)
    model.fit(x_train, y_train)
    return np.asarray(model.predict(x_test)).astype(np.int64), ""


def _train_test(data: ClientData, seed: int) -> tuple[Any, Any]:
    """(train, test) arrays; a single-split client (cross-device) is split 70 / 30."""
    if len(data.train) and len(data.test):
        return data.train, data.test
    only = data.train if len(data.train) else data.test
    order = client_rng(seed, data.name, "audit-split").permutation(len(only))
    cut = int(round(0.7 * len(only)))

    def take(idx: np.ndarray) -> Any:
        return type(only)(x=only.x[idx], y=only.y[idx], sensitive={a: s[idx] for a, s in only.sensitive.items()})

    return take(order[:cut]), take(order[cut:])


def audit_client(
    root: str, client: int, models: Sequence[str], include_sensitive: bool, intersectional: bool, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of audit.csv and pairs.csv for one client."""
    data = load_client(root, client)
    values = data.sensitive_values
    rows, pair_rows = [], []
    splits = [s for s in (data.train, data.val, data.test) if s is not None and len(s)]
    y_all = np.concatenate([s.y for s in splits])
    sens_all = {a: np.concatenate([s.sensitive[a] for s in splits]) for a in values}
    for model in models:
        if model == "labels":
            row, pairs, notes = bias_row(y_all, y_all, sens_all, values, intersectional, with_eod=False)
            head = {"client": data.name, "model": "labels", "accuracy": math.nan, "n_test": int(len(y_all))}
        else:
            train, test = _train_test(data, seed)
            if len(test) == 0 or len(train) == 0:
                raise DatasetError(f"client {data.name!r}: too few rows to train and score a local model")
            pred, note = _fit_predict(
                model, _design(train.x, train.sensitive, values, include_sensitive), train.y,
                _design(test.x, test.sensitive, values, include_sensitive), seed,
            )
            row, pairs, notes = bias_row(test.y, pred, test.sensitive, values, intersectional)
            notes = ([note] if note else []) + notes
            head = {"client": data.name, "model": model, "accuracy": float(np.mean(pred == test.y)), "n_test": int(len(test))}
        rows.append({**head, **row, "notes": " | ".join(notes)})
        pair_rows += [{"client": data.name, "model": model, **p} for p in pairs]
    return rows, pair_rows


def audit_dataset(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    models: str | Sequence[str] = ("lr", "xgb"),
    include_sensitive: bool = False,
    intersectional: bool = False,
    jobs: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int | None = None,
    plots: bool = True,
    fmt: str = "png",
) -> AuditResult:
    """Audit every client of the dataset at ``root``; write audit.csv, pairs.csv, plots (``fmt``: png, svg or pdf)
    and report.md to ``out``."""
    from joblib import Parallel, delayed

    manifest = read_manifest(root)
    names = parse_models(models)
    if not 0.0 <= threshold <= 1.0:
        raise DatasetError(f"threshold must be in [0, 1], got {threshold}")
    seed = int(manifest.raw.get("seed", 0)) if seed is None else seed
    jobs = jobs or min(len(manifest.clients), os.cpu_count() or 1)
    root_s = str(manifest.root)
    results = Parallel(n_jobs=jobs)(
        delayed(audit_client)(root_s, k, names, include_sensitive, intersectional, seed)
        for k in range(len(manifest.clients))
    )
    table = pd.DataFrame([r for rows, _ in results for r in rows])
    pairs = pd.DataFrame([p for _, ps in results for p in ps])
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "audit.csv", index=False)
    pairs.to_csv(out / "pairs.csv", index=False)
    attributes = list(manifest.sensitive) + ([intersection_name(list(manifest.sensitive))] if intersectional and len(manifest.sensitive) > 1 else [])
    from fedfair.partitioners.report import write_plots, write_report

    if plots:
        labels = {a: {str(k): v for k, v in manifest.sensitive.get(a, {}).get("labels", {}).items()} for a in attributes}
        write_plots(table, attributes, out, labels, threshold, fmt)
    write_report(table, manifest, attributes, out, threshold, include_sensitive)
    return AuditResult(out=out, table=table, pairs=pairs)
