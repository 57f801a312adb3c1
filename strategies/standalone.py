"""Standalone learning: every client trains only on its own data (no collaboration).

Each node keeps its model in ``context.state`` across rounds (the first round
starts from the shared seeded initialisation) and deploys it; the server only
schedules rounds and collects metrics.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp import Grid

from strategies.base import ClientError, FedFairStrategy


class StandaloneStrategy(FedFairStrategy):
    """Local training only; each client is evaluated with its own model."""

    name = "standalone"

    def run(self, grid: Grid) -> dict[str, Any]:
        self.describe(grid)
        init = self.initial_arrays()
        # A client needs both its own training data and a test split to be evaluated alone.
        local = [n for n in self.nodes if n.n_train > 0 and n.n_test > 0]
        if not local:
            raise ClientError("standalone needs clients with both train and test data (cross-silo datasets)")
        evals = []
        for server_round in range(1, self.params["rounds"] + 1):
            self.send(
                grid,
                # the shared initialisation is only needed before a node has a model of its own
                [self.train_message(n, server_round, init if server_round == 1 else None,
                                    **{"start-from": "personal", "keep-personal": True})
                 for n in local],
                f"train round {server_round}",
            )
            evals = self.evaluate_nodes(
                grid, server_round, {}, {n.node_id: "personal" for n in local}, use="personal", nodes=local
            )
        return self.recorder.finish(evals)
