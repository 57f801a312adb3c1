"""The in-process simulation engine: the ServerApp's messages go to the same ClientApp handlers in this process.

Flower's simulation engine (Ray) starts a cluster, one actor per core, and moves every message through a
SuperLink state and Ray's object store: 20-55 s before round 1 and most of a small client's time spent on
messaging (issue 31). :class:`InProcessGrid` is a :class:`flwr.serverapp.Grid` that hands each pushed message
to the ClientApp (``app(message, context)``, the call a SuperNode makes) with that node's own
:class:`~flwr.app.Context` (``node_config`` ``partition-id`` / ``num-partitions``, a persistent ``state``), and
keeps the reply for ``pull_messages``. Nothing else changes: the strategies, the failure policy, checkpoints
and resume are the ones of a Ray simulation or a deployment.

What differs, on purpose:

- Clients run one after the other in this process, on one torch thread as in a Ray actor (two threads made a
  small model's client 5-10x slower on the busy 2-core machine: they wait on each other).
- A client's exception becomes an error reply, as Flower's engine makes it (the run records the failure).
- Time is per client: a reply counts as late when the client's own compute time plus its injected straggle
  (``straggle-seconds``, :mod:`fedfair.faults`, added to a clock instead of slept) exceeds the round's timeout,
  as if every client ran on its own machine in parallel. A straggler test waits for nothing.
- With ``together`` hooks (run parameter ``batch-clients``, on by default) a round's train (evaluate) messages
  are prepared on their nodes one by one and then trained (scored) as one computation where
  :mod:`fedfair.batched` reproduces the per-client work (logistic regression and MLPs with plain SGD,
  proximal, group weights; sent models scored without adaptation); the others run alone, as before.
- Ctrl-C and SIGTERM raise KeyboardInterrupt in the run (no processes to stop): the run directory says
  ``interrupted`` with the resume command, the CLI exits 130 and a notebook keeps its kernel.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from fedfair import faults
from fedfair.data import lookups_held

# per message type: (prepare a message on its node -> job, run jobs together -> replies); fedfair.client_app's
Together = tuple[Callable[[Message, Context], Any], Callable[[Sequence[Any]], list[Message]]]

# node ids of the in-process nodes: FIRST_NODE_ID + partition id (Flower's SuperLink is node 1)
FIRST_NODE_ID = 1000


def error_reply(message: Message, err: BaseException) -> Message:
    """The reply Flower's simulation engine makes for a ClientApp that raised (its reason carries the message
    after ``Message: ``, which :func:`fedfair.strategies.nodes.error_reason` reads)."""
    reason = f"<class 'flwr.clientapp.client_app.ClientAppException'>:<'\nException {type(err).__name__} occurred. " \
             f"Message: {err}'>"
    return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)


class InProcessGrid(Grid):
    """A Grid whose nodes are ``num_nodes`` ClientApp contexts in this process (see the module docstring)."""

    fixed_nodes = True  # every node is there from the start: nobody waits for more (strategies/nodes.py)

    def __init__(self, client_app: ClientApp | Callable[[Message, Context], Message], num_nodes: int,
                 run_id: int = 1, clock: Callable[[], float] = time.perf_counter,
                 together: dict[str, Together] | None = None) -> None:
        self.app = client_app
        self.together = dict(together or {})
        self.clock = clock
        self._run = Run.create_empty(run_id) if hasattr(Run, "create_empty") else None
        self.contexts = {
            FIRST_NODE_ID + i: Context(run_id=run_id, node_id=FIRST_NODE_ID + i,
                                       node_config={"partition-id": i, "num-partitions": num_nodes},
                                       state=RecordDict(), run_config={})
            for i in range(num_nodes)
        }
        self._inbox: dict[str, Message] = {}
        self._replies: dict[str, Message] = {}
        # who "this process" is, for the Messages the strategies create (Flower's run_simulation sets the same)
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, run_id, SUPERLINK_NODE_ID

    # ----- Grid -----------------------------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Queue each message for its node; the ids to pull the replies with (a message to an unknown node
        gets no id, as Flower's SuperLink refuses it)."""
        ids = []
        for message in messages:
            if message.metadata.dst_node_id not in self.contexts:
                continue
            message_id = str(uuid.uuid4())
            message.metadata.__dict__["_message_id"] = message_id
            message.metadata.__dict__["_run_id"] = self.contexts[message.metadata.dst_node_id].run_id
            self._inbox[message_id] = message
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Deliver the queued messages among ``message_ids`` and return every reply to them."""
        wanted = list(message_ids)
        for message_id in wanted:
            if message_id in self._inbox:
                self._replies[message_id] = self.deliver(self._inbox.pop(message_id))[0]
        return [self._replies.pop(m) for m in wanted if m in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.exchange(list(messages), timeout if timeout is not None else float("inf"))

    # ----- fedfair --------------------------------------------------------------------------------------
    def exchange(self, messages: Sequence[Message], timeout: float) -> list[Message]:
        """Deliver ``messages``; the replies whose client took at most ``timeout`` seconds (compute time plus
        injected straggle): the contract of :func:`fedfair.strategies.nodes.exchange`."""
        pending = [self._inbox.pop(message_id) for message_id in self.push_messages(messages)]
        done: dict[str, tuple[Message, float]] = {}
        replies = []
        with lookups_held():  # each dataset directory looked up once per exchange, not once per client
            for message_type, hooks in self.together.items():
                same = [m for m in pending if m.metadata.message_type == message_type]
                if len(same) > 1:
                    done.update(self.run_together(same, *hooks))
            for message in pending:
                reply, seconds = done.get(message.metadata.message_id) or self.deliver(message)
                if seconds <= timeout:
                    replies.append(reply)
        return replies

    def run_together(self, messages: Sequence[Message], prepare: Callable[[Message, Context], Any],
                     run_jobs: Callable[[Sequence[Any]], list[Message]]) -> dict[str, tuple[Message, float]]:
        """Messages of one type through their ``together`` hooks: each message prepared on its node (faults are
        injected there: a failure is that message's error reply), then the jobs run together (e.g.
        :func:`fedfair.client_app.train_jobs`: one batched training). A client's seconds: its own preparation
        plus an equal share of the joint work. Should the joint work raise, each job runs alone (its own error)."""
        done: dict[str, tuple[Message, float]] = {}
        jobs, seconds, ids = [], [], []
        for message in messages:
            start = self.clock()
            with faults.virtual_straggle() as late:
                try:
                    job = prepare(message, self.contexts[message.metadata.dst_node_id])
                except Exception as err:  # noqa: BLE001 (the client's error reply)
                    done[message.metadata.message_id] = self._stamped(error_reply(message, err)), \
                        self.clock() - start + late.seconds
                    continue
            jobs.append(job)
            ids.append(message.metadata.message_id)
            seconds.append(self.clock() - start + late.seconds)
        if not jobs:
            return done
        start = self.clock()
        try:
            replies = run_jobs(jobs)
        except Exception:  # noqa: BLE001 (one job's problem must not fail the others)
            replies = [self._alone(run_jobs, job) for job in jobs]
        share = (self.clock() - start) / len(jobs)
        for message_id, reply, own in zip(ids, replies, seconds):
            done[message_id] = self._stamped(reply), own + share
        return done

    @staticmethod
    def _alone(run_jobs: Callable[[Sequence[Any]], list[Message]], job: Any) -> Message:
        try:
            return run_jobs([job])[0]
        except Exception as err:  # noqa: BLE001
            return error_reply(job.msg, err)

    @staticmethod
    def _stamped(reply: Message) -> Message:
        reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
        return reply

    def deliver(self, message: Message) -> tuple[Message, float]:
        """Run the ClientApp on one message with its node's context: (reply, the client's seconds)."""
        context = self.contexts[message.metadata.dst_node_id]
        start = self.clock()
        with faults.virtual_straggle() as late:
            try:
                reply = self.app(message, context)
            except Exception as err:  # noqa: BLE001 (a client's failure is its reply, as on every engine)
                reply = error_reply(message, err)
        return self._stamped(reply), self.clock() - start + late.seconds


__all__ = ["InProcessGrid", "error_reply", "FIRST_NODE_ID"]
