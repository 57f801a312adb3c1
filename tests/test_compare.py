"""fedfair compare: every (strategy, seed) runs, the table is the mean and std of the runs' summaries."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.comparison import (accuracy_curve, checks_lines, inactive_mechanism, parse_entry, plan_runs,
                                still_improving)
from fedfair.config import ParamError
from fedfair.registry import UnknownNameError


def test_entries_carry_their_own_parameters(tmp_path):
    assert parse_entry("fair-fca@gamma=0.3@fairness=eqop") == ("fair-fca", {"gamma": 0.3, "fairness": "eqop"})
    configs = plan_runs("synthetic-gaussian-8", ["fedavg", "fair-fca@gamma=0.3"], [0, 1], 3, {"lr": 0.1}, tmp_path)
    assert [(c["strategy"], c["seed"], c.get("gamma")) for c in configs] == [
        ("fedavg", 0, None), ("fedavg", 1, None), ("fair-fca", 0, 0.3), ("fair-fca", 1, 0.3)]
    assert all(c["lr"] == 0.1 for c in configs)


def test_bad_entries_fail_before_anything_runs(tmp_path):
    with pytest.raises(UnknownNameError, match="valid strategies"):
        plan_runs("synthetic-gaussian-8", ["fedavg", "ifcaa"], [0], 3, {}, tmp_path)
    with pytest.raises(ParamError, match="fair-fca@gamma=2: parameter 'gamma'"):
        plan_runs("synthetic-gaussian-8", ["fair-fca@gamma=2"], [0], 3, {}, tmp_path)
    with pytest.raises(ParamError, match="twice"):
        plan_runs("synthetic-gaussian-8", ["fedavg", "fedavg"], [0], 3, {}, tmp_path)
    result = CliRunner().invoke(app, ["compare", "--strategies", "fedavg,nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown strategy 'nope'" in result.output
    assert not (tmp_path / "x" / "table.md").exists()


@pytest.mark.slow
def test_compare_table_is_mean_and_std_of_the_runs(synthetic_dir, tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", "--dataset", str(synthetic_dir), "--strategies", "fedavg,ifca",
                                      "--seeds", "2", "--rounds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("table.md", "table.csv", "results.json", "scatter.png"):
        assert (out / name).is_file()
    with open(out / "table.csv") as handle:
        rows = {r["strategy"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"fedavg", "ifca"}
    for label in ("fedavg", "ifca"):
        summaries = [json.loads((out / "runs" / f"{label}-seed{s}" / "summary.json").read_text()) for s in (0, 1)]
        acc = [s["mean"]["accuracy"] for s in summaries]
        sp = [s["mean"]["fairness"]["group"]["sp"] for s in summaries]
        assert float(rows[label]["accuracy_mean"]) == pytest.approx(np.mean(acc))
        assert float(rows[label]["accuracy_std"]) == pytest.approx(np.std(acc))
        assert float(rows[label]["sp_group_mean"]) == pytest.approx(np.mean(sp))
        assert rows[label]["failed"] == "0"
    assert "| ifca |" in (out / "table.md").read_text()
    assert "ifca clusters per seed" in result.output
    # every entry's accuracy per round (mean over seeds) is in results.json and drawn in curves.png
    results = json.loads((out / "results.json").read_text())
    for row in results["rows"]:
        curves = [accuracy_curve(out / "runs" / f"{row['label']}-seed{s}") for s in (0, 1)]
        assert row["checks"]["curve"] == [[r, pytest.approx((a0 + a1) / 2)] for (r, a0), (_, a1) in zip(*curves)]
    assert (out / "curves.png").is_file()
    # the scatter's bars are the table's intervals, entry by entry (issue 30)
    with open(out / "table.csv") as handle:
        table = {r["strategy"]: r for r in csv.DictReader(handle)}
    points = results["scatter"]
    assert {p["label"] for p in points} == {"fedavg", "ifca"} and all(p["bars"] == "interval" for p in points)
    for p in points:
        row = table[p["label"]]
        assert p["y_interval"] == [pytest.approx(float(row["accuracy_ci_low"])), pytest.approx(float(row["accuracy_ci_high"]))]
        key = f"{p['notion']}_{p['attribute']}"
        assert p["x_interval"] == [pytest.approx(float(row[f"{key}_ci_low"])), pytest.approx(float(row[f"{key}_ci_high"]))]
        assert p["x"] == pytest.approx(float(row[f"{key}_mean"])) and p["y"] == pytest.approx(float(row["accuracy_mean"]))


def test_checks_flag_runs_still_improving_and_mechanisms_that_never_acted():
    assert still_improving([(1, 0.60), (2, 0.70), (3, 0.74), (4, 0.75)]) == pytest.approx(0.01)
    assert still_improving([(1, 0.60), (2, 0.70), (3, 0.748), (4, 0.75)]) is None  # +0.002: a plateau
    assert still_improving([(1, 0.6), (2, 0.9)]) is None  # too few rounds to say
    assert inactive_mechanism({"strategy": "cfl-cosine", "clusters": [["a", "b", "c"]]}) == "never split (one cluster: FedAvg)"
    assert inactive_mechanism({"strategy": "cfl-cosine", "clusters": [["a"], ["b", "c"]]}) is None
    moved = {"group_weights": {"rounds": [{"state": {"lambda": [[0.5, 0.5]]}}, {"state": {"lambda": [[0.45, 0.55]]}}]}}
    still = {"group_weights": {"rounds": [{"state": {"lambda": [[0.5, 0.5]]}}, {"state": {"lambda": [[0.5002, 0.4998]]}}]}}
    assert inactive_mechanism(moved) is None and inactive_mechanism(still) == "multipliers did not move (< 0.001)"
    puffle = {"mitigation": {"name": "puffle", "rounds": [{"clients": {"a": {"puffle-lambda": 0.0}, "b": {"puffle-lambda": 0.0}}}]}}
    assert inactive_mechanism(puffle) == "PUFFLE's lambda stayed 0"
    rows = [{"label": "cfl", "checks": {"improving_seeds": 1, "seeds": 2, "still_improving": [0.02],
                                       "inactive": ["never split (one cluster: FedAvg)"]}}]
    assert checks_lines(rows)[-1] == ("- cfl: still improving in 1 of 2 seeds (accuracy gain over the last quarter of "
                                      "rounds: +0.020; more rounds or a larger lr); inactive: never split (one cluster: FedAvg)")


BASELINES = ("qffl", "afl", "ditto", "fedfb", "fed-fairbatch", "fed-fairgrad")


@pytest.mark.slow
def test_the_fair_fl_baselines_run_through_compare(synthetic_dir, tmp_path):
    """The six baselines of issue 21 in one compare (one simulation): every run completes with a row, a
    per-client interval and its own algorithm's record in summary.json."""
    out = tmp_path / "baselines"
    result = CliRunner().invoke(app, ["compare", "--dataset", str(synthetic_dir), "--strategies", ",".join(BASELINES),
                                      "--seeds", "1", "--rounds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "table.csv") as handle:
        rows = {r["strategy"]: r for r in csv.DictReader(handle)}
    assert set(rows) == set(BASELINES) and all(r["failed"] == "0" for r in rows.values())
    record = {"afl": "afl_lambda", "fedfb": "group_weights", "fed-fairbatch": "group_weights", "fed-fairgrad": "group_weights"}
    for name in BASELINES:
        summary = json.loads((out / "runs" / f"{name}-seed0" / "summary.json").read_text())
        assert summary["strategy"] == name and len(summary["clients"]) == 8
        assert all("ci" in c for c in summary["clients"])
        if name in record:
            assert len(summary[record[name]] if name == "afl" else summary[record[name]]["rounds"]) == 2
