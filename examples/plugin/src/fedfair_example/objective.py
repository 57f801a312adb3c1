"""A local-objective plugin: weight decay, (lambda / 2) ||w||^2 added to every batch's loss.

Its parameter ``weight-decay`` is declared like a builtin's: the server validates it with the run's other
parameters and sends its value in every train message; the client composes the term with the strategy's
other plug-ins (and a mitigation, e.g. FairIF's row weights).
"""

from __future__ import annotations

import torch
from torch import nn

from fedfair.config import Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective
from fedfair.training import Penalty


class WeightDecay(LocalObjective):
    """Local SGD on F_k(w) + (lambda / 2) ||w||^2."""

    name = "weight-decay"
    params = {
        "weight-decay": Param(float, 1e-4, "example plugin: weight lambda of (lambda/2)||w||^2 in local training",
                              "float >= 0", lambda x: x >= 0),
    }

    def penalties(self, model: nn.Module, data: ClientData) -> list[Penalty]:
        weight = float(self.values["weight-decay"])
        if weight == 0:
            return []

        def decay(model: nn.Module, batch: object) -> torch.Tensor:
            return 0.5 * weight * sum((p * p).sum() for p in model.parameters())

        return [decay]
