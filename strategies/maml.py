"""MAML-FL / Per-FedAvg (Fallah et al., 2020): FedAvg of a meta-model that clients adapt before use.

Training: FedAvg in which each client's local update is the first-order
Per-FedAvg step (Fallah et al., Algorithm 1, FO version; client half
:mod:`fedfair.local.per_fedavg`): per step, w_tmp = w - alpha * grad f(w; D)
and w <- w - beta * grad f(w_tmp; D'), beta = ``lr``, alpha = ``maml-alpha``,
for ``local-epochs`` epochs; the server averages the local models weighted by
n_i (Flower's ``FedAvg.aggregate_train``).

Deployment: each client takes the global meta-model and runs
``maml-finetune-steps`` SGD steps of size ``maml-finetune-lr`` on mini-batches
of its own training data (:mod:`fedfair.local.finetune`), then is evaluated
with that personalised model (a client without training data deploys the
meta-model as is). Seed 000 trains MAML-FL with lr 0.001 and 10 local epochs
on ACS; it does not give alpha or the number of adaptation steps: defaults
alpha = 0.01, 5 steps of size 0.01.
"""

from __future__ import annotations

from fedfair.strategies.fedavg import FedAvgStrategy


class MAMLStrategy(FedAvgStrategy):
    """Per-FedAvg meta-training; clients fine-tune the meta-model before deploying it."""

    name = "maml"
    objectives = ("per-fedavg",)
    adapt = "finetune"
    deploy_name = "global + fine-tuning"
