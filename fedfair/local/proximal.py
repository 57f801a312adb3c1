"""FedProx's local objective (Li et al., 2020, eq. 2): F_i(w) + (mu / 2) ||w - w^t||^2.

The anchor w^t is the model training starts from (the sent global model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedfair.config import Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:
    from torch import nn

    from fedfair.training import Penalty


class Proximal(LocalObjective):
    """Local SGD with the proximal term anchored at the start model."""

    name = "proximal"
    params = {
        "proximal-mu": Param(float, 0.01, "FedProx: weight mu of the proximal term (mu/2)||w - w_global||^2",
                             "float >= 0", lambda x: x >= 0),
    }

    def penalties(self, model: nn.Module, data: ClientData) -> list[Penalty]:
        from fedfair.training import proximal_term

        mu = float(self.values["proximal-mu"])
        return [proximal_term(list(model.parameters()), mu)] if mu > 0 else []
