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


def _grouped_bars(ax: Any, ticks: Sequence[Any], series: dict[str, Any], rotation: int, fontsize: int,
                  colours: dict[str, str] | None = None, values: bool = False) -> None:
    """One bar per (tick, series), the series side by side at each tick, from 0; ``values``: each bar's height
    written on it."""
    width = 0.8 / max(1, len(series))
    for k, (name, heights) in enumerate(series.items()):
        bars = ax.bar(np.arange(len(ticks)) + k * width, heights, width=width, label=name,
                      color=(colours or {}).get(name))
        if values:
            ax.bar_label(bars, fmt="%.2g", fontsize=5.5, padding=1, rotation=90 if len(ticks) * len(series) > 12 else 0)
    ax.set_xticks(np.arange(len(ticks)) + 0.4 - width / 2, ticks, rotation=rotation, fontsize=fontsize)
    ax.set_ylim(bottom=0.0)


def value_name(value: Any, labels: dict[str, str]) -> str:
    """A sensitive value as the manifest names it: ``Female (2)``; the code alone when it has no name."""
    code = str(value)
    return f"{labels[code]} ({code})" if code in labels else code


VALUES_WRITTEN_MAX = 60  # bars with their value written on them, at most


def _gap_per_client(table: pd.DataFrame, attributes: Sequence[str], metric: str, model: str, threshold: float,
                    colours: dict[str, str]) -> Any:
    """Per client and attribute the model's ``metric`` (DD or EOD), bars from 0, the threshold line, values written
    on the bars of small audits, the clients above the threshold in bold."""
    from fedfair.figures import pyplot

    plt = pyplot()
    rows = _by_model(table, model)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.32 * len(rows) * max(1, len(attributes) / 2)), 4.6), layout="constrained")
    heights = {attr: rows[f"{metric}_{attr}"].astype(float) for attr in attributes}
    _grouped_bars(ax, list(rows.index), heights, rotation=90, fontsize=7, colours=colours,
                  values=len(rows) * len(attributes) <= VALUES_WRITTEN_MAX)
    ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    top = max([float(np.nanmax(h)) for h in heights.values() if np.isfinite(h).any()] + [threshold])
    ax.set_ylim(0.0, 1.12 * top)  # the threshold line is always in view
    above = {str(c) for attr in attributes for c, v in heights[attr].items() if v > threshold}
    for label in ax.get_xticklabels():
        if label.get_text() in above:
            label.set_fontweight("bold")
    name = dict(METRICS)[metric]
    ax.set_ylabel(f"{metric.upper()} ({model})")
    ax.set_title(f"{name} per client and attribute (bold: above the threshold)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def write_plots(table: pd.DataFrame, attributes: Sequence[str], out: Path, labels: dict[str, dict[str, str]] | None = None,
                threshold: float = 0.1, fmt: str = "png") -> list[Path]:
    """dd_per_client and eod_per_client (per client and attribute, bars from 0, the threshold line, values written
    on small audits), lr_vs_xgb (both models' DD per client, the threshold lines, the clients above both named),
    max_gap_values (per attribute, for DD and EOD, how many clients' largest gap is against each value, named as
    the manifest names it (``labels``: {attribute: {code: name}}), the counts written); ``fmt``: png, svg or pdf."""
    from fedfair.figures import colour_map, direct_labels, pyplot, save

    plt = pyplot()
    labels = labels or {}
    written = []
    colours = colour_map(list(attributes))
    models = [m for m in ("xgb", "lr", "labels") if m in set(table["model"])]
    predicted = [m for m in models if m != "labels"]
    for metric, model in (("dd", models[0]), ("eod", predicted[0] if predicted else None)):
        if model is not None:
            fig = _gap_per_client(table, attributes, metric, model, threshold, colours)
            written.append(save(fig, out / f"{metric}_per_client.png", fmt))

    if {"lr", "xgb"} <= set(table["model"]):
        lr, xgb = _by_model(table, "lr"), _by_model(table, "xgb")
        fig, ax = plt.subplots(figsize=(6.0, 5.6), layout="constrained")
        top = threshold
        named = []
        for attr in attributes:
            x, y = lr[f"dd_{attr}"].astype(float), xgb.loc[lr.index, f"dd_{attr}"].astype(float)
            ax.scatter(x, y, s=14, label=attr, color=colours[attr])
            top = max(top, float(np.nanmax([x.max(), y.max(), 0.0])))
            named += [(float(x[c]), float(y[c]), f"{c} ({attr})") for c in lr.index
                      if x[c] > threshold and y[c] > threshold]
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
        ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(left=0.0)
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel("DD, local LogisticRegression")
        ax.set_ylabel("DD, local XGBoost")
        ax.set_title("Per-client DD: LR vs XGBoost (named: both above the threshold)", fontsize=10)
        ax.legend(fontsize=8)
        named = sorted(named, key=lambda n: -min(n[0], n[1]))[:12]
        if named:
            fig.canvas.draw()  # the constrained layout, before the labels are placed
            direct_labels(ax, *zip(*named), ["black"] * len(named), fontsize=6, dx=4)
        written.append(save(fig, out / "lr_vs_xgb.png", fmt))

    metrics = [("dd", models), *([("eod", predicted)] if predicted else [])]
    fig, axes = plt.subplots(len(metrics), len(attributes), figsize=(4.8 * len(attributes), 4.0 * len(metrics)),
                             layout="constrained", squeeze=False)
    model_colours = colour_map(models)
    for row, (metric, shown) in enumerate(metrics):
        for ax, attr in zip(axes[row], attributes):
            counts = {m: _by_model(table, m)[f"{metric}_{attr}_value"].astype(str).value_counts() for m in shown}
            options = sorted({o for c in counts.values() for o in c.index if o not in ("", "nan")}, key=str)
            _grouped_bars(ax, [value_name(o, labels.get(attr, {})) for o in options],
                          {m: [int(counts[m].get(o, 0)) for o in options] for m in shown}, rotation=30, fontsize=8,
                          colours=model_colours, values=True)
            ax.set_title(f"{attr}: value against which the largest {metric.upper()} gap is", fontsize=9)
            ax.set_ylabel("clients")
            ax.legend(fontsize=7)
    written.append(save(fig, out / "max_gap_values.png", fmt))
    return written
