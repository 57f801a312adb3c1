"""The Python API: fedfair.run / load_run / compare / build_dataset, and every check made before Ray starts."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import fedfair
from fedfair.config import ParamError
from fedfair.data import DatasetError


@pytest.fixture()
def no_simulation(monkeypatch):
    """Any simulation (hence any Ray process) fails the test: the call must be refused before."""

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a simulation was started")

    monkeypatch.setattr("fedfair.simulation.simulate_many", refuse)


@pytest.mark.parametrize("call, message", [
    (dict(strategy="ifca", num_clusters=100), "num-clusters = 100 is larger than the number of clients with training "
                                              "data (8); choose num-clusters <= 8"),
    (dict(strategy="flhc", rounds=3), "hc-k1 = 5 leaves no round after clustering: set rounds > hc-k1 (rounds = 3)"),
    (dict(strategy="fair-fca", sensitive="race"), "sensitive attribute 'race' is not in the dataset; available: group"),
    (dict(strategy="fedavg", model="cnn"), "model 'cnn' needs image features"),
    (dict(strategy="fedavg", num_clusterz=2), "unknown parameter(s) ['num-clusterz']"),
    (dict(strategy="fedavg", lr=-1.0), "parameter 'lr'"),
    (dict(strategy="fedavgg"), "unknown strategy 'fedavgg'"),
    (dict(strategy="fedavg", model="my_missing_pkg.models:Net"), "cannot be imported on this machine"),
    (dict(strategy="fedavg", out_dir="elsewhere"), "out_dir= is not a run parameter here; pass out=..."),
])
def test_a_bad_call_fails_before_any_simulation_starts(no_simulation, tmp_path, call, message):
    with pytest.raises(ValueError) as err:
        fedfair.run(dataset="synthetic-gaussian-8", out=tmp_path / "run", **{"rounds": 10, **call})
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_prepare_run_takes_the_number_of_clients_from_the_dataset(synthetic_dir, tmp_path):
    prepared = fedfair.prepare_run({"strategy": "fedavg", "dataset": str(synthetic_dir), "out-dir": str(tmp_path / "o")})
    assert prepared.num_clients == 8 and prepared.facts.sensitive == {"group": [0, 1]}
    assert fedfair.prepare_run({"dataset": str(synthetic_dir), "min-nodes": 3}).num_clients == 3


def test_load_run_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(DatasetError, match="is not a fedfair run directory"):
        fedfair.load_run(tmp_path)


def test_build_dataset_needs_an_out_for_a_spec_and_names_a_bad_spec(tmp_path):
    with pytest.raises(ParamError, match="give out=DIR"):
        fedfair.build_dataset({"source": "synthetic-acs"})
    with pytest.raises(ParamError, match="neither a builtin dataset"):
        fedfair.build_dataset(tmp_path / "nope.json", tmp_path / "o")


def _expected_client_rows(summary: dict) -> list[dict]:
    """summary.json's clients flattened by hand (an independent reading of the file)."""
    rows = []
    for c in summary["clients"]:
        row = {"client": c["client"], "accuracy": c["accuracy"], "accuracy_lo": c["ci"]["accuracy"][0],
               "accuracy_hi": c["ci"]["accuracy"][1], "cluster": c["cluster"]}
        for attribute, metrics in c["fairness"].items():
            for metric, value in metrics.items():
                row[f"{metric}_{attribute}"] = value
                row[f"{metric}_{attribute}_lo"], row[f"{metric}_{attribute}_hi"] = c["ci"]["fairness"][attribute][metric]
        rows.append(row)
    return rows


@pytest.mark.slow
def test_run_in_process_gives_tables_of_its_files_and_a_cli_run_loads_to_the_same_tables(tmp_path):
    from typer.testing import CliRunner

    from fedfair.cli import app

    result = fedfair.run("ifca", "synthetic-gaussian-8", rounds=3, seed=0, out=tmp_path / "api")
    assert result.complete and result.summary["strategy"] == "ifca"
    summary = json.loads((tmp_path / "api" / "summary.json").read_text())
    clients = result.clients
    assert len(clients) == 8 and list(clients["client"]) == [c["client"] for c in summary["clients"]]
    for expected, (_, row) in zip(_expected_client_rows(summary), clients.iterrows()):
        for key, value in expected.items():
            assert row[key] == value or (isinstance(value, float) and math.isnan(value) and math.isnan(row[key])), key
    lines = [json.loads(line) for line in (tmp_path / "api" / "metrics.jsonl").read_text().splitlines()]
    rounds = result.rounds
    assert len(rounds) == len(lines) == 3 * 8 and sorted(set(rounds["round"])) == [1, 2, 3]
    assert list(rounds["accuracy"]) == [line["accuracy"] for line in lines]
    assert list(rounds["sp_group"]) == [line["fairness"]["group"]["sp"] for line in lines]
    assert result.mean["accuracy"] == pytest.approx(clients["accuracy"].mean())
    assert "accuracy_vs_fairness.png" in result.plots

    cli = CliRunner().invoke(app, ["run", "-s", "ifca", "-r", "3", "--seed", "0", "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    loaded = fedfair.load_run(tmp_path / "cli")
    pd.testing.assert_frame_equal(loaded.clients, clients)
    pd.testing.assert_frame_equal(loaded.rounds, rounds)
