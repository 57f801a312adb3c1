"""A strategy plugin: FedAvgM, FedAvg with server momentum (Hsu, Qi, Brown, 2019, "Measuring the Effects of
Non-Identical Data Distribution for Federated Visual Classification", Section 3 / Algorithm 1 "FedAvgM").

Each round the server averages the clients' models as FedAvg does (weights n_k / n) into w_avg, forms the
pseudo-gradient Delta = w^t - w_avg, and applies momentum

    v <- beta * v + Delta,        w^(t+1) = w^t - eta_s * v,

with v = 0 at the start (beta = ``momentum-beta``, eta_s = ``momentum-server-lr``; beta = 0 and eta_s = 1 give
FedAvg). The clients train with the ``weight-decay`` local objective of this package on top of plain SGD.

The momentum lives in the strategy's own dataclass. fedfair checkpoints a strategy through its
:meth:`state_dict` / :meth:`load_state_dict` (arrays and JSON values, no pickle): this class turns its
dataclass into arrays and numbers and back, so a killed run resumes with the same velocity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, Message

from fedfair.config import Param
from fedfair.strategies.fedavg import FedAvgStrategy


@dataclass
class MomentumState:
    """The server's momentum buffer v (one array per weight tensor) and how many steps built it."""

    velocity: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0


class FedAvgMomentum(FedAvgStrategy):
    """FedAvg with server momentum (FedAvgM); clients add weight decay to their local objective."""

    name = "fedavg-momentum"
    objectives = ("sgd", "weight-decay")
    extra_params = {
        "momentum-beta": Param(float, 0.9, "FedAvgM: server momentum beta (0 = no momentum)", "float in [0, 1)",
                               lambda x: 0 <= x < 1),
        "momentum-server-lr": Param(float, 1.0, "FedAvgM: server learning rate eta_s", "float > 0", lambda x: x > 0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.momentum = MomentumState()

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        previous = self.global_model
        super().aggregate(server_round, replies)  # FedAvg: self.global_model = w_avg
        beta, lr = float(self.params["momentum-beta"]), float(self.params["momentum-server-lr"])
        updated = {}
        for key in previous.keys():
            old, averaged = previous[key].numpy(), self.global_model[key].numpy()
            velocity = beta * self.momentum.velocity.get(key, np.zeros_like(old)) + (old - averaged)
            self.momentum.velocity[key] = velocity.astype(old.dtype)
            updated[key] = Array(np.ascontiguousarray((old - lr * velocity).astype(old.dtype)))
        self.momentum.steps += 1
        self.global_model = ArrayRecord(updated)

    # ----- checkpoints: the dataclass as arrays and numbers -------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in super().state_dict().items() if key != "momentum"}
        state["momentum-velocity"] = dict(self.momentum.velocity)
        state["momentum-steps"] = self.momentum.steps
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        state = dict(state)
        velocity, steps = state.pop("momentum-velocity"), state.pop("momentum-steps")
        super().load_state_dict(state)
        self.momentum = MomentumState({k: np.asarray(v) for k, v in velocity.items()}, int(steps))
