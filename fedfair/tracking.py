"""Export fedfair runs to TensorBoard event files, offline (``fedfair bench --tensorboard``, ``fedfair tensorboard``).

Why TensorBoard rather than MLflow's file store: its writer ships with torch (``torch.utils.tensorboard``) and
the ``tensorboard`` package adds only what Flower already installs (grpcio, protobuf) plus a few small
packages, while MLflow pulls a server stack (Flask, SQLAlchemy, alembic, ...) into every install; a run's
per-round, per-client curves are what TensorBoard's scalar view is made for, and ``tensorboard --logdir DIR``
reads the files with no network and no server-side database.

Per run directory (one TensorBoard run named by its path under ``base``):

- per evaluated round: ``mean/accuracy`` and ``mean/<notion>/<attribute>`` (SP, EqOp, EO) over the clients
  evaluated that round, and ``client/<client>/accuracy`` for every client (``<task>/...`` prefixes for task sets);
- at the end: ``final/mean_accuracy``, ``final/worst_client_accuracy``, a histogram ``final/client_accuracy``
  of the clients' accuracies, ``final/epsilon_max`` with DP-SGD, and the run's parameters as text ``config``.
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
        tags = {"mean/accuracy": float(np.mean([r["accuracy"] for r in group]))}
        for attribute in sorted({a for r in group for a in r.get("fairness", {})}):
            for notion in NOTIONS:
                values = [r["fairness"][attribute].get(notion) for r in group if attribute in r.get("fairness", {})]
                values = [v for v in values if v is not None and not math.isnan(v)]
                if values:
                    tags[f"mean/{notion}/{attribute}"] = float(np.mean(values))
        for r in group:
            tags[f"client/{r['client']}/accuracy"] = float(r["accuracy"])
        out[key] = tags
    return out


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
