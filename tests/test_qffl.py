"""q-FFL over clients (Li et al., ICLR 2020, Algorithm 2): the server step by hand, one round by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate_many
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.strategies.allocation import qffl_step
from tests.helpers_fl import get_weights, set_weights
from tests.test_run import _seed_of


def _by_hand(w, locals_, losses, q, lr):
    """Algorithm 2, lines 6-9, written out: Delta_k = F_k^q L (w - w_k), h_k = q F_k^(q-1) ||L (w - w_k)||^2
    + L F_k^q, w - sum Delta / sum h."""
    L = 1.0 / lr
    deltas = [f ** q * L * (w - wk) for wk, f in zip(locals_, losses)]
    hs = [q * f ** (q - 1) * np.sum((L * (w - wk)) ** 2) + L * f ** q for wk, f in zip(locals_, losses)]
    return w - sum(deltas) / sum(hs)


def test_the_server_step_is_algorithm_2():
    rng = np.random.default_rng(0)
    w = rng.normal(size=5)
    locals_ = [w - 0.1 * rng.normal(size=5) for _ in range(3)]
    losses = [0.3, 0.9, 0.5]
    for q in (0.0, 1.0, 2.0):
        (updated,) = qffl_step([w], [[v] for v in locals_], losses, q, lr=0.05)
        # (Flower's maths adds 1e-10 to each loss before the powers: agreement to 1e-8, not to the last bit)
        np.testing.assert_allclose(updated, _by_hand(w, locals_, losses, q, 0.05), rtol=1e-8)
    (mean,) = qffl_step([w], [[v] for v in locals_], losses, 0.0, lr=0.05)
    np.testing.assert_allclose(mean, np.mean(locals_, axis=0), rtol=1e-8)  # q = 0: the plain mean
    # a larger loss pulls the model further toward that client's local model
    (fair,) = qffl_step([w], [[v] for v in locals_], [0.1, 5.0, 0.1], 1.0, lr=0.05)
    assert np.linalg.norm(fair - locals_[1]) < np.linalg.norm(mean - locals_[1])


@pytest.mark.slow
def test_one_round_equals_a_hand_computation(synthetic_dir, tmp_path):
    """Every client's F_k at the initial model, its local model, the q-FedAvg step: the deployed global model
    gives each client's recorded accuracy; q = 0 equals a FedAvg run on these equal-sized clients."""
    runs = {q: {"strategy": "qffl", "dataset": str(synthetic_dir), "rounds": 1, "seed": 3, "qffl-q": q,
                "out-dir": str(tmp_path / f"q{q}")} for q in (2.0, 0.0)}
    fedavg = {"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 1, "seed": 3, "out-dir": str(tmp_path / "fa")}
    qffl2, qffl0, plain = simulate_many([*runs.values(), fedavg], num_supernodes=8, echo=False, keep_going=False)
    params = json.loads((tmp_path / "q2.0" / "config.json").read_text())
    spec, n = {"model": "logreg"}, len(read_manifest(synthetic_dir).clients)
    start = get_weights(build_model(spec, 1, seed=3))
    keys = list(start)
    locals_, losses = [], []
    for k in range(n):
        data = load_client(synthetic_dir, k)
        model = build_model(spec, data.n_features)
        set_weights(model, start)
        losses.append(evaluate(model, data.train).loss)  # F_k(w^t) on the training split
        train_local(model, data.train, TrainConfig(lr=params["lr"], epochs=params["local-epochs"],
                                                   batch_size=params["batch-size"]), seed=_seed_of(params, 1, k))
        locals_.append(get_weights(model))
    flat = lambda weights: np.concatenate([np.asarray(weights[key], dtype=np.float64).ravel() for key in keys])  # noqa: E731
    updated = _by_hand(flat(start), [flat(m) for m in locals_], losses, 2.0, params["lr"])
    model, offset = build_model(spec, 1), 0
    new = {}
    for key in keys:
        size = np.asarray(start[key]).size
        new[key] = updated[offset:offset + size].reshape(np.shape(start[key])).astype(np.float32)
        offset += size
    set_weights(model, new)
    for entry in qffl2["clients"]:
        data = load_client(synthetic_dir, entry["client"])
        assert entry["accuracy"] == pytest.approx(evaluate(model, data.test).accuracy, abs=1e-12)
    assert [c["accuracy"] for c in qffl0["clients"]] == pytest.approx([c["accuracy"] for c in plain["clients"]], abs=1e-6)
    assert [c["accuracy"] for c in qffl2["clients"]] != [c["accuracy"] for c in plain["clients"]]
