"""Random client-task allocation (seed 003's baseline a): every active client draws a task uniformly.

FedFairMMFL's loop with p_s = 1 / S every round (alpha = 1 of eq. 5), restricted
to the tasks a client holds; aggregation per task as eq. 6.
"""

from __future__ import annotations

import numpy as np

from fedfair.strategies.mmfl import FedFairMMFLStrategy
from fedfair.strategies.specs import SPECS


class MMFLRandomStrategy(FedFairMMFLStrategy):
    """Uniform client-task allocation."""

    name = "mmfl-random"
    extra_params = SPECS["mmfl-random"].params

    def probabilities(self) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))
