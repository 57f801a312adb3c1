"""Bootstrap intervals: coverage of known rates, the counts shortcut against resampling rows, compare's marks."""

from __future__ import annotations

import numpy as np
import pytest

from fedfair.metrics import fairness_report, group_counts
from fedfair.uncertainty import (client_intervals, generator, mean_interval, metric_draws, overlap,
                                 paired_differences, paired_interval,
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


def _summaries(shift: float, seeds: int, rng: np.random.Generator, base: np.ndarray) -> list[dict]:
    """Runs of one entry: per seed, 12 clients whose accuracy is the shared client level ``base`` (strong client
    heterogeneity) plus a small seed noise plus ``shift``."""
    runs = []
    for seed in range(seeds):
        acc = base + shift + rng.normal(0, 0.002, len(base))
        runs.append({"seed": seed, "ci": {"level": 0.95, "resamples": 2000}, "mean": {"accuracy": float(acc.mean())},
                     "clients": [{"client": f"c{i}", "accuracy": float(a), "fairness": {"s": {"sp": 0.1, "eqop": None}}}
                                 for i, a in enumerate(acc)]})
    return runs


def test_compare_marks_a_small_consistent_difference_by_pairing(tmp_path):
    from fedfair.comparison import summarise, write_outputs

    rng = np.random.default_rng(0)
    base = rng.uniform(0.55, 0.95, 12)  # clients differ by far more than the entries do
    reference, better = _summaries(0.0, 5, rng, base), _summaries(0.01, 5, rng, base)
    rows = summarise(["ref"] * 5 + ["better"] * 5, reference + better)
    assert overlap(rows[0]["ci"]["accuracy"], rows[1]["ci"]["accuracy"])  # unpaired: no difference visible
    paired = rows[1]["paired"]["metrics"]["accuracy"]
    assert paired["mean"] == pytest.approx(0.01, abs=0.002) and paired["excludes_zero"] and paired["seeds"] == 5
    assert 0 < paired["interval"][0] < 0.01 < paired["interval"][1] < 0.02
    assert rows[1]["differs"] == ["accuracy"]  # sp equal in both: no *; eqop undefined: not compared
    assert paired_interval(paired_differences([{"a": None}], [{"a": 0.5}]), 0.95, 100, rng) is None
    write_outputs(tmp_path, rows, reference + better, {"dataset": "d", "rounds": 1, "seeds": [0, 1, 2, 3, 4]})
    table = (tmp_path / "table.md").read_text()
    assert "Paired differences from ref" in table and "5 seeds: a * is a difference the paired interval supports" in table
    line = next(t for t in table.splitlines() if t.startswith("| better") and "[+" in t)
    cell = line.split("|")[2].strip()
    assert cell.startswith(f"{paired['mean']:+.4f} [") and cell.endswith("*")
    # two seeds: the same report says it is not yet a claim
    rows = summarise(["ref"] * 2 + ["better"] * 2, reference[:2] + better[:2])
    write_outputs(tmp_path / "two", rows, reference[:2] + better[:2], {"dataset": "d", "rounds": 1, "seeds": [0, 1]})
    assert "not yet a claim" in (tmp_path / "two" / "table.md").read_text()


# ----- many clients at once (intervals_many): the same numbers as client_intervals, client by client ---------------

def _random_clients(seed: int, count: int = 120):
    """(accuracy, n_test, groups) of clients: absent groups, undefined pairs, one-group and empty attributes,
    multi-class tables, no test rows, an undefined accuracy, attribute sets that differ between clients."""
    from fedfair.metrics import GroupCounts

    rng = np.random.default_rng(seed)

    def table(n_values: int) -> GroupCounts:
        counts = rng.integers(0, 6, size=(n_values, 4)) * (rng.random((n_values, 4)) < 0.6)
        counts[rng.random(n_values) < 0.3] = 0
        multiclass = bool(rng.random() < 0.1)
        if multiclass:
            counts[:, 1:3] = 0
        return GroupCounts(list(range(n_values)), counts.astype(np.int64), multiclass=multiclass)

    clients = []
    for _ in range(count):
        groups = {"sex": table(2), "race": table(int(rng.integers(0, 6)))}
        if rng.random() < 0.4:
            groups["zip"] = table(9)
        if rng.random() < 0.1:
            groups = {}
        accuracy = float(rng.random()) if rng.random() > 0.05 else float("nan")
        n_test = int(rng.integers(1, 40)) if rng.random() > 0.05 else 0
        clients.append((accuracy, n_test, groups))
    return clients


@pytest.mark.parametrize("level, resamples, chunk_cells", [(0.95, 300, 1_000_000), (0.9, 200, 5_000), (0.5, 37, 1)])
def test_intervals_many_gives_exactly_client_intervals_for_every_client(level, resamples, chunk_cells):
    import json

    from fedfair.uncertainty import intervals_many

    clients = _random_clients(7)
    one = [client_intervals(a, n, g, level, resamples, generator(3, "client", k)) for k, (a, n, g) in enumerate(clients)]
    many = intervals_many([c[0] for c in clients], [c[1] for c in clients], [c[2] for c in clients], level, resamples,
                          [generator(3, "client", k) for k in range(len(clients))], chunk_cells=chunk_cells)
    assert many == one and json.dumps(many) == json.dumps(one)  # floats to the last bit, the same key order
    fairness = [v for ci in one for attr in ci["fairness"].values() for v in attr.values()]
    assert None in fairness and any(v is not None for v in fairness)
    assert any(0 < d < 1 for ci in one for attr in ci["defined"].values() for d in attr.values())
    assert intervals_many([], [], [], level, resamples, []) == []


def test_stack_metric_draws_equal_the_max_over_every_defined_pair():
    from fedfair.metrics import METRIC_NAMES, pair_gaps
    from fedfair.uncertainty import stack_metric_draws

    rng = np.random.default_rng(11)
    for n_groups in (0, 1, 2, 3, 9):
        stacks = rng.integers(0, 4, size=(5, 300, n_groups, 4)) * (rng.random((5, 300, n_groups, 4)) < 0.5)
        _, _, gaps = pair_gaps(stacks)
        draws = stack_metric_draws(stacks)
        for metric in METRIC_NAMES:
            gap = gaps[metric]
            defined = ~np.isnan(gap)
            expected = (np.where(defined.any(axis=-1), np.max(np.where(defined, gap, -np.inf), axis=-1, initial=-np.inf),
                                 np.nan))
            assert draws[metric].shape == expected.shape
            assert np.array_equal(draws[metric], expected, equal_nan=True), (n_groups, metric)


def test_percentile_intervals_equal_percentile_interval_row_by_row():
    from fedfair.uncertainty import percentile_interval, percentile_intervals

    rng = np.random.default_rng(5)
    draws = np.round(rng.random((400, 250)) * 40) / 40  # ties, as metric draws have
    finite = rng.integers(0, 251, size=400)
    finite[:100] = 250
    for row, keep in zip(draws, finite):
        row[rng.permutation(250)[: 250 - keep]] = rng.choice([np.nan, np.inf, -np.inf])
    for level in (0.95, 0.9, 0.5, 0.99):
        expected = np.array([percentile_interval(row, level) or (np.nan, np.nan) for row in draws])
        assert np.array_equal(percentile_intervals(draws, level), expected, equal_nan=True)


def test_recorder_summary_intervals_and_plots_switch(tmp_path, monkeypatch):
    import json

    from fedfair import results
    from fedfair.results import METRICS, PLOT, ClientEval, RunRecorder

    evals = [ClientEval(client=f"c{k}", partition_id=k, n_train=20, n_test=n, model="global", loss=0.4,
                        accuracy=a if a == a else 0.5, groups={"sex": g["sex"], "race": g["race"]})
             for k, (a, n, g) in enumerate(_random_clients(9, 40)) if g and n]  # the plot wants every attribute
    config = {"strategy": "fedavg", "dataset": "d", "rounds": 1, "seed": 4, "ci-resamples": 200}

    def finish(out, **extra):
        out.mkdir()
        (out / METRICS).write_text("")
        recorder = RunRecorder(out, {**config, **extra}, echo=False)
        recorder.record_round(1, evals)
        summary = recorder.finish(evals)
        return {k: v for k, v in summary.items() if k != "wall_seconds"}, (out / METRICS).read_text()

    vectorised = finish(tmp_path / "new")
    monkeypatch.setattr(results, "fairness_all", lambda evals, with_pairs=True: [e.fairness() for e in evals])
    monkeypatch.setattr(results, "intervals_many", lambda accuracies, n_tests, groups, level, resamples, rngs: [
        client_intervals(a, n, g, level, resamples, r) for a, n, g, r in zip(accuracies, n_tests, groups, rngs)])
    reference = finish(tmp_path / "reference", plots=False)
    assert json.dumps(vectorised, sort_keys=True) == json.dumps(reference, sort_keys=True)
    assert (tmp_path / "new" / PLOT).is_file() and not (tmp_path / "reference" / PLOT).exists()
