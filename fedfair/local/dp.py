"""DP-SGD for any local training (opacus), with each client's privacy budget epsilon.

Added to a run's plug-ins when ``dp-noise-multiplier`` > 0: every local step
clips each row's gradient to ``dp-max-grad-norm`` and adds Gaussian noise of
standard deviation noise-multiplier x max-grad-norm (opacus' DPOptimizer on a
GradSampleModule). The client keeps its accountant's history (noise, sample
rate, steps) in its node state across rounds and reports the epsilon spent so
far at ``dp-delta`` with opacus' RDP accountant (``dp-epsilon`` in summary.json
``privacy``).

Readings: the loop draws shuffled mini-batches (every row once per epoch)
rather than Poisson samples; the accountant is given sample rate batch / n per
step, the usual approximation. Other plug-ins' noised releases of training-row
statistics (PUFFLE's lambda updates and shared counts, see
fedfair/local/puffle.py) enter the same RDP accountant as their own Gaussian
mechanisms (``LocalObjective.ledger``), so ``dp-epsilon`` is the composition of
everything the client released about its training rows; RDP composes by
addition, which is tighter than PUFFLE's sum of three separately converted
epsilons.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from fedfair.config import Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:
    from torch import nn

    from fedfair.training import TrainConfig

HISTORY = "accountant"


def epsilon_spent(history: np.ndarray, delta: float) -> float:
    """Epsilon of an RDP accountant that saw ``history`` rows (noise multiplier, sample rate, steps)."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(float(noise), float(rate), int(steps)) for noise, rate, steps in history]
    return float(accountant.get_epsilon(delta))


class DPSGD(LocalObjective):
    """Per-row clipping and Gaussian noise in every local step (opacus)."""

    name = "dp"
    finish_last = True
    params = {
        "dp-noise-multiplier": Param(float, 0.0, "DP-SGD: noise multiplier sigma (0 = no DP-SGD)", "float >= 0",
                                     lambda x: x >= 0),
        "dp-max-grad-norm": Param(float, 1.0, "DP-SGD: per-row gradient clipping norm C", "float > 0", lambda x: x > 0),
        "dp-delta": Param(float, 1e-5, "DP-SGD: delta of the reported (epsilon, delta) budget", "float in (0, 1)",
                          lambda x: 0 < x < 1),
    }

    def loop_config(self, loop: TrainConfig) -> TrainConfig:
        self.loop = replace(loop, dp_noise=float(self.values["dp-noise-multiplier"]),
                            dp_clip=float(self.values["dp-max-grad-norm"]))
        return self.loop

    def finish(self, model: nn.Module, data: ClientData) -> None:
        n = len(data.train)
        if n == 0 or not hasattr(self, "loop"):
            return
        batches = math.ceil(n / self.loop.batch_size)
        steps = self.loop.max_steps if self.loop.max_steps is not None else batches * self.loop.epochs
        rows = np.array([(self.loop.dp_noise, min(1.0, self.loop.batch_size / n), steps), *self.ledger],
                        dtype=np.float64)
        history = np.concatenate([self.state[HISTORY], rows]) if HISTORY in self.state else rows
        self.state[HISTORY] = history
        self.report["dp-epsilon"] = epsilon_spent(history, float(self.values["dp-delta"]))
