"""Pure pieces of the clustered and fair strategies, checked against independent computations."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from fedfair.config import ParamError, validate_params
from fedfair.data import Split
from fedfair.metrics import group_counts, soft_group_counts
from fedfair.models import build_model
from fedfair.server_app import known_params
from fedfair.local.per_fedavg import PerFedAvgStep
from fedfair.training import TrainConfig, train_local
from fedfair.strategies.aggregation import record_of, state_of, weighted_average
from fedfair.strategies.clustering import hierarchical_clusters
from fedfair.strategies.fairness import fairness_gap
from fedfair.strategies.fair_flhc import psi_from_cross
from fedfair.strategies.fairfed import fairfed_weights, signed_gap

REPO = Path(__file__).resolve().parents[1]


def test_fairness_gap_matches_rates_computed_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1])
    p = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 1])
    g = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    table = group_counts(y, p, g)
    sel = [p[g == v].mean() for v in (0, 1)]
    tpr = [p[(g == v) & (y == 1)].mean() for v in (0, 1)]
    fpr = [p[(g == v) & (y == 0)].mean() for v in (0, 1)]
    assert fairness_gap(table, "sp") == pytest.approx(abs(sel[0] - sel[1]))
    assert fairness_gap(table, "eqop") == pytest.approx(abs(tpr[0] - tpr[1]))
    assert fairness_gap(table, "eo") == pytest.approx(max(abs(tpr[0] - tpr[1]), abs(fpr[0] - fpr[1])))
    assert signed_gap(table, "sp") == pytest.approx(sel[0] - sel[1])
    assert signed_gap(table, "eqop") == pytest.approx(tpr[0] - tpr[1])
    # one group only: undefined, never 0
    assert math.isnan(fairness_gap(group_counts(y[:5], p[:5], g[:5]), "sp"))
    assert math.isnan(signed_gap(group_counts(y[:5], p[:5], g[:5]), "sp"))


def test_soft_counts_are_mean_probabilities():
    y = np.array([1, 0, 1, 0, 1])
    proba = np.array([0.9, 0.2, 0.4, 0.7, 0.5])
    g = np.array(["a", "a", "b", "b", "b"])
    table = soft_group_counts(y, proba, g)
    assert table.values == ["a", "b"]
    assert fairness_gap(table, "sp") == pytest.approx(abs(proba[:2].mean() - proba[2:].mean()))
    assert fairness_gap(table, "eqop") == pytest.approx(abs(0.9 - (0.4 + 0.5) / 2))
    assert table.counts.sum() == pytest.approx(len(y))


def test_hierarchical_clusters_threshold_and_count():
    # two tight pairs far apart plus one point close to the second pair
    points = np.array([[0.0], [0.1], [5.0], [5.2], [5.3]])
    d = np.abs(points - points.T)
    assert hierarchical_clusters(d, 1.0, 0, "average").tolist() == [0, 0, 1, 1, 1]
    assert hierarchical_clusters(d, 0.0, 2, "ward").tolist() == [0, 0, 1, 1, 1]
    assert len(set(hierarchical_clusters(d, 0.05, 0, "single").tolist())) == 5


def test_psi_readings():
    # on[j, i] = gap of model i on data j
    on = np.array([[0.1, 0.5, 0.2], [0.2, 0.3, 0.4], [0.6, 0.1, np.nan]])
    cross = psi_from_cross(on, "cross")
    assert cross[0, 1] == cross[1, 0] == 0.5 and cross[0, 2] == 0.6 and cross[1, 2] == 0.4
    assert np.all(np.diag(cross) == 0)  # an undefined own gap does not matter on the diagonal
    own = psi_from_cross(on, "self")
    assert own[0, 1] == 0.3 and np.isnan(own[0, 2]) and np.isnan(own[1, 2])


def test_fairfed_weights_move_toward_clients_close_to_the_global_gap():
    previous = np.array([0.25, 0.25, 0.25, 0.25])
    delta = np.array([0.0, 0.0, 0.1, 0.3])  # |F_global - F_k|
    new, clipped = fairfed_weights(previous, delta, beta=1.0, sizes=np.ones(4))
    raw = previous - (delta - delta.mean())  # eq. 6 by hand
    assert clipped == 0
    assert new == pytest.approx(raw / raw.sum())
    assert new[0] > new[2] > new[3]
    big, clipped = fairfed_weights(previous, delta, beta=10.0, sizes=np.ones(4))
    assert clipped >= 1 and big[3] == 0 and big.sum() == pytest.approx(1)


def test_weighted_average_and_state_roundtrip():
    a = record_of({"w": np.array([[1.0, 2.0]]), "b": np.array([1.0])})
    b = record_of({"w": np.array([[3.0, 6.0]]), "b": np.array([5.0])})
    avg = state_of(weighted_average([a, b], [1, 3]))
    assert avg["w"] == pytest.approx(np.array([[2.5, 5.0]]))
    assert avg["b"] == pytest.approx([4.0])


def test_per_fedavg_step_matches_a_numpy_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = (rng.random(8) > 0.5).astype(np.int64)
    data = Split(x=x, y=y, sensitive={"g": np.zeros(8, dtype=np.int64)})
    model = build_model({"model": "logreg"}, 3, seed=1)
    w0 = model.linear.weight.detach().numpy().astype(np.float64).ravel().copy()
    b0 = float(model.linear.bias.detach().numpy()[0])
    alpha, beta = 0.3, 0.2
    train_local(model, data, TrainConfig(lr=beta, epochs=1, batch_size=4), seed=5, step=PerFedAvgStep(alpha))
    order = torch.randperm(8, generator=torch.Generator().manual_seed(5)).numpy()
    inner, outer = order[:4], order[4:]

    def grad(w, b, idx):
        p = 1 / (1 + np.exp(-(x[idx].astype(np.float64) @ w + b)))
        r = (p - y[idx]) / len(idx)
        return x[idx].T.astype(np.float64) @ r, r.sum()

    gw, gb = grad(w0, b0, inner)
    tw, tb = w0 - alpha * gw, b0 - alpha * gb
    gw, gb = grad(tw, tb, outer)  # first-order MAML: the outer gradient at the adapted point
    assert model.linear.weight.detach().numpy().ravel() == pytest.approx(w0 - beta * gw, abs=1e-6)
    assert float(model.linear.bias.detach()[0]) == pytest.approx(b0 - beta * gb, abs=1e-6)


@pytest.mark.parametrize(
    "key, value, message",
    [("gamma", 1.5, "gamma"), ("gamma", -0.1, "[0, 1]"), ("fairness", "dp", "sp, eqop or eo"),
     ("hc-linkage", "median", "ward"), ("num-clusters", -1, "integer >= 0"), ("psi-reading", "both", "cross or self")],
)
def test_bad_strategy_parameters_are_rejected_with_the_range(key, value, message):
    with pytest.raises(ParamError, match=key) as err:
        validate_params({"strategy": "fair-fca", key: value}, known_params())
    assert message in str(err.value)


def test_flower_app_config_lists_every_parameter_with_its_default():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    specs = known_params(plugins_too=False)  # fedfair's own; an installed plugin's are not in fedfair's pyproject
    assert set(config) == set(specs)
    assert {k: v for k, v in config.items()} == {k: s.default for k, s in specs.items()}



def test_fairfed_af_mixes_accuracy_and_fairness_deviations():
    from types import SimpleNamespace

    from fedfair.strategies.fairfed import FairFedAFStrategy, FairFedStrategy

    local_gap, local_acc = np.array([0.1, -0.2, np.nan]), np.array([0.8, 0.7, 0.6])
    global_gap, global_acc = 0.0, 0.75
    fair = FairFedStrategy.deltas(SimpleNamespace(params={}), local_gap, global_gap, local_acc, global_acc)
    # FairFed: |F - F_k|; a client with an undefined gap uses |Acc - Acc_k|
    assert fair == pytest.approx([0.1, 0.2, 0.15])
    for lam in (0.0, 0.3, 1.0):
        af = FairFedAFStrategy.deltas(SimpleNamespace(params={"fairfed-acc-weight": lam}), local_gap, global_gap,
                                      local_acc, global_acc)
        assert af == pytest.approx([lam * 0.05 + (1 - lam) * 0.1, lam * 0.05 + (1 - lam) * 0.2, 0.15])
