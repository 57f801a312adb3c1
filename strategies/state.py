"""The strategy base's state half: checkpoint after every round, resume from the last one, through explicit state.

:class:`StateMixin` is one part of :class:`fedfair.strategies.base.FedFairStrategy`; read it alone.

A strategy's state is what :meth:`~StateMixin.state_dict` returns: a mapping of arrays and JSON values that
:meth:`~StateMixin.load_state_dict` accepts back. The builtins use the base's: every attribute but the
transient ones (:attr:`~StateMixin.TRANSIENT`: the run's parameters, its recorder, the dataset location and
the node list, which a resumed run takes from its own start), written by :mod:`fedfair.strategies.checkpoint`,
which also writes fedfair's own classes (Flower records, node infos, the plug-ins' log, byte counters). A
strategy of another package that keeps objects of its own classes overrides both, e.g.::

    def state_dict(self):
        return {**super().state_dict(), "settings": dataclasses.asdict(self.settings)}

    def load_state_dict(self, state):
        state = dict(state)
        self.settings = Settings(**state.pop("settings"))
        super().load_state_dict(state)

Without that, the first checkpoint stops the run with a one-line
:class:`~fedfair.strategies.checkpoint.StateError` naming the class and that fix; no allow-list, no pickle.

:meth:`~StateMixin.checkpoint` writes the state, the round and its evaluations after every round;
:meth:`~StateMixin.restore` (``resume``) reads them back, maps the old node ids to the new nodes through the
client names and hands the state to :meth:`~StateMixin.load_state_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from fedfair.config import ParamError
from fedfair.results import ClientEval
from fedfair.strategies.checkpoint import (UnencodableError, dataset_fingerprint, load_checkpoint, remap_nodes,
                                           save_checkpoint, state_error)
from fedfair.strategies.nodes import ClientError, NodeInfo

if TYPE_CHECKING:
    from fedfair.results import RunRecorder


class StateMixin:
    """``state_dict`` / ``load_state_dict``, the checkpoint after each round and resume (a part of ``FedFairStrategy``)."""

    name: ClassVar[str]
    params: dict[str, Any]
    recorder: RunRecorder
    nodes: list[NodeInfo]
    resumed: bool

    # attributes that are not the algorithm's state (a resumed run takes them from its own start)
    TRANSIENT: ClassVar[frozenset[str]] = frozenset({"params", "recorder", "dataset_dir", "nodes", "_by_id", "_dataset_clients",
                                                     "_dataset_fingerprint", "_round_train_config"})

    def state_dict(self) -> dict[str, Any]:
        """The strategy's state: a mapping of arrays and JSON values (the base's: every attribute but
        :attr:`TRANSIENT`, as they are; it is written right away, not kept)."""
        return {k: v for k, v in vars(self).items() if k not in self.TRANSIENT}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back a state :meth:`state_dict` returned (read from a checkpoint; node ids already mapped to
        this run's nodes). The base's: set each entry as an attribute."""
        vars(self).update(state)

    def checkpoint(self, server_round: int, evals: Sequence[ClientEval]) -> None:
        """Write :meth:`state_dict` after ``server_round`` (:mod:`fedfair.strategies.checkpoint`), with the
        dataset's fingerprint taken when the run started and the run's parameters (what a resume checks)."""
        state = self.state_dict()
        try:
            save_checkpoint(self.recorder.out_dir, {"strategy": self.name, "round": server_round, "state": state,
                                                    "evals": list(evals), "nodes": {n.node_id: n.client for n in self.nodes},
                                                    "metrics_bytes": self.recorder.metrics_bytes()},
                            strategy=self.name, dataset=str(self.params.get("dataset", "")),
                            fingerprint=self.dataset_fingerprint(), params=self.params)
        except UnencodableError as err:
            raise state_error(type(self), state, err) from None

    def dataset_fingerprint(self) -> dict[str, Any] | None:
        """The fingerprint of the run's dataset (:func:`fedfair.strategies.checkpoint.dataset_fingerprint`), taken
        once, when the run starts (:meth:`restore`); None without a server-side dataset."""
        if "_dataset_fingerprint" not in vars(self):
            dataset_dir = getattr(self, "dataset_dir", "")
            self._dataset_fingerprint = dataset_fingerprint(dataset_dir) if dataset_dir else None
        return self._dataset_fingerprint

    def restore(self) -> tuple[int, list[ClientEval]]:
        """With ``resume``: load the run directory's checkpoint into this strategy (:meth:`load_state_dict`);
        (its round, its evaluations). (0, []) when there is nothing to resume. The dataset's fingerprint is taken
        here, at the start of every run (the dataset and parameters a resume needs were checked before the run
        directory was opened: :func:`fedfair.strategies.checkpoint.check_resume` in ``run_server``)."""
        self.dataset_fingerprint()
        if not self.params.get("resume"):
            return 0, []
        payload = load_checkpoint(self.recorder.out_dir, strategy=self.name, dataset=str(self.params.get("dataset", "")))
        if payload is None:
            self.recorder.log("[yellow]resume: no checkpoint yet, starting from round 1[/yellow]")
            self.recorder.truncate_metrics(0)
            return 0, []
        if payload["strategy"] != self.name:
            raise ParamError(f"--resume: the checkpoint is a {payload['strategy']} run, not {self.name}")
        if self.params.get("dp-noise-multiplier", 0) > 0:
            raise ParamError("--resume: a DP-SGD run keeps each client's privacy accountant on its node; after a "
                             "restart the epsilon would be undercounted, so it cannot be resumed: run it again")
        by_client = {n.client: n.node_id for n in self.nodes}
        missing = sorted(set(payload["nodes"].values()) - set(by_client))
        if missing:
            raise ClientError(f"--resume: clients {missing[:5]} of the interrupted run have no SuperNode now")
        ids = {old: by_client[client] for old, client in payload["nodes"].items()}
        self.load_state_dict(remap_nodes(payload["state"], ids))
        self.resumed = True  # client-side state (personal models, FairIF weights) may be gone: see the README
        # the rows written up to the checkpoint: what a later round wrote before the interruption (e.g. this
        # round's evaluation, folded into the next round's messages) is written again by the resumed run
        self.recorder.truncate_metrics(payload["round"], size=payload.get("metrics_bytes"))
        self.recorder.log(f"resume: continuing after round {payload['round']} of {self.params['rounds']}")
        return int(payload["round"]), remap_nodes(payload["evals"], ids)
