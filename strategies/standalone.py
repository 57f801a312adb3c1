"""Standalone learning: every client trains only on its own data (no collaboration).

Each node keeps its model in ``context.state`` across rounds (the first round
starts from the shared seeded initialisation) and deploys it; the server only
schedules rounds and collects metrics. Every client with both a train and a
test split trains every round (``fraction-train`` does not apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from strategies.base import ClientError, Deployed, FedFairStrategy, NodeInfo


class StandaloneStrategy(FedFairStrategy):
    """Local training only; each client is evaluated with its own model."""

    name = "standalone"

    def setup(self, grid: Grid) -> None:
        self.init = self.initial_arrays()
        # A client needs both its own training data and a test split to be evaluated alone.
        self.local = [n for n in self.nodes if n.n_train > 0 and n.n_test > 0]
        if not self.local:
            raise ClientError("standalone needs clients with both train and test data (cross-silo datasets)")

    def select(self, server_round: int) -> Sequence[NodeInfo]:
        return self.local

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord | None:
        # the shared initialisation is only needed before a node has a model of its own
        return self.init if server_round == 1 else None

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.START_FROM: p.PERSONAL, p.KEEP_PERSONAL: True}

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        """Nothing to aggregate: the models stay on the clients."""

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        return {n.node_id: [Deployed("personal", use=p.PERSONAL)] for n in self.local}
