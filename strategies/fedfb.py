"""FedFB (Zeng, Chen, Lee, "Improving Fairness via Federated Learning", 2021): FairBatch's reweighting run by
the server for demographic parity, the algorithm of the authors' released code (FedFB/DP_server.py, ``FedFB``).

Every row of cell (y, z) (label y, value z of the attribute, any number of values) weighs its loss by
lambda_{y,z} / n_z (n_z: the federation's rows with value z; lambda_{y,z} starts at n_z / n, plain FedAvg). After
round t the clients report, for the aggregated model, the summed losses S_{y,z} of their cells, and for every
z >= 1 (z = 0 the first value)

    f_z = (S_{1,0} - S_{0,0}) / n_0 + (S_{0,z} - S_{1,z}) / n_z + n_{0,0} / n_0 - n_{0,z} / n_z,

    lambda_{0,0} <- lambda_{0,0} - alpha / sqrt(t) sum_{z >= 1} f_z,   lambda_{0,z} <- lambda_{0,z} + alpha / sqrt(t) f_z,

each clipped to [0, 2 n_z / n], with lambda_{1,z} = 2 n_z / n - lambda_{0,z}: a signed gradient step on the
Lagrange multipliers of the SP constraints, whose gradient is f_z. fedfair's reading of the released code:
(i) the constant n_{0,0} / n_0 - n_{0,z} / n_z enters once (the code adds it once per client); (ii) the bound and
the complement of lambda_{.,z} use n_z for every z (the code uses n_0 for all z, which for z >= 1 breaks
lambda_{0,z} + lambda_{1,z} = 2 n_z / n that the first value keeps); (iii) the S_{y,z} and n_{y,z} of f_z are the
replying clients' (a client silent in a round leaves both; the bounds keep the federation's n_z). The step uses the round index t = 1, 2, ...
of the update after round t (the code's alpha / sqrt(round + 1)); round 1 trains at the starting lambdas.
``fedfb-alpha`` defaults to 0.3, the code's default (its experiments tune alpha in {0.001, ..., 2}).

FedFB's released code has demographic parity only (its EqOp / EO variants in declearn are declearn's
derivations): fedfair's ``fedfb`` takes ``fairness=sp``; use ``fed-fairbatch`` or ``fed-fairgrad`` for eqop / eo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedfair.strategies.group_weighting import GroupWeightedStrategy
from fedfair.strategies.specs import SPECS


def fedfb_initial(n: np.ndarray) -> np.ndarray:
    """lambda_{y,z} = n_z / n for both labels; n is the (2, Z) count array [y, z]."""
    return np.repeat((n.sum(axis=0) / n.sum())[None, :], 2, axis=0)


def fedfb_gradient(n: np.ndarray, loss_sum: np.ndarray) -> np.ndarray:
    """f_z for z >= 1 (length Z - 1) from the summed cell losses S_{y,z}."""
    n_z = n.sum(axis=0)
    base = (loss_sum[1, 0] - loss_sum[0, 0]) / n_z[0] + n[0, 0] / n_z[0]
    return base + (loss_sum[0, 1:] - loss_sum[1, 1:]) / n_z[1:] - n[0, 1:] / n_z[1:]


def fedfb_step(lam: np.ndarray, n: np.ndarray, loss_sum: np.ndarray, alpha: float, t: int,
               replied: np.ndarray | None = None) -> np.ndarray:
    """The update after round t: the new (2, Z) lambdas. ``n``: the federation's counts (the bounds and the
    complement); ``replied``: the counts of the clients whose loss sums ``loss_sum`` are (default ``n``): f_z is
    a function of each cell's mean loss and share, so a silent client's rows must leave both the sums and the
    counts (FedFB's server divides each client's sums by that client's own counts)."""
    f = fedfb_gradient(n if replied is None else replied, loss_sum)
    step = alpha / np.sqrt(t)
    upper = 2 * n.sum(axis=0) / n.sum()
    first = lam[0].copy()
    first[0] -= step * f.sum()
    first[1:] += step * f
    first = np.clip(first, 0.0, upper)
    return np.array([first, upper - first])


class FedFBStrategy(GroupWeightedStrategy):
    """FedAvg with FedFB's per-cell loss weights lambda_{y,z} / n_z, moved each round along the SP constraint."""

    name = "fedfb"
    notions = ("sp",)
    extra_params = SPECS["fedfb"].params

    def initial_state(self, counts: np.ndarray) -> dict[str, Any]:
        return {"lambda": fedfb_initial(counts)}

    def update(self, state: dict[str, Any], stats: dict[str, np.ndarray], server_round: int) -> dict[str, Any]:
        if server_round == 1:  # round 1 trains at the starting multipliers; the update after round t uses alpha / sqrt(t)
            return state
        return {"lambda": fedfb_step(state["lambda"], self.counts, stats["loss"], self.params["fedfb-alpha"],
                                     server_round - 1, replied=stats["n"])}

    def cell_weights(self, state: dict[str, Any]) -> np.ndarray:
        return state["lambda"] * self.counts / self.counts.sum(axis=0)  # w_{y,z} = lambda_{y,z} n_{y,z} / n_z
