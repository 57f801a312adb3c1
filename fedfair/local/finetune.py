"""Fine-tuning before deployment: a fixed number of SGD steps on the client's training data.

MAML-FL's personalisation (seed 000: clients adapt the meta-model before
using it): ``maml-finetune-steps`` steps of size ``maml-finetune-lr`` on seeded
mini-batches of the loop's batch size, cycling through the data as needed.
Used as the ``adapt`` plug-in of an evaluate message, on a copy of the sent model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from fedfair.config import Param
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:
    from fedfair.training import TrainConfig


class FineTune(LocalObjective):
    """``maml-finetune-steps`` plain SGD steps of size ``maml-finetune-lr``."""

    name = "finetune"
    params = {
        "maml-finetune-steps": Param(int, 5, "MAML-FL: SGD steps each client takes on its own data before deploying",
                                     "integer >= 0", lambda x: x >= 0),
        "maml-finetune-lr": Param(float, 0.01, "MAML-FL: step size of those fine-tuning steps", "float > 0",
                                  lambda x: x > 0),
    }

    def loop_config(self, loop: TrainConfig) -> TrainConfig:
        return replace(loop, lr=float(self.values["maml-finetune-lr"]), max_steps=int(self.values["maml-finetune-steps"]))

