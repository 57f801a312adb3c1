"""FedProx: the proximal local objective, n_i-weighted aggregation, clients deploy their local models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate
from fedfair.training import TrainConfig, evaluate, proximal_term, train_local
from tests.helpers_fl import get_weights, set_weights
from tests.test_run import _seed_of

pytestmark = pytest.mark.slow


def _local(root, k, spec, start, params, round_, mu):
    data = load_client(root, k)
    model = build_model(spec, data.n_features)
    set_weights(model, start)
    train_local(model, data.train, TrainConfig(lr=params["lr"], epochs=params["local-epochs"], batch_size=params["batch-size"]),
                seed=_seed_of(params, round_, k), penalties=[proximal_term(list(model.parameters()), mu)])
    return model, len(data.train)


def test_fedprox_matches_a_manual_computation(synthetic_dir, tmp_path):
    mu = 0.5
    out = tmp_path / "prox"
    summary = simulate({"strategy": "fedprox", "dataset": str(synthetic_dir), "rounds": 2, "seed": 2, "proximal-mu": mu,
                        "out-dir": str(out)}, num_supernodes=8, echo=False)
    params = json.loads((out / "config.json").read_text())
    spec = {"model": "logreg"}
    n_clients = len(read_manifest(synthetic_dir).clients)
    weights = get_weights(build_model(spec, 1, seed=2))
    for round_ in (1, 2):
        locals_ = [_local(synthetic_dir, k, spec, weights, params, round_, mu) for k in range(n_clients)]
        total = sum(n for _, n in locals_)
        weights = {key: sum(get_weights(m)[key] * (n / total) for m, n in locals_) for key in weights}
    # each client is evaluated with its own regularised local model of round 2
    for entry, (model, _) in zip(summary["clients"], locals_):
        data = load_client(synthetic_dir, entry["client"])
        assert entry["accuracy"] == pytest.approx(evaluate(model, data.test).accuracy, abs=1e-12)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"local (proximal)"}


def test_proximal_term_pulls_local_models_toward_the_global_one(synthetic_dir):
    spec, params = {"model": "logreg"}, {"lr": 0.1, "local-epochs": 3, "batch-size": 32, "seed": 0}
    start = get_weights(build_model(spec, 1, seed=0))
    distance = {}
    for mu in (0.0, 1.0, 5.0):
        model, _ = _local(synthetic_dir, 1, spec, start, params, 1, mu)
        distance[mu] = float(sum(torch.sum((torch.as_tensor(get_weights(model)[k]) - torch.as_tensor(start[k])) ** 2)
                                 for k in start))
    assert distance[0.0] > distance[1.0] > distance[5.0] > 0
    assert np.isfinite(list(distance.values())).all()


def test_negative_mu_is_rejected(synthetic_dir, tmp_path):
    from fedfair.config import ParamError, validate_params
    from fedfair.server_app import known_params

    with pytest.raises(ParamError, match="proximal-mu"):
        validate_params({"strategy": "fedprox", "proximal-mu": -1.0}, known_params())
