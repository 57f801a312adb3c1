"""FairIF (seed 004, Algorithm 1) as a client-side plug-in: influence-based row weights for local training.

Federated reading of the two stages: stage 1's "model trained to convergence by
ERM" is the global model the client receives in the first round after
``fairif-warmup`` rounds of plain training (default: the first half of the
run). In that round the client computes its row weights once
(:func:`fedfair.influence.fairif_weights`: eq. 14 on its own validation split,
the only rows whose sensitive attribute it reads) and keeps them in its node
state; from then on (stage 2, eq. 15) every local step uses the weighted loss.
Each client balances its own validation groups.

A client without a validation split, with one sensitive group on it, or with no
usable TPR / TNR pair trains without weights, and the reason is reported with
its training metrics (summary.json ``mitigation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fedfair import protocol as p
from fedfair.config import SENSITIVE_PARAM, Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = "fairif-weights"


class FairIF(LocalObjective):
    """Row weights from influence functions that balance the groups' TPR and TNR (eqs. 14-15)."""

    name = "fairif"
    params = {
        "sensitive": SENSITIVE_PARAM,
        "fairif-lambda": Param(float, 0.1, "FairIF: lambda of eq. 14's ||eps|| term (Appendix B: 0.1)", "float >= 0",
                               lambda x: x >= 0),
        "fairif-warmup": Param(int, -1, "FairIF: rounds of plain training before the weights are computed from the "
                               "global model (-1 = half the run's rounds)", "integer >= 1, or -1",
                               lambda x: x == -1 or x >= 1),
        "fairif-damping": Param(float, 0.01, "FairIF: damping added to the Hessian before inverting it", "float > 0",
                                lambda x: x > 0),
        "fairif-temperature": Param(float, 0.5, "FairIF: temperature of the Gumbel-softmax TPR / TNR surrogates",
                                    "float > 0", lambda x: x > 0),
    }

    @classmethod
    def server_values(cls, params: dict) -> dict:
        values = super().server_values(params)
        if values["fairif-warmup"] == -1:
            values["fairif-warmup"] = max(1, int(params.get("rounds", 2)) // 2)
        return values

    @classmethod
    def check_params(cls, params: dict) -> None:
        warmup = cls.server_values(params)["fairif-warmup"]
        if warmup >= params["rounds"]:
            raise ValueError(f"fairif-warmup={warmup} leaves no round to train with FairIF's weights in "
                             f"rounds={params['rounds']}; use fewer warm-up rounds or more rounds")

    def warming_up(self) -> bool:
        return int(self.config.get(p.SERVER_ROUND, 0)) <= int(self.values["fairif-warmup"])

    def kept_weights(self, data: ClientData) -> np.ndarray | None:
        kept = self.state.get(WEIGHTS)
        return kept if kept is not None and len(kept) == len(data.train) else None

    def needs_model(self, data: ClientData) -> bool:
        """Whether :meth:`sample_weight` reads the model this round (it computes the weights): not in the
        warm-up, not with weights kept from an earlier round. :mod:`fedfair.batched` trains the others."""
        return not self.warming_up() and self.kept_weights(data) is None

    def sample_weight(self, model: nn.Module, data: ClientData) -> np.ndarray | None:
        if self.warming_up():
            return None  # stage 1's ERM: plain (federated) training
        kept = self.kept_weights(data)
        if kept is not None:
            return kept
        weights = self.compute(model, data)
        if weights is not None:
            self.state[WEIGHTS] = weights
        return weights

    def compute(self, model: nn.Module, data: ClientData) -> np.ndarray | None:
        """Stage 1 at the received model; None (and a recorded fallback) when the client cannot run it."""
        from fedfair.influence import fairif_weights  # torch

        attribute = self.values["sensitive"] or next(iter(data.sensitive_values), "")
        if data.val is None or len(data.val) == 0:
            return self.fallback("no validation split (build the dataset with --splits train,val,test)")
        if attribute not in data.val.sensitive:
            return self.fallback(f"no sensitive attribute {attribute!r} on the validation split")
        model.eval()
        try:
            result = fairif_weights(model, data.train.x, data.train.y, data.val.x, data.val.y,
                                    data.val.sensitive[attribute], lam=self.values["fairif-lambda"],
                                    damping=self.values["fairif-damping"],
                                    temperature=self.values["fairif-temperature"], seed=data.partition_id)
        except ValueError as err:
            return self.fallback(str(err))
        finally:
            model.train()
        for name, gap in result.hard_gaps.items():
            self.report[f"fairif-{name}-gap"] = gap
        self.report["fairif-clipped"] = result.clipped
        self.report["fairif-residual"] = max(result.residuals)
        self.report["fairif-damping"] = result.damping
        self.report["fairif-weight-max"] = float(result.weights.max())
        return result.weights
