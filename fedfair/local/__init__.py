"""Client-side plug-ins of the one training loop (local objectives), by name.

``objectives`` in a train message names the plug-ins a client composes (e.g.
``proximal``; later ``proximal,fairif``); ``adapt`` in an evaluate message
names one run on a copy of each model before scoring (``finetune``). A
strategy says which it uses (``objectives`` / ``adapt`` class attributes) and
the server validates the plug-ins' own parameters with the strategy's.

Adding one: write a module with a :class:`fedfair.local.base.LocalObjective`
subclass (torch imported inside the methods that train: listing the plug-ins' parameters, e.g.
``fedfair params``, imports no torch) and add a line to :data:`LOCAL_OBJECTIVES`; outside fedfair, name it
``package.module:Name`` or declare a ``fedfair.local_objectives`` entry point
(:mod:`fedfair.plugins`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fedfair.data import ClientData
from fedfair.local.base import LocalObjective, PersonalModel

if TYPE_CHECKING:  # torch is imported where training starts: listing the plug-ins and their parameters needs none
    from torch import nn

    from fedfair.training import TrainConfig

LOCAL_OBJECTIVES: dict[str, str] = {
    "sgd": "fedfair.local.base:LocalObjective",
    "proximal": "fedfair.local.proximal:Proximal",
    "per-fedavg": "fedfair.local.per_fedavg:PerFedAvg",
    "finetune": "fedfair.local.finetune:FineTune",
    "fairif": "fedfair.local.fairif:FairIF",
    "puffle": "fedfair.local.puffle:Puffle",
    "dp": "fedfair.local.dp:DPSGD",
    "group-weights": "fedfair.local.group_weights:GroupWeights",
    "ditto": "fedfair.local.ditto:Ditto",
}


def objective_class(name: str) -> type[LocalObjective]:
    """The plug-in class a name stands for: a builtin, an installed ``fedfair.local_objectives`` entry point,
    or a plugin ``package.module:Name`` (resolved wherever the message is read: the ServerApp, every Ray
    worker and SuperNode)."""
    from fedfair import plugins

    cls = plugins.resolve("local objective", name, LOCAL_OBJECTIVES)
    if not (isinstance(cls, type) and issubclass(cls, LocalObjective)):
        raise plugins.PluginError(f"local objective {name!r} is not a subclass of "
                                  f"fedfair.local.base.LocalObjective")
    return cls


def objective_names() -> dict[str, Any]:
    """{name: where it comes from} of every builtin local objective and installed plugin."""
    from fedfair import plugins

    return plugins.catalogue("local objective", LOCAL_OBJECTIVES)


def parse_names(text: str) -> list[str]:
    """``"proximal,fairif"`` -> ``["proximal", "fairif"]`` (empty -> ``["sgd"]``)."""
    return [n.strip() for n in str(text).split(",") if n.strip()] or ["sgd"]


@dataclass
class LocalRun:
    """What local training returns: the mean loss, the plug-ins' numbers and notes, and their statistics to
    share (``{key: nested lists of numbers}``, summed over clients by the server)."""

    loss: float
    report: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    share: dict[str, Any] = field(default_factory=dict)


def train_with(names: Sequence[str], config: Mapping[str, Any], model: nn.Module, data: ClientData,
               loop: TrainConfig, seed: int, state: MutableMapping[str, Any] | None = None,
               shared: Mapping[str, Any] | None = None, personal: PersonalModel | None = None) -> LocalRun:
    """Train ``model`` on ``data.train`` with the composed plug-ins ``names``: their penalties summed,
    their row weights multiplied, the one step rule a plug-in defines, their loop settings applied in order.

    ``state`` is the node's store for this run and task (each plug-in gets its own namespace in it),
    ``shared`` the statistics the server aggregated, ``personal`` this node's personal model for the run and
    task (the plug-ins' ``update_personal`` runs after the shared training).
    """
    from fedfair.training import train_local

    plugins = make_plugins(names, config, state, shared)
    steps = [s for s in (p.step() for p in plugins) if s is not None]
    if len(steps) > 1:
        raise ValueError(f"local objectives {list(names)}: more than one defines its own step; combine at most one of them")
    weights: np.ndarray | None = None
    for plugin in plugins:
        w = plugin.sample_weight(model, data)
        if w is not None:
            weights = w if weights is None else weights * w
    penalties = [penalty for plugin in plugins for penalty in plugin.penalties(model, data)]
    message_loop = loop
    loop = functools.reduce(lambda settings, plugin: plugin.loop_config(settings), plugins, loop)
    loss = train_local(model, data.train, loop, seed, sample_weight=weights, penalties=penalties,
                       step=steps[0] if steps else None, scale_weight=all(p.scale_weight for p in plugins))
    for plugin in plugins:
        if type(plugin).update_personal is not LocalObjective.update_personal:
            if personal is None:
                raise ValueError(f"local objective {plugin.name!r} updates a personal model: train_with needs personal=")
            plugin.update_personal(personal, data, message_loop, seed)
    return finish_plugins(plugins, data, loss, model)


def make_plugins(names: Sequence[str], config: Mapping[str, Any], state: MutableMapping[str, Any] | None = None,
                 shared: Mapping[str, Any] | None = None) -> list[LocalObjective]:
    """The plug-ins ``names`` for one client's training: each with its namespace in the node's ``state`` and the
    server's ``shared`` statistics, all writing to one privacy ledger."""
    state = {} if state is None else state
    plugins = [objective_class(n)(config, _Namespace(state, n), shared) for n in names]
    ledger: list[tuple[float, float, int]] = []
    for plugin in plugins:
        plugin.ledger = ledger
    return plugins


def finish_plugins(plugins: Sequence[LocalObjective], data: ClientData, loss: float, model: nn.Module | None = None,
                   build: Callable[[], nn.Module] | None = None) -> LocalRun:
    """After the training: every plug-in's ``finish`` (those with ``finish_last`` last) with the trained ``model``
    (or the one ``build()`` makes, called only when a plug-in's ``finish`` reads it) and the run they report."""
    run = LocalRun(loss)
    for plugin in sorted(plugins, key=lambda p: p.finish_last):
        if type(plugin).finish is not LocalObjective.finish:
            if model is None:
                model = build() if build is not None else None
            plugin.finish(model, data)
        run.report.update(plugin.report)
        run.notes.extend(plugin.notes)
        run.share.update(plugin.share)
    return run


class _Namespace(MutableMapping):
    """One plug-in's keys in the node's state (``NAME/key``)."""

    def __init__(self, store: MutableMapping[str, Any], prefix: str) -> None:
        self.store, self.prefix = store, f"{prefix}/"

    def __getitem__(self, key: str) -> Any:
        return self.store[self.prefix + key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.store[self.prefix + key] = value

    def __delitem__(self, key: str) -> None:
        del self.store[self.prefix + key]

    def __iter__(self):
        return (k[len(self.prefix):] for k in list(self.store) if k.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)
