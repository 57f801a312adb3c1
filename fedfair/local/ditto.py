"""Ditto's personal model (Li, Hu, Beirami, Smith, "Ditto: Fair and Robust Federated Learning Through
Personalization", ICML 2021) as a client-side plug-in.

The shared training is plain local SGD on F_k (Algorithm 1, lines 4-5: the model sent back and averaged by the
server). After it, :meth:`Ditto.update_personal` is Algorithm 1, lines 6-8: this node's personal model v_k
(the sent global model w^t the first time) is trained for the round's local epochs (the message's loop
settings) on

    h_k(v; w^t) = F_k(v) + (lambda / 2) ||v - w^t||^2        (eq. 2, with w* approximated by w^t),

the proximal anchor being the sent w^t, with its own shuffle seed (the train seed + 1), and kept on the node
for the run and task. Evaluation deploys it (``use: personal``). lambda is ``ditto-lambda``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedfair.config import Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective, PersonalModel

if TYPE_CHECKING:
    from fedfair.training import TrainConfig


class Ditto(LocalObjective):
    """Plain local SGD for the shared model; then the proximal personal model v_k (Ditto, Algorithm 1 lines 6-8)."""

    name = "ditto"
    params = {
        "ditto-lambda": Param(float, 0.1, "Ditto: weight lambda of the personal model's pull (lambda/2)||v - w||^2 "
                              "toward the received global model", "float >= 0", lambda x: x >= 0),
    }

    def update_personal(self, personal: PersonalModel, data: ClientData, loop: TrainConfig, seed: int) -> None:
        from fedfair.training import proximal_term, train_local

        anchor = personal.sent()  # w^t
        model = personal.load()  # v_k from where it was
        if model is None:
            model = personal.sent()  # the first time: w^t
        penalty = proximal_term(list(anchor.parameters()), float(self.values["ditto-lambda"]))
        train_local(model, data.train, loop, seed=seed + 1, penalties=[penalty])
        personal.save(model)
