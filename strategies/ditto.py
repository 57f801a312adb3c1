"""Ditto (Li, Hu, Beirami, Smith, "Ditto: Fair and Robust Federated Learning Through Personalization", ICML 2021).

Each client k keeps a personal model v_k and solves (eq. 2)

    min_{v_k} h_k(v_k; w*) = F_k(v_k) + (lambda / 2) ||v_k - w*||^2,   w* = argmin_w G(F_1(w), ..., F_K(w)),

with G the usual FedAvg objective. Algorithm 1, one round: every sampled client receives w^t, (a) trains it
locally on F_k as in FedAvg and sends it back (lines 4-5; the server averages them weighted by n_k, Flower's
``FedAvg`` maths: w^(t+1)), and (b) updates its personal model for the same local epochs on
F_k(v_k) + (lambda / 2)||v_k - w^t||^2 from where it left it (the received w^t the first time; lines 6-8; the
client half: the ``ditto`` plug-in, :mod:`fedfair.local.ditto`). Each client deploys, and is evaluated with,
v_k; a client that never trained is evaluated with the global model. lambda (``ditto-lambda``, the plug-in's
parameter) trades the personal fit (0: local training only) against the global model (large: FedAvg's
model); the paper picks it per dataset from a grid (its Appendix), fedfair defaults to 0.1.
"""

from __future__ import annotations

from fedfair import protocol as p
from fedfair.strategies.fedavg import FedAvgStrategy


class DittoStrategy(FedAvgStrategy):
    """FedAvg for the global model; every client also trains and deploys its own proximal personal model."""

    name = "ditto"
    # the shared training is plain SGD; the plug-in then updates the personal model v_k (with ditto-lambda)
    objectives = ("ditto",)
    # "personal" falls back to the sent global model on a client that has not trained yet
    deploy_use, deploy_name = p.PERSONAL, "personal (Ditto)"
