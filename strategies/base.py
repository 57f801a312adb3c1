"""The strategy base: one round template with small hooks, and the helpers every strategy uses.

Flower's ``Strategy.start()`` drives one global model; clustered, personalized
and multi-model algorithms need per-node messages, several models and query
rounds. :meth:`FedFairStrategy.run` is one template for all of them::

    describe the nodes; setup()
    for each round:
        begin_round()                    e.g. IFCA's cluster choice, FL+HC's clustering
        select()                         which nodes train (default: a seeded fraction-train sample)
        send train messages              start_arrays(node) + train_config(node), the strategy's plug-ins
        aggregate(replies)               e.g. FedAvg, per-cluster averages, FairFed's weights
        evaluate deployment()            the clients score the model(s) they deploy; the round is recorded
    finish: summary with final_clusters() and summary_extra()

Evaluation (``eval-every``, ``fraction-evaluate``, ``fold-evaluation``): every
``eval-every``-th round a seeded ``fraction-evaluate`` sample of the clients with
a test split scores its deployed models, and the final round every client. When
the strategy allows (every deployed model is sent, no ``adapt`` step, no
``observe`` reading the scores), a round's evaluation is folded into the next
round's train messages: a client that trains from the very model it deploys
scores it on its test split first, in the same message, and the others get an
evaluate message right after the train exchange. The numbers are the same as
with a separate evaluate exchange, the round is recorded one round later, and a
client whose train message fails loses that evaluation too.

A client that fails or does not answer in time is left out of the round and
recorded (:meth:`FedFairStrategy.send`); each strategy says what it does
without it (README, "Client failures and stragglers"). The concerns live in
their own modules: :mod:`strategies.nodes` (who the nodes are, sending with one
failure policy), :mod:`strategies.evaluation` (what
clients score and what the answers mean), :mod:`strategies.aggregation`
(model arithmetic), :mod:`strategies.clustering` and :mod:`strategies.fairness`.
The client half of a strategy is named by ``objectives`` / ``adapt``: plug-ins
of :mod:`fedfair.local`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import COMMON_PARAMS, MITIGATIONS, Param, ParamError, hidden_sizes
from fedfair.data import read_manifest
from fedfair.local import objective_class
from fedfair.local.base import LocalObjective
from fedfair.models import build_model
from fedfair.results import ClientEval, RunRecorder
from fedfair.tasks import is_task_set, load_task_set
from strategies.checkpoint import load_checkpoint, remap_nodes, save_checkpoint
from strategies.evaluation import Deployed, ModelScore, by_node, evaluate_message, read_evaluations, read_scores, scores_message
from strategies.fairness import sensitive_attribute
from strategies.nodes import ClientError, Failure, NodeInfo, Traffic, describe_nodes, sample, send_all, wait_for_nodes
from strategies.plugins import PluginLog

__all__ = ["ClientError", "Deployed", "FedFairStrategy", "ModelScore", "NodeInfo"]


class FedFairStrategy:
    """Base class: subclasses set ``name`` and override the round template's hooks (or :meth:`run`)."""

    name: ClassVar[str] = ""
    # the strategy's own run parameters (its plug-ins declare theirs)
    extra_params: ClassVar[dict[str, Param]] = {}
    # client-side plug-ins (fedfair.local): composed for local training / run before evaluation
    objectives: ClassVar[tuple[str, ...]] = ("sgd",)
    adapt: ClassVar[str] = ""
    # trains several tasks of a task set (fedfair/tasks.py) instead of one dataset
    multi_task: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], recorder: RunRecorder, dataset_dir: str = "") -> None:
        self.params = dict(params)
        self.recorder = recorder
        self.dataset_dir = dataset_dir
        self.nodes: list[NodeInfo] = []
        self._by_id: dict[int, NodeInfo] = {}
        self._dataset_clients: list[str] | None = None
        # isolates this run's personal models in the clients' state (several runs may share a simulation)
        self.run_tag = uuid.uuid4().hex[:12]
        self.plugins = PluginLog(str(self.params.get("mitigation", "none")))
        self.traffic = Traffic()
        # failed or missing replies, per round (the run goes on while min-replies of each round's messages answer)
        self.failures: list[dict[str, Any]] = []
        self.current_round = 0
        self.resumed = False
        # (round, [(node, its deployed models)]) whose evaluation waits for the next round's train messages
        self.pending_evaluation: tuple[int, list[tuple[NodeInfo, list[Deployed]]]] | None = None

    # ----- parameters -------------------------------------------------------
    @classmethod
    def param_components(cls) -> dict[str, dict[str, Param]]:
        """The parameters a run of this strategy reads, by component: common, the strategy, its plug-ins
        (and the client-side mitigations any run may add)."""
        components = {"common": dict(COMMON_PARAMS), f"strategy {cls.name}": dict(cls.extra_params)}
        for plugin in dict.fromkeys([*cls.objectives, *([cls.adapt] if cls.adapt else []), *MITIGATIONS, "dp"]):
            components[f"local {plugin}"] = dict(objective_class(plugin).params)
        return components

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Checks across parameters, before any work (a ParamError naming the problem and the fix)."""
        if params.get("dp-noise-multiplier", 0) > 0:
            if any(objective_class(o).step is not LocalObjective.step for o in cls.objectives):
                raise ParamError(f"DP-SGD (dp-noise-multiplier > 0) cannot be combined with {cls.name}'s own local "
                                 f"step {list(cls.objectives)}")
            try:
                import opacus  # noqa: F401
            except ImportError:
                raise ParamError("dp-noise-multiplier > 0 needs opacus: pip install opacus "
                                 "(or pip install 'fedfair[dp]')") from None
        mitigation = params.get("mitigation", "none")
        if mitigation != "none":
            try:
                objective_class(mitigation).check_params(params)
            except ValueError as err:
                raise ParamError(str(err)) from None

    def local_objectives(self) -> tuple[str, ...]:
        """The plug-ins of this run's local training: the strategy's and the mitigation's."""
        mitigation = self.params.get("mitigation", "none")
        private = ["dp"] if self.params.get("dp-noise-multiplier", 0) > 0 else []
        return (*self.objectives, *([] if mitigation == "none" else [mitigation]), *private)

    def plugin_config(self, names: Iterable[str]) -> dict[str, Any]:
        """The values of the named plug-ins' parameters, sent in the message config."""
        return {key: value for name in names for key, value in objective_class(name).server_values(self.params).items()}

    # ----- the round template -------------------------------------------------
    # attributes that are not the algorithm's state (a resumed run takes them from its own start)
    TRANSIENT: ClassVar[frozenset[str]] = frozenset({"params", "recorder", "dataset_dir", "nodes", "_by_id", "_dataset_clients"})

    def run(self, grid: Grid) -> dict[str, Any]:
        """Run the algorithm; return the recorder's summary. After every round the server's state is
        checkpointed; with ``resume`` the run continues after the last checkpointed round."""
        self.describe(grid)
        done, evals = self.restore()
        if not done:
            self.setup(grid)
        for server_round in range(done + 1, self.params["rounds"] + 1):
            self.current_round = server_round
            self.begin_round(grid, server_round)
            chosen = self.select(server_round)
            messages = [self.train_message(n, server_round, self.start_arrays(n, server_round), **self.train_config(n, server_round))
                        for n in chosen]
            folded = self.fold_pending_evaluation(messages)
            replies = self.send(grid, messages, f"train round {server_round}")
            self.finish_pending_evaluation(grid, folded, replies)
            self.plugins.collect(server_round, replies, {n.node_id: n.client for n in self.nodes})
            self.aggregate(server_round, replies)
            evals = self.evaluate_round(grid, server_round, len(replies), len(messages)) or evals
            self.checkpoint(server_round, evals)
        return self.recorder.finish(evals, clusters=self.final_clusters(),
                                    extra={**self.summary_extra(), **self.plugins.summary(), **self.failure_summary(),
                                           "communication": self.traffic.summary(self.nodes)})

    def checkpoint(self, server_round: int, evals: Sequence[ClientEval]) -> None:
        """Write the state after ``server_round`` (:mod:`strategies.checkpoint`)."""
        state = {k: v for k, v in vars(self).items() if k not in self.TRANSIENT}
        save_checkpoint(self.recorder.out_dir, {"strategy": self.name, "round": server_round, "state": state,
                                                "evals": list(evals), "nodes": {n.node_id: n.client for n in self.nodes}},
                        strategy=self.name, dataset=str(self.params.get("dataset", "")))

    def restore(self) -> tuple[int, list[ClientEval]]:
        """With ``resume``: load the run directory's checkpoint into this strategy; (its round, its evaluations).
        (0, []) when there is nothing to resume."""
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
        vars(self).update(remap_nodes(payload["state"], ids))
        self.resumed = True  # client-side state (personal models, FairIF weights) may be gone: see the README
        self.recorder.truncate_metrics(payload["round"])
        self.recorder.log(f"resume: continuing after round {payload['round']} of {self.params['rounds']}")
        return int(payload["round"]), remap_nodes(payload["evals"], ids)

    def setup(self, grid: Grid) -> None:
        """Before round 1 (the nodes are known): initial models."""

    def begin_round(self, grid: Grid, server_round: int) -> None:
        """Start of a round, before anyone trains."""

    def select(self, server_round: int) -> Sequence[NodeInfo]:
        """Nodes that train this round."""
        return self.sample_nodes(server_round)

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord | None:
        """The model ``node`` trains from (None: its personal model)."""
        raise NotImplementedError

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        """Extra config of ``node``'s train message."""
        return {}

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        """Turn the round's training replies into the new model(s)."""
        raise NotImplementedError

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        """{node_id: the model(s) it deploys}; nodes with a test split are evaluated with them."""
        raise NotImplementedError

    def observe(self, server_round: int, evals: Sequence[ClientEval]) -> None:
        """After a round's evaluation (e.g. FedFairMMFL reads every task's accuracy)."""

    def final_clusters(self) -> list[list[str]] | None:
        """Clusters of client names for the summary (None: not a clustered strategy)."""
        return None

    def summary_extra(self) -> dict[str, Any]:
        """Strategy-specific entries of summary.json."""
        return {}

    # ----- nodes and messaging ---------------------------------------------------
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

    def send(self, grid: Grid, messages: Iterable[Message], what: str) -> list[Message]:
        """Send and wait (:func:`strategies.nodes.send_all`): the good replies sorted by partition id. Failed
        or late clients are recorded (metrics.jsonl, summary.json ``failures``) and left out; the run stops
        when fewer than ``min-replies`` of the messages were answered."""
        failed: list[Failure] = []
        timeout = float(self.params.get("round-timeout") or self.params["timeout"])
        replies = send_all(grid, messages, self.nodes, timeout, what, self.traffic,
                           float(self.params.get("min-replies", 1.0)), failed)
        if failed:
            rows = [{"round": self.current_round, "message": what, "client": f.client, "reason": f.reason} for f in failed]
            self.failures += rows
            self.recorder.record_failures(rows)
        return replies

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

    def fault_config(self) -> dict[str, Any]:
        """The fault-injection settings a train (or query-routine) message carries, when any is set."""
        keys = (p.FAIL_RATE, p.STRAGGLE_RATE, p.STRAGGLE_SECONDS)
        return {k: float(self.params[k]) for k in keys if float(self.params.get(k, 0.0)) > 0}

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
        absent = [c for c in self.dataset_clients if c not in {n.client for n in self.nodes}]
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
        """Nodes with a test split (cross-device training-only clients have none)."""
        return [n for n in self.nodes if n.n_test > 0]

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

    # ----- models and messages --------------------------------------------------------
    def model_spec(self, default: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``model=auto`` takes the dataset's (or the given task's) default model; ``hidden`` applies to the MLP."""
        if default is None:
            default = self.nodes[0].default_model if self.nodes else {"model": "logreg"}
        spec = dict(default)
        if self.params["model"] != "auto":
            spec = {"model": self.params["model"]}
        if spec.get("model") == "mlp" and (self.params["model"] != "auto" or "hidden" not in spec):
            spec["hidden"] = hidden_sizes(self.params["hidden"])
        return spec

    def initial_arrays(self, seed: int | None = None) -> ArrayRecord:
        """Seeded initial weights of the model spec (default seed: the run's)."""
        node = self.nodes[0]
        model = build_model(self.model_spec(), node.n_features, seed=self.params["seed"] if seed is None else seed,
                            num_classes=node.num_classes, input_shape=node.input_shape)
        return ArrayRecord(model.state_dict())

    def message_config(self, server_round: int) -> ConfigRecord:
        """Config every train / evaluate message carries: dataset location, model spec, run tag, round."""
        return ConfigRecord({p.DATASET_DIR: self.dataset_dir, p.MODEL_SPEC: json.dumps(self.model_spec()),
                             p.RUN_TAG: self.run_tag, p.SERVER_ROUND: server_round})

    def train_message(self, node: NodeInfo, server_round: int, arrays: ArrayRecord | None, **config: Any) -> Message:
        """A ``train`` message for one node: the loop settings, the strategy's plug-ins and their parameters
        (``arrays`` may be omitted when the node trains its personal model)."""
        record = self.message_config(server_round)
        record.update({
            p.LR: self.params["lr"], p.LOCAL_EPOCHS: self.params["local-epochs"], p.BATCH_SIZE: self.params["batch-size"],
            p.TRAIN_SEED: self.train_seed(server_round, node), p.OBJECTIVES: ",".join(self.local_objectives()),
            **self.plugin_config(self.local_objectives()), **self.fault_config(), **config,
        })
        shared = self.plugins.shared.get(str(record.get(p.TASK, "")))
        if shared:
            record[p.SHARED] = json.dumps(shared)
        if "puffle" in self.local_objectives():  # PUFFLE starts a client's first round at lambda 0
            record[p.TRAINED_BEFORE] = self.plugins.trained_before(node.client, str(record.get(p.TASK, "")))
        content = RecordDict({p.CONFIG: record})
        if arrays is not None:
            content[p.ARRAYS] = arrays
        return Message(content, dst_node_id=node.node_id, message_type=MessageType.TRAIN)

    def eval_config(self, server_round: int) -> ConfigRecord:
        """Config of a round's evaluate messages: the ``adapt`` plug-in, when the strategy has one."""
        record = self.message_config(server_round)
        record[p.BATCH_SIZE] = self.params["batch-size"]
        if self.adapt:
            record.update({p.ADAPT: self.adapt, p.ADAPT_SEED: self.adapt_seed(server_round),
                           **self.plugin_config([self.adapt])})
        return record

    # ----- evaluation ---------------------------------------------------------------
    def evaluate_nodes(self, grid: Grid, server_round: int, deployment: Mapping[int, Sequence[Deployed]]) -> list[ClientEval]:
        """Every node with a test split scores the model(s) it deploys; the round is recorded (one row per model)."""
        return self.record_evaluations(server_round, self.collect_evaluations(grid, server_round, by_node(deployment, self.test_nodes)))

    def collect_evaluations(self, grid: Grid, server_round: int,
                            targets: Sequence[tuple[NodeInfo, Sequence[Deployed]]]) -> list[ClientEval]:
        """Send ``evaluate`` messages to the target nodes; their evaluations (one per deployed model)."""
        messages = [evaluate_message(node, self.eval_config(server_round), models) for node, models in targets]
        deployed = {node.node_id: models for node, models in targets}
        evals = []
        for reply in self.send(grid, messages, f"evaluate round {server_round}") if messages else []:
            node_id = reply.metadata.src_node_id
            evals += read_evaluations(reply, self.node(node_id), deployed[node_id])
        return evals

    def record_evaluations(self, server_round: int, evals: list[ClientEval]) -> list[ClientEval]:
        self.recorder.record_round(server_round, evals)
        self.observe(server_round, evals)
        return evals

    def evaluates(self, server_round: int) -> bool:
        """Whether ``server_round`` is evaluated: every ``eval-every``-th round and the final one."""
        return server_round == self.params["rounds"] or server_round % int(self.params.get("eval-every", 1)) == 0

    def evaluation_targets(self, server_round: int) -> list[tuple[NodeInfo, list[Deployed]]]:
        """(node, its deployed models) of a round's evaluation: a seeded ``fraction-evaluate`` sample of the
        nodes with a test split (drawn independently of the training sample), every one in the final round."""
        nodes = self.test_nodes
        fraction = float(self.params.get("fraction-evaluate", 1.0))
        if server_round < self.params["rounds"] and fraction < 1.0:
            nodes = sample(nodes, fraction, self.params["seed"], server_round, stream=1)
        return by_node(self.deployment(server_round), nodes)

    def folds_evaluation(self, targets: Sequence[tuple[NodeInfo, Sequence[Deployed]]]) -> bool:
        """Whether a round's evaluation may wait for the next round's train messages: ``fold-evaluation`` on,
        no ``adapt`` step, no ``observe`` reading the scores, every deployed model sent (a personal model
        changes with the next training)."""
        return (bool(self.params.get("fold-evaluation", True)) and not self.adapt
                and type(self).observe is FedFairStrategy.observe
                and all(m.arrays is not None and m.use == p.SENT for _, models in targets for m in models))

    def evaluate_round(self, grid: Grid, server_round: int, replied: int, sent: int) -> list[ClientEval] | None:
        """After a round's aggregation: evaluate it now (its evaluations), leave it for the next round's train
        messages, or skip it (``eval-every``) (None)."""
        if not self.evaluates(server_round):
            self.recorder.log(f"round {server_round}/{self.params['rounds']}  train: {replied} of {sent} clients replied")
            return None
        targets = self.evaluation_targets(server_round)
        if server_round < self.params["rounds"] and self.folds_evaluation(targets):
            self.pending_evaluation = (server_round, targets)
            return None
        return self.record_evaluations(server_round, self.collect_evaluations(grid, server_round, targets))

    def fold_pending_evaluation(self, messages: Sequence[Message]) -> dict[int, list[Deployed]]:
        """Ask each pending evaluation target that trains from the very model it deploys to score it first,
        in its train message (``evaluate-first``); {node_id: its deployed models} of those folded."""
        if self.pending_evaluation is None:
            return {}
        by_node_id = {m.metadata.dst_node_id: m for m in messages}
        folded = {}
        for node, models in self.pending_evaluation[1]:
            message = by_node_id.get(node.node_id)
            if message is None or len(models) != 1 or p.ARRAYS not in message.content.array_records:
                continue
            model, config = models[0], message.content[p.CONFIG]
            if (model.arrays is not message.content[p.ARRAYS] or model.model_spec is not None
                    or model.task != str(config.get(p.TASK, ""))):
                continue
            config[p.EVALUATE_FIRST] = p.model_entries([{"key": p.model_key(0), "arrays": p.ARRAYS, "use": p.SENT,
                                                         "task": model.task}])
            folded[node.node_id] = models
        return folded

    def finish_pending_evaluation(self, grid: Grid, folded: Mapping[int, list[Deployed]], replies: Sequence[Message]) -> None:
        """Record the pending round: the scores folded into ``replies``, and evaluate messages for its other targets."""
        if self.pending_evaluation is None:
            return
        server_round, targets = self.pending_evaluation
        self.pending_evaluation = None
        evals = []
        for reply in replies:
            if reply.metadata.src_node_id in folded:
                evals += read_evaluations(reply, self.node(reply.metadata.src_node_id), folded[reply.metadata.src_node_id])
                del reply.content[p.metrics_key(p.model_key(0))]  # the train reply as aggregation expects it
        evals += self.collect_evaluations(grid, server_round, [(n, m) for n, m in targets if n.node_id not in folded])
        self.record_evaluations(server_round, evals)

    def score_models(self, grid: Grid, server_round: int, models: Sequence[ArrayRecord], nodes: Sequence[NodeInfo],
                     split: str = "train") -> dict[int, list[ModelScore]]:
        """Every node scores every model on its own ``split`` (``query.evaluate_models``): {node_id: [score per model]}."""
        messages = [scores_message(n, self.message_config(server_round), models, split) for n in nodes]
        return {r.metadata.src_node_id: read_scores(r, len(models))
                for r in self.send(grid, messages, f"score models round {server_round}")}

    def sensitive_attribute(self) -> str:
        """The attribute of the fair strategies: param ``sensitive``, default the dataset's first.
        Their notions (SP, EqOp, EO) need a binary label."""
        if self.nodes and self.nodes[0].num_classes > 2:
            raise ParamError(f"{self.name} measures SP / EqOp / EO, which need a binary label; this dataset's label has "
                             f"{self.nodes[0].num_classes} classes: use a binary dataset or a strategy without fairness terms")
        return sensitive_attribute(self.params, list(self.nodes[0].sensitive) if self.nodes else [])
