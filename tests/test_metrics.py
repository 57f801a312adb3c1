"""Fairness metrics against an independent, loop-based computation (and fairlearn)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.metrics import (
    GroupCounts,
    as_binary,
    fairness_from_counts,
    fairness_report,
    group_counts,
    intersect,
)


def oracle(y, p, g, values):
    """Plain-python metrics: per-group rates with explicit loops, then every pair."""
    rates = {}
    for v in values:
        rows = [k for k in range(len(g)) if g[k] == v]
        pos = [k for k in rows if y[k] == 1]
        neg = [k for k in rows if y[k] == 0]
        rates[v] = {
            "sel": sum(p[k] for k in rows) / len(rows) if rows else None,
            "tpr": sum(p[k] for k in pos) / len(pos) if pos else None,
            "fpr": sum(p[k] for k in neg) / len(neg) if neg else None,
            "tnr": sum(1 - p[k] for k in neg) / len(neg) if neg else None,
            "acc": sum(p[k] == y[k] for k in rows) / len(rows) if rows else None,
        }
    best = {m: (None, None) for m in ("sp", "eqop", "eo", "aod", "ad")}
    for a, b in itertools.combinations(values, 2):
        ra, rb = rates[a], rates[b]

        def gap(key):
            return None if ra[key] is None or rb[key] is None else abs(ra[key] - rb[key])

        gaps = {"sp": gap("sel"), "eqop": gap("tpr"), "ad": gap("acc")}
        gaps["eo"] = None if gap("tpr") is None or gap("fpr") is None else max(gap("tpr"), gap("fpr"))
        gaps["aod"] = None if gap("tpr") is None or gap("tnr") is None else (gap("tpr") + gap("tnr")) / 2
        for m, value in gaps.items():
            if value is not None and (best[m][0] is None or value > best[m][0]):
                best[m] = (value, [a, b])
    return best


@pytest.mark.parametrize("seed", range(5))
def test_report_matches_loop_oracle_on_random_three_valued_data(seed):
    rng = np.random.default_rng(seed)
    n = 400
    y, p = rng.integers(0, 2, n), rng.integers(0, 2, n)
    race = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["F", "M"], n)
    report = fairness_report(y, p, {"race": race, "sex": sex}, intersectional=True)
    for attr, groups in (("race", race), ("sex", sex), ("race+sex", intersect({"race": race, "sex": sex}, ["race", "sex"]))):
        values = sorted(set(groups.tolist()))
        expected = oracle(y.tolist(), p.tolist(), groups.tolist(), values)
        for metric, (value, pair) in expected.items():
            assert report[attr][metric] == pytest.approx(value, abs=1e-9), (attr, metric)
            assert sorted(map(str, report[attr][f"{metric}_pair"])) == sorted(map(str, pair))
    assert len(report["race+sex"]["n"]) == 6
    assert report["race"]["n"] == {str(v): int((race == v).sum()) for v in (1, 2, 3)}


def test_binary_attribute_agrees_with_fairlearn():
    fairlearn_metrics = pytest.importorskip("fairlearn.metrics")
    rng = np.random.default_rng(7)
    y, p, g = rng.integers(0, 2, 1000), rng.integers(0, 2, 1000), rng.choice(["a", "b", "c"], 1000)
    report = fairness_report(y, p, {"g": g})["g"]
    dpd = fairlearn_metrics.demographic_parity_difference(y, p, sensitive_features=g)
    eod = fairlearn_metrics.equalized_odds_difference(y, p, sensitive_features=g)
    frame = fairlearn_metrics.MetricFrame(metrics=fairlearn_metrics.true_positive_rate, y_true=y, y_pred=p, sensitive_features=g)
    assert report["sp"] == pytest.approx(dpd, abs=1e-12)
    assert report["eo"] == pytest.approx(eod, abs=1e-12)
    assert report["eqop"] == pytest.approx(frame.difference(), abs=1e-12)


def test_declared_group_absent_makes_its_pairs_undefined_not_zero():
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([1, 0, 0, 0, 1, 1])
    g = np.array([1, 1, 1, 2, 2, 2])
    report = fairness_report(y, p, {"race": g}, values={"race": [1, 2, 3]})["race"]
    assert report["n"] == {"1": 3, "2": 3, "3": 0}
    # the (1, 2) pair is defined: selection rates 1/3 vs 2/3
    assert report["sp"] == pytest.approx(1 / 3)
    assert report["sp_pair"] == [1, 2]
    assert report["undefined_pairs"]["sp"] == 2
    assert any("group 3 absent" in reason for reason in report["undefined"]["sp"])
    pairs = {(q["a"], q["b"]): q for q in report["pairs"]}
    assert pairs[(1, 3)]["sp"] is None and pairs[(2, 3)]["ad"] is None


def test_group_without_positives_leaves_eqop_undefined_and_sp_defined():
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([1, 0, 1, 0, 0])
    g = np.array(["a", "a", "b", "b", "b"])
    report = fairness_report(y, p, {"g": g})["g"]
    assert math.isnan(report["eqop"]) and report["eqop_pair"] is None
    assert math.isnan(report["eo"]) and math.isnan(report["aod"])
    assert report["sp"] == pytest.approx(abs(0.5 - 1 / 3))
    assert "no positive labels" in report["undefined"]["eqop"][0]


def test_single_group_is_undefined_with_reason():
    report = fairness_report([1, 0], [1, 1], {"g": ["x", "x"]})["g"]
    assert all(math.isnan(report[m]) for m in ("sp", "eqop", "eo", "aod", "ad"))
    assert "only one group" in report["undefined"]["sp"][0]


def test_counts_merge_across_clients_equals_pooled_counts():
    rng = np.random.default_rng(3)
    y, p, g = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.choice([1, 2, 3], 300)
    pooled = group_counts(y, p, g, [1, 2, 3])
    merged = group_counts(y[:100], p[:100], g[:100], [1, 2, 3]) + group_counts(y[100:], p[100:], g[100:], [3, 2, 1])
    assert merged.values == [1, 2, 3]
    np.testing.assert_array_equal(merged.counts, pooled.counts)
    again = GroupCounts.from_json(json.loads(json.dumps(pooled.to_json())))
    assert fairness_from_counts(again)["eo"] == fairness_from_counts(pooled)["eo"]


def test_as_binary_accepts_bools_strings_and_rejects_ambiguous():
    np.testing.assert_array_equal(as_binary([True, False]), [1, 0])
    np.testing.assert_array_equal(as_binary(["True", "false"]), [1, 0])
    np.testing.assert_array_equal(as_binary([">50K", "<=50K"], positive=">50K"), [1, 0])
    np.testing.assert_array_equal(as_binary([2, 1, 2], positive="2"), [1, 0, 1])
    with pytest.raises(ValueError, match="--positive"):
        as_binary(["yes", "no"])
    with pytest.raises(ValueError, match="never occurs"):
        as_binary(["yes", "no"], positive="maybe")


def test_cli_metrics_prints_json_for_each_attribute_and_intersection(tmp_path):
    rng = np.random.default_rng(11)
    n = 300
    frame = pd.DataFrame(
        {
            "label": rng.choice(["hi", "lo"], n),
            "pred": rng.choice(["hi", "lo"], n),
            "race": rng.choice([1, 2, 3], n),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(
        app, ["metrics", str(path), "--label", "label", "--pred", "pred", "--sensitive", "race,sex",
              "--intersectional", "--positive", "hi"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"race", "sex", "race+sex"}
    y, p = (frame["label"] == "hi").astype(int).tolist(), (frame["pred"] == "hi").astype(int).tolist()
    expected = oracle(y, p, frame["race"].tolist(), [1, 2, 3])
    for metric in ("sp", "eqop", "eo", "aod", "ad"):
        assert out["race"][metric] == pytest.approx(expected[metric][0], abs=1e-9)
    assert set(out["race"]) >= {"sp", "eqop", "eo", "aod", "ad", "sp_pair", "eqop_pair", "eo_pair", "n"}
    assert out["sex"]["n"] == {"F": int((frame.sex == "F").sum()), "M": int((frame.sex == "M").sum())}


def test_cli_metrics_names_missing_column(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"y": [0, 1], "p": [1, 1]}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["metrics", str(path), "--label", "y", "--pred", "p", "--sensitive", "sex"])
    assert result.exit_code == 2
    assert "['sex'] not found" in result.output


def test_intersection_with_declared_values_reports_absent_combinations():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 1, 1, 0, 1])
    sex = np.array([1, 1, 2, 2, 1, 1, 2, 2])
    race = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    report = fairness_report(y, p, {"sex": sex, "race": race}, values={"sex": [1, 2], "race": [1, 2, 3]},
                             intersectional=True)["sex+race"]
    assert report["n"] == {"sex=1|race=1": 2, "sex=1|race=2": 2, "sex=1|race=3": 0,
                           "sex=2|race=1": 2, "sex=2|race=2": 2, "sex=2|race=3": 0}
    labels = intersect({"sex": sex, "race": race}, ["sex", "race"])
    expected = oracle(y.tolist(), p.tolist(), labels.tolist(), sorted(set(labels.tolist())))
    assert report["sp"] == pytest.approx(expected["sp"][0], abs=1e-12)
    assert report["undefined_pairs"]["sp"] == 9  # 2 absent groups: 4 + 4 pairs with a present one, 1 between them


# ----- many clients at once (fairness_many): the same dicts as fairness_from_counts, table by table -----------------

def _random_tables(seed: int, count: int = 600) -> list[GroupCounts]:
    """Tables as clients send them: shared value lists (ints, strings, 1 / 1.0 / True, which print differently),
    groups absent or without positives / negatives (undefined pairs), one group or none, multi-class tables and
    soft (float) counts."""
    rng = np.random.default_rng(seed)
    value_lists = [[1, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9], ["a", "b", "c"], [1.0, 2.0], [True, False], [0], [], ["x|y", 5]]
    tables = []
    for _ in range(count):
        values = list(value_lists[rng.integers(len(value_lists))])
        counts = rng.integers(0, 5, size=(len(values), 4)) * (rng.random((len(values), 4)) < 0.6)
        counts[rng.random(len(values)) < 0.3] = 0  # absent groups
        kind = rng.random()
        if kind < 0.15:  # multi-class: correct / wrong per group
            counts[:, 1:3] = 0
            tables.append(GroupCounts(values, counts, multiclass=True))
        elif kind < 0.25:  # soft counts (expected confusion tables)
            tables.append(GroupCounts(values, counts * rng.random(counts.shape)))
        else:
            tables.append(GroupCounts(values, counts.astype(np.int64)))
    return tables


def _identical(a, b) -> bool:
    """Equal dicts with the same key order and floats equal to the last bit (json.dumps writes repr(float))."""
    return a == b and json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize("with_pairs", [True, False])
def test_fairness_many_gives_exactly_fairness_from_counts_for_every_table(with_pairs):
    from fedfair.metrics import fairness_many

    tables = _random_tables(3)
    many = fairness_many(tables, with_pairs=with_pairs)
    one = [fairness_from_counts(t, with_pairs=with_pairs) for t in tables]
    assert len(many) == len(one)
    assert all(_identical(a, b) for a, b in zip(many, one))
    # the cases the random tables are meant to hold all occur
    assert any(r.get("undefined", {}).get("sp") for r in one) and any(r.get("undefined", {}).get("eo") for r in one)
    assert any(math.isnan(r["sp"]) for r in one) and any(r["sp_pair"] for r in one)
    assert any("only one group" in r.get("undefined", {}).get("sp", [""])[0] for r in one)
    assert any(r.get("undefined", {}).get("sp") == ["no data"] for r in one)
    assert any(r.get("undefined", {}).get("sp", [""])[0].startswith("multi-class") for r in one)
    assert fairness_many([]) == []


def test_fairness_many_keeps_values_that_compare_equal_apart():
    from fedfair.metrics import fairness_many

    counts = np.array([[3, 1, 2, 0], [0, 2, 1, 3]])
    tables = [GroupCounts([1, 2], counts), GroupCounts([1.0, 2.0], counts), GroupCounts([True, 2], counts)]
    many = fairness_many(tables)
    assert [r["sp_pair"] for r in many] == [[1, 2], [1.0, 2.0], [True, 2]]
    assert [list(r["n"]) for r in many] == [["1", "2"], ["1.0", "2.0"], ["True", "2"]]
    assert all(_identical(a, fairness_from_counts(t)) for a, t in zip(many, tables))


def test_recorder_fairness_of_all_evaluations_equals_each_evaluation_s_own():
    from fedfair.results import ClientEval, fairness_all

    tables = _random_tables(5, 300)
    evals = [ClientEval(client=f"c{k}", partition_id=k, n_train=10, n_test=10, model="global", loss=0.5,
                        accuracy=0.7, groups={"a": tables[2 * k], "b": tables[2 * k + 1]} if k % 7 else {})
             for k in range(150)]
    assert all(_identical(a, e.fairness()) for a, e in zip(fairness_all(evals), evals))


def test_json_safe_replaces_nan_and_numpy_scalars_recursively():
    from fedfair.metrics import json_safe

    data = {"a": [1, True, None, "x", np.int64(2), float("nan"), np.float32(0.5)], 3: (np.bool_(True), [2.5])}
    assert json_safe(data) == {"a": [1, True, None, "x", 2, None, 0.5], "3": [True, [2.5]]}
    assert type(json_safe(data)["a"][4]) is int
