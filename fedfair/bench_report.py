"""The self-contained HTML report of ``fedfair bench``: every figure inline (PNG, or SVG with ``--format svg``,
base64), no network to open it; with ``--format svg`` or ``pdf`` the figures are also files in OUT/figures.
Colours are fedfair's (:mod:`fedfair.figures`: one per strategy, the same in every figure), entries are named
next to their points.

Per dataset of the suite:

- the accuracy-vs-fairness Pareto front: each entry's mean local accuracy against its mean local gap (SP and
  EqOp of every sensitive attribute, the dataset's first, which fairness methods target by default, on top) with
  the 95 % intervals of compare (two-level bootstrap over seeds and
  clients) as error bars; the non-dominated entries (no other entry is at least as accurate and at least as
  fair, and better in one) are filled and joined;
- per-client distributions: each client's accuracy and SP gap (first attribute), every seed's clients pooled, as
  box + strip plots, the clients beyond the whiskers named;
- worst-client accuracy: per entry, the lowest client accuracy of each seed (points, with the client's interval,
  named) and their mean (bar, from 0);
- communication: MB sent to and received from all clients over a run (mean over seeds, bars from 0, values);
- epsilon, when DP-SGD is on: the largest and the mean client epsilon;
- over rounds, per entry (its first seed's run): mean and worst client with the interval, the per-client SP-gap
  heatmap, the clusters and the strategy's weights (:data:`fedfair.results.OVER_ROUNDS`);
- the markdown table of ``fedfair compare`` (rendered, and as text).
"""

from __future__ import annotations

import base64
import html
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
    run_dirs: list[str] | None = None  # each run's directory (a label per run): the over-rounds figures come from them


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (gap, accuracy) points: lower gap and higher accuracy are better."""
    front = []
    for i, (gap, acc) in enumerate(points):
        dominated = any(g <= gap and a >= acc and (g < gap or a > acc) for j, (g, a) in enumerate(points) if j != i)
        if not dominated and not (math.isnan(gap) or math.isnan(acc)):
            front.append(i)
    return front


def client_points(summary: Mapping[str, Any], metric: str, attribute: str | None = None) -> list[tuple[float, str]]:
    """(value, client) of every client: its accuracy (``metric="accuracy"``) or gap (``metric`` a notion of
    ``attribute``); the clients of every task for task sets (named ``client (task)``); undefined values left out."""
    from fedfair.results import task_views

    if "error" in summary:
        return []
    points = []
    for task, view in task_views(summary):
        for client in view.get("clients", []):
            value = client.get("accuracy") if metric == "accuracy" else \
                client.get("fairness", {}).get(attribute, {}).get(metric)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                points.append((float(value), f"{client.get('client')}" + (f" ({task})" if task else "")))
    return points


def client_values(summary: Mapping[str, Any], metric: str, attribute: str | None = None) -> list[float]:
    """Every client's accuracy (``metric="accuracy"``) or gap (``metric`` a notion of ``attribute``); the clients of
    every task for task sets; undefined values left out."""
    return [value for value, _ in client_points(summary, metric, attribute)]


@dataclass
class Output:
    """How the report's figures are written: embedded as SVG (``fmt`` svg) or PNG, and with ``fmt`` svg or pdf
    also as files in ``folder`` (``href``: that folder as the report links it), named by their alt text."""

    fmt: str = "png"
    folder: Path | None = None
    href: str = "figures/"


Drawn = tuple[Any, str, str]  # (matplotlib figure, alt text, caption)


def _figure_html(drawn: Drawn, output: Output) -> str:
    """A figure inline (base64 SVG, or PNG at :data:`fedfair.figures.PNG_DPI`), closed; with ``output.fmt`` svg or
    pdf also written to ``output.folder`` and linked from the caption."""
    from fedfair.comparison import safe_name
    from fedfair.figures import figure_bytes

    fig, alt, caption = drawn
    link = ""
    if output.fmt != "png" and output.folder is not None:
        output.folder.mkdir(parents=True, exist_ok=True)
        path = output.folder / f"{safe_name(alt.replace(' ', '-'))}.{output.fmt}"
        if output.fmt == "pdf":
            fig.savefig(path, format="pdf")
        link = f' <a href="{html.escape(output.href + path.name)}">{html.escape(path.name)}</a>'
    embedded = "svg" if output.fmt == "svg" else "png"
    data = figure_bytes(fig, embedded)
    if embedded == "svg" and link:
        path.write_bytes(data)
    mime = "image/svg+xml" if embedded == "svg" else "image/png"
    return (f'<figure><img class="figure" alt="{html.escape(alt)}" src="data:{mime};base64,'
            f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(caption)}{link}</figcaption></figure>')


def _plt() -> Any:
    from fedfair.figures import pyplot

    return pyplot()


MARKERS = {"": "o", "FairIF": "s", "PUFFLE": "^"}


def _styles(labels: Sequence[str]) -> dict[str, tuple[str, str, float]]:
    """{label: (colour, marker, alpha)}: each strategy its colour of every fedfair figure
    (:func:`fedfair.figures.colour_map`), the marker and shade say the mitigation (``fedavg + PUFFLE`` is fedavg's
    colour with a triangle)."""
    from fedfair.figures import colour_map

    colours = colour_map(list(labels))
    out = {}
    for label in labels:
        _, _, mitigation = label.partition(" + ")
        rank = list(MARKERS).index(mitigation) if mitigation in MARKERS else 3
        out[label] = (colours[label], MARKERS.get(mitigation, "D"), (1.0, 0.7, 0.45, 0.3)[rank])
    return out


def pareto_figure(result: DatasetResult, attributes: Sequence[str]) -> Drawn:
    from fedfair.figures import direct_labels

    plt = _plt()
    notions = ("sp", "eqop")
    height = 4.6 * len(attributes)
    fig, axes = plt.subplots(len(attributes), len(notions), figsize=(12, height), squeeze=False)
    styles = _styles([r["label"] for r in result.rows])
    named = []
    for ax, (attribute, notion) in zip(axes.ravel(), [(a, n) for a in attributes for n in notions]):
        points, errors = [], []
        for row in result.rows:
            gap, acc = row["fairness"].get(attribute, {}).get(notion, (math.nan, math.nan))[0], row["accuracy"][0]
            points.append((gap, acc))
            ci = row.get("ci") or {}
            errors.append((ci.get("fairness", {}).get(attribute, {}).get(notion), ci.get("accuracy")))
        front = set(pareto_front(points))
        for k, (row, (gap, acc), (x_ci, y_ci)) in enumerate(zip(result.rows, points, errors)):
            if math.isnan(gap) or math.isnan(acc):
                continue
            xerr = [[max(gap - x_ci[0], 0)], [max(x_ci[1] - gap, 0)]] if x_ci else None
            yerr = [[max(acc - y_ci[0], 0)], [max(y_ci[1] - acc, 0)]] if y_ci else None
            colour, marker, _ = styles[row["label"]]
            ax.errorbar(gap, acc, xerr=xerr, yerr=yerr, fmt=marker, capsize=2, color=colour, label=row["label"],
                        markerfacecolor=colour if k in front else "white", markersize=7, elinewidth=0.8)
        ordered = sorted((points[i] for i in front), key=lambda p: p[0])
        if len(ordered) > 1:
            ax.plot(*zip(*ordered), "--", color="black", linewidth=0.8, zorder=0)
        ax.set_xlabel(f"mean local {NOTION_NAMES[notion]} gap ({attribute}); lower is fairer")
        ax.set_ylabel("mean local accuracy")
        ax.grid(alpha=0.3)
        named.append((ax, points))
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = 3
    legend = 0.22 * math.ceil(len(labels) / ncol) + 0.3
    fig.set_size_inches(12, height + legend)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8)
    fig.suptitle(f"{result.title}: accuracy vs fairness (filled, dashed: the Pareto front)")
    fig.tight_layout(rect=(0, legend / (height + legend), 1, 0.97))
    for ax, points in named:
        direct_labels(ax, [g for g, _ in points], [a for _, a in points], [r["label"] for r in result.rows],
                      [styles[r["label"]][0] for r in result.rows], fontsize=6.5)
    return (fig, f"{result.title} Pareto front", f"{result.title}: mean local accuracy against the mean local SP / "
            f"EqOp gap of {', '.join(attributes)}, error bars the 95 % intervals over seeds and clients (the table's); "
            "filled points joined by the dashed line are the Pareto front of each panel.")


def _by_label(result: DatasetResult) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {label: [] for label in dict.fromkeys(result.labels)}
    for label, summary in zip(result.labels, result.summaries):
        grouped[label].append(summary)
    return grouped


def _pooled(runs: Sequence[Mapping[str, Any]], metric: str, attribute: str | None) -> list[tuple[float, str]]:
    """(value, client) of every client of every seed of an entry, the client named with its seed when there are
    several."""
    several = len(runs) > 1
    return [(value, f"{client} s{s.get('seed', k)}" if several else client)
            for k, s in enumerate(runs) for value, client in client_points(s, metric, attribute)]


OUTLIERS_NAMED = 3  # per box, the clients beyond the whiskers named, at most (the most extreme first)


def outliers(values: Sequence[float], worst_low: bool) -> list[int]:
    """Indices of the values beyond the box plot's whiskers (1.5 IQR from the quartiles), the most extreme on the
    worse side first (low accuracy, large gap), at most :data:`OUTLIERS_NAMED`; none beyond: the worst value."""
    if not values:
        return []
    data = np.asarray(values, dtype=float)
    q1, q3 = np.percentile(data, [25, 75])
    fence = 1.5 * (q3 - q1)
    beyond = [i for i, v in enumerate(data) if v < q1 - fence or v > q3 + fence]
    worse = sorted(beyond, key=lambda i: data[i] if worst_low else -data[i])
    return worse[:OUTLIERS_NAMED] or [int(np.argmin(data) if worst_low else np.argmax(data))]


def distribution_figure(result: DatasetResult, attribute: str | None) -> Drawn:
    from fedfair.figures import direct_labels

    plt = _plt()
    grouped = _by_label(result)
    panels = [("accuracy", None, "client accuracy")] + ([("sp", attribute, f"client SP gap ({attribute})")] if attribute else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 0.5 * len(grouped) + 1.8), squeeze=False)
    rng = np.random.default_rng(0)
    styles = _styles(list(grouped))
    marks = []
    for ax, (metric, attr, xlabel) in zip(axes[0], panels):
        data = [_pooled(runs, metric, attr) for runs in grouped.values()]
        positions = np.arange(len(data))[::-1]
        shown = [([v for v, _ in d], p) for d, p in zip(data, positions) if d]
        if shown:
            ax.boxplot([d for d, _ in shown], positions=[p for _, p in shown], vert=False, widths=0.6,
                       showfliers=False, medianprops={"color": "black"})
        names = []
        for label, points, pos in zip(grouped, data, positions):
            values = [v for v, _ in points]
            jitter = pos + rng.uniform(-0.18, 0.18, len(values))
            ax.scatter(values, jitter, s=6, alpha=0.5, color=styles[label][0], marker=styles[label][1])
            names += [(values[i], jitter[i], points[i][1]) for i in outliers(values, worst_low=metric == "accuracy")]
        ax.set_yticks(positions, list(grouped) if ax is axes[0][0] else [""] * len(positions), fontsize=8)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, axis="x")
        marks.append((ax, names))
    fig.suptitle(f"{result.title}: per-client distributions (every seed's clients)")
    fig.tight_layout()
    for ax, names in marks:
        if names:
            x, y, text = zip(*names)
            direct_labels(ax, x, y, text, ["black"] * len(text), fontsize=6, dx=4)
    return (fig, f"{result.title} per-client distributions", f"{result.title}: each client's accuracy"
            + (f" and SP gap of {attribute}" if attribute else "") + ", every seed's clients pooled: box (quartiles, "
            "whiskers at 1.5 IQR) and one point per client; named: the clients beyond the whiskers on the worse "
            "side (the worst one when none is), with their seed (s0, s1, ...) when there are several.")


def _worst_client(summary: Mapping[str, Any]) -> tuple[float, str, Sequence[float] | None] | None:
    """(accuracy, name, its interval) of the least accurate client of a run (every task's clients), None if none."""
    from fedfair.results import task_views

    if "error" in summary:
        return None
    found = [(c["accuracy"], f"{c['client']}" + (f" ({task})" if task else ""), (c.get("ci") or {}).get("accuracy"))
             for task, view in task_views(summary) for c in view.get("clients", [])
             if c.get("accuracy") is not None and math.isfinite(c["accuracy"])]
    return min(found, key=lambda f: f[0]) if found else None


def worst_client_figure(result: DatasetResult) -> Drawn:
    from matplotlib.colors import to_rgba

    plt = _plt()
    grouped = _by_label(result)
    worst = {label: [(s.get("seed", k), w) for k, s in enumerate(runs) if (w := _worst_client(s))]
             for label, runs in grouped.items()}
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(grouped) + 1.5))
    positions = np.arange(len(grouped))[::-1]
    means = [float(np.mean([w[0] for _, w in worst[label]])) if worst[label] else math.nan for label in grouped]
    styles = _styles(list(grouped))
    ax.barh(positions, means, color=[to_rgba(styles[label][0], styles[label][2]) for label in grouped])
    for label, pos, mean in zip(grouped, positions, means):
        for _, (value, _, ci) in worst[label]:
            xerr = [[max(value - ci[0], 0)], [max(ci[1] - value, 0)]] if ci else None
            ax.errorbar([value], [pos], xerr=xerr, fmt="o", color="black", markersize=3, capsize=2, elinewidth=0.8,
                        zorder=3)
        if worst[label]:
            several = len(worst[label]) > 1
            names = ", ".join(f"{name} s{seed}" if several else name for seed, (_, name, _) in worst[label])
            ax.text(1.01, pos, f"{mean:.3f}: {names}", va="center", fontsize=7,
                    transform=ax.get_yaxis_transform())
    ax.set_xlim(0.0, 1.0)  # bars start at 0: their lengths compare
    ax.set_yticks(positions, list(grouped), fontsize=8)
    ax.set_xlabel("worst client's accuracy (bar: mean over seeds; points: each seed's, with its interval)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return (fig, f"{result.title} worst-client accuracy", f"{result.title}: the lowest client accuracy of each run "
            "(all tasks' clients for task sets), the client named with its seed; the axis starts at 0.")


def communication_figure(result: DatasetResult) -> Drawn:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(result.rows) + 1.4))
    positions = np.arange(len(result.rows))[::-1]
    down = [r["down_mb"][0] for r in result.rows]
    up = [r["up_mb"][0] for r in result.rows]
    for offset, values, name in ((0.2, down, "server -> clients"), (-0.2, up, "clients -> server")):
        bars = ax.barh(positions + offset, values, height=0.4, label=name)
        ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=2)
    ax.set_xlim(left=0.0)
    ax.margins(x=0.12)
    ax.set_yticks(positions, [r["label"] for r in result.rows], fontsize=8)
    ax.set_xlabel("MB over the run, all clients (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig, f"{result.title} communication", f"{result.title}: message payload bytes per run."


def epsilon_figure(result: DatasetResult) -> Drawn | None:
    grouped = _by_label(result)
    eps = {label: [(s["privacy"]["max_epsilon"], s["privacy"]["mean_epsilon"]) for s in runs if s.get("privacy")]
           for label, runs in grouped.items()}
    eps = {k: v for k, v in eps.items() if v}
    if not eps:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(eps) + 1.4))
    positions = np.arange(len(eps))[::-1]
    for offset, index, name in ((0.2, 0, "largest client epsilon"), (-0.2, 1, "mean client epsilon")):
        bars = ax.barh(positions + offset, [np.mean([e[index] for e in v]) for v in eps.values()], height=0.4, label=name)
        ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=2)
    ax.set_xlim(left=0.0)
    ax.margins(x=0.12)
    ax.set_yticks(positions, list(eps), fontsize=8)
    ax.set_xlabel("epsilon spent by DP-SGD (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig, f"{result.title} epsilon", f"{result.title}: the DP-SGD privacy budget spent (at dp-delta)."


def over_rounds_html(result: DatasetResult, output: Output) -> str:
    """Per entry, the over-rounds figures (:data:`fedfair.results.OVER_ROUNDS`: mean and worst client with the
    interval, the per-client fairness heatmap, the clusters, the strategy's weights) of its first complete run,
    each entry in a collapsed block; '' without the runs' directories."""
    from fedfair.results import METRICS, OVER_ROUNDS, run_figures

    first: dict[str, tuple[Mapping[str, Any], Path]] = {}
    for label, summary, run_dir in zip(result.labels, result.summaries, result.run_dirs or []):
        if "error" not in summary and label not in first and (Path(run_dir) / METRICS).is_file():
            first[label] = (summary, Path(run_dir))
    blocks = []
    for label, (summary, run_dir) in first.items():
        seed = summary.get("seed", "?")
        figures = [_figure_html((fig, f"{result.title} {label} {Path(name).stem}", f"{caption} (seed {seed})"), output)
                   for name, draw, caption in run_figures(summary, run_dir / METRICS)
                   if name in OVER_ROUNDS and (fig := draw()) is not None]
        if figures:
            blocks.append(f"<details><summary>{html.escape(label)} (seed {seed})</summary>{''.join(figures)}</details>")
    if not blocks:
        return ""
    return ("<h3>Over rounds</h3><p>Per entry, its first seed's run: mean and worst client per round with the 95 % "
            "interval of the mean over clients, every client's SP gap per round, the clusters and the strategy's "
            "weights where it has them.</p>" + "\n".join(blocks))


def markdown_table_html(markdown: str) -> str:
    """The ``| a | b |`` rows of compare's table.md as an HTML table (the first row is the header)."""
    rows = [[html.escape(c.strip()) for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head = "".join(f"<th>{c}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def dataset_section(result: DatasetResult, anchor: str, output: Output | None = None) -> str:
    output = output or Output()
    present = {a for r in result.rows for a in r["fairness"]}
    attributes = [a for a in result.attributes or sorted(present) if a in present]
    first = attributes[0] if attributes else None
    parts = [f'<section id="{anchor}"><h2>{html.escape(result.title)}</h2>']
    failed = [(s.get("run_config", {}).get("out-dir", ""), s["error"]) for s in result.summaries if "error" in s]
    ok = len(result.summaries) - len(failed)
    parts.append(f"<p>{ok} runs complete, {len(failed)} failed; {len(dict.fromkeys(result.labels))} entries.</p>")
    if attributes:
        parts.append(_figure_html(pareto_figure(result, attributes), output))
    else:
        parts.append("<p>No group-fairness means for this dataset (task sets report fairness per task): no Pareto "
                     "front.</p>")
    parts += [_figure_html(drawn, output) for drawn in (distribution_figure(result, first), worst_client_figure(result),
                                                        communication_figure(result))]
    epsilon = epsilon_figure(result)
    if epsilon:
        parts.append(_figure_html(epsilon, output))
    rounds = over_rounds_html(result, output)
    if rounds:
        parts.append(rounds)
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


def write_report(path: Path | str, meta: Mapping[str, Any], results: Sequence[DatasetResult], fmt: str = "png") -> None:
    """report.html: the suite's settings, then one section per dataset; its figures embedded as PNG, as SVG with
    ``fmt`` svg, and with ``fmt`` svg or pdf also written to figures/ beside it."""
    from fedfair.figures import check_format

    output = Output(check_format(fmt), Path(path).parent / "figures")
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
    sections = [dataset_section(r, a, output) for r, a in zip(results, anchors)]
    document = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>fedfair bench {html.escape(str(meta['suite']))}</title><style>{STYLE}</style>"
                f"<script>{SCRIPT}</script></head><body>" + "\n".join(head + sections) + "</body></html>\n")
    Path(path).write_text(document)
