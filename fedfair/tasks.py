"""Task sets: several federated datasets (tasks) over one list of clients, for multi-model FL.

A task set is a directory::

    tasks.json
    <task dir>/manifest.json, <task dir>/client_XXX/...     one federated dataset per task

``tasks.json`` (format 1)::

    {"format": 1, "name": "mmfl-3", "clients": ["0", "1", ...],
     "tasks": [{"name": "mnist", "dataset": "mnist", "model": {"model": "cnn"}}, ...],
     "source": {...}}

``clients`` is the one client list; each task's dataset names its clients
from it, and a client may lack data for a task (it is then never asked to
train or evaluate that task). ``model`` is the task's model spec (default: the
task dataset's default model). This module reads and validates task sets, as
:mod:`fedfair.data` does for one dataset; builders live in ``partitioners/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fedfair.data import ClientData, DatasetError, load_client, read_manifest, validate_dataset
from fedfair.schemas import TaskSetModel, check, inside, read_json

TASKS_FILE = "tasks.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Task:
    """One task: its name, dataset directory (absolute), model spec and the clients holding data for it."""

    name: str
    dataset_dir: Path
    model: dict[str, Any] = field(default_factory=dict)
    clients: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSet:
    """A parsed, validated ``tasks.json``."""

    root: Path
    name: str
    clients: list[str]
    tasks: list[Task]
    raw: dict[str, Any]

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise DatasetError(f"task set {self.root}: no task {name!r}; tasks: {', '.join(t.name for t in self.tasks)}")

    def client_name(self, client: str | int) -> str:
        """A client's name from its name or its position (partition id) in ``clients``."""
        if isinstance(client, int) and not isinstance(client, bool):
            if 0 <= client < len(self.clients):
                return self.clients[client]
            raise DatasetError(f"partition id {client} out of range: {self.root} has {len(self.clients)} clients")
        if str(client) in self.clients:
            return str(client)
        raise DatasetError(f"unknown client {client!r} in task set {self.root}: valid names are {', '.join(self.clients[:20])}")


def is_task_set(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a task-set directory (holds tasks.json)."""
    return (Path(path).expanduser() / TASKS_FILE).is_file()


FIX = "rebuild the task set (fedfair data tasks) or correct the file"


def read_task_set(root: str | os.PathLike[str]) -> TaskSet:
    """Read and validate ``root/tasks.json`` (:class:`fedfair.schemas.TaskSetModel`): unique task names,
    dataset directories inside the task set (or absolute, as recorded) naming known clients, model specs that
    fit each task's inputs."""
    root = Path(root).expanduser().resolve()
    path = root / TASKS_FILE
    if not path.is_file():
        raise DatasetError(f"{root} is not a task set: {TASKS_FILE} not found")
    raw = read_json(path, "task set", FIX)
    if isinstance(raw, dict) and isinstance(raw.get("format"), int) and raw["format"] != FORMAT_VERSION:
        raise DatasetError(f"{path}: format {raw.get('format')} is not supported (expected {FORMAT_VERSION})")
    spec = check(TaskSetModel, raw, path, FIX)
    clients = list(spec.clients)
    tasks = []
    for k, entry in enumerate(spec.tasks):
        name = entry.name
        dataset = inside(root, entry.dataset or name, f"{path}: tasks[{k}].dataset")
        if not (dataset / "manifest.json").is_file():
            raise DatasetError(f"task {name!r}: dataset directory {dataset} is missing (no manifest.json); {FIX}")
        manifest = read_manifest(dataset)
        unknown = [c for c in manifest.client_names if c not in clients]
        if unknown:
            raise DatasetError(f"task {name!r}: clients {unknown[:10]} are not in the task set's client list; "
                               f"every task must name its clients from {path}")
        model = entry.model.as_dict() if entry.model is not None else manifest.default_model
        if model.get("model") == "cnn" and manifest.input_shape is None:
            raise DatasetError(f"task {name!r}: model 'cnn' needs image features, but {dataset} is tabular "
                               f"(no input_shape); use logreg or mlp")
        tasks.append(Task(name, dataset, model, tuple(manifest.client_names)))
    return TaskSet(root, spec.name or root.name, clients, tasks, raw)


@lru_cache(maxsize=16)
def _cached(root: str, mtime: float) -> TaskSet:
    return read_task_set(root)


def load_task_set(root: str | os.PathLike[str]) -> TaskSet:
    """:func:`read_task_set`, once per process (re-read when tasks.json changes)."""
    path = Path(root).expanduser().resolve()
    return _cached(str(path), (path / TASKS_FILE).stat().st_mtime)


def load_task_client(root: str | os.PathLike[str], task: str, client: str | int) -> ClientData | None:
    """One client's data for one task (loaded once per process), None when the client has no data for it."""
    tasks = load_task_set(root)
    name, chosen = tasks.client_name(client), tasks.task(task)
    if name not in chosen.clients:
        return None
    return load_client(chosen.dataset_dir, name)


def write_task_set(root: str | os.PathLike[str], name: str, clients: list[str], tasks: list[dict[str, Any]],
                   source: dict[str, Any] | None = None) -> TaskSet:
    """Write ``tasks.json`` for task dataset directories already inside ``root``; validate and return it."""
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    content = {"format": FORMAT_VERSION, "name": name, "clients": list(clients), "tasks": tasks, "source": source or {}}
    tmp = root / f".{TASKS_FILE}.tmp"
    tmp.write_text(json.dumps(content, indent=2))
    os.replace(tmp, root / TASKS_FILE)
    return read_task_set(root)


def validate_clients(root: str | os.PathLike[str]) -> list[str]:
    """Load every client of a dataset, or every (task, client) of a task set, so that bad data fails before
    training starts; the client names (one SuperNode each)."""
    if not is_task_set(root):
        return validate_dataset(root).client_names
    tasks = load_task_set(root)
    for task in tasks.tasks:
        validate_dataset(task.dataset_dir)
    return list(tasks.clients)
