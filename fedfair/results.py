"""What a run writes: config.json, status.json, metrics.jsonl, summary.json, a plot.

``status.json`` says ``running`` while a run is in progress, ``complete`` once
summary.json has been written (atomically) and ``failed`` (with the error) if
it stopped early: a run directory is never left looking complete when it is not.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fedfair.metrics import METRIC_NAMES, GroupCounts, fairness_from_counts, fairness_many, json_safe
from fedfair.uncertainty import generator, intervals_many, mean_interval

SUMMARY = "summary.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
PLOT = "accuracy_vs_fairness.png"
ROUNDS_PLOT = "rounds.png"
TASK_PLOT = "task_accuracy.png"
ALLOCATION_PLOT = "allocation.png"


@dataclass
class ClientEval:
    """One client's evaluation of one model in one round."""

    client: str
    partition_id: int
    n_train: int
    n_test: int
    model: str
    loss: float
    accuracy: float
    groups: dict[str, GroupCounts]
    cluster: int | None = None
    task: str = ""  # several tasks (models per client) are recorded and averaged separately

    def fairness(self) -> dict[str, dict[str, Any]]:
        """{attribute: full fairness_from_counts result}."""
        return {a: fairness_from_counts(t, with_pairs=True) for a, t in self.groups.items()}


def fairness_all(evals: Sequence[ClientEval], with_pairs: bool = True) -> list[dict[str, dict[str, Any]]]:
    """:meth:`ClientEval.fairness` of every evaluation, computed at once (:func:`fedfair.metrics.fairness_many`
    over all their tables): the same dicts, one per evaluation."""
    tables = [t for e in evals for t in e.groups.values()]
    computed = iter(fairness_many(tables, with_pairs=with_pairs))
    return [{a: next(computed) for a in e.groups} for e in evals]


def fairness_summary(full: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """{attribute: {sp, eqop, eo, aod, ad}} from full fairness results."""
    return {a: {m: r[m] for m in METRIC_NAMES} for a, r in full.items()}


def mean_over_clients(clients: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Average accuracy, loss and fairness over clients; undefined values are skipped and counted."""
    mean: dict[str, Any] = {
        "accuracy": float(np.mean([c["accuracy"] for c in clients])),
        "loss": float(np.mean([c["loss"] for c in clients])),
        "fairness": {},
        "undefined": {},
    }
    attributes = sorted({a for c in clients for a in c["fairness"]})
    for attr in attributes:
        mean["fairness"][attr], mean["undefined"][attr] = {}, {}
        for metric in METRIC_NAMES:
            values = [c["fairness"].get(attr, {}).get(metric) for c in clients]
            defined = [v for v in values if v is not None and not math.isnan(v)]
            mean["fairness"][attr][metric] = float(np.mean(defined)) if defined else math.nan
            mean["undefined"][attr][metric] = len(values) - len(defined)
    return mean


def mean_intervals(clients: Sequence[Mapping[str, Any]], level: float, resamples: int,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Intervals of the means over clients (accuracy, every fairness metric) by resampling the clients."""
    out: dict[str, Any] = {"accuracy": mean_interval([c["accuracy"] for c in clients], level, resamples, rng),
                           "fairness": {}}
    for attr in sorted({a for c in clients for a in c["fairness"]}):
        out["fairness"][attr] = {m: mean_interval([c["fairness"].get(attr, {}).get(m) for c in clients], level,
                                                  resamples, rng) for m in METRIC_NAMES}
    return out


def client_entry(e: ClientEval, full: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """One client's final figures in summary.json (``full``: its :meth:`ClientEval.fairness` when computed
    already, e.g. by :func:`fairness_all`)."""
    full = e.fairness() if full is None else full
    entry = {
        "client": e.client, "partition_id": e.partition_id, "n_train": e.n_train, "n_test": e.n_test,
        "model": e.model, "accuracy": e.accuracy, "loss": e.loss, "cluster": e.cluster,
        "fairness": fairness_summary(full),
    }
    undefined = {a: r["undefined"] for a, r in full.items() if r.get("undefined")}
    if undefined:
        entry["undefined"] = undefined
    return entry


def task_views(summary: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(task, summary restricted to it) for every task: ("", summary) for a single-task run."""
    if "tasks" not in summary:
        return [("", dict(summary))]
    return [(task, {**summary, **part, "strategy": f"{summary['strategy']} (task {task})"})
            for task, part in summary["tasks"].items()]


# What a terminal-less output (a file, a pipe, a test runner) is wide, unless $COLUMNS says otherwise.
PLAIN_WIDTH = 100


def console_width(stream: Any) -> int | None:
    """The width of a rich Console writing to ``stream``: None (the terminal's, or $COLUMNS) on a terminal or with
    COLUMNS set, else :data:`PLAIN_WIDTH`, so that a log file is as wide as a terminal, not 240 columns."""
    interactive = getattr(stream, "isatty", lambda: False)()
    return None if interactive or os.environ.get("COLUMNS", "").isdigit() else PLAIN_WIDTH


@lru_cache(maxsize=1)
def _progress_console() -> Any:
    import sys

    from rich.console import Console

    return Console(stderr=True, width=console_width(sys.stderr))


def note(text: str) -> None:
    """One plain status line on stderr (above a progress bar, when one is running)."""
    _progress_console().print(text, highlight=False, markup=False)


@contextlib.contextmanager
def status(text: str, enabled: bool = True) -> Iterator[None]:
    """A status line on stderr while a silent step runs (Ray's start, an audit, preparing a dataset): a spinner
    on a terminal, the line once elsewhere (a log file); nothing when not ``enabled``."""
    if not enabled:
        yield
        return
    from rich.errors import LiveError
    from rich.markup import escape

    console = _progress_console()
    spinner = console.status(escape(text)) if console.is_terminal else None
    try:
        if spinner is not None:
            spinner.start()
    except LiveError:  # an older rich with a progress bar live already: one display at a time
        spinner = None
    if spinner is None:
        note(text)
    try:
        yield
    finally:
        if spinner is not None:
            spinner.stop()


class progress_bar:
    """A rich progress bar over the runs to do (on stderr), named ``name`` (bench, compare); ``advance(text)``
    marks one run done. Not on a terminal (a log file): one plain line per finished run instead."""

    def __init__(self, total: int, enabled: bool, name: str = "bench") -> None:
        self.total, self.enabled, self.name = total, enabled and total > 0, name

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda text: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = _progress_console()  # the console the runs' lines go to: they print above the bar
        if not console.is_terminal:
            self.enabled, count, started = False, [0], time.time()

            def line(text: str) -> None:
                count[0] += 1
                console.print(f"{self.name} {count[0]}/{self.total} ({time.time() - started:.0f} s) {text}",
                              highlight=False, markup=False)
            return line
        self.progress = Progress(TextColumn(f"[bold]{self.name}[/bold]"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                                 console=console)
        self.progress.start()
        task = self.progress.add_task("starting", total=self.total)
        return lambda text: self.progress.update(task, advance=1, description=text)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.progress.stop()


def _nanmean(values: Sequence[float | None]) -> float:
    """The mean of the defined values (NaN when none is)."""
    defined = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class RunRecorder:
    """Owns a run directory: opens it, appends metrics rows, writes the summary."""

    out_dir: Path
    config: dict[str, Any]
    echo: bool = True
    started: float = field(default_factory=time.time)
    _claim: Any = field(default=None, init=False, repr=False, compare=False)  # fedfair.outdirs.Claim while open

    @staticmethod
    def check_out_dir(out: str | os.PathLike[str], overwrite: bool | None = None) -> Path:
        """Before any work, creating nothing: ``out`` is usable as a run directory under fedfair's output-directory
        policy (:mod:`fedfair.outdirs`: a new or empty directory, or a run directory fedfair wrote and no other
        process is writing; a complete run only with ``overwrite``, None: not checked here) and can be written;
        else a one-line :class:`fedfair.outdirs.OutDirError` naming the fix."""
        from fedfair.outdirs import check

        return check(out, "run", overwrite=overwrite, what="the run directory")

    def open(self, resume: bool = False, overwrite: bool | None = None) -> "RunRecorder":
        """Claim the directory (:func:`fedfair.outdirs.claim`: locked while the run writes, fedfair's files of an
        earlier run replaced, a complete one only with ``overwrite`` (default: the ``overwrite`` run parameter),
        files fedfair did not write kept) and mark it running; with ``resume`` keep what the interrupted run wrote
        (its checkpoint, metrics and config) instead."""
        from fedfair.outdirs import claim

        out = self.out_dir = Path(self.out_dir).expanduser().resolve()
        if overwrite is None:
            overwrite = bool(self.config.get("overwrite"))
        if resume:
            if not (out / STATUS).is_file():
                raise FileNotFoundError(f"--resume {out}: not a fedfair run directory (no {STATUS})")
            self._claim = claim(out, "run", resume=True, flag="--resume", what="the run directory")
            self._status("running")
            return self
        self._claim = claim(out, "run", overwrite=overwrite, clear_files=True, what="the run directory")
        _atomic_write(out / CONFIG, json.dumps(json_safe(self.config), indent=2, sort_keys=True))
        self._status("running")
        (out / METRICS).write_text("")
        return self

    def release(self, complete: bool = False) -> None:
        """Let go of the run directory (its lock); ``complete`` marks it a complete run first."""
        held = getattr(self, "_claim", None)
        if held is not None:
            self._claim = None
            try:
                if complete:
                    held.done()
            finally:
                held.release()

    def metrics_bytes(self) -> int:
        """The size of metrics.jsonl now (a checkpoint records it: :meth:`truncate_metrics`)."""
        path = self.out_dir / METRICS
        return path.stat().st_size if path.is_file() else 0

    def truncate_metrics(self, last_round: int, size: int | None = None) -> None:
        """Keep the metrics.jsonl rows written up to the checkpoint a resumed run continues from: its first
        ``size`` bytes (recorded with the checkpoint), else (an older checkpoint) the rows of rounds up to
        ``last_round``. A resumed run repeats what came later."""
        path = self.out_dir / METRICS
        if size is not None and path.is_file() and 0 <= int(size) <= path.stat().st_size:
            with open(path, "r+b") as handle:
                handle.truncate(int(size))
            return
        lines = path.read_text().splitlines() if path.is_file() else []
        kept = [line for line in lines if line.strip() and json.loads(line).get("round", 0) <= last_round]
        _atomic_write(path, "".join(line + "\n" for line in kept))

    def _status(self, status: str, **extra: Any) -> None:
        _atomic_write(self.out_dir / STATUS, json.dumps({"status": status, **extra}, indent=2))

    def log(self, text: str) -> None:
        """Progress line on the console (stderr)."""
        if self.echo:
            from rich.errors import MarkupError

            try:
                _progress_console().print(text, highlight=False)
            except MarkupError:  # a name (client, dataset, path) that looks like markup: print it as it is
                _progress_console().print(text, highlight=False, markup=False)

    def record_round(self, server_round: int, evals: Sequence[ClientEval], stage: str = "evaluate") -> None:
        """Append one metrics.jsonl row per (client, model) and log the round's averages."""
        rows = []
        ordered = sorted(evals, key=lambda e: (e.partition_id, e.task, e.model))
        for e, full in zip(ordered, fairness_all(ordered, with_pairs=False)):  # the rows keep no pairs
            rows.append(
                {
                    "round": server_round, "stage": stage, "client": e.client, "partition_id": e.partition_id,
                    "model": e.model, "cluster": e.cluster, "n_test": e.n_test, "loss": e.loss,
                    "accuracy": e.accuracy, "fairness": fairness_summary(full),
                    "groups": {a: t.to_json() for a, t in e.groups.items()},
                    **({"task": e.task} if e.task else {}),
                }
            )
        with open(self.out_dir / METRICS, "a") as handle:
            for row in rows:
                handle.write(json.dumps(json_safe(row), sort_keys=True) + "\n")
        for task in dict.fromkeys(r.get("task", "") for r in rows):  # one line per task, never mixing tasks
            part = [r for r in rows if r.get("task", "") == task]
            attr = next(iter(part[0]["fairness"]), None)  # None: the task has no sensitive attribute (images)
            acc = np.mean([r["accuracy"] for r in part])
            sp = f"  mean SP({attr}) {_nanmean([r['fairness'].get(attr, {}).get('sp') for r in part]):.4f}" if attr else ""
            self.log(
                f"round {server_round}/{self.config.get('rounds', '?')}  {stage}{f' (task {task})' if task else ''}: "
                f"mean accuracy {acc:.4f}{sp}  ({len(part)} clients)"
            )

    def record_failures(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append one metrics.jsonl row per failed or missing reply (``stage`` = failed) and log them."""
        with open(self.out_dir / METRICS, "a") as handle:
            for row in rows:
                handle.write(json.dumps(json_safe({**row, "stage": "failed"}), sort_keys=True) + "\n")
        clients = ", ".join(f"{r['client']} ({r['reason']})" for r in rows)
        self.log(f"[yellow]{rows[0]['message']}: no reply from {clients}; going on without them[/yellow]")

    def finish(self, evals: Sequence[ClientEval], clusters: Sequence[Sequence[str]] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write summary.json (final per-client figures and their means), the plots (unless the ``plots`` run
        parameter is false), and mark complete.

        With one task: ``clients`` (one entry per client) and ``mean``. With
        several tasks (several models per client): ``tasks`` = {task: {clients,
        mean}}; means are taken per task, never across tasks.
        """
        by_task: dict[str, list[dict[str, Any]]] = {}
        level, resamples = float(self.config.get("ci-level", 0.95)), int(self.config.get("ci-resamples", 0))
        ordered = sorted(evals, key=lambda e: (e.task, e.partition_id))
        entries = [client_entry(e, full) for e, full in zip(ordered, fairness_all(ordered, with_pairs=False))]
        if resamples:  # bootstrap over each client's test rows, from its confusion counts (all clients at once)
            seed = int(self.config.get("seed", 0))
            intervals = intervals_many([e.accuracy for e in ordered], [e.n_test for e in ordered],
                                       [e.groups for e in ordered], level, resamples,
                                       [generator(seed, "client", e.client, e.model) for e in ordered])  # equal evaluations: equal intervals
            for entry, ci in zip(entries, intervals):
                entry["ci"] = ci
        for e, entry in zip(ordered, entries):
            by_task.setdefault(e.task, []).append(entry)
        summary: dict[str, Any] = {
            "strategy": self.config["strategy"],
            "dataset": self.config["dataset"],
            "rounds": self.config["rounds"],
            "seed": self.config["seed"],
            "wall_seconds": round(time.time() - self.started, 3),
        }
        def mean(clients: list[dict[str, Any]]) -> dict[str, Any]:
            averaged = mean_over_clients(clients)
            if resamples and clients:
                averaged["ci"] = mean_intervals(clients, level, resamples,
                                                generator(int(self.config.get("seed", 0)), "mean"))
            return averaged

        if resamples:
            summary["ci"] = {"level": level, "resamples": resamples,
                             "method": "percentile bootstrap: per client over its test rows (from the group confusion "
                                       "counts), for the means over the clients"}
        if len(by_task) <= 1:
            clients = next(iter(by_task.values()), [])
            summary.update({"clients": clients, "mean": mean(clients)})
        else:
            summary["tasks"] = {task: {"clients": clients, "mean": mean(clients)}
                                for task, clients in by_task.items()}
            accuracies = np.array([part["mean"]["accuracy"] for part in summary["tasks"].values()])
            summary.update({"min_accuracy": float(accuracies.min()), "mean_accuracy": float(accuracies.mean()),
                            "accuracy_variance": float(accuracies.var())})
        summary["clusters"] = [list(c) for c in clusters] if clusters is not None else None
        summary.update(extra or {})
        _atomic_write(self.out_dir / SUMMARY, json.dumps(json_safe(summary), indent=2, sort_keys=True))
        try:
            if self.config.get("plots", True):  # plots=false (fedfair compare / bench: their reports draw their own)
                self._plot(summary)
        except Exception as err:  # a plot failure must not lose the results
            self.log(f"[yellow]plot not written: {err}[/yellow]")
        self._status("complete", wall_seconds=summary["wall_seconds"])
        self.release(complete=True)
        return summary

    def _plot(self, summary: Mapping[str, Any]) -> None:
        """The run's figures (:func:`run_figures`) as ``plot-format`` files (PNG by default); one that fails is
        named and the others drawn."""
        draw_run_figures(summary, self.out_dir, str(self.config.get("plot-format", "png")),
                         on_error=lambda name, err: self.log(f"[yellow]plot {name} not written: {err}[/yellow]"))

    def fail(self, error: BaseException) -> None:
        """Mark the run failed, with the error, and remove a partial summary."""
        (self.out_dir / SUMMARY).unlink(missing_ok=True)
        self._status("failed", error=f"{type(error).__name__}: {error}")
        self.release()


# clients named next to their point up to this many; more: only the notable ones (the least accurate, the largest
# gaps), since 47 labels overlap and 1,000 took seconds to draw and hid the points
PLOT_LABELS_MAX = 12
HEATMAP_PLOT = "fairness_heatmap.png"
CLUSTERS_PLOT = "clusters.png"
WEIGHTS_PLOT = "weights.png"
# the figures that follow a run round by round (the bench report shows them per entry)
OVER_ROUNDS = (ROUNDS_PLOT, HEATMAP_PLOT, CLUSTERS_PLOT, WEIGHTS_PLOT)
# resampled values the intervals of rounds.png may cost in all; a longer run gets them every k-th round and the last
ROUND_INTERVALS_BUDGET = 3e7


def _evaluations(metrics_path: Path) -> Iterator[dict[str, Any]]:
    """The evaluate rows of a metrics.jsonl."""
    for line in metrics_path.read_text().splitlines() if metrics_path.is_file() else []:
        row = json.loads(line) if line.strip() else {}
        if row.get("stage") == "evaluate":
            yield row


def round_series(metrics_path: Path) -> dict[str, Any]:
    """Per evaluated round of a single-model run (its metrics.jsonl): the clients' accuracy and, per attribute,
    SP gap, as {"rounds": [...], "accuracy": [[per client] per round], "sp": {attribute: [[...] per round]},
    "clients": [[names] per round], "cluster": [[cluster or None] per round], "fairness": [[each client's
    {attribute: {metric: gap}}] per round]}."""
    per_round: dict[int, list[dict[str, Any]]] = {}
    for row in _evaluations(metrics_path):
        if "task" not in row:
            per_round.setdefault(int(row["round"]), []).append(row)
    rounds = sorted(per_round)
    attributes = sorted({a for rows in per_round.values() for r in rows for a in (r.get("fairness") or {})})
    return {"rounds": rounds, "clients": [[str(r["client"]) for r in per_round[t]] for t in rounds],
            "accuracy": [[r["accuracy"] for r in per_round[t]] for t in rounds],
            "sp": {a: [[(r.get("fairness") or {}).get(a, {}).get("sp") for r in per_round[t]] for t in rounds]
                   for a in attributes},
            "cluster": [[r.get("cluster") for r in per_round[t]] for t in rounds],
            "fairness": [[r.get("fairness") or {} for r in per_round[t]] for t in rounds]}


def task_series(metrics_path: Path) -> dict[str, Any]:
    """Per evaluated round of a task set's run: every task's plain mean accuracy over the clients evaluated on it
    (the mean the terminal and summary.json report), as {"rounds": [...], "tasks": {task: [mean per round]}}."""
    per_round: dict[int, dict[str, list[float]]] = {}
    for row in _evaluations(metrics_path):
        if "task" in row:
            per_round.setdefault(int(row["round"]), {}).setdefault(row["task"], []).append(row["accuracy"])
    rounds = sorted(per_round)
    tasks = list(dict.fromkeys(t for r in rounds for t in per_round[r]))
    return {"rounds": rounds, "tasks": {t: [_nanmean(per_round[r].get(t, [])) for r in rounds] for t in tasks}}


def round_intervals(series: Mapping[str, Any], level: float, resamples: int, seed: int) -> dict[int, dict[str, Any]]:
    """{round index: :func:`mean_intervals` of that round's clients}, computed as summary.json's mean["ci"] is (the
    run's seed, level and resamples, the same generator), so that the last round's are the table's; a long run
    gets them every k-th round and the last (about :data:`ROUND_INTERVALS_BUDGET` resampled values in all); {}
    without resamples."""
    if not resamples or not series["rounds"]:
        return {}
    width = max(len(row) for row in series["accuracy"]) * resamples * (1 + len(METRIC_NAMES) * len(series["sp"]))
    stride = max(1, math.ceil(len(series["rounds"]) * width / ROUND_INTERVALS_BUDGET))
    picks = sorted(range(len(series["rounds"]) - 1, -1, -stride))
    return {t: mean_intervals([{"accuracy": a, "fairness": f} for a, f in zip(series["accuracy"][t], series["fairness"][t])],
                              level, resamples, generator(seed, "mean")) for t in picks}


def _interval(ci: Mapping[str, Any] | None, attribute: str | None) -> Sequence[float] | None:
    """The accuracy interval (``attribute`` None) or the SP-gap interval of ``attribute`` in a ``ci`` entry."""
    ci = ci or {}
    return ci.get("accuracy") if attribute is None else ci.get("fairness", {}).get(attribute, {}).get("sp")


def rounds_figure(series: Mapping[str, Any], title: str, colour: str = "tab:blue",
                  intervals: Mapping[int, Mapping[str, Any]] | None = None, level: float = 0.95,
                  clients: Sequence[Mapping[str, Any]] = ()) -> Any | None:
    """Per evaluated round the clients' mean accuracy and mean SP gap per attribute, with the interval of the
    mean (shaded, :func:`round_intervals`: the last round's is the table's), and the worst client (dashed:
    lowest accuracy, largest gap), named at the last round with its own interval there (from ``clients``,
    summary.json's, when it computed them); None without evaluated rounds."""
    from matplotlib.ticker import MaxNLocator

    from fedfair.figures import direct_labels, pyplot

    if not series["rounds"]:
        return None
    plt = pyplot()
    rounds = series["rounds"]
    by_name = {str(c["client"]): c for c in clients}
    panels = [("accuracy", None, series["accuracy"], min), *((f"SP gap ({a})", a, v, max) for a, v in series["sp"].items())]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False)
    style = "-o" if len(rounds) <= 3 else "-"
    ends = []
    for ax, (name, attribute, values, worst) in zip(axes[0], panels):
        ax.plot(rounds, [_nanmean(row) for row in values], style, color=colour, markersize=4, label="mean over clients")
        bounds = [(rounds[t], b) for t in sorted(intervals or {}) if (b := _interval(intervals[t], attribute))]
        if len(bounds) > 1:
            ax.fill_between([r for r, _ in bounds], [b[0] for _, b in bounds], [b[1] for _, b in bounds], color=colour,
                            alpha=0.2, linewidth=0, label=f"{level:.0%} interval of the mean")
        elif bounds:
            (r, (low, high)), = bounds
            ax.errorbar([r], [(low + high) / 2], yerr=[[(high - low) / 2]], fmt="none", color=colour, capsize=3,
                        label=f"{level:.0%} interval of the mean")
        picks = [[(v, c) for v, c in zip(row, names) if v is not None and math.isfinite(v)]
                 for row, names in zip(values, series["clients"])]
        worst_points = [worst(p) if p else (math.nan, "") for p in picks]
        ax.plot(rounds, [v for v, _ in worst_points], "--" + style[1:], color=colour, markersize=3, alpha=0.85,
                label="worst client")
        value, client = worst_points[-1]
        own = _interval((by_name.get(client) or {}).get("ci"), attribute)
        if own and math.isfinite(value):
            ax.errorbar([rounds[-1]], [value], yerr=[[max(value - own[0], 0)], [max(own[1] - value, 0)]], fmt="none",
                        color=colour, capsize=3, alpha=0.85)
        ax.set_xlabel("round")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(right=rounds[-1] + 0.25 * max(rounds[-1] - rounds[0], 1))  # room for the names at the end
        ends.append((ax, value, client))
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    for (ax, value, client), (_, _, values, _) in zip(ends, panels):
        direct_labels(ax, [rounds[-1], rounds[-1]], [_nanmean(values[-1]), value], ["mean", f"worst: {client}"],
                      [colour, colour], dx=9)
    return fig


def accuracy_vs_fairness_figure(summary: Mapping[str, Any]) -> Any:
    """One panel per sensitive attribute: each client's SP gap (x) against its accuracy (y) with its interval
    bars (the table's ±, when the run computed them), coloured by cluster in a clustered run; every client named
    up to :data:`PLOT_LABELS_MAX` of them, else the three least accurate and the three with the largest gap; the
    mean over clients (black star) with its interval."""
    from fedfair.figures import PALETTE, colour, direct_labels, notable, pyplot

    plt = pyplot()
    clients = summary["clients"]
    attributes = sorted({a for c in clients for a in c["fairness"]})
    clustered = any(c.get("cluster") is not None for c in clients)
    own = colour(base_name_of(summary))
    fig, axes = plt.subplots(1, max(len(attributes), 1), figsize=(5.2 * max(len(attributes), 1), 4.4), squeeze=False)
    accuracy = [c["accuracy"] for c in clients]
    small = len(clients) <= PLOT_LABELS_MAX
    for ax, attr in zip(axes[0], attributes):
        gaps = [(c["fairness"].get(attr) or {}).get("sp") for c in clients]
        groups = sorted({c.get("cluster") for c in clients}, key=lambda k: (k is None, k if k is not None else 0))
        for group in groups:
            members = [i for i, c in enumerate(clients) if c.get("cluster") == group and gaps[i] is not None]
            if not members:
                continue
            xs, ys = np.array([gaps[i] for i in members], float), np.array([accuracy[i] for i in members], float)
            x_ci = [_interval(clients[i].get("ci"), attr) or (gaps[i], gaps[i]) for i in members]
            y_ci = [_interval(clients[i].get("ci"), None) or (accuracy[i], accuracy[i]) for i in members]
            ax.errorbar(xs, ys, xerr=np.clip([xs - [b[0] for b in x_ci], [b[1] for b in x_ci] - xs], 0, None),
                        yerr=np.clip([ys - [b[0] for b in y_ci], [b[1] for b in y_ci] - ys], 0, None), fmt="o",
                        markersize=4 if small else 2.5, elinewidth=0.6, alpha=0.85, capsize=0,
                        color=PALETTE[group % len(PALETTE)] if clustered and group is not None else own,
                        label=f"cluster {group}" if clustered and group is not None else "client")
        mean = summary["mean"]
        m_x, m_y = mean["fairness"].get(attr, {}).get("sp", math.nan), mean["accuracy"]
        x_ci, y_ci = _interval(mean.get("ci"), attr), _interval(mean.get("ci"), None)
        ax.errorbar([m_x], [m_y], xerr=None if not x_ci else [[max(m_x - x_ci[0], 0)], [max(x_ci[1] - m_x, 0)]],
                    yerr=None if not y_ci else [[max(m_y - y_ci[0], 0)], [max(y_ci[1] - m_y, 0)]], fmt="*",
                    markersize=13, color="black", capsize=3, label="mean over clients", zorder=5)
        ax.set_xlabel(f"local SP gap ({attr})")
        ax.set_ylabel("local accuracy")
        ax.set_title(f"{summary['strategy']} on {summary['dataset']}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ax, attr in zip(axes[0], attributes):
        gaps = [(c["fairness"].get(attr) or {}).get("sp") for c in clients]
        named = range(len(clients)) if small else dict.fromkeys(notable(accuracy, 3, largest=False) + notable(gaps, 3))
        direct_labels(ax, [gaps[i] for i in named], [accuracy[i] for i in named], [str(clients[i]["client"]) for i in named],
                      ["black"] * len(clients), dx=4)
    return fig


def base_name_of(summary: Mapping[str, Any]) -> str:
    """The strategy of a summary (of a task view: without its `` (task ...)``)."""
    return str(summary.get("strategy", "")).split(" (task ")[0]


def task_accuracy_figure(summary: Mapping[str, Any], metrics_path: Path) -> Any:
    """Every task's accuracy over rounds: the plain mean over its clients (as the terminal and summary.json
    report it; metrics.jsonl), each task in its colour and named at its line's end, the minimum over tasks
    highlighted (seed 003, Fig. 2). Without task rows in metrics.jsonl: the strategy's own record (n-weighted)."""
    from fedfair.figures import colour_map, direct_labels, pyplot

    plt = pyplot()
    series = task_series(metrics_path)
    ylabel = "test accuracy (mean over the task's clients)"
    if not series["rounds"]:
        history = summary["task_accuracy"]
        series = {"rounds": [h["round"] for h in history],
                  "tasks": {t: [h[t] for h in history] for t in history[0] if t != "round"}}
        ylabel = "test accuracy (n-weighted over clients, the strategy's record)"
    rounds, tasks = series["rounds"], series["tasks"]
    colours = colour_map(list(summary.get("tasks") or tasks))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for task, values in tasks.items():
        ax.plot(rounds, values, "-o" if len(rounds) <= 3 else "-", markersize=3, color=colours.get(task), alpha=0.9,
                label=task)
    minimum = [min(row) for row in zip(*tasks.values())]
    ax.plot(rounds, minimum, "k--", linewidth=2.0, label="minimum over tasks")
    ax.set_xlabel("round")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{summary['strategy']} on {summary['dataset']}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    direct_labels(ax, [rounds[-1]] * (len(tasks) + 1), [v[-1] for v in tasks.values()] + [minimum[-1]],
                  [*tasks, "minimum"], [colours.get(t) for t in tasks] + ["black"])
    return fig


def allocation_figure(summary: Mapping[str, Any]) -> Any:
    """Which client trained which task in every round: clients x rounds coloured by task (the tasks' colours of
    task_accuracy), the legend naming each task and its clients in the last round (seed 003, Fig. 6)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from fedfair.figures import colour_map, pyplot

    plt = pyplot()
    tasks = list(summary["tasks"])
    colours = colour_map(tasks)
    clients = sorted({c for entry in summary["allocation"] for c in entry["tasks"]} |
                     {c["client"] for part in summary["tasks"].values() for c in part["clients"]},
                     key=lambda c: (len(c), c))
    grid = np.full((len(clients), len(summary["allocation"])), np.nan)
    for j, entry in enumerate(summary["allocation"]):
        for client, task in entry["tasks"].items():
            grid[clients.index(client), j] = tasks.index(task)
    fig, ax = plt.subplots(figsize=(min(14, 4.5 + 0.12 * grid.shape[1]), min(10, 1.5 + 0.18 * len(clients))))
    ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest",
              cmap=ListedColormap([colours[t] for t in tasks]), vmin=-0.5, vmax=len(tasks) - 0.5)
    last = grid[:, -1] if grid.size else np.array([])
    ax.legend(handles=[Patch(color=colours[t], label=f"{t} ({int(np.sum(last == k))} clients, last round)")
                       for k, t in enumerate(tasks)], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    step = max(1, grid.shape[1] // 12)
    ax.set_xticks(range(0, grid.shape[1], step), [str(e["round"]) for e in summary["allocation"]][::step])
    ax.set_xlabel("round (white: inactive)")
    ax.set_ylabel("client")
    ax.set_yticks(range(len(clients)), clients, fontsize=6)
    ax.set_title(f"allocation: {summary['strategy']}", fontsize=10)
    fig.tight_layout()
    return fig


def run_figures(summary: Mapping[str, Any], metrics_path: Path) -> list[tuple[str, Any, str]]:
    """Every figure of a run as (file name, draw, caption), ``draw()`` returning the matplotlib figure (or None:
    nothing to draw), so that a caller draws only those it shows: accuracy against fairness (one per task),
    the over-rounds figures (:data:`OVER_ROUNDS`: for a single-task run rounds, the per-client fairness heatmap
    and the clusters of a clustered run; the strategy's weights when it records them), and a task set's task
    accuracy and allocation."""
    from functools import partial

    from fedfair.figures import clusters_figure, colour, heatmap_figure, weight_series, weights_figure

    title = f"{summary['strategy']} on {summary['dataset']}"
    figures: list[tuple[str, Any, str]] = []
    for task, part in task_views(summary):
        if any(c["fairness"] for c in part["clients"]):  # image tasks have no sensitive attribute
            figures.append((PLOT if not task else f"{task}_{PLOT}", partial(accuracy_vs_fairness_figure, part),
                            f"{part['strategy']}: each client's local accuracy against its local SP gap, with its "
                            "interval; the star: the mean over clients"))
    if "tasks" not in summary:
        series = round_series(metrics_path)
        ci = summary.get("ci") or {}
        level = float(ci.get("level", 0.95))

        def rounds() -> Any:
            intervals = round_intervals(series, level, int(ci.get("resamples", 0)), int(summary.get("seed", 0)))
            return rounds_figure(series, title, colour(base_name_of(summary)), intervals, level, summary.get("clients", ()))

        figures.append((ROUNDS_PLOT, rounds, f"{title}: mean and worst client per round, with the {level:.0%} "
                        "interval of the mean over clients (the last round's is the table's)"))
        if series["sp"]:
            figures.append((HEATMAP_PLOT, partial(heatmap_figure, series, title),
                            f"{title}: every client's SP gap in every round"))
        if any(c is not None for row in series["cluster"] for c in row):
            figures.append((CLUSTERS_PLOT, partial(clusters_figure, series, title),
                            f"{title}: every client's cluster in every round"))
    if weight_series(summary):
        figures.append((WEIGHTS_PLOT, partial(weights_figure, summary, title),
                        f"{title}: the strategy's weights over rounds"))
    if summary.get("task_accuracy"):
        figures.append((TASK_PLOT, partial(task_accuracy_figure, summary, metrics_path),
                        f"{title}: every task's accuracy per round"))
    if summary.get("allocation"):
        figures.append((ALLOCATION_PLOT, partial(allocation_figure, summary), f"{title}: the task of every client "
                        "in every round"))
    return figures


def draw_run_figures(summary: Mapping[str, Any], out_dir: Path, fmt: str = "png",
                     on_error: Any = None) -> list[Path]:
    """Write every figure of a run (:func:`run_figures`) into ``out_dir`` as ``fmt`` files; returns their paths.
    A figure that fails is passed to ``on_error(name, error)`` when given (the others are still drawn), else
    raised."""
    from fedfair.figures import save

    written = []
    for name, draw, _ in run_figures(summary, Path(out_dir) / METRICS):
        try:
            fig = draw()
            if fig is not None:
                written.append(save(fig, Path(out_dir) / name, fmt))
        except Exception as err:  # a figure's failure must not lose the others
            if on_error is None:
                raise
            on_error(name, err)
    return written
