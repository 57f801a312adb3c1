"""FedAvg (McMahan et al., 2017): weighted average of the clients' local models.

Aggregation reuses Flower's ``flwr.serverapp.strategy.FedAvg.aggregate_train``
(weights n_i / sum_j n_j). Every client deploys, and is evaluated with, the
global model. FedProx and MAML-FL reuse this loop with other client-side
plug-ins and another deployment.
"""

from __future__ import annotations

from collections.abc import Sequence

from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedfair import protocol as p
from fedfair.strategies.base import ClientError, Deployed, FedFairStrategy, NodeInfo


class FedAvgStrategy(FedFairStrategy):
    """Train the global model on sampled clients each round, average, evaluate everyone."""

    name = "fedavg"
    # What clients deploy: the ``use`` of the evaluated model and the model name recorded per client.
    deploy_use, deploy_name = p.SENT, "global"

    def setup(self, grid: Grid) -> None:
        self.global_model = self.initial_arrays()

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord:
        return self.global_model

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        # Flower's FedAvg, made per round: it keeps nothing between rounds (and so is no part of a checkpoint)
        aggregated, _ = FedAvg(weighted_by_key=p.NUM_EXAMPLES).aggregate_train(server_round, replies)
        if aggregated is None:
            raise ClientError(f"train round {server_round}: nothing to aggregate")
        self.global_model = aggregated

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        return {n.node_id: [Deployed(self.deploy_name, self.global_model, use=self.deploy_use)] for n in self.nodes}
