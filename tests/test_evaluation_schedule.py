"""The evaluation schedule: folded into the next train message (same numbers, fewer messages), every
``eval-every``-th round, a seeded ``fraction-evaluate`` sample, the final round for everyone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedfair.config import ParamError
from tests.test_pinned_summaries import assert_same, comparable


def _evaluations(out) -> list[tuple]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return sorted((r["round"], r["client"], r["model"], r["accuracy"], r["loss"], json.dumps(r["groups"], sort_keys=True))
                  for r in rows if r["stage"] == "evaluate")


@pytest.fixture(scope="module")
def schedule_runs(synthetic_dir, tmp_path_factory):
    """One simulation (Ray starts once): FedAvg and IFCA with and without folding, and a sampled schedule."""
    from fedfair.simulation import simulate_many

    out = tmp_path_factory.mktemp("schedule")
    configs = {f"{strategy}-{fold}": {"strategy": strategy, "rounds": 4, "fold-evaluation": fold}
               for strategy in ("fedavg", "ifca") for fold in (True, False)}
    configs["sampled"] = {"strategy": "fedavg", "rounds": 5, "eval-every": 2, "fraction-evaluate": 0.5}
    summaries = simulate_many([{**c, "dataset": str(synthetic_dir), "out-dir": str(out / name)} for name, c in configs.items()],
                              num_supernodes=8, echo=False, keep_going=False)
    return {name: (summary, out / name) for name, summary in zip(configs, summaries)}


@pytest.mark.parametrize("strategy", ["fedavg", "ifca"])
def test_folded_evaluation_records_the_same_numbers_as_separate_evaluate_messages(schedule_runs, strategy):
    """FedAvg folds every round but the last (4 train + 1 evaluate message per client); IFCA folds for the
    clients whose cluster did not change."""
    (folded, folded_out), (separate, separate_out) = schedule_runs[f"{strategy}-True"], schedule_runs[f"{strategy}-False"]
    folded_rows, separate_rows = _evaluations(folded_out), _evaluations(separate_out)
    assert_same(comparable(folded), comparable(separate))
    assert [r[:3] for r in folded_rows] == [r[:3] for r in separate_rows] and len(folded_rows) >= 4 * 8
    for a, b in zip(folded_rows, separate_rows):
        assert a[3] == pytest.approx(b[3], abs=1e-12) and a[4] == pytest.approx(b[4], rel=1e-9) and a[5] == b[5]
    saved = separate["communication"]["messages"] - folded["communication"]["messages"]
    if strategy == "fedavg":  # per client: 4 train + 1 evaluate instead of 4 + 4
        assert {c["messages"] for c in folded["communication"]["clients"].values()} == {5} and saved == 3 * 8
    else:  # a client whose cluster changed between two rounds still gets an evaluate message
        assert 0 < saved <= 3 * 8


def test_personal_models_adapted_models_and_observed_scores_are_evaluated_in_their_round():
    """A personal model changes with the next training, an adapt step and observe() need the scores now."""
    from flwr.app import ArrayRecord

    from fedfair import protocol as p
    from fedfair.results import RunRecorder
    from fedfair.strategies.base import Deployed, FedFairStrategy
    from fedfair.strategies.maml import MAMLStrategy
    from fedfair.strategies.mmfl import FedFairMMFLStrategy

    class Plain(FedFairStrategy):
        name = "plain"

    recorder = RunRecorder.__new__(RunRecorder)
    sent = [(None, [Deployed("global", ArrayRecord())])]
    assert Plain({}, recorder).folds_evaluation(sent)
    assert not Plain({"fold-evaluation": False}, recorder).folds_evaluation(sent)
    assert not Plain({}, recorder).folds_evaluation([(None, [Deployed("personal", ArrayRecord(), use=p.PERSONAL)])])
    assert not Plain({}, recorder).folds_evaluation([(None, [Deployed("personal", None, use=p.PERSONAL)])])
    assert not MAMLStrategy({}, recorder).folds_evaluation(sent)
    assert not FedFairMMFLStrategy({}, recorder).folds_evaluation(sent)

def test_eval_every_and_fraction_evaluate_pick_the_recorded_rounds_and_clients(schedule_runs):
    summary, out = schedule_runs["sampled"]
    rows = _evaluations(out)
    names = [c["client"] for c in sorted(summary["clients"], key=lambda c: c["partition_id"])]
    expected = []
    for server_round in (2, 4):  # an independent draw of the documented seeded sample: stream 1 of (seed, round)
        chosen = sorted(np.random.default_rng([0, server_round, 1]).choice(8, size=4, replace=False).tolist())
        expected += [(server_round, names[i]) for i in chosen]
    expected += [(5, name) for name in names]  # the final round: every client
    assert [(r[0], r[1]) for r in rows] == sorted(expected)
    assert len(summary["clients"]) == 8
    # every client still trained every round (fraction-train 1): 5 train messages + the final evaluate
    assert {c["messages"] for c in summary["communication"]["clients"].values()} == {6}


def test_a_multi_model_strategy_refuses_to_skip_the_evaluations_it_allocates_from():
    from fedfair.strategies.mmfl import FedFairMMFLStrategy

    with pytest.raises(ParamError, match="eval-every must be 1"):
        FedFairMMFLStrategy.check_params({"eval-every": 3})
