"""Multi-class labels: softmax models, loss / accuracy vs scikit-learn, AD only for group fairness, the CNN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss

from fedfair.data import Split
from fedfair.metrics import fairness_from_counts, multiclass_group_counts
from fedfair.models import build_model
from fedfair.training import TrainConfig, evaluate, train_local


def _three_classes(n=900, seed=0) -> Split:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 3).astype(np.float32)
    return Split(x=x, y=y.astype(np.int64), sensitive={"g": rng.choice(["a", "b"], n)})


def test_multiclass_tables_give_the_accuracy_gap_and_nothing_else():
    rng = np.random.default_rng(1)
    y, pred, g = rng.integers(0, 5, 400), rng.integers(0, 5, 400), rng.choice([1, 2, 3], 400)
    table = multiclass_group_counts(y, pred, g, values=[1, 2, 3, 4])
    result = fairness_from_counts(table)
    accuracies = [accuracy_score(y[g == v], pred[g == v]) for v in (1, 2, 3)]
    assert result["ad"] == pytest.approx(max(accuracies) - min(accuracies))
    for metric in ("sp", "eqop", "eo", "aod"):
        assert math.isnan(result[metric])
        assert result["undefined"][metric] == ["multi-class label: only AD (the accuracy gap) is defined"]
    assert result["n"] == {"1": int((g == 1).sum()), "2": int((g == 2).sum()), "3": int((g == 3).sum()), "4": 0}
    merged = table + table
    assert merged.multiclass and fairness_from_counts(merged)["ad"] == pytest.approx(result["ad"])


@pytest.mark.parametrize("spec", [{"model": "logreg"}, {"model": "mlp", "hidden": [16]}])
def test_softmax_models_learn_and_evaluate_like_sklearn(spec):
    train, test = _three_classes(seed=0), _three_classes(seed=1)
    model = build_model(spec, 4, seed=0, num_classes=3)
    train_local(model, train, TrainConfig(lr=0.1, epochs=5), seed=0)
    result = evaluate(model, test, {"g": ["a", "b"]}, soft=True)
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(test.x)), dim=1).numpy()
    assert result.loss == pytest.approx(log_loss(test.y, proba, labels=[0, 1, 2]), rel=1e-4)
    assert result.accuracy == pytest.approx(accuracy_score(test.y, proba.argmax(1)))
    assert result.accuracy > 0.85
    table = result.groups["g"]
    assert table.multiclass and table.counts.sum() == len(test)
    correct = (proba.argmax(1) == test.y)
    assert table.counts[0, 0] == correct[test.sensitive["g"] == "a"].sum()
    expected_correct = proba[np.arange(len(test)), test.y][test.sensitive["g"] == "a"].sum()
    assert result.soft_groups["g"].counts[0, 0] == pytest.approx(expected_correct, rel=1e-5)


def test_cnn_shapes_and_input_checks():
    model = build_model({"model": "cnn"}, 784, seed=0, num_classes=10, input_shape=(1, 28, 28))
    assert model(torch.zeros(5, 784)).shape == (5, 10)
    small = build_model({"model": "cnn", "kernel": 3, "padding": 1, "channels": [4, 8], "fc": 16}, 64, num_classes=10,
                        input_shape=(1, 8, 8))
    assert small(torch.zeros(2, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="too small"):
        build_model({"model": "cnn"}, 64, num_classes=10, input_shape=(1, 8, 8))
    binary = build_model({"model": "cnn", "kernel": 3, "padding": 1}, 64, num_classes=2, input_shape=(1, 8, 8))
    assert binary(torch.zeros(3, 64)).shape == (3,)
