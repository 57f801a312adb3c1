"""AFL (Mohri et al., 2019): the simplex projection, the lambda ascent, one round by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate_many
from fedfair.training import evaluate
from fedfair.strategies.afl import afl_lambda_step, project_to_simplex


def test_the_projection_onto_the_simplex_is_the_closest_point():
    assert project_to_simplex(np.array([0.5, 0.5, 0.5])) == pytest.approx([1 / 3] * 3)
    assert project_to_simplex(np.array([2.0, 0.0, 0.0])) == pytest.approx([1, 0, 0])
    assert project_to_simplex(np.array([0.3, 0.3, 0.4])) == pytest.approx([0.3, 0.3, 0.4])  # already inside
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=5)
        x = project_to_simplex(v)
        assert x.min() >= 0 and x.sum() == pytest.approx(1.0)
        # no other point of the simplex is closer (random simplex points as competitors)
        others = rng.dirichlet(np.ones(5), size=200)
        assert np.linalg.norm(x - v) <= np.linalg.norm(others - v, axis=1).min() + 1e-12
    # the ascent moves weight toward the clients with the larger loss
    lam = afl_lambda_step(np.full(4, 0.25), np.array([0.2, 0.9, 0.4, 0.4]), 0.5)
    assert lam.sum() == pytest.approx(1.0) and lam.argmax() == 1 and lam[0] < 0.25


@pytest.mark.slow
def test_one_round_equals_a_hand_computation(synthetic_dir, tmp_path):
    """Round 1: lambda uniform, so the model is the plain mean of the local models (= FedAvg on these
    equal-sized clients); lambda after round 1 = Proj(uniform + gamma L(w^0)), L from the initial model."""
    config = {"strategy": "afl", "dataset": str(synthetic_dir), "rounds": 1, "seed": 5, "afl-lambda-lr": 0.5,
              "out-dir": str(tmp_path / "afl")}
    fedavg = {"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 1, "seed": 5, "out-dir": str(tmp_path / "fa")}
    afl, plain = simulate_many([config, fedavg], num_supernodes=8, echo=False, keep_going=False)
    assert [c["accuracy"] for c in afl["clients"]] == pytest.approx([c["accuracy"] for c in plain["clients"]], abs=1e-6)
    names = read_manifest(synthetic_dir).client_names
    start = build_model({"model": "logreg"}, 1, seed=5)
    losses = np.array([evaluate(start, load_client(synthetic_dir, name).train).loss for name in sorted(names)])
    expected = project_to_simplex(np.full(len(names), 1 / len(names)) + 0.5 * losses)
    recorded = afl["afl_lambda"][0]["lambda"]
    assert [recorded[name] for name in sorted(names)] == pytest.approx(expected, abs=1e-9)
    assert json.loads((tmp_path / "afl" / "status.json").read_text())["status"] == "complete"
