"""Standalone learning: every client trains only on its own data (no collaboration).

Each node keeps its model in ``context.state`` across rounds (the first round
starts from the shared seeded initialisation) and deploys it; the server only
schedules rounds and collects metrics: a train reply carries no weights (``reply-arrays`` false), so
communication is the initialisation sent once per client plus the metrics. Every client with both a train and a
test split trains every round (``fraction-train`` does not apply). A client
that failed keeps its personal model; one that never trained yet gets the
initialisation again. After ``--resume`` every train message carries the
initialisation: a node that kept its personal model (a deployment where only
the server restarted) continues it, one that lost it (a restarted simulation)
starts again from the initialisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.strategies.base import ClientError, Deployed, FedFairStrategy, NodeInfo


class StandaloneStrategy(FedFairStrategy):
    """Local training only; each client is evaluated with its own model."""

    name = "standalone"

    def setup(self, grid: Grid) -> None:
        self.init = self.initial_arrays()
        # A client needs both its own training data and a test split to be evaluated alone.
        self.local = [n for n in self.test_nodes if n.n_train > 0]  # test_nodes: with the split evaluations score
        if not self.local:
            raise ClientError("standalone needs clients with both train and test data (cross-silo datasets)")
        self.trained: set[int] = set()  # nodes that keep a personal model (they replied to a train message)

    def select(self, server_round: int) -> Sequence[NodeInfo]:
        return self.local

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord | None:
        # the shared initialisation is only needed before a node has a model of its own; after a resume the nodes
        # may have restarted without theirs, so it is sent again (a node that kept its model trains that)
        return None if node.node_id in self.trained and not self.resumed else self.init

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        # the trained model stays on the node: nothing is aggregated, so no weights travel back
        return {p.START_FROM: p.PERSONAL, p.KEEP_PERSONAL: True, p.REPLY_ARRAYS: False}

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        """Nothing to aggregate: the models stay on the clients."""
        self.trained.update(r.metadata.src_node_id for r in replies)

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        # a client that has not trained yet (it failed so far) is scored with the initialisation it would start from
        return {n.node_id: [Deployed("personal", None if n.node_id in self.trained else self.init, use=p.PERSONAL)]
                for n in self.local}
