"""Common base of fedfair strategies: one ``run(grid)`` loop plus shared helpers.

Flower's ``Strategy.start()`` drives one global model; clustered, personalized
and multi-model algorithms need per-node messages, several models and query
rounds. Subclasses implement :meth:`FedFairStrategy.run` with these helpers:
``describe`` (who the nodes are), ``send`` (messages out, replies back in
partition order, errors raised with the node named), ``train_messages`` /
``evaluate_nodes`` and the recorder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedfair.config import Param, hidden_sizes
from fedfair.metrics import GroupCounts
from fedfair.models import build_model
from fedfair.results import ClientEval, RunRecorder


@dataclass(frozen=True)
class NodeInfo:
    """What a node told ``query.describe``."""

    node_id: int
    client: str
    partition_id: int
    n_train: int
    n_test: int
    n_features: int
    default_model: dict[str, Any]
    sensitive: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelScore:
    """One model scored on one client's data (``query.evaluate_models``)."""

    loss: float
    accuracy: float
    n: int
    groups: dict[str, GroupCounts]
    soft_groups: dict[str, GroupCounts]

    def table(self, attribute: str, soft: bool) -> GroupCounts | None:
        """The attribute's group table: hard (thresholded) or soft (expected) counts."""
        return (self.soft_groups if soft else self.groups).get(attribute)


class ClientError(RuntimeError):
    """A client replied with an error, or did not reply in time."""


class FedFairStrategy:
    """Base class: subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    extra_params: ClassVar[dict[str, Param]] = {}

    def __init__(self, params: Mapping[str, Any], recorder: RunRecorder, dataset_dir: str = "") -> None:
        self.params = dict(params)
        self.recorder = recorder
        self.dataset_dir = dataset_dir
        self.nodes: list[NodeInfo] = []
        self._dataset_clients: list[str] | None = None
        # isolates this run's personal models in the clients' state (several runs may share a simulation)
        self.run_tag = uuid.uuid4().hex[:12]

    @property
    def dataset_clients(self) -> list[str]:
        """Client names in the server-side dataset manifest ([] without a dataset), read once."""
        if self._dataset_clients is None:
            from fedfair.data import read_manifest

            self._dataset_clients = read_manifest(self.dataset_dir).client_names if self.dataset_dir else []
        return self._dataset_clients

    # ----- to implement -------------------------------------------------
    def run(self, grid: Grid) -> dict[str, Any]:
        """Run the algorithm; return the recorder's summary."""
        raise NotImplementedError

    # ----- shared helpers -----------------------------------------------
    def base_config(self) -> ConfigRecord:
        """Config every message carries: dataset location and the model spec."""
        return ConfigRecord({"dataset-dir": self.dataset_dir, "model-spec": json.dumps(self.model_spec()),
                             "run-tag": self.run_tag})

    def model_spec(self) -> dict[str, Any]:
        """``model=auto`` takes the dataset's default model; ``hidden`` applies to the MLP."""
        spec = dict(self.nodes[0].default_model) if self.nodes else {"model": "logreg"}
        if self.params["model"] != "auto":
            spec = {"model": self.params["model"]}
        if spec.get("model") == "mlp" and (self.params["model"] != "auto" or "hidden" not in spec):
            spec["hidden"] = hidden_sizes(self.params["hidden"])
        return spec

    def initial_arrays(self) -> ArrayRecord:
        """Seeded initial weights of the model spec."""
        model = build_model(self.model_spec(), self.nodes[0].n_features, seed=self.params["seed"])
        return ArrayRecord(model.state_dict())

    def train_seed(self, server_round: int, node: NodeInfo) -> int:
        """Seed of a node's local shuffling in a round (reproducible, distinct per node and round)."""
        return (self.params["seed"] * 1_000_003 + server_round * 10_007 + node.partition_id) % (2**31)

    def send(self, grid: Grid, messages: Iterable[Message], what: str) -> list[Message]:
        """Send, wait for every reply, raise on any error; replies sorted by partition id."""
        messages = list(messages)
        replies = list(grid.send_and_receive(messages, timeout=self.params["timeout"]))
        by_node = {n.node_id: n for n in self.nodes}
        errors = [r for r in replies if r.has_error()]
        if errors or len(replies) < len(messages):
            details = "; ".join(
                f"client {by_node.get(r.metadata.src_node_id, r.metadata.src_node_id)}: {r.error.reason}"
                for r in errors
            )
            missing = len(messages) - len(replies)
            raise ClientError(f"{what}: {len(errors)} error(s), {missing} missing reply(ies) "
                              f"(timeout {self.params['timeout']} s). {details}")
        return sorted(replies, key=lambda r: by_node[r.metadata.src_node_id].partition_id if by_node else 0)

    def describe(self, grid: Grid) -> list[NodeInfo]:
        """Ask every connected node who it is (``query.describe``)."""
        node_ids = self.wait_for_nodes(grid)
        messages = [
            Message(RecordDict({"config": self.base_config()}), dst_node_id=n, message_type=f"{MessageType.QUERY}.describe")
            for n in node_ids
        ]
        nodes = []
        for reply in self.send(grid, messages, "describe"):
            info = reply.content["info"]
            nodes.append(
                NodeInfo(
                    node_id=reply.metadata.src_node_id, client=str(info["client"]),
                    partition_id=int(info["partition-id"]), n_train=int(info["n-train"]),
                    n_test=int(info["n-test"]), n_features=int(info["n-features"]),
                    default_model=json.loads(str(info["default-model"])),
                    sensitive=json.loads(str(info["sensitive"])),
                )
            )
        self.nodes = sorted(nodes, key=lambda n: n.partition_id)
        names = [n.client for n in self.nodes]
        if len(set(names)) != len(names):
            raise ClientError(f"several nodes load the same client: {names}; give each SuperNode its own client")
        self._check_all_clients_present(names)
        if len({n.n_features for n in self.nodes}) != 1:
            raise ClientError(f"clients disagree on the number of features: {[(n.client, n.n_features) for n in self.nodes]}")
        return self.nodes

    def expected_nodes(self) -> int:
        """``min-nodes``, or the dataset's number of clients when it is 0."""
        if self.params.get("min-nodes"):
            return int(self.params["min-nodes"])
        return len(self.dataset_clients) or 1

    def wait_for_nodes(self, grid: Grid) -> list[int]:
        """Wait (up to ``timeout`` seconds) until the expected SuperNodes are connected."""
        import time

        expected, deadline = self.expected_nodes(), time.monotonic() + self.params["timeout"]
        node_ids = sorted(grid.get_node_ids())
        while len(node_ids) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            node_ids = sorted(grid.get_node_ids())
        if not node_ids:
            raise ClientError(f"no SuperNode connected within {self.params['timeout']} s")
        return node_ids

    def _check_all_clients_present(self, names: list[str]) -> None:
        """Warn when fewer nodes than dataset clients are connected (e.g. num-supernodes too small)."""
        expected = self.dataset_clients
        absent = [c for c in expected if c not in names]
        if absent:
            self.recorder.log(
                f"[yellow]warning: {len(absent)} of {len(expected)} clients have no SuperNode ({absent[:8]}...); "
                f"run with num-supernodes={len(expected)}[/yellow]"
            )

    def node(self, node_id: int) -> NodeInfo:
        return next(n for n in self.nodes if n.node_id == node_id)

    def train_message(self, node: NodeInfo, server_round: int, arrays: ArrayRecord | None, **config: Any) -> Message:
        """A ``train`` message for one node with the local-SGD settings (``arrays`` may be omitted
        when the node trains its personal model)."""
        record = self.base_config()
        record.update(
            {
                "server-round": server_round, "lr": self.params["lr"], "local-epochs": self.params["local-epochs"],
                "batch-size": self.params["batch-size"], "train-seed": self.train_seed(server_round, node), **config,
            }
        )
        content = RecordDict({"config": record})
        if arrays is not None:
            content["arrays"] = arrays
        return Message(content, dst_node_id=node.node_id, message_type=MessageType.TRAIN)

    @property
    def training_nodes(self) -> list[NodeInfo]:
        """Nodes with training data (cross-device held-out test clients have none)."""
        return [n for n in self.nodes if n.n_train > 0]

    @property
    def test_nodes(self) -> list[NodeInfo]:
        """Nodes with a test split (cross-device training-only clients have none)."""
        return [n for n in self.nodes if n.n_test > 0]

    def evaluate_nodes(
        self, grid: Grid, server_round: int, arrays_for: Mapping[int, ArrayRecord | None], model_name: Mapping[int, str],
        use: str = "global", clusters: Mapping[int, int] | None = None, nodes: Sequence[NodeInfo] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> list[ClientEval]:
        """Evaluate nodes (default: every node with a test split) with the model each deploys; record the round."""
        messages = []
        for node in self.test_nodes if nodes is None else nodes:
            record = self.base_config()
            record.update({"server-round": server_round, "use": use, "batch-size": self.params["batch-size"],
                           **(extra_config or {})})
            content = RecordDict({"config": record})
            arrays = arrays_for.get(node.node_id)
            if arrays is not None:
                content["arrays"] = arrays
            messages.append(Message(content, dst_node_id=node.node_id, message_type=MessageType.EVALUATE))
        evals = []
        for reply in self.send(grid, messages, f"evaluate round {server_round}"):
            node = self.node(reply.metadata.src_node_id)
            metrics, info = reply.content["metrics"], reply.content["info"]
            groups = {a: GroupCounts.from_json(t) for a, t in json.loads(str(info["groups"])).items()}
            evals.append(
                ClientEval(
                    client=node.client, partition_id=node.partition_id, n_train=node.n_train, n_test=node.n_test,
                    model=model_name[node.node_id], loss=float(metrics["loss"]), accuracy=float(metrics["accuracy"]),
                    groups=groups, cluster=None if clusters is None else clusters.get(node.node_id),
                )
            )
        self.recorder.record_round(server_round, evals)
        return evals

    def score_models(
        self, grid: Grid, server_round: int, models: Sequence[ArrayRecord], nodes: Sequence[NodeInfo], split: str = "train",
    ) -> dict[int, list[ModelScore]]:
        """Every node scores every model on its own ``split`` (``query.evaluate_models``): {node_id: [score per model]}."""
        messages = []
        for node in nodes:
            record = self.base_config()
            record.update({"server-round": server_round, "split": split})
            content = RecordDict({"config": record})
            for k, arrays in enumerate(models):
                content[f"model-{k}"] = arrays
            messages.append(Message(content, dst_node_id=node.node_id, message_type=f"{MessageType.QUERY}.evaluate_models"))
        from strategies.common import parse_groups

        scores = {}
        for reply in self.send(grid, messages, f"score models round {server_round}"):
            info = reply.content["info"]
            scores[reply.metadata.src_node_id] = [
                ModelScore(
                    loss=float(reply.content[f"metrics.model-{k}"]["loss"]),
                    accuracy=float(reply.content[f"metrics.model-{k}"]["accuracy"]),
                    n=int(reply.content[f"metrics.model-{k}"]["num-examples"]),
                    groups=parse_groups(str(info[f"groups.model-{k}"])),
                    soft_groups=parse_groups(str(info[f"soft-groups.model-{k}"])),
                )
                for k in range(len(models))
            ]
        return scores

    def deploy_clusters(self, assignment: Mapping[int, int]) -> dict[int, int]:
        """Cluster every node deploys: its own (training nodes), else the cluster with the most training rows
        (nodes without training data, e.g. cross-device held-out clients, cannot choose one)."""
        rows: dict[int, int] = {}
        for node in self.training_nodes:
            if node.node_id in assignment:
                rows[assignment[node.node_id]] = rows.get(assignment[node.node_id], 0) + node.n_train
        largest = max(rows, key=lambda k: rows[k])
        return {n.node_id: assignment.get(n.node_id, largest) for n in self.nodes}

    def named(self, assignment: Mapping[int, int]) -> dict[str, int]:
        """{node_id: cluster} -> {client name: cluster}, in partition order."""
        return {n.client: assignment[n.node_id] for n in self.nodes if n.node_id in assignment}

    def sensitive_attribute(self) -> str:
        """The attribute of the fair strategies: param ``sensitive``, default the dataset's first."""
        available = list(self.nodes[0].sensitive) if self.nodes else []
        chosen = self.params.get("sensitive") or (available[0] if available else "")
        if chosen not in available:
            from fedfair.config import ParamError

            raise ParamError(f"sensitive attribute {chosen!r} is not in the dataset; available: {', '.join(available) or 'none'}")
        return chosen

    def sample_nodes(self, server_round: int) -> Sequence[NodeInfo]:
        """Nodes that train this round: a seeded ``fraction-train`` sample (all by default)."""
        fraction, pool = self.params["fraction-train"], self.training_nodes
        if not pool:
            raise ClientError("no client has training data")
        if fraction >= 1.0:
            return pool
        import numpy as np

        rng = np.random.default_rng([self.params["seed"], server_round])
        k = max(1, int(round(fraction * len(pool))))
        chosen = sorted(rng.choice(len(pool), size=k, replace=False).tolist())
        return [pool[i] for i in chosen]
