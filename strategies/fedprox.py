"""FedProx (Li et al., 2020): FedAvg whose local objective adds a proximal term.

Client i minimises F_i(w) + (mu / 2) * ||w - w^t||^2 (Li et al., eq. 2) from the
global model w^t; the server averages the local models weighted by n_i
(Flower's ``FedAvg.aggregate_train``, as Flower's own ``FedProx`` does: the
proximal term lives entirely on the client). As in seed 000 (Section 4,
"model regularization category"), each client deploys, and is evaluated with,
its own regularised local model of the latest round it trained in; a client
that never trained (held-out cross-device clients, or not yet sampled) is
evaluated with the global model. mu defaults to 0.01, a value from Li et al.'s
grid {0.001, 0.01, 0.1, 0.5, 1}; seed 000 does not state its value.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedfair.config import Param
from strategies.base import ClientError, FedFairStrategy


class FedProxStrategy(FedFairStrategy):
    """FedAvg with the proximal local objective; clients deploy their regularised local models."""

    name = "fedprox"
    extra_params = {
        "proximal-mu": Param(float, 0.01, "FedProx: weight mu of the proximal term (mu/2)||w - w_global||^2",
                             "float >= 0", lambda x: x >= 0),
    }

    def run(self, grid: Grid) -> dict[str, Any]:
        self.describe(grid)
        aggregator = FedAvg(weighted_by_key="num-examples")
        arrays = self.initial_arrays()
        evals = []
        for server_round in range(1, self.params["rounds"] + 1):
            chosen = self.sample_nodes(server_round)
            messages = [
                self.train_message(n, server_round, arrays, **{"proximal-mu": self.params["proximal-mu"], "keep-personal": True})
                for n in chosen
            ]
            replies = self.send(grid, messages, f"train round {server_round}")
            aggregated, _ = aggregator.aggregate_train(server_round, replies)
            if aggregated is None:
                raise ClientError(f"train round {server_round}: nothing to aggregate")
            arrays = aggregated
            # "personal" falls back to the sent global model on a client that has not trained yet
            evals = self.evaluate_nodes(
                grid, server_round, {n.node_id: arrays for n in self.nodes},
                {n.node_id: "local (proximal)" for n in self.nodes}, use="personal",
            )
        return self.recorder.finish(evals)
