"""FedAvg (McMahan et al., 2017): weighted average of the clients' local models.

Aggregation reuses Flower's ``flwr.serverapp.strategy.FedAvg.aggregate_train``
(weights n_i / sum_j n_j). Every client deploys, and is evaluated with, the
global model.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from strategies.base import ClientError, FedFairStrategy


class FedAvgStrategy(FedFairStrategy):
    """Train the global model on sampled clients each round, average, evaluate everyone."""

    name = "fedavg"
    # What clients deploy: ``use`` of the evaluate message and the model name recorded per client.
    deploy_use, deploy_name = "global", "global"

    def train_config(self) -> dict[str, Any]:
        """Extra config of every train message (subclasses add their local objective's settings)."""
        return {}

    def eval_config(self, server_round: int) -> dict[str, Any]:
        """Extra config of every evaluate message (MAML-FL adds its fine-tuning steps)."""
        return {}

    def run(self, grid: Grid) -> dict[str, Any]:
        self.describe(grid)
        aggregator = FedAvg(weighted_by_key="num-examples")
        arrays = self.initial_arrays()
        evals = []
        for server_round in range(1, self.params["rounds"] + 1):
            chosen = self.sample_nodes(server_round)
            replies = self.send(
                grid, [self.train_message(n, server_round, arrays, **self.train_config()) for n in chosen],
                f"train round {server_round}",
            )
            aggregated, _ = aggregator.aggregate_train(server_round, replies)
            if aggregated is None:
                raise ClientError(f"train round {server_round}: nothing to aggregate")
            arrays = aggregated
            evals = self.evaluate_nodes(
                grid, server_round, {n.node_id: arrays for n in self.nodes},
                {n.node_id: self.deploy_name for n in self.nodes}, use=self.deploy_use,
                extra_config=self.eval_config(server_round),
            )
        return self.recorder.finish(evals)
