"""FedProx (Li et al., 2020): FedAvg whose local objective adds a proximal term.

Client i minimises F_i(w) + (mu / 2) * ||w - w^t||^2 (Li et al., eq. 2) from the
global model w^t (the client half: :mod:`fedfair.local.proximal`, parameter
``proximal-mu``); the server averages the local models weighted by n_i
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

from fedfair import protocol as p
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.fedavg import FedAvgStrategy


class FedProxStrategy(FedAvgStrategy):
    """FedAvg with the proximal local objective; clients deploy their regularised local models."""

    name = "fedprox"
    objectives = ("proximal",)
    # "personal" falls back to the sent global model on a client that has not trained yet
    deploy_use, deploy_name = p.PERSONAL, "local (proximal)"

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.KEEP_PERSONAL: True}
