"""Export fedfair runs to TensorBoard event files, offline (``fedfair bench --tensorboard``, ``fedfair tensorboard``).

Why TensorBoard rather than MLflow's file store: its writer ships with torch (``torch.utils.tensorboard``) and
the ``tensorboard`` package adds only what Flower already installs (grpcio, protobuf) plus a few small
packages, while MLflow pulls a server stack (Flask, SQLAlchemy, alembic, ...) into every install; a run's
per-round, per-client curves are what TensorBoard's scalar view is made for, and ``tensorboard --logdir DIR``
reads the files with no network and no server-side database.

Per run directory (one TensorBoard run named by its path under ``base``):

- per evaluated round: ``mean/accuracy`` and ``mean/<notion>/<attribute>`` (SP, EqOp, EO) over the clients
  evaluated that round; the worst client's ``worst/accuracy`` (the lowest) and ``worst/<notion>/<attribute>``
  (the largest gap); every client's ``client/<client>/accuracy`` and ``client/<client>/<notion>/<attribute>``
  (``<task>/...`` prefixes for task sets);
- per round, what the strategy adapts (from summary.json, :func:`strategy_series`): ``strategy/weight/<client>``
  (FairFed's aggregation weights, AFL's lambda), ``strategy/global_gap`` (FairFed), ``strategy/group_weight/
  y<label>/<value>`` (FedFB, Fed-FairBatch, Fed-FairGrad), ``strategy/clusters`` (the number of clusters of IFCA,
  Fair-FCA, FL+HC, Fair-FL+HC, CFL);
- at the end: ``final/mean_accuracy``, ``final/worst_client_accuracy``, a histogram ``final/client_accuracy``
  of the clients' accuracies, ``final/epsilon_max`` with DP-SGD, and the run's parameters as text ``config``.

Two runs never share a TensorBoard run: an export names each by its path under ``base``, and a name already
taken by another run directory gets ``-2``, ``-3``, ... (:func:`export_tensorboard`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NOTIONS = ("sp", "eqop", "eo")


class TrackingError(RuntimeError):
    """The tracker's package is missing or a run directory cannot be exported."""


def writer_class() -> Any:
    """torch's SummaryWriter; TrackingError naming the install when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch's writer needs the tensorboard package
        raise TrackingError(f"TensorBoard export needs the tensorboard package ({err}): "
                            "pip install 'fedfair[track]' (or pip install tensorboard)") from None
    return SummaryWriter


def round_means(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    """{(task prefix, round): {tag: mean over that round's evaluated clients}} from metrics.jsonl rows."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("stage", "evaluate") == "evaluate":
            grouped[(f"{row['task']}/" if row.get("task") else "", int(row["round"]))].append(row)
    out = {}
    for key, group in grouped.items():
        accuracies = [float(r["accuracy"]) for r in group]
        tags = {"mean/accuracy": float(np.mean(accuracies)), "worst/accuracy": min(accuracies)}
        for attribute in sorted({a for r in group for a in r.get("fairness", {})}):
            for notion in NOTIONS:
                values = {r["client"]: _defined(r["fairness"][attribute].get(notion))
                          for r in group if attribute in r.get("fairness", {})}
                values = {client: v for client, v in values.items() if v is not None}
                if values:
                    tags[f"mean/{notion}/{attribute}"] = float(np.mean(list(values.values())))
                    tags[f"worst/{notion}/{attribute}"] = max(values.values())
                for client, value in values.items():
                    tags[f"client/{client}/{notion}/{attribute}"] = value
        for r in group:
            tags[f"client/{r['client']}/accuracy"] = float(r["accuracy"])
        out[key] = tags
    return out


def _defined(value: Any) -> float | None:
    """A gap as a float; None when undefined (None or NaN)."""
    return None if value is None or math.isnan(float(value)) else float(value)


def strategy_series(summary: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(tag, round, value) of what the strategy adapts over the rounds, from its summary.json: FairFed's
    aggregation weights and global gap (``weight_history``), AFL's lambda (``afl_lambda``), the cell weights of the
    group-weighting strategies (``group_weights``), the number of clusters (``cluster_history``, ``cfl_history``)."""
    series: list[tuple[str, int, float]] = []
    for record in summary.get("weight_history") or []:  # FairFed, FairFed-AF
        for client, entry in (record.get("clients") or {}).items():
            series.append((f"strategy/weight/{client}", int(record["round"]), float(entry["weight"])))
        if _defined(record.get("global_gap")) is not None:
            series.append(("strategy/global_gap", int(record["round"]), float(record["global_gap"])))
    for record in summary.get("afl_lambda") or []:  # AFL: the mixture weights lambda
        series += [(f"strategy/weight/{client}", int(record["round"]), float(w)) for client, w in record["lambda"].items()]
    weighting = summary.get("group_weights") or {}
    values = list(weighting.get("values") or [])
    for record in weighting.get("rounds") or []:  # FedFB, Fed-FairBatch, Fed-FairGrad: weights[label][value]
        weights = np.asarray(record.get("weights", []), dtype=np.float64)
        if weights.ndim == 2:
            series += [(f"strategy/group_weight/y{label}/{values[k] if k < len(values) else k}", int(record["round"]),
                        float(w)) for (label, k), w in np.ndenumerate(weights)]
    for record in summary.get("cluster_history") or []:  # IFCA, Fair-FCA, FL+HC, Fair-FL+HC (None: not clustered yet)
        if record.get("clusters"):
            series.append(("strategy/clusters", int(record["round"]), float(len(set(record["clusters"].values())))))
    counts: dict[int, int] = defaultdict(int)
    for record in summary.get("cfl_history") or []:  # CFL: one record per cluster and round, a split makes two
        counts[int(record["round"])] += len(record["parts"]) if record.get("split") else 1
    series += [("strategy/clusters", r, float(n)) for r, n in sorted(counts.items())]
    return series


def export_run(run_dir: Path, logdir: Path, writer_class: Any) -> None:
    """One run directory (summary.json, metrics.jsonl, config.json) as one TensorBoard run in ``logdir``."""
    from fedfair.results import task_views

    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except (OSError, ValueError) as err:
        raise TrackingError(f"{run_dir}: not a finished fedfair run ({err}); export finished runs only") from None
    writer = writer_class(log_dir=str(logdir))
    try:
        for (prefix, server_round), tags in sorted(round_means([json.loads(x) for x in lines if x.strip()]).items()):
            for tag, value in tags.items():
                writer.add_scalar(prefix + tag, value, server_round)
        for tag, server_round, value in strategy_series(summary):
            writer.add_scalar(tag, value, server_round)
        last = int(summary.get("rounds", 0))
        for task, view in task_views(summary):
            prefix = f"{task}/" if task else ""
            accuracies = np.array([c["accuracy"] for c in view.get("clients", [])], dtype=np.float64)
            if len(accuracies):
                writer.add_scalar(prefix + "final/mean_accuracy", float(accuracies.mean()), last)
                writer.add_scalar(prefix + "final/worst_client_accuracy", float(accuracies.min()), last)
                writer.add_histogram(prefix + "final/client_accuracy", accuracies, last)
        if summary.get("privacy"):
            writer.add_scalar("final/epsilon_max", float(summary["privacy"]["max_epsilon"]), last)
        writer.add_text("config", "```\n" + json.dumps(config, indent=1, sort_keys=True) + "\n```", 0)
    finally:
        writer.close()


def export_tensorboard(run_dirs: Sequence[Path], logdir: Path, base: Path | None = None) -> Path:
    """Every run directory into ``logdir``, each a TensorBoard run named by its path under ``base`` (else its
    name); returns ``logdir``. Open with ``tensorboard --logdir LOGDIR``.

    ``logdir`` follows fedfair's output-directory policy (:mod:`fedfair.outdirs`): a new or empty directory or an
    earlier export's, which this one adds to. A re-export of the same run directory replaces its earlier event
    files; another run whose name is taken (two runs in folders of the same name) gets the name with ``-2``,
    ``-3``, ... instead, so no export replaces another's."""
    from fedfair.outdirs import claim

    writer = writer_class()
    sources = list(dict.fromkeys(Path(run_dir).resolve() for run_dir in run_dirs))  # a run given twice: once
    for run_dir in sources:  # every run readable before anything is written
        if not all((run_dir / name).is_file() for name in ("summary.json", "config.json", "metrics.jsonl")):
            raise TrackingError(f"{run_dir}: not a finished fedfair run (no summary.json, config.json or "
                                f"metrics.jsonl); export finished runs only")
    with claim(logdir, "tensorboard", flag="--logdir", what="the TensorBoard logdir") as held:
        exports = dict(held.marker.get("exports", {}))  # name in the logdir -> the run directory exported there
        taken = set()
        for run_dir in sources:
            name = run_dir.relative_to(base.resolve()) if base and run_dir.is_relative_to(base.resolve()) else Path(run_dir.name)
            key, k = name.as_posix(), 1
            while key in taken or exports.get(key, str(run_dir)) != str(run_dir) or \
                    (key not in exports and (held.path / key).exists()):
                k += 1
                key = f"{name.as_posix()}-{k}"
            taken.add(key)
            exports[key] = str(run_dir)
            target = held.path / key
            if target.exists():  # a re-export replaces the run's earlier event files (fedfair's own)
                for old in target.glob("events.out.tfevents.*"):
                    old.unlink()
            export_run(run_dir, target, writer)
        held.done(exports=exports)
    return held.path
