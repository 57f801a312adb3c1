"""The strategy base's evaluation half: what the clients deploy is scored, recorded and observed.

:class:`ScoringMixin` is one part of :class:`fedfair.strategies.base.FedFairStrategy`; read it alone.

Evaluation (``eval-every``, ``fraction-evaluate``, ``fold-evaluation``): every ``eval-every``-th round
(:meth:`~ScoringMixin.evaluates`) a seeded ``fraction-evaluate`` sample of the clients with a test split
scores its deployed models (:meth:`~ScoringMixin.evaluation_targets`, from the strategy's ``deployment``),
and the final round every client. When the strategy allows (every deployed model is sent, no ``adapt``
step, no :meth:`~ScoringMixin.observe` reading the scores: :meth:`~ScoringMixin.folds_evaluation`), a
round's evaluation is folded into the next round's train messages (:meth:`~ScoringMixin.fold_pending_evaluation`):
a client that trains from the very model it deploys scores it on its test split first, in the same message,
and the others get an evaluate message right after the train exchange
(:meth:`~ScoringMixin.finish_pending_evaluation`). The numbers are the same as with a separate evaluate
exchange, the round is recorded one round later, and a client whose train message fails loses that
evaluation too.

:meth:`~ScoringMixin.score_models` is the other use of the clients' scoring: every node scores several models
on its own data (``query.evaluate_models``), e.g. IFCA's cluster choice.

It reads the strategy's ``params``, ``recorder`` and ``pending_evaluation`` and calls its ``send``, ``node``,
``test_nodes``, ``message_config``, ``eval_config`` (:mod:`fedfair.strategies.messaging`) and ``deployment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.results import ClientEval
from fedfair.strategies.evaluation import Deployed, ModelScore, by_node, evaluate_message, read_evaluations, read_scores, scores_message
from fedfair.strategies.nodes import NodeInfo, sample

if TYPE_CHECKING:
    from fedfair.results import RunRecorder


class ScoringMixin:
    """Deployment, evaluation (now or folded into the next train messages) and scoring models (a part of
    ``FedFairStrategy``)."""

    adapt: ClassVar[str]
    params: dict[str, Any]
    recorder: RunRecorder
    # (round, [(node, its deployed models)]) whose evaluation waits for the next round's train messages
    pending_evaluation: tuple[int, list[tuple[NodeInfo, list[Deployed]]]] | None

    if TYPE_CHECKING:  # provided by MessagingMixin and FedFairStrategy
        test_nodes: list[NodeInfo]
        def send(self, grid: Grid, messages: Any, what: str) -> list[Message]: ...
        def node(self, node_id: int) -> NodeInfo: ...
        def message_config(self, server_round: int) -> ConfigRecord: ...
        def eval_config(self, server_round: int) -> ConfigRecord: ...
        def deployment(self, server_round: int) -> dict[int, list[Deployed]]: ...

    def observe(self, server_round: int, evals: Sequence[ClientEval]) -> None:
        """Hook: after a round's evaluation (e.g. FedFairMMFL reads every task's accuracy). A strategy that
        overrides it has its evaluations in their own round (never folded)."""

    # ----- a round's evaluation -------------------------------------------------------------
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
        """Record a round's evaluations (metrics.jsonl) and let the strategy :meth:`observe` them."""
        self.recorder.record_round(server_round, evals)
        self.observe(server_round, evals)
        return evals

    # ----- folded evaluation ------------------------------------------------------------------
    def folds_evaluation(self, targets: Sequence[tuple[NodeInfo, Sequence[Deployed]]]) -> bool:
        """Whether a round's evaluation may wait for the next round's train messages: ``fold-evaluation`` on,
        no ``adapt`` step, no ``observe`` reading the scores, every deployed model sent (a personal model
        changes with the next training)."""
        return (bool(self.params.get("fold-evaluation", True)) and not self.adapt
                and type(self).observe is ScoringMixin.observe
                and all(m.arrays is not None and m.use == p.SENT for _, models in targets for m in models))

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

    # ----- scoring models on the clients' own data ------------------------------------------------
    def score_models(self, grid: Grid, server_round: int, models: Sequence[ArrayRecord], nodes: Sequence[NodeInfo],
                     split: str = "train") -> dict[int, list[ModelScore]]:
        """Every node scores every model on its own ``split`` (``query.evaluate_models``): {node_id: [score per model]}."""
        messages = [scores_message(n, self.message_config(server_round), models, split) for n in nodes]
        return {r.metadata.src_node_id: read_scores(r, len(models))
                for r in self.send(grid, messages, f"score models round {server_round}")}
