"""Task sets for multi-model FL (seed 003): combine built datasets, or build the offline builtins.

- :func:`combine_task_set`: copy built dataset directories into one task set
  (``fedfair data tasks --out DIR TASK=DATASET_DIR[:MODEL] ...``); the client
  list is the union of the datasets' client names, in order of appearance.
- builtin task sets ``mmfl-3``, ``mmfl-6``, ``mmfl-10``: image tasks over 20
  clients "0".."19" (seed 003 Experiment 2), each client holding 5 of the 10
  classes of every task (the paper's non-i.i.d. split), 80 / 20 train / test,
  the CNN. The paper's tasks are MNIST, Fashion-MNIST, CIFAR-10 and EMNIST;
  offline, fedfair uses MNIST (the 5,000-row CSV or the IDX files),
  Fashion-MNIST and scikit-learn's digits, and makes the further, harder or
  different tasks as clearly named variants: label noise (a seeded share of
  labels replaced by another class) and rotated images. ``stand_in`` in
  tasks.json says which task stands in for which of the paper's. With 5,000
  rows per task each client holds about 250 rows per task (the paper: 400-600).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedfair.data import DatasetError, read_manifest
from fedfair.tasks import write_task_set
from partitioners.builder import build_dataset
from partitioners.builtins import image_spec

# task name -> (image set, variant options, what it stands in for)
TASKS: dict[str, tuple[str, dict[str, Any], str]] = {
    "mnist": ("mnist", {}, "MNIST (the paper's task 1)"),
    "fashion-mnist": ("fashion-mnist", {}, "Fashion-MNIST (the paper's task 3)"),
    "fashion-mnist-noisy30": ("fashion-mnist", {"label_noise": 0.3},
                              "stand-in for CIFAR-10 (the paper's hard task 2): Fashion-MNIST, 30 % of labels replaced"),
    "mnist-rot90": ("mnist", {"rotate": 1}, "stand-in for EMNIST: MNIST rotated by 90 degrees (a distinct task)"),
    "digits": ("digits", {}, "additional offline task: scikit-learn's 8x8 digits"),
    "mnist-noisy30": ("mnist", {"label_noise": 0.3}, "stand-in for a second CIFAR-10-like hard task: MNIST, 30 % noisy labels"),
    "fashion-mnist-rot90": ("fashion-mnist", {"rotate": 1}, "additional task: Fashion-MNIST rotated by 90 degrees"),
    "fashion-mnist-noisy50": ("fashion-mnist", {"label_noise": 0.5}, "hardest stand-in: Fashion-MNIST, 50 % noisy labels"),
    "mnist-rot180": ("mnist", {"rotate": 2}, "additional task: MNIST rotated by 180 degrees"),
    "digits-noisy30": ("digits", {"label_noise": 0.3}, "additional task: digits, 30 % noisy labels"),
}
TASK_SETS: dict[str, list[str]] = {
    "mmfl-3": ["mnist", "fashion-mnist-noisy30", "fashion-mnist"],
    "mmfl-6": ["mnist", "fashion-mnist-noisy30", "fashion-mnist", "mnist-rot90", "digits", "mnist-noisy30"],
    "mmfl-10": ["mnist", "fashion-mnist-noisy30", "fashion-mnist", "mnist-rot90", "digits", "mnist-noisy30",
                "fashion-mnist-rot90", "fashion-mnist-noisy50", "mnist-rot180", "digits-noisy30"],
}


def _staging(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _publish(tmp: Path, out: Path) -> Path:
    if out.exists():
        if not (out / "tasks.json").is_file() and any(out.iterdir()):
            raise DatasetError(f"{out} exists and is not a task set; choose another --out")
        shutil.rmtree(out)
    os.rename(tmp, out)
    return out


def build_task_set(name: str, out: str | os.PathLike[str], seed: int = 0, data_root: str | None = None,
                   clients: int = 20, limit: int = 5000, **_: Any) -> Path:
    """Build the builtin task set ``name`` into ``out`` (atomic)."""
    if name not in TASK_SETS:
        raise DatasetError(f"unknown task set {name!r}; valid: {', '.join(TASK_SETS)}")
    out = Path(out).expanduser().resolve()
    tmp = _staging(out)
    try:
        entries = []
        for task in TASK_SETS[name]:
            image_set, variant, stand_in = TASKS[task]
            spec = image_spec(image_set, seed, data_root=data_root, clients=clients, limit=limit, dataset_name=task,
                              **variant)
            build_dataset(spec, tmp / task)
            entries.append({"name": task, "dataset": task, "model": spec.default_model, "stand_in": stand_in})
        write_task_set(tmp, name, [str(k) for k in range(clients)], entries,
                       source={"paper": "seed 003, Experiments 1-2", "clients": clients, "rows_per_task": limit, "seed": seed})
        return _publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def combine_task_set(out: str | os.PathLike[str], tasks: Sequence[tuple[str, str, dict[str, Any] | None]],
                     name: str = "") -> Path:
    """A task set from built dataset directories: ``tasks`` = [(task name, dataset dir, model spec or None)]."""
    if not tasks:
        raise DatasetError("give at least one TASK=DATASET_DIR")
    out = Path(out).expanduser().resolve()
    tmp = _staging(out)
    try:
        clients: list[str] = []
        entries = []
        for task, directory, model in tasks:
            manifest = read_manifest(directory)
            clients += [c for c in manifest.client_names if c not in clients]
            shutil.copytree(manifest.root, tmp / task)
            entries.append({"name": task, "dataset": task, **({"model": model} if model else {})})
        write_task_set(tmp, name or out.name, clients, entries,
                       source={"combined_from": {t: str(Path(d).resolve()) for t, d, _ in tasks}})
        return _publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
