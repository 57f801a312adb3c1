"""report.md and plots of a bias audit (seed 002 Tables 3-6 and Figures 2-3).

Counting rule (seed 002 Section 4): a client is *biased toward* an attribute
(or a value) when both local models (LR and XGBoost) have their maximum DD on
that attribute (value) and the smaller of the two maxima exceeds the
threshold. The report gives, per attribute and per value, how many clients
each model alone, both models, and both models above the threshold point to,
with the client names, for DD and for EOD, plus the same count on the labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import Manifest

METRICS = (("dd", "Demographic disparity (DD)"), ("eod", "Equalized odds difference (EOD)"))


def _by_model(table: pd.DataFrame, model: str) -> pd.DataFrame:
    return table[table["model"] == model].set_index("client")


def most_biased_attribute(table: pd.DataFrame, attributes: Sequence[str], metric: str, model: str) -> pd.DataFrame:
    """Per client: the attribute with the largest ``metric`` and that value (NaN-safe)."""
    rows = _by_model(table, model)
    cols = [f"{metric}_{a}" for a in attributes]
    values = rows[cols].astype(float)
    defined = values.notna().any(axis=1)
    best = values.where(values.notna(), -np.inf).to_numpy().argmax(axis=1)
    return pd.DataFrame({
        "choice": [attributes[b] if ok else None for b, ok in zip(best, defined)],
        "gap": values.max(axis=1, skipna=True),
    }, index=rows.index)


def most_biased_value(table: pd.DataFrame, attribute: str, metric: str, model: str) -> pd.DataFrame:
    """Per client: the disadvantaged value of the max-gap pair of ``attribute`` and the gap."""
    rows = _by_model(table, model)
    choice = rows[f"{metric}_{attribute}_value"].astype(str).replace({"nan": None, "": None})
    return pd.DataFrame({"choice": choice, "gap": rows[f"{metric}_{attribute}"].astype(float)}, index=rows.index)


def count_choices(per_model: dict[str, pd.DataFrame], options: Sequence[Any], threshold: float) -> pd.DataFrame:
    """Counts per option: each model alone, both agree, both agree with min gap > threshold."""
    models = [m for m in ("lr", "xgb") if m in per_model]
    out = []
    for option in options:
        option = str(option)
        row: dict[str, Any] = {"option": option}
        hits = {m: per_model[m]["choice"].astype(str) == option for m in models}
        for m in models:
            row[m] = int(hits[m].sum())
        if models:
            both = np.logical_and.reduce([hits[m].to_numpy() for m in models])
            gaps = np.minimum.reduce([per_model[m]["gap"].to_numpy(dtype=float) for m in models])
            above = both & (np.nan_to_num(gaps, nan=-1.0) > threshold)
            clients = per_model[models[0]].index
            row["both"] = int(both.sum())
            row["both_above"] = int(above.sum())
            row["clients"] = ", ".join(str(c) for c in clients[above])
        if "labels" in per_model:
            row["labels"] = int((per_model["labels"]["choice"].astype(str) == option).sum())
        out.append(row)
    return pd.DataFrame(out)


def _md_table(frame: pd.DataFrame, header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join("" if (isinstance(v, float) and math.isnan(v)) else str(v) for v in row) + " |")
    return "\n".join(lines)


def _section(counts: pd.DataFrame, label_of: dict[str, str], threshold: float) -> str:
    frame = counts.copy()
    frame.insert(1, "label", [label_of.get(o, "") for o in frame["option"]])
    cols = ["option", "label"] + [c for c in ("labels", "lr", "xgb", "both", "both_above", "clients") if c in frame]
    names = {"option": "value", "label": "label", "labels": "labels (data)", "lr": "LR", "xgb": "XGBoost",
             "both": "LR & XGB agree", "both_above": f"agree, both > {threshold:g}", "clients": f"clients (agree, > {threshold:g})"}
    return _md_table(frame[cols], [names[c] for c in cols])


def write_report(
    table: pd.DataFrame, manifest: Manifest, attributes: Sequence[str], out: Path, threshold: float, include_sensitive: bool
) -> Path:
    """report.md: attribute-level and value-level counts like seed 002's Tables 3-6."""
    models = [m for m in ("labels", "lr", "xgb") if m in set(table["model"])]
    single = [a for a in attributes if a in manifest.sensitive]
    lines = [
        f"# Bias audit of `{manifest.name}`",
        "",
        f"- dataset: `{manifest.root}` ({len(manifest.clients)} clients{', SYNTHETIC' if manifest.raw.get('synthetic') else ''})",
        f"- models: {', '.join(models)} (local models {'see' if include_sensitive else 'do not see'} the sensitive columns)",
        f"- rule: a client counts for an attribute / value when LR and XGBoost both have their maximum there "
        f"and the smaller of the two maxima exceeds {threshold:g} (seed 002 Section 4)",
        "- value level: the disadvantaged value of the pair with the largest gap (lower selection rate for DD; "
        "lower TPR or FPR for EOD)",
        "",
    ]
    mods = manifest.raw.get("modifications", [])
    if mods:
        lines += [f"{len(mods)} bias modifications recorded in manifest.json "
                  f"({sum(m['dropped'] for m in mods)} rows dropped, {sum(m['flipped'] for m in mods)} labels flipped).", ""]
    for metric, title in METRICS:
        lines += [f"## {title}", ""]
        if len(single) > 1:
            per_model = {m: most_biased_attribute(table, single, metric, m) for m in models if not (m == "labels" and metric == "eod")}
            counts = count_choices(per_model, single, threshold)
            lines += ["### Attribute level: most biased attribute", "", _section(counts, {}, threshold), ""]
        for attr in attributes:
            values = manifest.sensitive[attr]["values"] if attr in manifest.sensitive else sorted(
                {v for v in table[f"{metric}_{attr}_value"].dropna().astype(str) if v})
            per_model = {m: most_biased_value(table, attr, metric, m) for m in models if not (m == "labels" and metric == "eod")}
            counts = count_choices(per_model, values, threshold)
            labels = {str(k): v for k, v in manifest.sensitive.get(attr, {}).get("labels", {}).items()}
            lines += [f"### Value level: {attr}, disadvantaged value of the largest gap", "", _section(counts, labels, threshold), ""]
        means = table.groupby("model")[[f"{metric}_{a}" for a in attributes]].mean().round(4)
        lines += [f"### Mean {metric.upper()} over clients", "", _md_table(means.reset_index(), ["model", *attributes]), ""]
    acc = table[table["model"] != "labels"].groupby("model")["accuracy"].agg(["mean", "min", "max"]).round(4)
    if len(acc):
        lines += ["## Local model accuracy", "", _md_table(acc.reset_index(), ["model", "mean", "min", "max"]), ""]
    undefined = table[table["notes"].fillna("") != ""]
    if len(undefined):
        lines += ["## Undefined or degenerate values", ""]
        lines += [f"- {r.client} ({r.model}): {r.notes}" for r in undefined.itertuples()][:200]
        lines.append("")
    warnings = manifest.raw.get("warnings", [])
    if warnings:
        lines += ["## Build warnings", ""] + [f"- {w}" for w in warnings] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _grouped_bars(ax: Any, ticks: Sequence[Any], series: dict[str, Any], rotation: int, fontsize: int) -> None:
    """One bar per (tick, series), the series side by side at each tick."""
    width = 0.8 / max(1, len(series))
    for k, (name, heights) in enumerate(series.items()):
        ax.bar(np.arange(len(ticks)) + k * width, heights, width=width, label=name)
    ax.set_xticks(np.arange(len(ticks)) + 0.4 - width / 2, ticks, rotation=rotation, fontsize=fontsize)


def _save(fig: Any, path: Path, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)


def write_plots(table: pd.DataFrame, attributes: Sequence[str], out: Path) -> list[Path]:
    """dd_per_client.png, lr_vs_xgb.png, max_gap_values.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    models = [m for m in ("xgb", "lr", "labels") if m in set(table["model"])]
    main = models[0]
    rows = _by_model(table, main)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.3 * len(rows)), 4.5), layout="constrained")
    _grouped_bars(ax, list(rows.index), {attr: rows[f"dd_{attr}"].astype(float) for attr in attributes}, rotation=90, fontsize=7)
    ax.set_ylabel(f"DD ({main})")
    ax.set_title("Demographic disparity per client and attribute")
    ax.legend()
    _save(fig, out / "dd_per_client.png", written)

    if {"lr", "xgb"} <= set(table["model"]):
        lr, xgb = _by_model(table, "lr"), _by_model(table, "xgb")
        fig, ax = plt.subplots(figsize=(5.5, 5.5), layout="constrained")
        top = 0.0
        for attr in attributes:
            x, y = lr[f"dd_{attr}"].astype(float), xgb.loc[lr.index, f"dd_{attr}"].astype(float)
            ax.scatter(x, y, s=14, label=attr)
            top = max(top, float(np.nanmax([x.max(), y.max(), 0.0])))
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        ax.set_xlabel("DD, local LogisticRegression")
        ax.set_ylabel("DD, local XGBoost")
        ax.set_title("Per-client DD: LR vs XGBoost")
        ax.legend()
        _save(fig, out / "lr_vs_xgb.png", written)

    fig, axes = plt.subplots(1, len(attributes), figsize=(4.5 * len(attributes), 4), layout="constrained", squeeze=False)
    for ax, attr in zip(axes[0], attributes):
        counts = {m: _by_model(table, m)[f"dd_{attr}_value"].astype(str).value_counts() for m in models}
        options = sorted({o for c in counts.values() for o in c.index if o not in ("", "nan")}, key=str)
        _grouped_bars(ax, options, {m: [int(counts[m].get(o, 0)) for o in options] for m in models}, rotation=45, fontsize=8)
        ax.set_title(f"{attr}: value with the max DD gap")
        ax.set_ylabel("clients")
        ax.legend()
    _save(fig, out / "max_gap_values.png", written)
    return written
