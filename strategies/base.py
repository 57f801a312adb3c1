"""The strategy base: the round template with its hooks; messaging, evaluation and state in their own parts.

Flower's ``Strategy.start()`` drives one global model; clustered, personalized
and multi-model algorithms need per-node messages, several models and query
rounds. :meth:`FedFairStrategy.run` is one template for all of them::

    describe the nodes; setup()          (or restore() the last checkpoint with ``resume``)
    for each round:
        begin_round()                    e.g. IFCA's cluster choice, FL+HC's clustering
        select()                         which nodes train (default: a seeded fraction-train sample)
        send train messages              start_arrays(node) + train_config(node), the strategy's plug-ins
        aggregate(replies)               e.g. FedAvg, per-cluster averages, FairFed's weights
        evaluate deployment()            the clients score the model(s) they deploy; the round is recorded,
                                         observe() reads it
        checkpoint()                     state_dict() written to the run directory
    finish: summary with final_clusters() and summary_extra()

This module holds the template, its hooks, the run's parameters and plug-ins (``param_components``,
``check_params``, ``local_objectives``, ``plugin_config``, ``node_facts``) and the models
(``model_spec``, ``initial_arrays``). :class:`FedFairStrategy` is put together from three parts a
contributor reads alone:

- :mod:`fedfair.strategies.messaging` (:class:`~fedfair.strategies.messaging.MessagingMixin`): who the
  nodes are, sampling and seeds, what train / evaluate messages carry, and sending with one failure policy:
  a client that fails or does not answer in time is left out of the round and recorded (``send``,
  ``failure_summary``); each strategy says what it does without it (README, "Client failures and
  stragglers");
- :mod:`fedfair.strategies.scoring` (:class:`~fedfair.strategies.scoring.ScoringMixin`): evaluation of
  the deployed models (``eval-every``, ``fraction-evaluate``, evaluation folded into the next round's
  train messages), the ``observe`` hook and ``score_models``;
- :mod:`fedfair.strategies.state` (:class:`~fedfair.strategies.state.StateMixin`): ``state_dict`` /
  ``load_state_dict``, the checkpoint after every round and resume.

Below them: :mod:`fedfair.strategies.nodes` (node descriptions, sending), :mod:`fedfair.strategies.evaluation`
(what clients score and what the answers mean), :mod:`fedfair.strategies.aggregation` (model arithmetic),
:mod:`fedfair.strategies.checkpoint` (state files without pickle), :mod:`fedfair.strategies.clustering` and
:mod:`fedfair.strategies.fairness`. The client half of a strategy is named by ``objectives`` / ``adapt``:
plug-ins of :mod:`fedfair.local`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import Param, ParamError, hidden_sizes
from fedfair.local import objective_class
from fedfair.local.base import LocalObjective
from fedfair.models import build_model
from fedfair.results import RunRecorder
from fedfair.strategies.evaluation import Deployed, ModelScore
from fedfair.strategies.fairness import sensitive_attribute
from fedfair.strategies.messaging import MessagingMixin
from fedfair.strategies.nodes import ClientError, NodeInfo, Traffic
from fedfair.strategies.plugins import PluginLog
from fedfair.strategies.scoring import ScoringMixin
from fedfair.strategies.specs import param_components
from fedfair.strategies.state import StateMixin

__all__ = ["ClientError", "Deployed", "FedFairStrategy", "ModelScore", "NodeInfo"]


class FedFairStrategy(MessagingMixin, ScoringMixin, StateMixin):
    """Base class: subclasses set ``name`` and override the round template's hooks (or :meth:`run`)."""

    name: ClassVar[str] = ""
    # the strategy's own run parameters (its plug-ins declare theirs); a builtin's are declared in
    # strategies/specs.py (SPECS[name].params), read there by the listings without importing the strategy
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
        return param_components(cls.name, cls.extra_params, cls.objectives, cls.adapt)

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
        for name in (*cls.objectives, *([] if mitigation == "none" else [mitigation])):
            unknown = [f for f in objective_class(name).node_facts if f not in p.NODE_FACTS]
            if unknown:
                raise ParamError(f"local objective {name!r} asks for node facts {unknown} the server does not know; "
                                 f"known: {', '.join(p.NODE_FACTS)}")

    @classmethod
    def check_dataset(cls, params: Mapping[str, Any], facts: Any) -> None:
        """Checks that need the dataset, before any work (before Ray starts): ``facts`` is a
        :class:`fedfair.api.DatasetFacts` (clients and their training sizes, sensitive attributes, label classes,
        input shape); raise a ParamError naming the problem and the fix (e.g. IFCA: num-clusters <= clients)."""

    def local_objectives(self) -> tuple[str, ...]:
        """The plug-ins of this run's local training: the strategy's and the mitigation's."""
        mitigation = self.params.get("mitigation", "none")
        private = ["dp"] if self.params.get("dp-noise-multiplier", 0) > 0 else []
        return (*self.objectives, *([] if mitigation == "none" else [mitigation]), *private)

    def plugin_config(self, names: Iterable[str]) -> dict[str, Any]:
        """The values of the named plug-ins' parameters, sent in the message config."""
        return {key: value for name in names for key, value in objective_class(name).server_values(self.params).items()}

    def node_facts(self, node: NodeInfo, task: str = "") -> dict[str, Any]:
        """The per-node facts this run's plug-ins ask for (``LocalObjective.node_facts``, e.g. whether ``node``
        trained ``task`` before), for its train message; {} when none asks."""
        facts = dict.fromkeys(f for name in self.local_objectives() for f in objective_class(name).node_facts)
        return {fact: self.plugins.node_fact(fact, node.client, task) for fact in facts}

    # ----- the round template -------------------------------------------------
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

    def final_clusters(self) -> list[list[str]] | None:
        """Clusters of client names for the summary (None: not a clustered strategy)."""
        return None

    def summary_extra(self) -> dict[str, Any]:
        """Strategy-specific entries of summary.json."""
        return {}

    # ----- models ------------------------------------------------------------------------
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

    def sensitive_attribute(self) -> str:
        """The attribute of the fair strategies: param ``sensitive``, default the dataset's first.
        Their notions (SP, EqOp, EO) need a binary label."""
        if self.nodes and self.nodes[0].num_classes > 2:
            raise ParamError(f"{self.name} measures SP / EqOp / EO, which need a binary label; this dataset's label has "
                             f"{self.nodes[0].num_classes} classes: use a binary dataset or a strategy without fairness terms")
        return sensitive_attribute(self.params, list(self.nodes[0].sensitive) if self.nodes else [])
