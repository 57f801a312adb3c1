"""Ditto (Li et al., 2021): the global model is FedAvg's, each client deploys its proximal personal model."""

from __future__ import annotations

import json

import pytest

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate_many
from fedfair.training import TrainConfig, evaluate, proximal_term, train_local
from tests.helpers_fl import get_weights, set_weights
from tests.test_run import _seed_of

pytestmark = pytest.mark.slow


def test_two_rounds_equal_a_hand_computation(synthetic_dir, tmp_path):
    lam = 0.5
    ditto = {"strategy": "ditto", "dataset": str(synthetic_dir), "rounds": 2, "seed": 4, "ditto-lambda": lam,
             "out-dir": str(tmp_path / "ditto")}
    fedavg = {"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 2, "seed": 4, "out-dir": str(tmp_path / "fa")}
    summary, plain = simulate_many([ditto, fedavg], num_supernodes=8, echo=False, keep_going=False)
    params = json.loads((tmp_path / "ditto" / "config.json").read_text())
    loop = TrainConfig(lr=params["lr"], epochs=params["local-epochs"], batch_size=params["batch-size"])
    spec, n = {"model": "logreg"}, len(read_manifest(synthetic_dir).clients)
    global_w = get_weights(build_model(spec, 1, seed=4))
    personal = [None] * n
    for round_ in (1, 2):
        locals_, sizes = [], []
        for k in range(n):
            data = load_client(synthetic_dir, k)
            model = build_model(spec, data.n_features)
            set_weights(model, global_w)  # (a) the global model's local update, as FedAvg
            train_local(model, data.train, loop, seed=_seed_of(params, round_, k))
            locals_.append(get_weights(model))
            sizes.append(len(data.train))
            anchor = build_model(spec, data.n_features)
            set_weights(anchor, global_w)
            mine = build_model(spec, data.n_features)  # (b) v_k from where it was (w^t the first time)
            set_weights(mine, personal[k] if personal[k] is not None else global_w)
            train_local(mine, data.train, loop, seed=_seed_of(params, round_, k) + 1,
                        penalties=[proximal_term(list(anchor.parameters()), lam)])
            personal[k] = get_weights(mine)
        global_w = {key: sum(w[key] * (s / sum(sizes)) for w, s in zip(locals_, sizes)) for key in global_w}
    for entry, weights in zip(summary["clients"], personal):
        model = build_model(spec, 1)
        set_weights(model, weights)
        assert entry["accuracy"] == pytest.approx(evaluate(model, load_client(synthetic_dir, entry["client"]).test).accuracy,
                                                  abs=1e-12)
        assert entry["model"] == "personal (Ditto)"
    assert summary["clients"] != plain["clients"]  # clients deploy v_k, not FedAvg's global model
