"""What clients are asked to score, and what their answers mean.

- :class:`Deployed`: one model a client deploys (a task's global model, its
  cluster's, its personal one); a client may deploy several, each recorded
  under its own name and task;
- :func:`evaluate_message` / :func:`read_evaluations`: the ``evaluate`` round
  trip, one :class:`~fedfair.results.ClientEval` per (client, deployed model);
- :func:`scores_message` / :func:`read_scores`: ``query.evaluate_models``, every
  sent model scored on the client's own data (loss, hard and soft group counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict

from fedfair import protocol as p
from fedfair.metrics import GroupCounts
from fedfair.results import ClientEval
from fedfair.strategies.nodes import NodeInfo


@dataclass(frozen=True)
class Deployed:
    """A model one client deploys: ``arrays`` sent (or None: its personal model), recorded as ``name`` of ``task``.

    ``use=personal`` evaluates the client's personal model of ``task``, or ``arrays`` while it has none.
    """

    name: str
    arrays: ArrayRecord | None = None
    use: str = p.SENT
    task: str = ""
    cluster: int | None = None
    model_spec: dict | None = None  # the task's model when it differs from the message's (task sets)


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


def evaluate_message(node: NodeInfo, config: ConfigRecord, deployed: Sequence[Deployed]) -> Message:
    """An ``evaluate`` message asking ``node`` to score each of its deployed models on its test split."""
    content = RecordDict({})
    entries = []
    for k, model in enumerate(deployed):
        key = p.model_key(k)
        if model.arrays is not None:
            content[key] = model.arrays
        entry = {"key": key, "use": model.use, "task": model.task}
        if model.model_spec is not None:
            entry[p.MODEL_SPEC] = model.model_spec
        entries.append(entry)
    config[p.MODELS] = p.model_entries(entries)
    content[p.CONFIG] = config
    return Message(content, dst_node_id=node.node_id, message_type=MessageType.EVALUATE)


def read_evaluations(reply: Message, node: NodeInfo, deployed: Sequence[Deployed]) -> list[ClientEval]:
    """One :class:`ClientEval` per deployed model from a client's ``evaluate`` reply."""
    info = reply.content[p.INFO]
    evals = []
    for k, model in enumerate(deployed):
        metrics = reply.content[p.metrics_key(p.model_key(k))]
        sizes = node.tasks.get(model.task, {p.N_TRAIN: node.n_train, p.N_TEST: node.n_test})  # a task set: the task's
        evals.append(ClientEval(
            # the rows the client scored (its test split, or its validation split with eval-split=val)
            client=node.client, partition_id=node.partition_id, n_train=int(sizes[p.N_TRAIN]),
            n_test=int(metrics.get(p.NUM_EXAMPLES, sizes[p.N_TEST])),
            model=model.name, loss=float(metrics[p.LOSS]), accuracy=float(metrics[p.ACCURACY]),
            groups=p.decode_groups(str(info[p.groups_key(p.model_key(k))])), cluster=model.cluster, task=model.task,
        ))
    return evals


def scores_message(node: NodeInfo, config: ConfigRecord, models: Sequence[ArrayRecord], split: str) -> Message:
    """A ``query.evaluate_models`` message: score every model on ``split`` with soft counts."""
    config[p.SPLIT], config[p.SOFT] = split, True
    content = RecordDict({p.CONFIG: config})
    for k, arrays in enumerate(models):
        content[p.model_key(k)] = arrays
    return Message(content, dst_node_id=node.node_id, message_type=p.EVALUATE_MODELS)


def read_scores(reply: Message, n_models: int) -> list[ModelScore]:
    """The scores of a ``query.evaluate_models`` reply, in model order."""
    info = reply.content[p.INFO]
    scores = []
    for k in range(n_models):
        key = p.model_key(k)
        metrics = reply.content[p.metrics_key(key)]
        scores.append(ModelScore(
            loss=float(metrics[p.LOSS]), accuracy=float(metrics[p.ACCURACY]), n=int(metrics[p.NUM_EXAMPLES]),
            groups=p.decode_groups(str(info[p.groups_key(key)])),
            soft_groups=p.decode_groups(str(info[p.groups_key(key, soft=True)])),
        ))
    return scores


def by_node(deployment: Mapping[int, Sequence[Deployed]], nodes: Sequence[NodeInfo]) -> list[tuple[NodeInfo, list[Deployed]]]:
    """(node, its deployed models) for the nodes that deploy anything, in partition order."""
    return [(n, list(deployment[n.node_id])) for n in nodes if deployment.get(n.node_id)]
