"""AFL: Agnostic Federated Learning (Mohri, Sivek, Suresh, ICML 2019): the model that is best for the worst
mixture of the clients.

Objective (eq. 3): min_w max_{lambda in Lambda} L_lambda(w) = sum_k lambda_k L_k(w), Lambda the probability
simplex over the clients (the agnostic case). The paper's stochastic mirror descent (Algorithm 1, "AFL") takes
alternating steps, with the Euclidean projection onto the simplex:

    w      <- w - gamma_w sum_k lambda_k grad L_k(w)              (descent in w, weighted by lambda)
    lambda <- Proj_Lambda(lambda + gamma_lambda L(w))             (ascent in lambda on the clients' losses)

Federated reading (the one Li et al. use for their AFL baseline in the q-FFL paper): in round t every sampled
client k reports L_k(w^t), its loss on its training split at the received model (``score-start``), and
trains locally from w^t as in FedAvg to w_k (its local steps stand for gamma_w grad L_k); the server sets
w^(t+1) = sum_k lambda_k w_k / sum_k lambda_k over the replies (the lambda-weighted step) and then
lambda <- Proj(lambda + gamma_lambda L(w^t)), the losses of the clients that did not reply entering as 0.
lambda starts uniform. ``afl-lambda-lr`` (gamma_lambda) defaults to 0.1: the paper tunes its step sizes per
experiment and gives no default. The clients deploy the last global model (the paper also analyses the
average of the iterates; fedfair reports the last, as for the other strategies). summary.json
``afl_lambda``: lambda after every round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import Message

from fedfair import protocol as p
from fedfair.strategies.aggregation import weighted_average
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.fedavg import FedAvgStrategy
from fedfair.strategies.nodes import ClientError
from fedfair.strategies.specs import SPECS


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection of ``v`` onto {x >= 0, sum x = 1} (the sort-based algorithm of Held, Wolfe and
    Crowder; Duchi et al. 2008, Fig. 1): x = max(v - tau, 0) with the tau that makes x sum to 1."""
    v = np.asarray(v, dtype=np.float64)
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    rho = np.nonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[0][-1]
    tau = cumulative[rho] / (rho + 1.0)
    return np.maximum(v - tau, 0.0)


def afl_lambda_step(lam: np.ndarray, losses: np.ndarray, step: float) -> np.ndarray:
    """Algorithm 1's ascent step: Proj_simplex(lambda + gamma_lambda L(w))."""
    return project_to_simplex(np.asarray(lam, dtype=np.float64) + step * np.asarray(losses, dtype=np.float64))


class AFLStrategy(FedAvgStrategy):
    """One global model for the worst mixture of the clients: lambda-weighted aggregation, lambda ascent."""

    name = "afl"
    extra_params = SPECS["afl"].params

    def setup(self, grid: Any) -> None:
        super().setup(grid)
        clients = sorted(n.client for n in self.training_nodes)
        self.afl_clients = clients
        self.afl_lambda = np.full(len(clients), 1.0 / len(clients))
        self.afl_history: list[dict[str, Any]] = []

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.SCORE_START: True}  # L_k(w^t) on the client's training split

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        if not replies:
            raise ClientError(f"train round {server_round}: nothing to aggregate")
        position = {c: k for k, c in enumerate(self.afl_clients)}
        index = [position[self.node(r.metadata.src_node_id).client] for r in replies]
        weights = self.afl_lambda[index]
        if weights.sum() <= 0:  # every replying client has lambda 0: nothing to weigh, take their plain mean
            weights = np.ones(len(replies))
        self.global_model = weighted_average([r.content[p.ARRAYS] for r in replies], weights)
        losses = np.zeros(len(self.afl_clients))
        losses[index] = [float(r.content[p.METRICS][p.START_LOSS]) for r in replies]
        self.afl_lambda = afl_lambda_step(self.afl_lambda, losses, self.params["afl-lambda-lr"])
        self.afl_history.append({"round": server_round,
                                 "lambda": dict(zip(self.afl_clients, self.afl_lambda.round(12).tolist()))})

    def summary_extra(self) -> dict[str, Any]:
        return {"afl_lambda": self.afl_history}
