"""The TensorBoard export's series (issue 30, "Tracking"): every client's fairness per round, the worst client, and
what the strategy adapts (FairFed's weights, AFL's lambda, group weights, the number of clusters). Unique run names
and re-exports: tests/test_outdirs.py; the mean curves and a bench's export: tests/test_bench.py."""

from __future__ import annotations

import json

import pytest

from fedfair.tracking import export_tensorboard, strategy_series


def _rows():
    def row(rnd, client, acc, sp, eo, cluster):
        return {"round": rnd, "client": client, "accuracy": acc, "stage": "evaluate", "cluster": cluster,
                "fairness": {"SEX": {"sp": sp, "eqop": None, "eo": eo}}}
    return [row(1, "a", 0.6, 0.10, 0.2, 0), row(1, "b", 0.8, 0.30, 0.1, 0),
            row(2, "a", 0.7, 0.20, 0.3, 0), row(2, "b", 0.9, 0.05, 0.1, 1)]


SUMMARY = {
    "rounds": 2, "clients": [{"client": "a", "accuracy": 0.7}, {"client": "b", "accuracy": 0.9}],
    "weight_history": [{"round": 1, "global_gap": 0.2, "clients": {"a": {"weight": 0.4}, "b": {"weight": 0.6}}},
                       {"round": 2, "global_gap": 0.1, "clients": {"a": {"weight": 0.3}, "b": {"weight": 0.7}}}],
    "afl_lambda": [{"round": 1, "lambda": {"c": 0.25}}],
    "group_weights": {"values": [1, 2], "rounds": [{"round": 1, "weights": [[0.1, 0.2], [0.3, 0.4]]}]},
    "cluster_history": [{"round": 1, "clusters": None}, {"round": 2, "clusters": {"a": 0, "b": 1, "c": 1}}],
}


def test_strategy_series_reads_weights_lambda_group_weights_and_cluster_counts():
    series = {(tag, step): value for tag, step, value in strategy_series(SUMMARY)}
    assert series[("strategy/weight/a", 2)] == 0.3 and series[("strategy/global_gap", 1)] == 0.2  # FairFed
    assert series[("strategy/weight/c", 1)] == 0.25  # AFL's lambda
    assert series[("strategy/group_weight/y1/2", 1)] == 0.4  # weights[label 1][value 2]
    assert [(step, v) for (tag, step), v in series.items() if tag == "strategy/clusters"] == [(2, 2.0)]  # round 1: none yet
    cfl = {"cfl_history": [{"round": 1, "cluster": 0, "split": False},  # one record per cluster and round
                           {"round": 2, "cluster": 0, "split": True, "parts": [["a"], ["b", "c"]]},
                           {"round": 3, "cluster": 0, "split": False}, {"round": 3, "cluster": 1, "split": False}]}
    assert strategy_series(cfl) == [("strategy/clusters", 1, 1.0), ("strategy/clusters", 2, 2.0),
                                    ("strategy/clusters", 3, 2.0)]
    assert strategy_series({"clients": []}) == []


def test_the_export_holds_per_client_fairness_the_worst_client_and_the_strategy_s_weights(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "runs" / "fairfed-seed0"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    (run / "config.json").write_text(json.dumps({"strategy": "fairfed"}))
    (run / "summary.json").write_text(json.dumps(SUMMARY))
    logdir = export_tensorboard([run], tmp_path / "tb", base=tmp_path)
    events = EventAccumulator(str(logdir / "runs" / "fairfed-seed0"))
    events.Reload()

    def curve(tag):
        return [(e.step, round(e.value, 6)) for e in events.Scalars(tag)]

    assert curve("client/a/sp/SEX") == [(1, 0.1), (2, 0.2)] and curve("client/b/eo/SEX") == [(1, 0.1), (2, 0.1)]
    assert "client/a/eqop/SEX" not in events.Tags()["scalars"]  # undefined every round: no curve
    assert curve("worst/accuracy") == [(1, 0.6), (2, 0.7)] and curve("worst/sp/SEX") == [(1, 0.3), (2, 0.2)]
    assert curve("strategy/weight/b") == [(1, 0.6), (2, 0.7)] and curve("strategy/global_gap") == [(1, 0.2), (2, 0.1)]
    assert curve("strategy/group_weight/y0/1") == [(1, 0.1)]
    assert curve("strategy/clusters") == [(2, 2.0)]
