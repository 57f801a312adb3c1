"""The strategy base's messaging half: who the nodes are, what a message carries, sending with one failure policy.

:class:`MessagingMixin` is one part of :class:`fedfair.strategies.base.FedFairStrategy`; read it alone:

- nodes: :meth:`~MessagingMixin.describe` waits for the SuperNodes and asks each who it is; ``node``,
  ``training_nodes``, ``test_nodes``, ``dataset_clients``;
- sampling and seeds: :meth:`~MessagingMixin.sample_nodes` (a seeded ``fraction-train`` sample),
  ``train_seed``, ``adapt_seed`` (functions of (seed, round, node): what makes a resumed run exact);
- messages: ``message_config`` (what every train / evaluate message carries), ``train_message`` (the loop
  settings, the run's client-side plug-ins with their parameters, the statistics they share and the per-node
  facts they ask for), ``eval_config``, ``fault_config``;
- the failure policy: :meth:`~MessagingMixin.send` sends and waits (:func:`fedfair.strategies.nodes.send_all`);
  a client that fails or does not answer in time is left out and recorded (metrics.jsonl,
  ``failure_summary`` in summary.json); the run stops when fewer than ``min-replies`` of the messages were
  answered (a dataset directory that vanished meanwhile is named as the cause), or when a train reply's loss or
  weights are not finite (:meth:`~MessagingMixin.check_diverged`: the round, the client and the learning rate).

It reads the strategy's ``params``, ``recorder``, ``dataset_dir``, ``plugins``, ``traffic``, ``failures`` and
``current_round`` (set by ``FedFairStrategy.__init__`` / ``run``) and calls its ``model_spec``,
``local_objectives``, ``plugin_config`` and ``node_facts``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.data import MANIFEST, read_manifest
from fedfair.records import config_copy
from fedfair.schemas import DatasetError
from fedfair.tasks import TASKS_FILE, is_task_set, load_task_set
from fedfair.strategies.nodes import ClientError, Failure, NodeInfo, Traffic, describe_nodes, sample, send_all, wait_for_nodes
from fedfair.strategies.plugins import PluginLog

if TYPE_CHECKING:
    from fedfair.results import RunRecorder


class MessagingMixin:
    """Nodes, seeds, messages and sending with the failure policy (a part of ``FedFairStrategy``)."""

    name: ClassVar[str]
    multi_task: ClassVar[bool]
    adapt: ClassVar[str]
    params: dict[str, Any]
    recorder: RunRecorder
    dataset_dir: str
    nodes: list[NodeInfo]
    _by_id: dict[int, NodeInfo]
    _dataset_clients: list[str] | None
    run_tag: str
    plugins: PluginLog
    traffic: Traffic
    failures: list[dict[str, Any]]
    current_round: int

    if TYPE_CHECKING:  # provided by FedFairStrategy
        def model_spec(self, default: Mapping[str, Any] | None = None) -> dict[str, Any]: ...
        def local_objectives(self) -> tuple[str, ...]: ...
        def plugin_config(self, names: Iterable[str]) -> dict[str, Any]: ...
        def node_facts(self, node: NodeInfo, task: str) -> dict[str, Any]: ...

    # ----- nodes ---------------------------------------------------------------------
    @property
    def dataset_clients(self) -> list[str]:
        """Client names in the server-side dataset manifest ([] without a dataset), read once."""
        if self._dataset_clients is None:
            if not self.dataset_dir:
                self._dataset_clients = []
            elif is_task_set(self.dataset_dir):
                self._dataset_clients = load_task_set(self.dataset_dir).clients
            else:
                self._dataset_clients = read_manifest(self.dataset_dir).client_names
        return self._dataset_clients

    def describe(self, grid: Grid) -> list[NodeInfo]:
        """Wait for the SuperNodes and ask every one who it is (``query.describe``)."""
        expected = int(self.params.get("min-nodes") or 0) or len(self.dataset_clients) or 1
        node_ids = wait_for_nodes(grid, expected, self.params["timeout"])
        self.nodes = describe_nodes(grid, node_ids, self.dataset_dir, self.params["timeout"])
        self._by_id = {n.node_id: n for n in self.nodes}
        serves_tasks = bool(self.nodes and self.nodes[0].tasks)
        if serves_tasks != self.multi_task:
            raise ParamError(f"{self.name} trains one model on one dataset, but the dataset is a task set: use a "
                             f"multi-task strategy (fedfair-mmfl, mmfl-random, mmfl-round-robin, mmfl-qffl)"
                             if serves_tasks else f"{self.name} trains the tasks of a task set: give --dataset a task set "
                             f"(a directory with tasks.json, e.g. mmfl-3)")
        served = {n.client for n in self.nodes}
        absent = [c for c in self.dataset_clients if c not in served]
        if absent:
            self.recorder.log(
                f"[yellow]warning: {len(absent)} of {len(self.dataset_clients)} clients have no SuperNode "
                f"({absent[:8]}...); run with num-supernodes={len(self.dataset_clients)}[/yellow]"
            )
        return self.nodes

    def node(self, node_id: int) -> NodeInfo:
        return self._by_id[node_id]

    @property
    def training_nodes(self) -> list[NodeInfo]:
        """Nodes with training data (cross-device held-out test clients have none)."""
        return [n for n in self.nodes if n.n_train > 0]

    @property
    def test_nodes(self) -> list[NodeInfo]:
        """Nodes with the split evaluations score (``eval-split``: test, or val in a hyper-parameter search;
        cross-device training-only clients have no test split)."""
        if self.params.get("eval-split", "test") == "val":
            return [n for n in self.nodes if n.n_val > 0]
        return [n for n in self.nodes if n.n_test > 0]

    # ----- sampling and seeds -----------------------------------------------------------
    def sample_nodes(self, server_round: int) -> list[NodeInfo]:
        """Nodes that train this round: a seeded ``fraction-train`` sample of the training nodes (all by default)."""
        if not self.training_nodes:
            raise ClientError("no client has training data")
        return sample(self.training_nodes, self.params["fraction-train"], self.params["seed"], server_round)

    def train_seed(self, server_round: int, node: NodeInfo) -> int:
        """Seed of a node's local shuffling in a round (reproducible, distinct per node and round)."""
        return (self.params["seed"] * 1_000_003 + server_round * 10_007 + node.partition_id) % (2**31)

    def adapt_seed(self, server_round: int) -> int:
        """Seed of the ``adapt`` plug-in's shuffling in a round's evaluation (the same on every node)."""
        return (self.params["seed"] * 1_000_003 + server_round * 10_007 + 5) % (2**31)

    # ----- messages ------------------------------------------------------------------------
    def message_config(self, server_round: int) -> ConfigRecord:
        """Config every train / evaluate message carries: dataset location, model spec, run tag, round."""
        return ConfigRecord({p.DATASET_DIR: self.dataset_dir, p.MODEL_SPEC: json.dumps(self.model_spec()),
                             p.RUN_TAG: self.run_tag, p.SERVER_ROUND: server_round,
                             p.DEVICE: str(self.params.get("device", "auto"))})

    def fault_config(self) -> dict[str, Any]:
        """The fault-injection settings a train (or query-routine) message carries, when any is set."""
        keys = (p.FAIL_RATE, p.STRAGGLE_RATE, p.STRAGGLE_SECONDS)
        return {k: float(self.params[k]) for k in keys if float(self.params.get(k, 0.0)) > 0}

    def train_message(self, node: NodeInfo, server_round: int, arrays: ArrayRecord | None, **config: Any) -> Message:
        """A ``train`` message for one node: the loop settings, the strategy's plug-ins and their parameters,
        the statistics they share and the per-node facts they ask for (``arrays`` may be omitted when the node
        trains its personal model)."""
        record = config_copy(self.round_train_config(server_round), **{p.TRAIN_SEED: self.train_seed(server_round, node)},
                             **config)
        shared = self.plugins.shared.get(str(record.get(p.TASK, "")))
        if shared:
            record[p.SHARED] = json.dumps(shared)
        record.update(self.node_facts(node, str(record.get(p.TASK, ""))))
        content = RecordDict({p.CONFIG: record})
        if arrays is not None:
            content[p.ARRAYS] = arrays
        return Message(content, dst_node_id=node.node_id, message_type=MessageType.TRAIN)

    def round_train_config(self, server_round: int) -> ConfigRecord:
        """What a round's train messages share (the common keys, the loop settings, the plug-ins and their
        parameters, the fault settings): built once a round and copied into each node's message."""
        cached = getattr(self, "_round_train_config", None)
        if cached is None or cached[0] != server_round:
            record = self.message_config(server_round)
            record.update({
                p.LR: self.params["lr"], p.LOCAL_EPOCHS: self.params["local-epochs"],
                p.BATCH_SIZE: self.params["batch-size"], p.OBJECTIVES: ",".join(self.local_objectives()),
                **self.plugin_config(self.local_objectives()), **self.fault_config(),
            })
            if self.params.get("eval-split", "test") != "test":  # the split a folded evaluation scores
                record[p.SPLIT] = self.params["eval-split"]
            cached = self._round_train_config = (server_round, record)
        return cached[1]

    def eval_config(self, server_round: int) -> ConfigRecord:
        """Config of a round's evaluate messages: the ``adapt`` plug-in, when the strategy has one."""
        record = self.message_config(server_round)
        record[p.BATCH_SIZE] = self.params["batch-size"]
        if self.params.get("eval-split", "test") != "test":
            record[p.SPLIT] = self.params["eval-split"]
        if self.adapt:
            record.update({p.ADAPT: self.adapt, p.ADAPT_SEED: self.adapt_seed(server_round),
                           **self.plugin_config([self.adapt])})
        return record

    # ----- sending, with the failure policy ----------------------------------------------------
    def send(self, grid: Grid, messages: Iterable[Message], what: str) -> list[Message]:
        """Send and wait (:func:`fedfair.strategies.nodes.send_all`): the good replies sorted by partition id. Failed
        or late clients are recorded (metrics.jsonl, summary.json ``failures``) and left out; the run stops
        when fewer than ``min-replies`` of the messages were answered."""
        failed: list[Failure] = []
        timeout = float(self.params.get("round-timeout") or self.params["timeout"])
        try:
            replies = send_all(grid, messages, self.nodes, timeout, what, self.traffic,
                               float(self.params.get("min-replies", 1.0)), failed)
        except ClientError as err:
            self.check_dataset_present(what, err)
            raise
        if failed:
            rows = [{"round": self.current_round, "message": what, "client": f.client, "reason": f.reason} for f in failed]
            self.failures += rows
            self.recorder.record_failures(rows)
        self.check_diverged(replies)
        return replies

    def check_dataset_present(self, what: str, err: ClientError) -> None:
        """After a round without enough replies: when the server-side dataset directory is gone (removed or moved
        during the run), a DatasetError naming it, instead of every client's own message about it."""
        if not self.dataset_dir:
            return
        root = Path(self.dataset_dir)
        if not (root / MANIFEST).is_file() and not (root / TASKS_FILE).is_file():
            raise DatasetError(f"{what}: the dataset {root} is gone (removed or moved during the run: no {MANIFEST}); "
                               f"put it back and resume with: fedfair run --resume {self.recorder.out_dir}") from err

    def check_diverged(self, replies: Sequence[Message]) -> None:
        """Stop the run when a train reply's loss or any of its weights is NaN or infinite: a ClientError naming
        the round, the client and the learning rate (a diverged model only spreads NaN to the others)."""
        for reply in replies:
            metrics = reply.content.metric_records.get(p.METRICS)
            if metrics is None or p.TRAIN_LOSS not in metrics:
                continue  # not a training reply
            loss = metrics[p.TRAIN_LOSS]
            what = f"train loss {loss}" if isinstance(loss, (int, float)) and not math.isfinite(loss) else ""
            if not what:
                for record in reply.content.array_records.values():
                    for key, array in record.items():
                        values = array.numpy()
                        if values.dtype.kind in "fc" and not np.isfinite(values).all():
                            what = f"weights {key!r} hold {'nan' if np.isnan(values).any() else 'inf'}"
                            break
                    if what:
                        break
            if what:
                node = self._by_id.get(reply.metadata.src_node_id)
                client = node.client if node is not None else str(reply.metadata.src_node_id)
                raise ClientError(f"training diverged in round {self.current_round} on client {client} ({what}): lower "
                                  f"the learning rate (lr={float(self.params.get('lr', math.nan)):g})")

    def failure_summary(self) -> dict[str, Any]:
        """summary.json ``failures`` (only when a client failed): count, per client, per round."""
        if not self.failures:
            return {}
        per_client: dict[str, int] = {}
        by_round: dict[str, list[str]] = {}
        for row in self.failures:
            per_client[row["client"]] = per_client.get(row["client"], 0) + 1
            by_round.setdefault(str(row["round"]), []).append(row["client"])
        return {"failures": {"count": len(self.failures), "per_client": dict(sorted(per_client.items())),
                             "by_round": by_round}}
