"""What a run writes: config.json, status.json, metrics.jsonl, summary.json, a plot.

``status.json`` says ``running`` while a run is in progress, ``complete`` once
summary.json has been written (atomically) and ``failed`` (with the error) if
it stopped early: a run directory is never left looking complete when it is not.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
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


@lru_cache(maxsize=1)
def _progress_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


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
            attr = next(iter(part[0]["fairness"]), None)
            acc = np.mean([r["accuracy"] for r in part])
            sp = np.nanmean([r["fairness"][attr]["sp"] for r in part]) if attr else math.nan
            self.log(
                f"round {server_round}/{self.config.get('rounds', '?')}  {stage}{f' (task {task})' if task else ''}: "
                f"mean accuracy {acc:.4f}  mean SP({attr}) {sp:.4f}  ({len(part)} clients)"
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
        """The run's figures: accuracy against fairness (one per task), accuracy and fairness over rounds, the
        tasks' accuracy, the allocation."""
        for task, part in task_views(summary):
            if any(c["fairness"] for c in part["clients"]):  # image tasks have no sensitive attribute
                plot_accuracy_vs_fairness(part, self.out_dir / (PLOT if not task else f"{task}_{PLOT}"))
        if "tasks" not in summary:
            plot_rounds(self.out_dir / METRICS, self.out_dir / ROUNDS_PLOT, f"{summary['strategy']} on {summary['dataset']}")
        if summary.get("task_accuracy"):
            plot_task_accuracy(summary, self.out_dir / TASK_PLOT)
        if summary.get("allocation"):
            plot_allocation(summary, self.out_dir / ALLOCATION_PLOT)

    def fail(self, error: BaseException) -> None:
        """Mark the run failed, with the error, and remove a partial summary."""
        (self.out_dir / SUMMARY).unlink(missing_ok=True)
        self._status("failed", error=f"{type(error).__name__}: {error}")
        self.release()


# clients named next to their point up to this many (1,000 labels took seconds to draw and hid the points)
PLOT_LABELS_MAX = 60


def round_series(metrics_path: Path) -> dict[str, Any]:
    """Per evaluated round of a single-model run (its metrics.jsonl): the clients' accuracy and, per attribute,
    SP gap, as {"rounds": [...], "accuracy": [[per client] per round], "sp": {attribute: [[...] per round]},
    "clients": [[names] per round]}."""
    per_round: dict[int, list[dict[str, Any]]] = {}
    for line in metrics_path.read_text().splitlines() if metrics_path.is_file() else []:
        row = json.loads(line) if line.strip() else {}
        if row.get("stage") == "evaluate" and "task" not in row:
            per_round.setdefault(int(row["round"]), []).append(row)
    rounds = sorted(per_round)
    attributes = sorted({a for rows in per_round.values() for r in rows for a in (r.get("fairness") or {})})
    return {"rounds": rounds, "clients": [[str(r["client"]) for r in per_round[t]] for t in rounds],
            "accuracy": [[r["accuracy"] for r in per_round[t]] for t in rounds],
            "sp": {a: [[(r.get("fairness") or {}).get(a, {}).get("sp") for r in per_round[t]] for t in rounds]
                   for a in attributes}}


def plot_rounds(metrics_path: Path, path: Path, title: str, level: float = 0.95) -> None:
    """rounds.png: per evaluated round the clients' mean accuracy and mean SP gap per attribute, each with the
    interval of the mean over clients (bootstrap, shaded) and the worst client (dashed, named at the last
    round): lowest accuracy, largest gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fedfair.uncertainty import generator, mean_interval

    series = round_series(metrics_path)
    if not series["rounds"]:
        return
    panels = [("accuracy", series["accuracy"], min), *((f"SP gap ({a})", v, max) for a, v in series["sp"].items())]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    rng = generator(0, "rounds-plot")
    band = len(series["rounds"]) <= 200  # the intervals of a 1,000-round run would take longer than the run
    for ax, (name, values, worst) in zip(axes[0], panels):
        means, lows, highs, worst_values = [], [], [], []
        for row in values:
            defined = [v for v in row if v is not None and math.isfinite(v)]
            means.append(float(np.mean(defined)) if defined else math.nan)
            interval = mean_interval(defined, level, 300, rng) if band and len(defined) > 1 else None
            lows.append(interval[0] if interval else math.nan)
            highs.append(interval[1] if interval else math.nan)
            worst_values.append(worst(defined) if defined else math.nan)
        ax.plot(series["rounds"], means, color="tab:blue", label="mean over clients")
        if band:
            ax.fill_between(series["rounds"], lows, highs, color="tab:blue", alpha=0.2, label=f"{level:.0%} interval")
        ax.plot(series["rounds"], worst_values, "--", color="tab:red", label="worst client")
        last = [v if v is not None else math.nan for v in values[-1]]
        if any(math.isfinite(v) for v in last):
            k = int(np.nanargmin(last) if worst is min else np.nanargmax(last))
            ax.annotate(series["clients"][-1][k], (series["rounds"][-1], last[k]), fontsize=8, xytext=(3, 3),
                        textcoords="offset points", color="tab:red")
        ax.set_xlabel("round")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy_vs_fairness(summary: Mapping[str, Any], path: Path) -> None:
    """One panel per sensitive attribute: each client's SP gap (x) against its accuracy (y); clients are named
    next to their points when there are at most PLOT_LABELS_MAX of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = summary["clients"]
    attributes = sorted({a for c in clients for a in c["fairness"]})
    fig, axes = plt.subplots(1, max(len(attributes), 1), figsize=(5 * max(len(attributes), 1), 4), squeeze=False)
    for ax, attr in zip(axes[0], attributes):
        xs = [c["fairness"][attr]["sp"] for c in clients]
        ys = [c["accuracy"] for c in clients]
        ax.scatter([np.nan if x is None else x for x in xs], ys, s=None if len(clients) <= PLOT_LABELS_MAX else 6)
        for c, x, y in zip(clients, xs, ys) if len(clients) <= PLOT_LABELS_MAX else ():
            if x is not None and not math.isnan(x):
                ax.annotate(str(c["client"]), (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        mean = summary["mean"]
        ax.scatter([mean["fairness"][attr]["sp"]], [mean["accuracy"]], marker="*", s=160, c="red", label="mean")
        ax.set_xlabel(f"local SP gap ({attr})")
        ax.set_ylabel("local accuracy")
        ax.set_title(f"{summary['strategy']} on {summary['dataset']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_task_accuracy(summary: Mapping[str, Any], path: Path) -> None:
    """Every task's accuracy over rounds, the minimum over tasks highlighted (seed 003, Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = summary["task_accuracy"]
    rounds = [h["round"] for h in history]
    tasks = [k for k in history[0] if k != "round"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for task in tasks:
        ax.plot(rounds, [h[task] for h in history], label=task, alpha=0.8)
    ax.plot(rounds, [min(h[t] for t in tasks) for h in history], "k--", linewidth=2.2, label="minimum over tasks")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (n-weighted over clients)")
    ax.set_title(f"{summary['strategy']} on {summary['dataset']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_allocation(summary: Mapping[str, Any], path: Path) -> None:
    """Which client trained which task in every round: clients x rounds coloured by task (seed 003, Fig. 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    tasks = list(summary["tasks"])
    clients = sorted({c for entry in summary["allocation"] for c in entry["tasks"]} |
                     {c["client"] for part in summary["tasks"].values() for c in part["clients"]},
                     key=lambda c: (len(c), c))
    grid = np.full((len(clients), len(summary["allocation"])), np.nan)
    for j, entry in enumerate(summary["allocation"]):
        for client, task in entry["tasks"].items():
            grid[clients.index(client), j] = tasks.index(task)
    fig, ax = plt.subplots(figsize=(min(14, 3 + 0.12 * grid.shape[1]), min(10, 1.5 + 0.18 * len(clients))))
    colours = ListedColormap([plt.cm.tab10(k % 10) for k in range(len(tasks))])
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", interpolation="nearest", cmap=colours,
                      vmin=-0.5, vmax=len(tasks) - 0.5)
    bar = fig.colorbar(image, ax=ax, ticks=range(len(tasks)))
    bar.ax.set_yticklabels(tasks, fontsize=7)
    step = max(1, grid.shape[1] // 12)
    ax.set_xticks(range(0, grid.shape[1], step), [str(e["round"]) for e in summary["allocation"]][::step])
    ax.set_xlabel("round (white: inactive)")
    ax.set_ylabel("client")
    ax.set_yticks(range(len(clients)), clients, fontsize=6)
    ax.set_title(f"allocation: {summary['strategy']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
