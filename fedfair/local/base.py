"""The client-side plug-in interface: a named contribution to the one training loop.

A plug-in (a *local objective*) is chosen by name in a message's config
(``objectives`` for training, ``adapt`` for the step before evaluation). It
declares the run parameters it reads (``params``: the server validates them
and sends their values in the message config) and contributes any of:

- :meth:`LocalObjective.penalties`: terms added to every batch's loss;
- :meth:`LocalObjective.sample_weight`: per-row weights of the training split;
- :meth:`LocalObjective.step`: how one optimisation step uses its batches
  (at most one plug-in of a plan may define it);
- :meth:`LocalObjective.loop_config`: changes of the loop's settings;
- :meth:`LocalObjective.update_personal`: after the shared training, update
  this node's personal model of the run and task (:class:`PersonalModel`:
  the sent start model, the kept personal model, storing it), e.g. Ditto;
- :meth:`LocalObjective.finish`: after training (e.g. statistics to share).

It may ask the server for per-node facts in its train messages
(``node_facts``, names of :data:`fedfair.protocol.NODE_FACTS`, e.g.
``trained-before``: whether this client trained this task earlier in the run).

A plug-in sees the whole message ``config`` (e.g. the round), a ``state``
mapping kept on the node for its run and task (numpy arrays, e.g. FairIF's row
weights), ``shared``: statistics the server aggregated from the clients' last
replies, and fills ``report`` (numbers returned with the training metrics),
``notes`` (:meth:`fallback` reasons) and ``share`` (statistics for the server to
sum over clients, never rows). A plug-in that releases a noised statistic of the
training rows appends its Gaussian mechanism to ``ledger`` (one list shared by
the plug-ins of a training call; the ``dp`` plug-in, which finishes last,
accounts it with its own steps). On the server, :meth:`server_values` gives the
values of its parameters sent in each message.

The base class itself is plain SGD on the weighted loss (``sgd``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from fedfair.config import Param
from fedfair.data import ClientData

if TYPE_CHECKING:  # a plug-in's declaration (name, params) is read without torch: it is imported where it trains
    from torch import nn

    from fedfair.training import Penalty, Step, TrainConfig


class PersonalModel(Protocol):
    """This node's personal model of one (run, task), as :meth:`LocalObjective.update_personal` sees it
    (kept in the node's state by the ClientApp, deployed by evaluate messages with ``use: personal``)."""

    def sent(self) -> nn.Module:
        """A new model holding the start model the server sent in this train message."""

    def load(self) -> nn.Module | None:
        """A new model holding the kept personal model; None before the node has one."""

    def save(self, model: nn.Module) -> None:
        """Keep ``model``'s weights as the personal model."""


class LocalObjective:
    """Plain local SGD; subclasses override the hooks they change."""

    name: ClassVar[str] = "sgd"
    params: ClassVar[dict[str, Param]] = {}
    # finish after the other plug-ins of the call (DP accounting reads their ledger entries)
    finish_last: ClassVar[bool] = False
    # False: its row weights already carry the federation's scale and are used as given (not scaled to mean 1)
    scale_weight: ClassVar[bool] = True
    # per-node facts (fedfair.protocol.NODE_FACTS) the server adds to this plug-in's train messages
    node_facts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any], state: MutableMapping[str, np.ndarray] | None = None,
                 shared: Mapping[str, Any] | None = None) -> None:
        missing = [k for k in self.params if k not in config]
        if missing:
            raise ValueError(f"local objective {self.name!r}: the message lacks its parameter(s) {missing}; "
                             f"server and client run different fedfair versions?")
        self.config = config
        self.values = {k: config[k] for k in self.params}
        self.state: MutableMapping[str, np.ndarray] = {} if state is None else state
        self.shared: Mapping[str, Any] = shared or {}
        self.report: dict[str, float] = {}
        self.notes: list[str] = []
        self.share: dict[str, Any] = {}
        # (noise multiplier, sample rate, steps) of each Gaussian release of training-row statistics
        self.ledger: list[tuple[float, float, int]] = []

    @classmethod
    def server_values(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The values of this plug-in's parameters the server sends (default: as given)."""
        return {k: params[k] for k in cls.params}

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        """Checks of its parameters against the run's, on the server before any work (ValueError: the
        problem and the fix); default none."""

    def fallback(self, reason: str) -> None:
        """Record why the plug-in does not apply to this client (it then trains plainly); returns None."""
        self.notes.append(f"{self.name}: {reason}")
        return None

    def penalties(self, model: nn.Module, data: ClientData) -> list[Penalty]:
        """Terms added to each batch's loss (built after the start model is loaded)."""
        return []

    def sample_weight(self, model: nn.Module, data: ClientData) -> np.ndarray | None:
        """Weights of the training rows; None = uniform."""
        return None

    def step(self) -> Step | None:
        """The optimisation step; None = one SGD step per batch."""
        return None

    def loop_config(self, loop: TrainConfig) -> TrainConfig:
        """The loop settings this plug-in runs with (default: unchanged)."""
        return loop

    def update_personal(self, personal: PersonalModel, data: ClientData, loop: TrainConfig, seed: int) -> None:
        """After the shared training (before :meth:`finish`): update this node's personal model; ``loop`` is the
        message's loop settings (not changed by the plug-ins' ``loop_config``), ``seed`` its train seed.
        Default: no personal model."""

    def finish(self, model: nn.Module, data: ClientData) -> None:
        """After training: fill ``report`` / ``share`` (default: nothing)."""
