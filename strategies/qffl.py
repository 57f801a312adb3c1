"""q-FFL over clients (Li, Sanjabi, Beirami, Smith, "Fair Resource Allocation in Federated Learning", ICLR 2020).

The objective min_w sum_k p_k / (q + 1) F_k^(q+1)(w) (eq. 2) weighs clients with a larger loss more; q = 0 is
FedAvg's objective. q-FedAvg (Algorithm 2), one round: every sampled client k scores the received global model
w^t on its training split (F_k(w^t), fedfair's ``score-start``) and trains locally as in FedAvg to w_k; the
server, with L = 1 / lr (the local learning rate, the Lipschitz estimate Li et al. and Flower's ``QFedAvg`` use),

    Delta_k = F_k^q(w^t) L (w^t - w_k),   h_k = q F_k^(q-1)(w^t) ||L (w^t - w_k)||^2 + L F_k^q(w^t),
    w^(t+1) = w^t - sum_k Delta_k / sum_k h_k                                     (Algorithm 2, lines 6-9)

(Flower's ``compute_delta_and_h``, which adds 1e-10 to each loss before the powers:
:func:`fedfair.strategies.allocation.qffl_step`). With q = 0 the step is the
unweighted mean of the local models. Every client deploys the global model (performance fairness across
clients: the spread of the clients' accuracies). ``qffl-q`` defaults to 1, the smallest non-zero value of
Li et al.'s grid {0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 15} used for their LSTM / CNN benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flwr.app import Message

from fedfair import protocol as p
from fedfair.strategies.aggregation import record_of, state_of
from fedfair.strategies.allocation import qffl_step
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.fedavg import FedAvgStrategy
from fedfair.strategies.nodes import ClientError
from fedfair.strategies.specs import SPECS


class QFFLStrategy(FedAvgStrategy):
    """One global model, aggregated by q-FedAvg from each client's loss at the received model."""

    name = "qffl"
    extra_params = SPECS["qffl"].params

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.SCORE_START: True}  # F_k(w^t) on the client's training split (Algorithm 2, line 4)

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        if not replies:
            raise ClientError(f"train round {server_round}: nothing to aggregate")
        current = state_of(self.global_model)
        keys = list(current)
        local = [[state_of(r.content[p.ARRAYS])[k] for k in keys] for r in replies]
        losses = [float(r.content[p.METRICS][p.START_LOSS]) for r in replies]
        updated = qffl_step([current[k] for k in keys], local, losses, self.params["qffl-q"], self.params["lr"])
        self.global_model = record_of(dict(zip(keys, updated)))
