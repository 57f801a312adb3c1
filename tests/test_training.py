"""Models and the local training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedfair.data import Split
from fedfair.metrics import fairness_report
from fedfair.models import build_model
from fedfair.training import Batch, TrainConfig, evaluate, proximal_term, train_local
from tests.helpers_fl import get_weights, set_weights


def _split(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    g = rng.integers(1, 3, n)
    return Split(x=x, y=y, sensitive={"g": g})


@pytest.mark.parametrize("spec", [{"model": "logreg"}, {"model": "mlp", "hidden": [16, 8]}])
def test_training_learns_a_separable_task(spec):
    data = _split()
    model = build_model(spec, 3, seed=0)
    before = evaluate(model, data).accuracy
    train_local(model, data, TrainConfig(lr=0.1, epochs=20, batch_size=32), seed=0)
    after = evaluate(model, data)
    assert after.accuracy > 0.95 > before


def test_training_is_reproducible_for_a_seed():
    data = _split()
    weights = []
    for _ in range(2):
        model = build_model({"model": "mlp", "hidden": [8]}, 3, seed=1)
        train_local(model, data, TrainConfig(epochs=2), seed=5)
        weights.append(get_weights(model))
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key])


def test_evaluation_group_tables_match_metrics_module():
    data = _split()
    model = build_model({"model": "logreg"}, 3, seed=0)
    train_local(model, data, TrainConfig(epochs=3), seed=0)
    result = evaluate(model, data, {"g": [1, 2, 3]})
    with torch.no_grad():
        pred = (model(torch.from_numpy(data.x)) > 0).numpy().astype(int)
    expected = fairness_report(data.y, pred, data.sensitive, values={"g": [1, 2, 3]})["g"]
    assert result.groups["g"].values == [1, 2, 3]
    assert result.groups["g"].counts.sum() == len(data)
    assert result.accuracy == pytest.approx((pred == data.y).mean())
    from fedfair.metrics import fairness_from_counts

    assert fairness_from_counts(result.groups["g"])["sp"] == pytest.approx(expected["sp"])


def test_proximal_term_pulls_towards_global_model():
    data = _split()
    anchor = build_model({"model": "logreg"}, 3, seed=0)
    free, prox = build_model({"model": "logreg"}, 3, seed=0), build_model({"model": "logreg"}, 3, seed=0)
    config = TrainConfig(lr=0.1, epochs=5)
    train_local(free, data, config, seed=0)
    train_local(prox, data, config, seed=0, penalties=[proximal_term(list(anchor.parameters()), mu=10.0)])

    def distance(m):
        return sum(((p - a) ** 2).sum().item() for p, a in zip(m.parameters(), anchor.parameters()))

    assert distance(prox) < 0.5 * distance(free)
    batch = Batch(torch.zeros(1, 3), torch.zeros(1), None, torch.zeros(1, dtype=torch.long))
    assert proximal_term(list(anchor.parameters()), 1.0)(anchor, batch).item() == 0.0


def test_sample_weights_change_what_is_learned():
    data = _split()
    weights = np.where(data.y == 1, 10.0, 0.1)
    plain, weighted = build_model({"model": "logreg"}, 3, seed=0), build_model({"model": "logreg"}, 3, seed=0)
    train_local(plain, data, TrainConfig(epochs=3), seed=0)
    train_local(weighted, data, TrainConfig(epochs=3), seed=0, sample_weight=weights)
    assert get_weights(weighted)["linear.bias"][0] > get_weights(plain)["linear.bias"][0] + 0.5


def test_set_weights_round_trip_and_unknown_model():
    model = build_model({"model": "mlp", "hidden": [4]}, 2, seed=0)
    other = build_model({"model": "mlp", "hidden": [4]}, 2, seed=9)
    set_weights(other, get_weights(model))
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="valid models: cnn, logreg, mlp"):
        build_model({"model": "resnet"}, 2)
    with pytest.raises(ValueError, match="model 'cnn' needs image features"):
        build_model({"model": "cnn"}, 2)
