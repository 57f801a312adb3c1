"""Bootstrap intervals: coverage of known rates, the counts shortcut against resampling rows, compare's marks."""

from __future__ import annotations

import numpy as np
import pytest

from fedfair.metrics import fairness_report, group_counts
from fedfair.uncertainty import (client_intervals, generator, mean_interval, metric_draws, overlap,
                                 seeds_and_clients_interval)

# a population with known rates: two equal groups, P(y = 1) = 0.4, TPR / FPR 0.8 / 0.3 (a) and 0.6 / 0.1 (b)
TPR, FPR = {"a": 0.8, "b": 0.6}, {"a": 0.3, "b": 0.1}
TRUE_SP = abs((0.4 * 0.8 + 0.6 * 0.3) - (0.4 * 0.6 + 0.6 * 0.1))  # 0.50 - 0.30
TRUE_EQOP = 0.2
TRUE_ACCURACY = 0.5 * (0.4 * 0.8 + 0.6 * 0.7) + 0.5 * (0.4 * 0.6 + 0.6 * 0.9)


def _client(rng, n=400):
    groups = np.where(rng.random(n) < 0.5, "a", "b")
    y = (rng.random(n) < 0.4).astype(int)
    tpr = np.where(groups == "a", TPR["a"], TPR["b"])
    fpr = np.where(groups == "a", FPR["a"], FPR["b"])
    y_hat = (rng.random(n) < np.where(y == 1, tpr, fpr)).astype(int)
    return groups, y, y_hat


def test_intervals_cover_known_rates_about_95_percent_of_the_time():
    covered = {"accuracy": 0, "sp": 0, "eqop": 0}
    draws = 200
    for seed in range(draws):
        groups, y, y_hat = _client(np.random.default_rng(seed))
        table = group_counts(y, y_hat, groups, values=["a", "b"])
        ci = client_intervals(float((y == y_hat).mean()), len(y), {"g": table}, 0.95, 1000, generator(seed, "c"))
        covered["accuracy"] += ci["accuracy"][0] <= TRUE_ACCURACY <= ci["accuracy"][1]
        covered["sp"] += ci["fairness"]["g"]["sp"][0] <= TRUE_SP <= ci["fairness"]["g"]["sp"][1]
        covered["eqop"] += ci["fairness"]["g"]["eqop"][0] <= TRUE_EQOP <= ci["fairness"]["g"]["eqop"][1]
    rates = {k: v / draws for k, v in covered.items()}
    # 200 draws at 95 %: a standard error of 1.5 points, so 0.90-0.99 is three of them
    assert all(0.90 <= r <= 0.99 for r in rates.values()), rates


def test_the_counts_shortcut_equals_resampling_the_rows():
    """Drawing the confusion cells multinomially is the row bootstrap: the same distribution of SP / EqOp as
    resampling the rows themselves and recomputing with fairness_report."""
    rng = np.random.default_rng(5)
    groups, y, y_hat = _client(rng, n=300)
    table = group_counts(y, y_hat, groups, values=["a", "b"])
    fast = metric_draws(table, 4000, np.random.default_rng(1))
    rows = np.random.default_rng(2).integers(0, len(y), size=(1500, len(y)))
    slow = {m: np.array([fairness_report(y[r], y_hat[r], {"g": groups[r]})["g"][m] for r in rows]) for m in ("sp", "eqop")}
    for metric in ("sp", "eqop"):
        assert np.mean(fast[metric]) == pytest.approx(np.mean(slow[metric]), abs=0.004)
        assert np.quantile(fast[metric], [0.025, 0.975]) == pytest.approx(np.quantile(slow[metric], [0.025, 0.975]), abs=0.01)
    # the point estimate sits inside; a group absent from the client makes the metric undefined, not 0
    assert fast["sp"].min() <= fairness_report(y, y_hat, {"g": groups})["g"]["sp"] <= fast["sp"].max()
    only_a = group_counts(y[groups == "a"], y_hat[groups == "a"], groups[groups == "a"], values=["a", "b"])
    ci = client_intervals(0.7, int((groups == "a").sum()), {"g": only_a}, 0.95, 200, generator(0, "x"))
    assert ci["fairness"]["g"]["sp"] is None and ci["defined"]["g"]["sp"] == 0.0


def test_mean_intervals_over_clients_and_over_seeds_and_clients():
    rng = generator(3, "m")
    values = [0.70, 0.72, 0.74, 0.90, None]
    low, high = mean_interval(values, 0.95, 2000, rng)
    assert low < np.mean([0.70, 0.72, 0.74, 0.90]) < high and low >= 0.70 and high <= 0.90
    assert mean_interval([0.5, None], 0.95, 100, rng) is None
    # two seeds that disagree give a wider interval than one seed with the same clients
    one = seeds_and_clients_interval([[0.70, 0.72, 0.74]], 0.95, 2000, rng)
    two = seeds_and_clients_interval([[0.70, 0.72, 0.74], [0.80, 0.82, 0.84]], 0.95, 2000, rng)
    assert two[1] - two[0] > one[1] - one[0]
    assert overlap([0, 1], [0.5, 2]) and not overlap([0, 0.4], [0.5, 2]) and overlap(None, [0, 1])


def test_compare_marks_only_differences_the_intervals_support():
    from fedfair.comparison import mark_differences

    rows = [{"label": "a", "ci": {"accuracy": [0.70, 0.74], "fairness": {"s": {"sp": [0.10, 0.20]}}}},
            {"label": "b", "ci": {"accuracy": [0.72, 0.76], "fairness": {"s": {"sp": [0.01, 0.05]}}}},
            {"label": "c", "ci": {"accuracy": [0.80, 0.85], "fairness": {"s": {"sp": [0.15, 0.30]}}}}]
    mark_differences(rows)
    assert [r["differs"] for r in rows] == [[], ["sp:s"], ["accuracy"]]
