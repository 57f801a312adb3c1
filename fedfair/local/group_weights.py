"""Row weights by (label, group) cell, set by the server: the client half of FedFB, Fed-FairBatch and Fed-FairGrad.

The train message's ``group-weights`` gives, for one sensitive attribute, a multiplier m[y, a] per cell (label y,
attribute value a). Every training row of cell (y, a) weighs its loss by m[y, a], used as given (not scaled to
mean 1 over the client): the client minimises (1 / n_c) sum_i m_i l_i, and FedAvg's n_c / n weights make the
federation's objective (1 / n) sum_i m_i l_i. The server chooses m = n w_k / n_k for the cell weights w_k of its
algorithm (a FairBatch sampling probability, a FairGrad weight), so the objective is sum_k w_k mean_{i in k} l_i,
the expected loss of a batch drawn with cell probabilities w_k. Multipliers may be negative (FairGrad).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from fedfair import protocol as p
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective
from fedfair.metrics import value_index

if TYPE_CHECKING:
    from torch import nn


class GroupWeights(LocalObjective):
    """Each training row's loss weighed by its (label, group) cell's multiplier from the server."""

    name = "group-weights"
    scale_weight: ClassVar[bool] = False

    def sample_weight(self, model: nn.Module, data: ClientData) -> np.ndarray:
        if p.GROUP_WEIGHTS not in self.config:
            raise ValueError(f"local objective {self.name!r}: the message lacks {p.GROUP_WEIGHTS!r}; "
                             f"server and client run different fedfair versions?")
        spec = json.loads(str(self.config[p.GROUP_WEIGHTS]))
        multipliers = np.asarray(spec["multipliers"], dtype=np.float64)
        rows = data.train
        return multipliers[rows.y.astype(np.int64), value_index(rows.sensitive[spec["attribute"]], spec["values"])]
