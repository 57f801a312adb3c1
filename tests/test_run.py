"""End-to-end simulations: summary.json content, determinism, and that the
numbers equal an independent re-computation of FedAvg / Standalone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from flwr.app import ArrayRecord
from flwr.serverapp.strategy import FedAvg  # noqa: F401 (the aggregation the strategy reuses)

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.strategies.base import FedFairStrategy, NodeInfo
from tests.conftest import ADULT_DIR, needs_adult
from tests.helpers_fl import get_weights, set_weights

pytestmark = pytest.mark.slow


def _run(tmp_path, name, **config):
    out = tmp_path / name
    manifest = read_manifest(config["dataset"])
    summary = simulate({"out-dir": str(out), **config}, num_supernodes=len(manifest.clients), echo=False)
    return out, summary


def _seed_of(params, round_, partition_id):
    node = NodeInfo(0, "", partition_id, 0, 0, 0, {})
    return FedFairStrategy(params, recorder=None).train_seed(round_, node)


def _manual_fedavg_round(root, params, spec, init_weights):
    """One FedAvg round computed by hand: local SGD per client, n_i-weighted average."""
    manifest = read_manifest(root)
    locals_, sizes = [], []
    for k in range(len(manifest.clients)):
        data = load_client(root, k)
        model = build_model(spec, data.n_features)
        set_weights(model, init_weights)
        train_local(model, data.train, TrainConfig(lr=params["lr"], epochs=params["local-epochs"],
                                                   batch_size=params["batch-size"]), seed=_seed_of(params, 1, k))
        locals_.append(get_weights(model))
        sizes.append(len(data.train))
    total = sum(sizes)
    return {key: sum(w[key] * (n / total) for w, n in zip(locals_, sizes)) for key in locals_[0]}


def test_fedavg_summary_is_complete_deterministic_and_matches_manual_fedavg(synthetic_dir, tmp_path):
    config = {"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 1, "seed": 3}
    out_a, summary_a = _run(tmp_path, "a", **config)
    out_b, summary_b = _run(tmp_path, "b", **config)

    # the run directory
    assert json.loads((out_a / "status.json").read_text())["status"] == "complete"
    assert (out_a / "accuracy_vs_fairness.png").stat().st_size > 1000
    rows = [json.loads(line) for line in (out_a / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["model"] for r in rows} == {"global"}
    assert json.loads((out_a / "config.json").read_text())["seed"] == 3

    # summary.json as specified
    on_disk = json.loads((out_a / "summary.json").read_text())
    assert {"strategy", "dataset", "rounds", "seed", "wall_seconds", "clients", "mean", "clusters"} <= set(on_disk)
    assert on_disk["clusters"] is None and on_disk["strategy"] == "fedavg"
    client = on_disk["clients"][0]
    assert {"client", "partition_id", "n_train", "n_test", "accuracy", "loss", "cluster", "fairness"} <= set(client)
    assert set(client["fairness"]["group"]) == {"sp", "eqop", "eo", "aod", "ad"}
    assert [c["client"] for c in on_disk["clients"]] == [str(k) for k in range(1, 9)]
    assert on_disk["mean"]["accuracy"] == pytest.approx(np.mean([c["accuracy"] for c in on_disk["clients"]]))

    # same seed, same summary (apart from wall_seconds)
    strip = lambda s: {k: v for k, v in json.loads(json.dumps(s)).items() if k != "wall_seconds"}  # noqa: E731
    assert strip(summary_a) == strip(summary_b)

    # the global model equals a hand-computed FedAvg round
    params = json.loads((out_a / "config.json").read_text())
    spec = {"model": "logreg"}
    init = get_weights(build_model(spec, 1, seed=3))
    global_weights = _manual_fedavg_round(synthetic_dir, params, spec, init)
    for entry in summary_a["clients"]:
        data = load_client(synthetic_dir, entry["client"])
        model = build_model(spec, 1)
        set_weights(model, global_weights)
        result = evaluate(model, data.test)
        assert entry["accuracy"] == pytest.approx(result.accuracy, abs=1e-12)
        assert entry["loss"] == pytest.approx(result.loss, rel=1e-5)


def test_standalone_clients_keep_and_deploy_their_own_models(synthetic_dir, tmp_path):
    config = {"strategy": "standalone", "dataset": str(synthetic_dir), "rounds": 2, "seed": 1, "lr": 0.1}
    out, summary = _run(tmp_path, "standalone", **config)
    params = json.loads((out / "config.json").read_text())
    spec = {"model": "logreg"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {r["model"] for r in rows} == {"personal"}
    for entry in summary["clients"]:
        data = load_client(synthetic_dir, entry["client"])
        model = build_model(spec, 1, seed=1)  # shared seeded initialisation
        for round_ in (1, 2):  # the node's model persists across rounds
            train_local(model, data.train, TrainConfig(lr=0.1), seed=_seed_of(params, round_, data.partition_id))
        assert entry["accuracy"] == pytest.approx(evaluate(model, data.test).accuracy, abs=1e-12)
    # clients 2 and 5 have a group gap in their data, the others none: standalone models show it
    sp = {c["client"]: c["fairness"]["group"]["sp"] for c in summary["clients"]}
    assert min(sp["2"], sp["5"]) > max(sp[k] for k in ("1", "3", "4", "6", "7", "8"))


def test_standalone_sends_no_model_it_does_not_need(synthetic_dir, tmp_path):
    # the initialisation goes down once per client, no trained model comes back up (nothing is aggregated)
    config = {"strategy": "standalone", "dataset": str(synthetic_dir), "rounds": 3, "model": "mlp", "hidden": "512"}
    _, summary = _run(tmp_path, "standalone", **config)
    model_bytes = ArrayRecord(build_model({"model": "mlp", "hidden": [512]}, 1, seed=0).state_dict()).count_bytes()
    for client in summary["communication"]["clients"].values():
        assert model_bytes < client["down_bytes"] < 2 * model_bytes and client["up_bytes"] < model_bytes / 2


def test_run_fails_cleanly_when_a_client_lacks_the_sensitive_column(synthetic_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_dir, broken)
    path = broken / "client_001" / "test.parquet"
    pd.read_parquet(path).drop(columns=["group"]).to_parquet(path)
    out = tmp_path / "run"
    with pytest.raises(Exception, match=r"client '2', test split: sensitive column\(s\) \['group'\] not found"):
        simulate({"dataset": str(broken), "rounds": 1, "out-dir": str(out)}, num_supernodes=8, echo=False)
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "failed" and "group" in status["error"]
    assert not (out / "summary.json").exists()


@needs_adult()
@pytest.mark.parametrize("strategy", ["fedavg", "standalone"])
def test_adult_runs_with_real_files(strategy, tmp_path):
    from fedfair.registry import resolve_dataset

    root = resolve_dataset("adult", seed=0, data_root=str(ADULT_DIR))
    _, summary = _run(tmp_path, strategy, strategy=strategy, dataset=str(root), rounds=1, **{"data-root": str(ADULT_DIR)})
    assert [c["client"] for c in summary["clients"]] == ["0", "1", "2", "3", "4"]
    assert sum(c["n_train"] + c["n_test"] for c in summary["clients"]) == 48842
    assert summary["mean"]["accuracy"] > 0.75
    assert set(summary["clients"][0]["fairness"]) == {"race", "sex"}


def test_cli_run_prints_every_client_and_the_means(tmp_path):
    import re

    from typer.testing import CliRunner

    from fedfair.cli import app

    out = tmp_path / "cli-run"
    result = CliRunner().invoke(app, ["run", "--rounds", "1", "--seed", "2", "--set", "lr=0.1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 2 and json.loads((out / "config.json").read_text())["lr"] == 0.1
    for client in summary["clients"]:  # accuracy ± half the width of its 95 % bootstrap interval
        row = re.search(rf"│ {client['client']}\s+│\s+1200 │\s+1200 │\s+([0-9.]+)±([0-9.]+) │", result.output)
        low, high = client["ci"]["accuracy"]
        assert row and float(row.group(1)) == pytest.approx(client["accuracy"], abs=5e-5)
        assert float(row.group(2)) == pytest.approx((high - low) / 2, abs=5e-4)
    mean_row = re.search(r"│ mean\s+│\s+│\s+│\s+([0-9.]+)±", result.output)
    assert mean_row and float(mean_row.group(1)) == pytest.approx(summary["mean"]["accuracy"], abs=5e-5)
    assert "fairness gaps on group" in result.output and "±: half the width of the 95% bootstrap interval" in result.output
    # the over-rounds figure and the series it draws: every client's accuracy and SP gap of the evaluated round
    from fedfair.results import round_series

    assert (out / "rounds.png").is_file()
    series = round_series(out / "metrics.jsonl")
    assert series["rounds"] == [1]
    by_client = dict(zip(series["clients"][0], series["accuracy"][0]))
    assert by_client == pytest.approx({c["client"]: c["accuracy"] for c in summary["clients"]})
    assert dict(zip(series["clients"][0], series["sp"]["group"][0])) == pytest.approx(
        {c["client"]: c["fairness"]["group"]["sp"] for c in summary["clients"]})


def test_the_per_client_tables_of_47_clients_and_3_attributes_fit_100_columns(monkeypatch):
    import io

    from rich.console import Console

    import fedfair.cli as cli

    rng = np.random.default_rng(0)
    attrs = ("SEX", "RAC1P", "MAR")

    def gaps():
        return {a: {m: float(rng.random() * 0.3) for m in ("sp", "eqop", "eo")} for a in attrs}

    def ci(value, g):
        return {"accuracy": [value - 0.02, value + 0.03],
                "fairness": {a: {m: [v - 0.04, v + 0.05] for m, v in g[a].items()} for a in attrs}}

    clients = []
    for i in range(47):
        acc, g = float(rng.uniform(0.6, 0.9)), gaps()
        clients.append({"client": f"STATE_{i:02d}", "n_train": 12345, "n_test": 2345, "accuracy": acc, "loss": 0.4567,
                        "fairness": g, "ci": ci(acc, g), "cluster": i % 3})
    g = gaps()
    summary = {"strategy": "fair-fca", "dataset": "cross_silo_attribute_final", "rounds": 20, "seed": 0,
               "clients": clients, "mean": {"accuracy": 0.77, "loss": 0.45, "fairness": g, "ci": ci(0.77, g)},
               "ci": {"level": 0.95, "resamples": 1000}}
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=100, color_system=None))
    cli.print_task_summary(summary)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text  # no number cut
    for a in attrs:
        value = clients[46]["fairness"][a]["eo"]
        assert f"{value:.4f}±0.045" in text  # every client, every attribute, the interval's half width
