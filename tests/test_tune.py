"""fedfair tune: the search space and objectives as a user writes them, the selection rules, and a small search that
selects on the validation splits only."""

from __future__ import annotations

import json
import math

import pytest

import fedfair
from fedfair.comparison import parse_entry
from fedfair.config import ParamError
from fedfair.data import read_manifest
from fedfair.partitioners.builder import BuildSpec, build_dataset
from fedfair.tuning import (Dimension, Objective, TuneSettings, default_space, pareto_front, parse_objective,
                            parse_space, select, tune)


def test_space_and_objective_parse_or_name_the_problem():
    space = parse_space("lr=log:0.001:0.5, local-epochs=int:1:5, ifca-init=choice:client|random, gamma=float:0:1")
    assert space == [Dimension("lr", "log", 0.001, 0.5), Dimension("local-epochs", "int", 1, 5),
                     Dimension("ifca-init", "choice", choices=("client", "random")), Dimension("gamma", "float", 0, 1)]
    for bad in ("lr=log:0:1", "lr=uniform:0:1", "lr=float:1:0", "local-epochs=int:1:2.5", "lr"):
        with pytest.raises(ParamError) as err:
            parse_space(bad)
        assert "--space entry" in str(err.value) and "\n" not in str(err.value)
    assert parse_objective("accuracy:sp<=0.05") == Objective("constrained", "sp", 0.05)
    assert parse_objective("pareto:eqop") == Objective("pareto", "eqop")
    with pytest.raises(ParamError, match="use accuracy, accuracy:METRIC<=BOUND"):
        parse_objective("fairness")
    assert "fedfb-alpha=log" in default_space("fedfb") and "puffle-target" in default_space("fedavg", "puffle")


def test_selection_rules():
    trials = [{"number": 0, "state": "complete", "figures": {"accuracy": 0.80, "sp": 0.10}},
              {"number": 1, "state": "complete", "figures": {"accuracy": 0.78, "sp": 0.04}},
              {"number": 2, "state": "complete", "figures": {"accuracy": 0.75, "sp": 0.02}},
              {"number": 3, "state": "complete", "figures": {"accuracy": 0.74, "sp": 0.05}},  # dominated by 1 and 2
              {"number": 4, "state": "failed"}]
    assert select(trials, Objective("accuracy"))["trials"] == [0]
    assert select(trials, Objective("constrained", "sp", 0.045))["trials"] == [1]  # the most accurate feasible one
    none = select(trials, Objective("constrained", "sp", 0.01))
    assert none["trials"] == [2] and none["feasible"] is False and "no trial met sp <= 0.01" in none["note"]
    assert select(trials, Objective("pareto", "sp"))["trials"] == [0, 1, 2]
    assert pareto_front([(0.8, 0.1), (0.8, 0.1)]) == [0, 1]  # equal points dominate neither


@pytest.fixture(scope="module")
def val_dataset(tmp_path_factory):
    spec = BuildSpec(source="synthetic-acs", source_options={"states": ["AL", "AK", "AZ", "AR"]}, max_train=150, max_test=60)
    return build_dataset(spec, tmp_path_factory.mktemp("tune") / "d")


def test_tune_selects_on_validation_splits_and_writes_a_compare_entry(val_dataset, tmp_path):
    settings = TuneSettings(strategy="fedavg", dataset=str(val_dataset), space=tuple(parse_space("lr=log:0.005:0.5")),
                            objective=Objective("constrained", "sp", 0.5), trials=3, seeds=(0,), rounds=2)
    result = tune(settings, tmp_path / "out", echo=False)
    saved = json.loads((tmp_path / "out" / "tune.json").read_text())
    assert saved["budget"] == {"trials": 3, "seeds": [0], "runs": 3, "rounds": 2} and len(saved["trials"]) == 3
    n_val = {c.name: c.n_val for c in read_manifest(val_dataset).clients}
    for trial in saved["trials"]:
        summary = json.loads((tmp_path / "out" / "trials" / f"{trial['number']:03d}-seed0" / "summary.json").read_text())
        assert {c["client"]: c["n_test"] for c in summary["clients"]} == n_val  # scored on validation rows
        assert trial["figures"]["accuracy"] == pytest.approx(summary["mean"]["accuracy"])
    feasible = [t for t in saved["trials"] if t["figures"]["sp"] <= 0.5]
    best = max(feasible, key=lambda t: t["figures"]["accuracy"])
    assert saved["selection"]["trials"] == [best["number"]] and result["selection"]["feasible"]
    name, params = parse_entry(saved["selection"]["entries"][0])
    assert name == "fedavg" and math.isclose(params["lr"], best["params"]["lr"], rel_tol=1e-3)
    assert "fedfair compare --dataset" in (tmp_path / "out" / "tune.md").read_text()
    # the same sampler seed proposes the same settings
    again = tune(settings.__class__(**{**settings.__dict__, "trials": 1}), tmp_path / "again", echo=False)
    assert again["trials"][0]["params"] == saved["trials"][0]["params"]


def test_tune_refuses_a_dataset_without_validation_splits_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setattr("fedfair.api.run_configs", lambda *a, **k: pytest.fail("a run started"))
    settings = TuneSettings(strategy="fedavg", dataset="synthetic-gaussian-8", space=tuple(parse_space("lr=log:0.01:0.1")),
                            objective=Objective("accuracy"), trials=2, seeds=(0,), rounds=2)
    with pytest.raises(ParamError, match="has no validation split, which tune selects on: rebuild it with one"):
        tune(settings, tmp_path / "out", echo=False)
    with pytest.raises(ParamError, match="--objective 'fair': use accuracy"):  # the Python API, the same checks
        fedfair.tune("fedavg", "synthetic-gaussian-8", objective="fair", out=tmp_path / "api")
    with pytest.raises(ParamError, match=r"\['eval-split'\] cannot be searched or set here"):
        tune(TuneSettings(**{**settings.__dict__, "overrides": (("eval-split", "test"),)}), tmp_path / "o2", echo=False)
