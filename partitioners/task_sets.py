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
- builtin ``acs-tasks``: several folktables problems over the same state
  clients (binary labels, sensitive SEX and RAC1P binarised White / other, an
  MLP), so each task's group fairness is reported on every client. With
  ``acs_root`` (folktables' local layout) every task is the real problem from
  ``--source acs``; offline, ACSIncome is FeDa4Fair's attribute-silo release
  (``DATA_ROOT/feda4fair/cross_silo_attribute_final``, 47 states) and the other
  problems are **synthetic-acs stand-ins** (ACSIncome schema, other seeds;
  ``stand_in`` in tasks.json and ``"synthetic": true`` in their manifests).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedfair.data import DatasetError, read_manifest
from fedfair.schemas import plain_name
from fedfair.tasks import write_task_set
from fedfair.partitioners.builder import BuildSpec, build_dataset
from fedfair.partitioners.builtins import image_spec

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


def _staging(out: Path) -> Any:
    """A staging directory beside ``out`` (fedfair.outdirs: removed however the build ends)."""
    from fedfair.outdirs import staging

    return staging(out, "task-set")


def _publish(tmp: Path, out: Path) -> Path:
    """The finished task set in place at ``out`` (fedfair.outdirs: a new / empty / claimed directory only)."""
    from fedfair.outdirs import publish

    return publish(tmp, out, "task-set", last=("tasks.json",))


def build_task_set(name: str, out: str | os.PathLike[str], seed: int = 0, data_root: str | None = None,
                   clients: int = 20, limit: int = 5000, **_: Any) -> Path:
    """Build the builtin task set ``name`` into ``out`` (atomic)."""
    if name == "acs-tasks":
        return build_acs_tasks(out, seed, data_root=data_root, **_)
    if name not in TASK_SETS:
        raise DatasetError(f"unknown task set {name!r}; valid: {', '.join([*TASK_SETS, 'acs-tasks'])}")
    return build_image_tasks(out, name, TASK_SETS[name], seed, data_root=data_root, clients=clients, limit=limit)


def build_image_tasks(out: str | os.PathLike[str], name: str, tasks: Sequence[str], seed: int = 0,
                      data_root: str | None = None, clients: int = 20, limit: int = 5000,
                      paper: str = "seed 003, Experiments 1-2") -> Path:
    """A task set named ``name`` of the image tasks ``tasks`` (keys of :data:`TASKS`) over ``clients`` clients."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise DatasetError(f"unknown image task(s) {unknown}; valid: {', '.join(TASKS)}")
    out = Path(out).expanduser().resolve()
    with _staging(out) as tmp:
        entries = []
        for task in tasks:
            image_set, variant, stand_in = TASKS[task]
            spec = image_spec(image_set, seed, data_root=data_root, clients=clients, limit=limit, dataset_name=task,
                              **variant)
            build_dataset(spec, tmp / task)
            entries.append({"name": task, "dataset": task, "model": spec.default_model, "stand_in": stand_in})
        write_task_set(tmp, name, [str(k) for k in range(clients)], entries,
                       source={"paper": paper, "clients": clients, "rows_per_task": limit, "seed": seed})
        return _publish(tmp, out)


ACS_PROBLEMS = ("ACSIncome", "ACSEmployment", "ACSHealthInsurance", "ACSPublicCoverage")


def acs_task_specs(seed: int, acs_root: str | None, data_root: str | None, states: Sequence[str] | None,
                   max_train: int, max_test: int) -> list[tuple[str, BuildSpec, str]]:
    """(task name, build spec, what it is) for every task of ``acs-tasks``."""
    common = {"sensitive": ["SEX", "RAC1P"], "max_train": max_train, "max_test": max_test, "seed": seed,
              "default_model": {"model": "mlp", "hidden": [32]}}
    if acs_root:
        return [(problem, BuildSpec(source="acs", source_options={"task": problem, "acs_root": acs_root,
                                                                  **({"states": list(states)} if states else {})},
                                    mapping={"RAC1P": "race-binary"}, name=problem, **common),
                 f"{problem} from folktables (local files)") for problem in ACS_PROBLEMS]
    root = data_root or os.environ.get("FEDFAIR_DATA_ROOT")
    release = Path(root or ".") / "feda4fair" / "cross_silo_attribute_final"
    if not release.is_dir():
        raise DatasetError(f"acs-tasks offline needs FeDa4Fair's release in {release} (--data-root DIR holding "
                           f"feda4fair/cross_silo_attribute_final), or folktables' files with acs_root")
    income = BuildSpec(source="csv-dir", source_options={"path": str(release), "label": "PINCP", "positive": True,
                                                         **({"states": list(states)} if states else {})},
                       value_labels={"RAC1P": "race-binary"}, name="ACSIncome", **common)
    specs = [("ACSIncome", income, "ACSIncome 2018 from FeDa4Fair's attribute-silo release (real census data)")]
    for k, problem in enumerate(ACS_PROBLEMS[1:], start=1):
        spec = BuildSpec(source="synthetic-acs", source_options={"states": list(states)} if states else {},
                         mapping={"RAC1P": "race-binary"}, name=f"{problem}-synthetic",
                         **{**common, "seed": seed + 1000 * k})  # the generator draws from the build seed
        specs.append((f"{problem}-synthetic", spec, f"SYNTHETIC stand-in for {problem}: synthetic-acs (ACSIncome "
                                                    f"schema) with seed {seed + 1000 * k}"))
    return specs


def build_acs_tasks(out: str | os.PathLike[str], seed: int = 0, acs_root: str | None = None,
                    data_root: str | None = None, states: Sequence[str] | None = None, max_train: int = 2000,
                    max_test: int = 1000, **_: Any) -> Path:
    """Build ``acs-tasks`` into ``out`` (atomic); clients are the states every task has."""
    out = Path(out).expanduser().resolve()
    with _staging(out) as tmp:
        specs = acs_task_specs(seed, acs_root, data_root, states, max_train, max_test)
        built = {}
        for task, spec, _ in specs:
            if states is None and built:  # synthetic stand-ins cover the states of the first (real) task
                spec.source_options["states"] = read_manifest(next(iter(built.values()))).client_names
            built[task] = build_dataset(spec, tmp / task)
        clients = read_manifest(built[specs[0][0]]).client_names
        entries = [{"name": task, "dataset": task, "model": spec.default_model, "stand_in": what}
                   for task, spec, what in specs]
        write_task_set(tmp, "acs-tasks", clients, entries, source={"acs_root": acs_root, "max_train": max_train,
                                                                   "max_test": max_test, "seed": seed})
        return _publish(tmp, out)


def combine_task_set(out: str | os.PathLike[str], tasks: Sequence[tuple[str, str, dict[str, Any] | None]],
                     name: str = "") -> Path:
    """A task set from built dataset directories: ``tasks`` = [(task name, dataset dir, model spec or None)]."""
    if not tasks:
        raise DatasetError("give at least one TASK=DATASET_DIR")
    for task, _, _ in tasks:
        plain_name(task, "task name")  # each task is copied to OUT/<task>: a path would write elsewhere
    names = [task for task, _, _ in tasks]
    if len(set(names)) != len(names):
        raise DatasetError(f"task names {names} repeat a name; give every task its own name")
    out = Path(out).expanduser().resolve()
    with _staging(out) as tmp:
        clients: list[str] = []
        entries = []
        for task, directory, model in tasks:
            manifest = read_manifest(directory)
            clients += [c for c in manifest.client_names if c not in clients]
            shutil.copytree(manifest.root, tmp / task, ignore=shutil.ignore_patterns(".fedfair-lock"))
            entries.append({"name": task, "dataset": task, **({"model": model} if model else {})})
        write_task_set(tmp, name or out.name, clients, entries,
                       source={"combined_from": {t: str(Path(d).resolve()) for t, d, _ in tasks}})
        return _publish(tmp, out)
