"""The self-contained HTML report of ``fedfair bench``: every figure inline (PNG, base64), no network to open it.

Per dataset of the suite:

- the accuracy-vs-fairness Pareto front: each entry's mean local accuracy against its mean local gap (SP and
  EqOp of every sensitive attribute, the dataset's first, which fairness methods target by default, on top) with
  the 95 % intervals of compare (two-level bootstrap over seeds and
  clients) as error bars; the non-dominated entries (no other entry is at least as accurate and at least as
  fair, and better in one) are filled and joined;
- per-client distributions: each client's accuracy and SP gap (first attribute), every seed's clients pooled, as box + strip plots;
- worst-client accuracy: per entry, the lowest client accuracy of each seed (points) and their mean (bar);
- communication: MB sent to and received from all clients over a run (mean over seeds);
- epsilon, when DP-SGD is on: the largest and the mean client epsilon;
- the markdown table of ``fedfair compare`` (rendered, and as text).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NOTION_NAMES = {"sp": "SP", "eqop": "EqOp", "eo": "EO"}


@dataclass
class DatasetResult:
    """One dataset's entries (a label per run), compare's rows, the run summaries and compare's table.md."""

    title: str
    labels: list[str]
    rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    table_md: str
    attributes: list[str] | None = None  # the dataset's sensitive attributes in its manifest's order (first: targeted)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (gap, accuracy) points: lower gap and higher accuracy are better."""
    front = []
    for i, (gap, acc) in enumerate(points):
        dominated = any(g <= gap and a >= acc and (g < gap or a > acc) for j, (g, a) in enumerate(points) if j != i)
        if not dominated and not (math.isnan(gap) or math.isnan(acc)):
            front.append(i)
    return front


def client_values(summary: Mapping[str, Any], metric: str, attribute: str | None = None) -> list[float]:
    """Every client's accuracy (``metric="accuracy"``) or gap (``metric`` a notion of ``attribute``); the clients of
    every task for task sets; undefined values left out."""
    from fedfair.results import task_views

    if "error" in summary:
        return []
    values = []
    for _, view in task_views(summary):
        for client in view.get("clients", []):
            value = client.get("accuracy") if metric == "accuracy" else \
                client.get("fairness", {}).get(attribute, {}).get(metric)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                values.append(float(value))
    return values


def _figure_html(fig: Any, alt: str, caption: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return (f'<figure><img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = {"": "o", "FairIF": "s", "PUFFLE": "^"}


def _styles(plt: Any, labels: Sequence[str]) -> dict[str, tuple[Any, str, float]]:
    """{label: (colour, marker, alpha)}: one colour per strategy, the marker and shade say the mitigation
    (``fedavg + PUFFLE`` is fedavg's colour with a triangle)."""
    bases = list(dict.fromkeys(label.split(" + ")[0] for label in labels))
    out = {}
    for label in labels:
        base, _, mitigation = label.partition(" + ")
        rank = list(MARKERS).index(mitigation) if mitigation in MARKERS else 3
        out[label] = (plt.cm.tab10(bases.index(base) % 10), MARKERS.get(mitigation, "D"), (1.0, 0.7, 0.45, 0.3)[rank])
    return out


def pareto_figure(result: DatasetResult, attributes: Sequence[str]) -> str:
    plt = _plt()
    notions = ("sp", "eqop")
    height = 4.6 * len(attributes)
    fig, axes = plt.subplots(len(attributes), len(notions), figsize=(12, height), squeeze=False)
    for ax, (attribute, notion) in zip(axes.ravel(), [(a, n) for a in attributes for n in notions]):
        points, errors = [], []
        for row in result.rows:
            gap, acc = row["fairness"].get(attribute, {}).get(notion, (math.nan, math.nan))[0], row["accuracy"][0]
            points.append((gap, acc))
            ci = row.get("ci") or {}
            errors.append((ci.get("fairness", {}).get(attribute, {}).get(notion), ci.get("accuracy")))
        front = set(pareto_front(points))
        styles = _styles(plt, [r["label"] for r in result.rows])
        for k, (row, (gap, acc), (x_ci, y_ci)) in enumerate(zip(result.rows, points, errors)):
            if math.isnan(gap) or math.isnan(acc):
                continue
            xerr = [[gap - x_ci[0]], [x_ci[1] - gap]] if x_ci else None
            yerr = [[acc - y_ci[0]], [y_ci[1] - acc]] if y_ci else None
            colour, marker, _ = styles[row["label"]]
            ax.errorbar(gap, acc, xerr=xerr, yerr=yerr, fmt=marker, capsize=2, color=colour, label=row["label"],
                        markerfacecolor=colour if k in front else "white", markersize=7, elinewidth=0.8)
        ordered = sorted((points[i] for i in front), key=lambda p: p[0])
        if len(ordered) > 1:
            ax.plot(*zip(*ordered), "--", color="black", linewidth=0.8, zorder=0)
        ax.set_xlabel(f"mean local {NOTION_NAMES[notion]} gap ({attribute}); lower is fairer")
        ax.set_ylabel("mean local accuracy")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = 3
    legend = 0.22 * math.ceil(len(labels) / ncol) + 0.3
    fig.set_size_inches(12, height + legend)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8)
    fig.suptitle(f"{result.title}: accuracy vs fairness (filled, dashed: the Pareto front)")
    fig.tight_layout(rect=(0, legend / (height + legend), 1, 0.97))
    return _figure_html(fig, f"{result.title} Pareto front", f"{result.title}: mean local accuracy against the mean "
                        f"local SP / EqOp gap of {', '.join(attributes)}, error bars the 95 % intervals over seeds and "
                        "clients; filled points joined by the dashed line are the Pareto front of each panel.")


def _by_label(result: DatasetResult) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {label: [] for label in dict.fromkeys(result.labels)}
    for label, summary in zip(result.labels, result.summaries):
        grouped[label].append(summary)
    return grouped


def distribution_figure(result: DatasetResult, attribute: str | None) -> str:
    plt = _plt()
    grouped = _by_label(result)
    panels = [("accuracy", None, "client accuracy")] + ([("sp", attribute, f"client SP gap ({attribute})")] if attribute else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 0.42 * len(grouped) + 1.6), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (metric, attr, xlabel) in zip(axes[0], panels):
        data = [[v for s in runs for v in client_values(s, metric, attr)] for runs in grouped.values()]
        positions = np.arange(len(data))[::-1]
        shown = [(d, p) for d, p in zip(data, positions) if d]
        if shown:
            ax.boxplot([d for d, _ in shown], positions=[p for _, p in shown], vert=False, widths=0.6,
                       showfliers=False, medianprops={"color": "black"})
        styles = _styles(plt, list(grouped))
        for label, values, pos in zip(grouped, data, positions):
            ax.scatter(values, pos + rng.uniform(-0.18, 0.18, len(values)), s=6, alpha=0.5, color=styles[label][0],
                       marker=styles[label][1])
        ax.set_yticks(positions, list(grouped) if ax is axes[0][0] else [""] * len(positions), fontsize=8)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"{result.title}: per-client distributions (every seed's clients)")
    fig.tight_layout()
    return _figure_html(fig, f"{result.title} per-client distributions", f"{result.title}: each client's accuracy"
                        + (f" and SP gap of {attribute}" if attribute else "") + ", every seed's clients pooled: box "
                        "(quartiles, whiskers at 1.5 IQR) and one point per client.")


def worst_client_figure(result: DatasetResult) -> str:
    plt = _plt()
    grouped = _by_label(result)
    worst = [[min(v) for s in runs if (v := client_values(s, "accuracy"))] for runs in grouped.values()]
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(grouped) + 1.4))
    positions = np.arange(len(grouped))[::-1]
    means = [float(np.mean(w)) if w else math.nan for w in worst]
    styles = _styles(plt, list(grouped))
    ax.barh(positions, means, color=[(*styles[label][0][:3], styles[label][2]) for label in grouped])
    for values, pos in zip(worst, positions):
        ax.scatter(values, [pos] * len(values), color="black", s=10, zorder=3)
    finite = [v for w in worst for v in w]
    if finite:
        ax.set_xlim(max(0.0, min(finite) - 0.05), min(1.0, max(finite) + 0.02))
    ax.set_yticks(positions, list(grouped), fontsize=8)
    ax.set_xlabel("worst client's accuracy (bar: mean over seeds; points: each seed)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _figure_html(fig, f"{result.title} worst-client accuracy",
                        f"{result.title}: the lowest client accuracy of each run (all tasks' clients for task sets).")


def communication_figure(result: DatasetResult) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(result.rows) + 1.4))
    positions = np.arange(len(result.rows))[::-1]
    down = [r["down_mb"][0] for r in result.rows]
    up = [r["up_mb"][0] for r in result.rows]
    ax.barh(positions + 0.2, down, height=0.4, label="server -> clients")
    ax.barh(positions - 0.2, up, height=0.4, label="clients -> server")
    ax.set_yticks(positions, [r["label"] for r in result.rows], fontsize=8)
    ax.set_xlabel("MB over the run, all clients (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _figure_html(fig, f"{result.title} communication", f"{result.title}: message payload bytes per run.")


def epsilon_figure(result: DatasetResult) -> str | None:
    grouped = _by_label(result)
    eps = {label: [(s["privacy"]["max_epsilon"], s["privacy"]["mean_epsilon"]) for s in runs if s.get("privacy")]
           for label, runs in grouped.items()}
    eps = {k: v for k, v in eps.items() if v}
    if not eps:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(eps) + 1.4))
    positions = np.arange(len(eps))[::-1]
    ax.barh(positions + 0.2, [np.mean([m for m, _ in v]) for v in eps.values()], height=0.4, label="largest client epsilon")
    ax.barh(positions - 0.2, [np.mean([m for _, m in v]) for v in eps.values()], height=0.4, label="mean client epsilon")
    ax.set_yticks(positions, list(eps), fontsize=8)
    ax.set_xlabel("epsilon spent by DP-SGD (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _figure_html(fig, f"{result.title} epsilon", f"{result.title}: the DP-SGD privacy budget spent (at dp-delta).")


def markdown_table_html(markdown: str) -> str:
    """The ``| a | b |`` rows of compare's table.md as an HTML table (the first row is the header)."""
    rows = [[html.escape(c.strip()) for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head = "".join(f"<th>{c}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def dataset_section(result: DatasetResult, anchor: str) -> str:
    present = {a for r in result.rows for a in r["fairness"]}
    attributes = [a for a in result.attributes or sorted(present) if a in present]
    first = attributes[0] if attributes else None
    parts = [f'<section id="{anchor}"><h2>{html.escape(result.title)}</h2>']
    failed = [(s.get("run_config", {}).get("out-dir", ""), s["error"]) for s in result.summaries if "error" in s]
    ok = len(result.summaries) - len(failed)
    parts.append(f"<p>{ok} runs complete, {len(failed)} failed; {len(dict.fromkeys(result.labels))} entries.</p>")
    if attributes:
        parts.append(pareto_figure(result, attributes))
    else:
        parts.append("<p>No group-fairness means for this dataset (task sets report fairness per task): no Pareto "
                     "front.</p>")
    parts += [distribution_figure(result, first), worst_client_figure(result), communication_figure(result)]
    epsilon = epsilon_figure(result)
    if epsilon:
        parts.append(epsilon)
    parts.append("<h3>Table</h3>" + markdown_table_html(result.table_md))
    parts.append(f"<details><summary>markdown</summary><pre>{html.escape(result.table_md)}</pre></details>")
    if failed:
        parts.append("<h3>Failed runs</h3><ul>" + "".join(f"<li>{html.escape(d)}: {html.escape(e)}</li>"
                                                         for d, e in failed) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


STYLE = """body{font-family:sans-serif;margin:2em auto;max-width:1250px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}img.figure{max-width:100%}
figcaption{font-size:13px;color:#555}pre{font-size:11px;overflow-x:auto;background:#f6f6f6;padding:8px}"""
# Marks, once the page has loaded, how many figures decoded (data-figures-loaded of data-figures) and any script
# error (data-errors): what the headless-browser test reads.
SCRIPT = """window.addEventListener('error',function(){var d=document.documentElement.dataset;d.errors=(+(d.errors||0))+1;});
window.addEventListener('load',function(){var imgs=document.images,n=0;for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){n++;}}
var d=document.documentElement.dataset;d.figures=imgs.length;d.figuresLoaded=n;});"""


def write_report(path: Path | str, meta: Mapping[str, Any], results: Sequence[DatasetResult]) -> None:
    """report.html: the suite's settings, then one section per dataset."""
    anchors = [f"dataset-{i}" for i in range(len(results))]
    runs = meta.get("runs", {})
    families = meta.get("families") or {}
    head = [f"<h1>fedfair bench: {html.escape(str(meta['suite']))}</h1>",
            f"<p>{html.escape(str(meta.get('description', '')))}</p>",
            "<p>" + html.escape(f"seeds {meta['seeds']}, {meta['rounds']} rounds, overrides {dict(meta.get('overrides', {}))}; "
                                f"runs: {runs.get('ran', 0)} ran, {runs.get('reused', 0)} reused from an earlier call, "
                                f"{runs.get('failed', 0)} failed; this call {meta.get('wall_seconds', 0):.0f} s, the runs' "
                                f"own wall time {meta.get('run_seconds', 0):.0f} s.") + "</p>",
            "<p>Numbers: mean over seeds of the clients' mean local accuracy / gap; brackets and error bars: 95 % "
            "intervals over seeds and clients (two-level bootstrap); * in a table: the 95 % interval of the paired "
            "difference from the first entry (same seeds and clients, two-level bootstrap of the differences) "
            "excludes 0; see each dataset's table.md for the differences.</p>"]
    if families:
        head.append("<p>Families: " + "; ".join(f"<code>{html.escape(k)}</code> {html.escape(v)}"
                                               for k, v in families.items()) + ".</p>")
    head.append("<ul>" + "".join(f'<li><a href="#{a}">{html.escape(r.title)}</a></li>' for a, r in zip(anchors, results))
                + "</ul>")
    sections = [dataset_section(r, a) for r, a in zip(results, anchors)]
    document = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>fedfair bench {html.escape(str(meta['suite']))}</title><style>{STYLE}</style>"
                f"<script>{SCRIPT}</script></head><body>" + "\n".join(head + sections) + "</body></html>\n")
    Path(path).write_text(document)
