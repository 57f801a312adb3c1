"""What every fedfair figure shares, and the over-rounds figures of a run besides rounds.png.

- One palette (:data:`PALETTE`, 28 distinct colours). A builtin strategy keeps one colour in every figure: its
  place in the registry (:data:`fedfair.registry.STRATEGIES`); an entry ``fair-fca@gamma=0.3`` or ``fedavg +
  PUFFLE`` takes its strategy's. Any other name (a plugin strategy, a task, a mechanism) gets a colour picked
  from its name, unique among the names of the figure: the same names, the same colours (:func:`colour_map`).
- Direct labels (:func:`direct_labels`): names next to their points or line ends, nudged apart, so that no
  identity rests on colour alone.
- Files (:func:`save`): ``png`` (150 dpi), ``svg`` or ``pdf`` (:data:`FORMATS`, the ``--format`` option).
- A run's per-client fairness heatmap over rounds (:func:`heatmap_figure`), its clusters over rounds
  (:func:`clusters_figure`) and its strategy's weights over rounds (:func:`weights_figure`): FairFed's
  aggregation weights, AFL's lambda, the group weights of FedFB / FairBatch / FairGrad, MMFL's task
  probabilities.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("png", "svg", "pdf")
PNG_DPI = 150

# tab10, then 18 more chosen to stay apart from it and from each other (RGB distance >= 0.23); the registry's
# strategies take the first ones in its order, so fedavg is blue, ifca red and fair-fca purple everywhere
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#000075", "#800000", "#469990", "#f032e6", "#006400", "#1e90ff", "#8b4513", "#ff1493", "#4b0082", "#ff9896",
    "#98df8a", "#aec7e8", "#808000", "#bc8f8f", "#483d8b", "#2f4f4f", "#ffe119", "#7fff00",
)


def check_format(fmt: str) -> str:
    """``fmt`` when it is one of :data:`FORMATS`, else a one-line ParamError naming them."""
    from fedfair.config import ParamError

    if fmt not in FORMATS:
        raise ParamError(f"--format {fmt!r}: figures are written as {', '.join(FORMATS)}")
    return fmt


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path, fmt: str = "png") -> Path:
    """Write ``fig`` to ``path`` with the suffix of ``fmt`` (PNG at :data:`PNG_DPI`), close it, return the path."""
    target = Path(path).with_suffix("." + check_format(fmt))
    try:
        fig.savefig(target, format=fmt, dpi=PNG_DPI)
    finally:
        pyplot().close(fig)
    return target


def figure_bytes(fig: Any, fmt: str = "png") -> bytes:
    """``fig`` as the bytes of a ``fmt`` file (PNG at :data:`PNG_DPI`); closes it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=check_format(fmt), dpi=PNG_DPI)
    finally:
        pyplot().close(fig)
    return buffer.getvalue()


# ----- colours ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _strategy_slots() -> dict[str, int]:
    from fedfair.registry import STRATEGIES

    return {name: k for k, name in enumerate(STRATEGIES)}


def base_name(label: str) -> str:
    """The strategy of an entry label: ``fair-fca@gamma=0.3`` -> ``fair-fca``, ``fedavg + PUFFLE`` -> ``fedavg``."""
    return str(label).split("@")[0].split(" + ")[0].strip()


def _hash_slot(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") % len(PALETTE)


def colour_map(names: Sequence[str]) -> dict[str, str]:
    """{name: colour} for the names of one figure: a builtin strategy (or an entry of one, :func:`base_name`) its
    registry colour; any other name the first colour, from one its name picks, that no other name of ``names``
    takes (in sorted order, so the mapping does not depend on the order of ``names``). More names than
    colours: colours repeat."""
    slots = _strategy_slots()
    out: dict[str, str] = {}
    taken = {slots[base_name(n)] for n in names if base_name(n) in slots}
    for name in sorted(set(names), key=str):
        if base_name(name) in slots:
            out[name] = PALETTE[slots[base_name(name)] % len(PALETTE)]
            continue
        slot = _hash_slot(base_name(name))
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in taken:
                slot = (slot + step) % len(PALETTE)
                break
        taken.add(slot)
        out[name] = PALETTE[slot]
    return out


def colour(name: str) -> str:
    """The colour of one name (:func:`colour_map` of it alone): a builtin strategy's is the same in every figure."""
    return colour_map([name])[name]


MARKERS = "osD^v<>pPXh*"


def entry_styles(labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{label: (colour, marker)}: entries of one strategy share its colour and differ by marker, in order."""
    colours = colour_map(list(labels))
    seen: dict[str, int] = {}
    out = {}
    for label in dict.fromkeys(labels):
        k = seen[base_name(label)] = seen.get(base_name(label), -1) + 1
        out[label] = (colours[label], MARKERS[k % len(MARKERS)])
    return out


# ----- labels ----------------------------------------------------------------------------------------------------
def direct_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                  colours: Sequence[Any] | None = None, fontsize: float = 7, dx: float = 6) -> None:
    """Name each point (x, y) by its text, ``dx`` points to its right, the labels moved up or down just enough
    that no two overlap (blocks of touching labels centred on their points), with a thin line back to a point
    whose label moved; undefined points are skipped. Call it once the axes' limits are final."""
    items = [(float(x), float(y), str(t), c) for x, y, t, c in zip(xs, ys, texts, colours or [None] * len(texts))
             if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))]
    if not items:
        return
    ax.get_xlim(), ax.get_ylim()  # applies pending autoscaling before positions are read
    scale = 72.0 / ax.figure.dpi
    heights = ax.transData.transform([(x, y) for x, y, *_ in items])[:, 1] * scale  # in points
    step = fontsize * 1.3
    blocks: list[tuple[list[int], float]] = []
    for i in np.argsort(heights, kind="stable").tolist():
        blocks.append(([i], heights[i]))
        while len(blocks) > 1 and blocks[-2][1] + step * len(blocks[-2][0]) > blocks[-1][1]:
            members = blocks[-2][0] + blocks[-1][0]
            start = float(np.mean([heights[m] - step * k for k, m in enumerate(members)]))
            blocks[-2:] = [(members, start)]
    for members, start in blocks:
        for k, i in enumerate(members):
            x, y, text, c = items[i]
            dy = start + step * k - heights[i]
            ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", va="center", fontsize=fontsize,
                        color=c, annotation_clip=False, bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none",
                                                              "alpha": 0.6},
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": c or "grey"} if abs(dy) > step / 2 else None)


def notable(values: Sequence[float | None], k: int = 3, largest: bool = True) -> list[int]:
    """Indices of the ``k`` largest (or smallest) defined values, the most extreme first."""
    defined = [(float(v), i) for i, v in enumerate(values) if v is not None and math.isfinite(float(v))]
    return [i for _, i in sorted(defined, key=lambda p: -p[0] if largest else p[0])[:k]]


def _client_grid(series: Mapping[str, Any], values: Sequence[Sequence[Any]]) -> tuple[list[str], np.ndarray]:
    """(clients in order of appearance, clients x rounds array of ``values[round][client]``, NaN where absent)."""
    clients = list(dict.fromkeys(c for row in series["clients"] for c in row))
    where = {c: k for k, c in enumerate(clients)}
    grid = np.full((len(clients), len(series["rounds"])), np.nan)
    for t, (names, row) in enumerate(zip(series["clients"], values)):
        for name, value in zip(names, row):
            if value is not None:
                grid[where[name], t] = float(value)
    return clients, grid


def _round_ticks(ax: Any, rounds: Sequence[int], axis: str = "x") -> None:
    step = max(1, math.ceil(len(rounds) / 12))
    positions = list(range(0, len(rounds), step))
    (ax.set_xticks if axis == "x" else ax.set_yticks)(positions, [str(rounds[p]) for p in positions])


def _client_ticks(ax: Any, clients: Sequence[str], highlight: Sequence[str] = ()) -> None:
    step = max(1, math.ceil(len(clients) / 60))
    positions = list(range(0, len(clients), step))
    ax.set_yticks(positions, [clients[p] for p in positions], fontsize=max(4.5, min(8, 400 / max(len(clients), 1))))
    for label in ax.get_yticklabels():
        if label.get_text() in highlight:
            label.set_color("tab:red")
            label.set_fontweight("bold")


# ----- the over-rounds figures of a run --------------------------------------------------------------------------
CELL_TEXT_MAX = 300  # cells with their value written in them, at most


def heatmap_figure(series: Mapping[str, Any], title: str) -> Any | None:
    """Per sensitive attribute, every client's SP gap in every evaluated round (clients x rounds, darker =
    larger gap, one scale for all panels, values written in small grids; grey: undefined or not evaluated);
    the client with the largest gap in the last round is named in red. None without attributes or rounds."""
    attributes = list(series.get("sp") or {})
    if not attributes or not series["rounds"]:
        return None
    plt = pyplot()
    grids = {a: _client_grid(series, series["sp"][a]) for a in attributes}
    clients = grids[attributes[0]][0]
    top = max([float(np.nanmax(g)) for _, g in grids.values() if np.isfinite(g).any()] or [1.0]) or 1.0
    width = min(9.0, 5.0 + 0.25 * len(series["rounds"]))
    fig, axes = plt.subplots(1, len(attributes), figsize=(width * len(attributes), min(14.0, 1.8 + 0.2 * len(clients))),
                             squeeze=False)
    cmap = plt.get_cmap("magma_r").with_extremes(bad="#d9d9d9")
    for ax, attribute in zip(axes[0], attributes):
        names, grid = grids[attribute]
        image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest", cmap=cmap, vmin=0.0,
                          vmax=top)
        if grid.size <= CELL_TEXT_MAX:
            for (i, t), value in np.ndenumerate(grid):
                if math.isfinite(value):
                    ax.text(t, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if value > 0.55 * top else "black")
        last = grid[:, -1]
        worst = [names[int(np.nanargmax(last))]] if np.isfinite(last).any() else []
        _client_ticks(ax, names, worst)
        _round_ticks(ax, series["rounds"])
        ax.set_xlabel("round")
        ax.set_ylabel("client")
        ax.set_title(f"SP gap ({attribute})" + (f"; largest last round: {worst[0]}" if worst else ""), fontsize=9)
        fig.colorbar(image, ax=ax, label=f"local SP gap ({attribute})")
    fig.suptitle(f"{title}\nper-client SP gap over rounds (grey: undefined)", fontsize=10)
    fig.tight_layout()
    return fig


def clusters_figure(series: Mapping[str, Any], title: str) -> Any | None:
    """Every client's cluster in every evaluated round (the cluster of the model it was evaluated with; clients
    x rounds, one palette colour per cluster, the number written in small grids, white: no cluster); None when
    the run has no clusters."""
    if not series["rounds"] or not any(c is not None for row in series.get("cluster", []) for c in row):
        return None
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    clients, grid = _client_grid(series, series["cluster"])
    count = int(np.nanmax(grid)) + 1
    colours = [PALETTE[k % len(PALETTE)] for k in range(count)]
    fig, ax = plt.subplots(figsize=(min(14.0, 7.0 + 0.25 * len(series["rounds"])), min(14.0, 1.8 + 0.2 * len(clients))))
    ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest", cmap=ListedColormap(colours),
              vmin=-0.5, vmax=count - 0.5)
    if grid.size <= 2 * CELL_TEXT_MAX:
        for (i, t), value in np.ndenumerate(grid):
            if math.isfinite(value):
                ax.text(t, i, str(int(value)), ha="center", va="center", fontsize=6, color="white")
    last = grid[:, -1]
    ax.legend(handles=[Patch(color=colours[k], label=f"cluster {k} ({int(np.sum(last == k))} clients, last round)")
                       for k in range(count)], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _client_ticks(ax, clients)
    _round_ticks(ax, series["rounds"])
    ax.set_xlabel("round (white: not evaluated)")
    ax.set_ylabel("client")
    ax.set_title(f"{title}\ncluster of every client over rounds", fontsize=10)
    fig.tight_layout()
    return fig


def weight_series(summary: Mapping[str, Any]) -> tuple[str, dict[str, list[tuple[int, float]]]] | None:
    """(what the weights are, {member: [(round, weight)]}) of the strategy's weights over rounds in a summary:
    FairFed's aggregation weights, AFL's lambda (per client), the group weights of FedFB / FairBatch /
    FairGrad (per label and value), MMFL's task probabilities; None when it records none."""
    members: dict[str, list[tuple[int, float]]] = {}
    if summary.get("weight_history"):
        for entry in summary["weight_history"]:
            for client, values in entry.get("clients", {}).items():
                members.setdefault(str(client), []).append((int(entry["round"]), float(values["weight"])))
        return "FairFed aggregation weight", members
    if summary.get("afl_lambda"):
        for entry in summary["afl_lambda"]:
            for client, value in entry["lambda"].items():
                members.setdefault(str(client), []).append((int(entry["round"]), float(value)))
        return "AFL mixture weight (lambda)", members
    weighting = summary.get("group_weights") or {}
    if weighting.get("rounds"):
        values = weighting.get("values") or []
        for entry in weighting["rounds"]:
            for label, row in enumerate(entry.get("weights") or []):
                for k, weight in enumerate(row):
                    name = f"y={label}, {weighting.get('sensitive', '')}={values[k] if k < len(values) else k}"
                    members.setdefault(name, []).append((int(entry["round"]), float(weight)))
        return f"{weighting.get('algorithm', 'group')} weight of (label, group)", members
    if summary.get("probabilities"):
        for entry in summary["probabilities"]:
            for task, value in entry.items():
                if task != "round":
                    members.setdefault(str(task), []).append((int(entry["round"]), float(value)))
        return "probability of a client training the task", members
    return None


LINE_LABELS_MAX = 16  # members named at their line's end, at most; more: the 3 highest and 3 lowest


def weights_figure(summary: Mapping[str, Any], title: str) -> Any | None:
    """The strategy's weights over rounds (:func:`weight_series`): one line per client / group / task in its
    colour (:func:`colour_map`: a task keeps its colour of the task figures), named at its end (all of them up
    to :data:`LINE_LABELS_MAX`, else the 3 highest and the 3 lowest); None when the strategy records none."""
    found = weight_series(summary)
    if found is None or not found[1]:
        return None
    what, members = found
    plt = pyplot()
    colours = colour_map(list(members))
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for name, points in members.items():
        rounds, values = zip(*points)
        ax.plot(rounds, values, "-o" if len(points) <= 3 else "-", markersize=3, color=colours[name], linewidth=1.2)
    ax.set_xlabel("round")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(what)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}\n{what} over rounds", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    names = list(members)
    finals = [members[n][-1][1] for n in names]
    shown = range(len(names)) if len(names) <= LINE_LABELS_MAX else \
        dict.fromkeys(notable(finals, 3) + notable(finals, 3, largest=False))
    direct_labels(ax, [members[names[i]][-1][0] for i in shown], [finals[i] for i in shown],
                  [names[i] for i in shown], [colours[names[i]] for i in shown])
    return fig
