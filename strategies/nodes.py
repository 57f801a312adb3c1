"""Nodes and messaging: who the SuperNodes are, and sending messages with one failure policy.

- :func:`wait_for_nodes`: wait until the expected SuperNodes are connected;
- :func:`describe_nodes`: ask each node who it is (``query.describe``) and check the answers;
- :func:`exchange`: Flower's push / pull of messages with a short poll interval;
- :func:`send_all`: send messages and wait for the replies; the one place where
  failed or missing replies are handled (recorded as :class:`Failure`; the
  round goes on when at least ``min-replies`` of the messages were answered);
- :func:`sample`: a seeded fraction of nodes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.records import array_bytes


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
    n_val: int = 0
    num_classes: int = 2
    input_shape: tuple[int, ...] | None = None
    # task sets: {task: the node's sizes and the task's features / classes / model spec} for the tasks it holds
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def trains(self, task: str) -> bool:
        return int(self.tasks.get(task, {}).get(p.N_TRAIN, 0)) > 0

    def tests(self, task: str) -> bool:
        return int(self.tasks.get(task, {}).get(p.N_TEST, 0)) > 0


class ClientError(RuntimeError):
    """A client replied with an error, or did not reply in time."""


def _value_bytes(value: Any) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, (str, bytes)):
        return len(value)
    return 1 if isinstance(value, bool) else 8  # numbers travel as 64-bit values


def message_bytes(message: Message) -> int:
    """The payload of a message: its arrays' bytes (Flower's ``ArrayRecord.count_bytes``) plus its configs' and
    metrics' keys and values (counted as Flower's ``count_bytes`` does, empty strings included, where Flower's
    own raises)."""
    if not message.has_content():
        return 0
    total = 0
    for record in message.content.values():
        if isinstance(record, ArrayRecord):
            total += array_bytes(record)
        else:
            total += sum(len(key) + _value_bytes(value) for key, value in record.items())
    return int(total)


class Traffic:
    """Bytes each node received from the server (down) and sent to it (up), and the messages, over a run."""

    def __init__(self) -> None:
        self.down: dict[int, int] = {}
        self.up: dict[int, int] = {}
        self.messages: dict[int, int] = {}

    def sent(self, messages: Sequence[Message]) -> None:
        for message in messages:
            node = message.metadata.dst_node_id
            self.down[node] = self.down.get(node, 0) + message_bytes(message)
            self.messages[node] = self.messages.get(node, 0) + 1

    def received(self, replies: Sequence[Message]) -> None:
        for reply in replies:
            node = reply.metadata.src_node_id
            self.up[node] = self.up.get(node, 0) + message_bytes(reply)

    def summary(self, nodes: Sequence[NodeInfo]) -> dict[str, Any]:
        """summary.json ``communication``: per client and in total (the describe handshake is not counted)."""
        clients = {n.client: {"down_bytes": self.down.get(n.node_id, 0), "up_bytes": self.up.get(n.node_id, 0),
                              "messages": self.messages.get(n.node_id, 0)} for n in nodes}
        return {"clients": clients, "down_bytes": sum(c["down_bytes"] for c in clients.values()),
                "up_bytes": sum(c["up_bytes"] for c in clients.values()),
                "messages": sum(c["messages"] for c in clients.values())}


def error_reason(reason: str) -> str:
    """The client's own exception message from Flower's error reason (which may carry a whole Ray traceback)."""
    text = str(reason)
    if "Message: " in text:
        text = text.rsplit("Message: ", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else str(reason)).rstrip("'>")[:300]


@dataclass(frozen=True)
class Failure:
    """A message that got no usable reply: the client, and why (its error, or no reply within the timeout)."""

    client: str
    reason: str


# Poll interval of :func:`exchange`: starts short, grows by POLL_GROWTH up to POLL_MAX seconds.
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.002, 1.5, 0.05


def exchange(grid: Grid, messages: Sequence[Message], timeout: float) -> list[Message]:
    """Push ``messages`` and pull their replies until all arrived or ``timeout`` seconds passed.

    The same contract as Flower's ``Grid.send_and_receive`` (through the public ``push_messages`` /
    ``pull_messages``), polling every 2 ms growing to 50 ms instead of Flower's fixed 0.1 s (simulation) or
    3 s (deployment): a round waits for its last reply, not for the next poll (issue 14 part 4 measured
    ~50 ms per message exchange in simulation, up to 3 s in a deployment). A grid with its own ``exchange``
    (the in-process engine, :class:`fedfair.engine.InProcessGrid`) does it itself, on its own clock."""
    own = getattr(grid, "exchange", None)
    if callable(own):
        return list(own(messages, timeout))
    pending = {message_id for message_id in grid.push_messages(messages) if message_id}
    deadline = time.monotonic() + timeout
    replies: list[Message] = []
    wait = POLL_FIRST
    while pending:
        arrived = list(grid.pull_messages(pending))
        replies += arrived
        pending -= {m.metadata.reply_to_message_id for m in arrived}
        left = deadline - time.monotonic()
        if not pending or left <= 0:
            break
        time.sleep(min(wait, left))
        wait = min(POLL_MAX, wait * POLL_GROWTH)
    return replies


def send_all(grid: Grid, messages: Iterable[Message], nodes: Sequence[NodeInfo], timeout: float, what: str,
             traffic: Traffic | None = None, min_replies: float = 1.0,
             failures: list[Failure] | None = None) -> list[Message]:
    """Send, wait up to ``timeout`` seconds, return the good replies sorted by partition id.

    The one failure policy of every strategy: a reply with an error and a message without a reply in time
    are failures (appended to ``failures``, naming the client); the round goes on with the replies it got
    when they are at least ``min_replies`` of the messages sent (a fraction; 1.0 = all), else ClientError
    names the clients that failed. ``traffic`` counts the bytes both ways."""
    messages = list(messages)
    if traffic is not None:
        traffic.sent(messages)
    replies = exchange(grid, messages, timeout)
    if traffic is not None:
        traffic.received(replies)
    by_node = {n.node_id: n for n in nodes}

    def name(node_id: int) -> str:
        return by_node[node_id].client if node_id in by_node else str(node_id)

    good = [r for r in replies if not r.has_error()]
    answered = {r.metadata.src_node_id for r in replies}
    failed = [Failure(name(r.metadata.src_node_id), error_reason(r.error.reason)) for r in replies if r.has_error()]
    failed += [Failure(name(m.metadata.dst_node_id), f"no reply within {timeout:g} s")
               for m in messages if m.metadata.dst_node_id not in answered]
    order = {n.client: n.partition_id for n in nodes}
    failed.sort(key=lambda f: (order.get(f.client, len(order)), f.client))  # replies arrive in any order
    if failures is not None:
        failures.extend(failed)
    needed = math.ceil(min_replies * len(messages) - 1e-9)
    if failed and len(good) < needed:
        details = failure_details(failed)
        raise ClientError(f"{what}: {len(good)} of {len(messages)} replies, {needed} needed (min-replies "
                          f"{min_replies:g}); failed: {details}")
    return sorted(good, key=lambda r: by_node[r.metadata.src_node_id].partition_id if r.metadata.src_node_id in by_node else 0)


# more clients than this failing for one reason are named once, grouped (a dead Ray worker fails every client)
GROUP_FAILURES_ABOVE = 3


def failure_details(failed: Sequence[Failure]) -> str:
    """``client a: reason; client b: other reason``; a reason shared by more than GROUP_FAILURES_ABOVE clients
    is written once: ``48 clients (AZ_0, AR_0, CA_0, ... WY_0): reason``."""
    by_reason: dict[str, list[str]] = {}
    for failure in failed:
        by_reason.setdefault(failure.reason, []).append(failure.client)
    parts = []
    for failure in failed:
        clients = by_reason.get(failure.reason)
        if clients is None:
            continue
        if len(clients) <= GROUP_FAILURES_ABOVE:
            parts.append(f"client {failure.client}: {failure.reason}")
            clients.remove(failure.client)
            if not clients:
                del by_reason[failure.reason]
            continue
        names = ", ".join(clients[:3] + ["..."] + clients[-1:]) if len(clients) > 4 else ", ".join(clients)
        parts.append(f"{len(clients)} clients ({names}): {failure.reason}")
        del by_reason[failure.reason]
    return "; ".join(parts)


def wait_for_nodes(grid: Grid, expected: int, timeout: float) -> list[int]:
    """Wait (up to ``timeout`` seconds) until ``expected`` SuperNodes are connected; their ids. A grid whose
    nodes are all there from the start (``fixed_nodes``: the in-process engine) is not waited for."""
    if getattr(grid, "fixed_nodes", False):
        timeout = 0.0
    deadline = time.monotonic() + timeout
    node_ids = sorted(grid.get_node_ids())
    while len(node_ids) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        node_ids = sorted(grid.get_node_ids())
    if not node_ids:
        raise ClientError(f"no SuperNode connected within {timeout} s")
    return node_ids


def describe_nodes(grid: Grid, node_ids: Sequence[int], dataset_dir: str, timeout: float) -> list[NodeInfo]:
    """Ask every node who it is; nodes sorted by partition id; one client per node, one feature count."""
    messages = [Message(RecordDict({p.CONFIG: ConfigRecord({p.DATASET_DIR: dataset_dir})}), dst_node_id=n,
                        message_type=p.DESCRIBE) for n in node_ids]
    nodes = []
    for reply in send_all(grid, messages, [], timeout, "describe"):
        info = reply.content[p.INFO]
        if p.TASKS in info:  # a task set: sizes per task
            tasks = json.loads(str(info[p.TASKS]))
            nodes.append(NodeInfo(
                node_id=reply.metadata.src_node_id, client=str(info[p.CLIENT]), partition_id=int(info[p.PARTITION_ID]),
                n_train=sum(int(t[p.N_TRAIN]) for t in tasks.values()), n_test=sum(int(t[p.N_TEST]) for t in tasks.values()),
                n_features=0, default_model={}, tasks=tasks,
            ))
            continue
        nodes.append(NodeInfo(
            node_id=reply.metadata.src_node_id, client=str(info[p.CLIENT]), partition_id=int(info[p.PARTITION_ID]),
            n_train=int(info[p.N_TRAIN]), n_test=int(info[p.N_TEST]), n_features=int(info[p.N_FEATURES]),
            default_model=json.loads(str(info[p.DEFAULT_MODEL])), sensitive=json.loads(str(info[p.SENSITIVE])),
            n_val=int(info.get(p.N_VAL, 0)), num_classes=int(info.get(p.NUM_CLASSES, 2)),
            input_shape=_shape(json.loads(str(info.get(p.INPUT_SHAPE, "null")))),
        ))
    nodes.sort(key=lambda n: n.partition_id)
    names = [n.client for n in nodes]
    if len(set(names)) != len(names):
        raise ClientError(f"several nodes load the same client: {names}; give each SuperNode its own client")
    task_names = {t for n in nodes for t in n.tasks}
    for task in task_names:
        shapes = {(n.tasks[task][p.N_FEATURES], n.tasks[task][p.NUM_CLASSES]) for n in nodes if task in n.tasks}
        if len(shapes) != 1:
            raise ClientError(f"task {task!r}: clients disagree on the features or classes: {sorted(shapes)}")
    if task_names and any(not n.tasks for n in nodes):
        raise ClientError("some nodes serve a task set and others a single dataset: give every SuperNode the same dataset-dir")
    if not task_names and len({(n.n_features, n.num_classes, n.input_shape) for n in nodes}) != 1:
        raise ClientError("clients disagree on the features or classes: "
                          f"{[(n.client, n.n_features, n.num_classes, n.input_shape) for n in nodes]}")
    return nodes


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(d) for d in value)


def sample(pool: Sequence[NodeInfo], fraction: float, seed: int, server_round: int, stream: int = 0) -> list[NodeInfo]:
    """A seeded ``fraction`` of ``pool`` (all of it when fraction >= 1), in pool order; ``stream`` > 0 draws
    independently of stream 0 (e.g. the evaluation sample of a round next to its training sample)."""
    if fraction >= 1.0:
        return list(pool)
    rng = np.random.default_rng([seed, server_round, *([stream] if stream else [])])
    k = max(1, int(round(fraction * len(pool))))
    chosen = sorted(rng.choice(len(pool), size=k, replace=False).tolist())
    return [pool[i] for i in chosen]
