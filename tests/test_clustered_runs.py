"""End-to-end behaviour of the seed-000 strategies on federations with a known structure."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from fedfair.data import load_client, read_manifest
from fedfair.models import build_model
from fedfair.simulation import simulate_many
from fedfair.local.per_fedavg import PerFedAvgStep
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.strategies.maml import MAMLStrategy
from tests.helpers_fl import get_weights, set_weights, two_cluster_federation
from tests.test_run import _seed_of

pytestmark = pytest.mark.slow

PAPER_GAMMA_1 = {frozenset({"1", "3"}), frozenset({"2", "4", "5", "6", "7", "8"})}


def _as_sets(clusters):
    return {frozenset(c) for c in clusters}


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def gaussian_runs(synthetic_dir, tmp_path_factory):
    """One simulation, many runs on the 8-client Gaussian benchmark (seed 000, Table 2)."""
    base = tmp_path_factory.mktemp("gauss")
    hc = {"num-clusters": 0, "hc-threshold": 0.35, "hc-k1": 3, "rounds": 5}
    plan = {
        "ifca": {"strategy": "ifca", "rounds": 6},
        "fair-fca-1": {"strategy": "fair-fca", "gamma": 1.0, "rounds": 6},
        "fair-fca-0": {"strategy": "fair-fca", "gamma": 0.0, "rounds": 6},
        "flhc": {"strategy": "flhc", **hc},
        "fair-flhc-1": {"strategy": "fair-flhc", "gamma": 1.0, **hc},
        "fair-flhc-0": {"strategy": "fair-flhc", "gamma": 0.0, **hc},
        "flhc-tiny": {"strategy": "flhc", **hc, "hc-threshold": 1e-6},
        "fairfed": {"strategy": "fairfed", "rounds": 4},
        "ifca-k9": {"strategy": "ifca", "num-clusters": 9, "rounds": 2},
        "fair-fca-race": {"strategy": "fair-fca", "sensitive": "race", "rounds": 2},
    }
    configs = [{"dataset": str(synthetic_dir), "seed": 0, "out-dir": str(base / name), **cfg} for name, cfg in plan.items()]
    summaries = simulate_many(configs, num_supernodes=8, echo=False)
    return {name: (s, base / name) for name, s in zip(plan, summaries)}


def test_ifca_recovers_the_papers_clusters_and_records_them_every_round(gaussian_runs):
    summary, out = gaussian_runs["ifca"]
    assert _as_sets(summary["clusters"]) == PAPER_GAMMA_1
    rows = _rows(out)
    assert {r["round"] for r in rows} == set(range(1, 7))
    assert all(r["cluster"] in (0, 1) for r in rows)
    by_client = {c["client"]: c["cluster"] for c in summary["clients"]}
    assert by_client["1"] == by_client["3"] != by_client["2"]
    assert len(summary["cluster_history"]) == 6


def test_fair_fca_with_gamma_1_is_ifca(gaussian_runs):
    ifca, fair = gaussian_runs["ifca"][0], gaussian_runs["fair-fca-1"][0]
    assert fair["clusters"] == ifca["clusters"]
    assert [c["accuracy"] for c in fair["clients"]] == [c["accuracy"] for c in ifca["clients"]]
    assert [c["fairness"] for c in fair["clients"]] == [c["fairness"] for c in ifca["clients"]]


def test_fair_fca_with_gamma_0_clusters_differently(gaussian_runs):
    summary, _ = gaussian_runs["fair-fca-0"]
    assert summary["fair_clustering"] == {"gamma": 0.0, "fairness": "sp", "sensitive": "group", "estimate": "hard"}
    assert _as_sets(summary["clusters"]) != PAPER_GAMMA_1


def test_flhc_recovers_the_papers_clusters_and_fair_flhc_gamma_1_is_flhc(gaussian_runs):
    flhc, fair = gaussian_runs["flhc"][0], gaussian_runs["fair-flhc-1"][0]
    assert _as_sets(flhc["clusters"]) == PAPER_GAMMA_1
    assert fair["clusters"] == flhc["clusters"]
    assert [c["accuracy"] for c in fair["clients"]] == [c["accuracy"] for c in flhc["clients"]]
    rows = _rows(gaussian_runs["flhc"][1])
    assert {r["model"] for r in rows if r["round"] <= 3} == {"global"}  # k1 FedAvg rounds
    assert all(r["cluster"] is not None for r in rows if r["round"] > 3)


def test_fair_flhc_mixes_distance_and_psi(gaussian_runs):
    summary, _ = gaussian_runs["fair-flhc-0"]
    import numpy as np

    psi = np.array(summary["clustering"]["psi"], dtype=float)
    matrix = np.array(summary["clustering"]["clustering"], dtype=float)
    assert psi.shape == (8, 8) and np.allclose(psi, psi.T) and np.all((psi >= 0) & (psi <= 1))
    assert np.allclose(matrix, psi, atol=1e-6)  # gamma = 0: eq. 2 is Psi alone


def test_a_threshold_giving_one_cluster_per_client_is_a_recorded_warning(gaussian_runs):
    summary, _ = gaussian_runs["flhc-tiny"]
    assert len(summary["clusters"]) == 8
    assert any("one cluster per client" in note for note in summary["notes"])


def test_fairfed_moves_weight_toward_the_fairer_clients(gaussian_runs):
    summary, _ = gaussian_runs["fairfed"]
    weights = summary["fairfed"]["final_weights"]
    # clients 2 and 5 are the only ones whose groups differ (Table 2): their local SP departs from the global one
    assert max(weights["2"], weights["5"]) < min(weights[c] for c in ("1", "3", "4", "6", "7", "8"))
    assert sum(weights.values()) == pytest.approx(1.0)
    last = summary["weight_history"][-1]["clients"]
    assert min(last["2"]["delta"], last["5"]["delta"]) > max(last[c]["delta"] for c in ("4", "6", "7", "8"))


def test_bad_cluster_count_and_attribute_fail_with_clear_errors(gaussian_runs):
    assert "num-clusters = 9 is larger than the number of clients with training data (8)" in gaussian_runs["ifca-k9"][0]["error"]
    assert "sensitive attribute 'race' is not in the dataset; available: group" in gaussian_runs["fair-fca-race"][0]["error"]
    status = json.loads((gaussian_runs["ifca-k9"][1] / "status.json").read_text())
    assert status["status"] == "failed"


@pytest.fixture(scope="module")
def label_swap_runs(tmp_path_factory):
    """Two clusters with opposite labels; client A1 holds one group only."""
    base = tmp_path_factory.mktemp("swap")
    root = two_cluster_federation(base / "data", one_group_client=True)
    plan = {
        "cfl-split": {"strategy": "cfl-cosine", "rounds": 6, "cfl-warmup": 2, "cfl-eps1": 0.1, "cfl-eps2": 0.25},
        "cfl-no-split": {"strategy": "cfl-cosine", "rounds": 6, "cfl-warmup": 2, "cfl-eps1": 0.1, "cfl-eps2": 1.0},
        "ifca": {"strategy": "ifca", "rounds": 4},
        "fair-fca": {"strategy": "fair-fca", "rounds": 4, "gamma": 0.5},
        "fairfed": {"strategy": "fairfed", "rounds": 2},
    }
    configs = [{"dataset": str(root), "seed": 0, "out-dir": str(base / name), **cfg} for name, cfg in plan.items()]
    return {name: s for name, s in zip(plan, simulate_many(configs, num_supernodes=6, echo=False))}


SWAP = {frozenset({"A1", "A2", "A3"}), frozenset({"B1", "B2", "B3"})}


def test_cfl_splits_when_its_criteria_hold(label_swap_runs):
    summary = label_swap_runs["cfl-split"]
    assert _as_sets(summary["clusters"]) == SWAP
    splits = [h for h in summary["cfl_history"] if h["split"]]
    assert len(splits) == 1
    event = splits[0]
    assert event["round"] > 2 and event["mean_update_norm"] < 0.1 and event["max_update_norm"] > 0.25
    # before the split, the criteria did not hold or the warm-up was running
    for h in summary["cfl_history"]:
        if h["round"] < event["round"]:
            assert h["round"] <= 2 or not (h["mean_update_norm"] < 0.1 and h["max_update_norm"] > 0.25)


def test_cfl_does_not_split_when_updates_are_small(label_swap_runs):
    summary = label_swap_runs["cfl-no-split"]
    assert len(summary["clusters"]) == 1
    assert not any(h["split"] for h in summary["cfl_history"])
    assert all(h["max_update_norm"] <= 1.0 for h in summary["cfl_history"])


def test_ifca_separates_the_label_swap_clusters(label_swap_runs):
    assert _as_sets(label_swap_runs["ifca"]["clusters"]) == SWAP


def test_undefined_fairness_falls_back_to_the_loss_and_is_recorded(label_swap_runs):
    fair = label_swap_runs["fair-fca"]
    assert "error" not in fair
    assert set(fair["fairness_fallbacks"]) == {"A1"} and fair["fairness_fallbacks"]["A1"] == 4
    a1 = next(c for c in fair["clients"] if c["client"] == "A1")
    assert "group" in a1["undefined"]
    assert set(label_swap_runs["fairfed"]["fairness_fallbacks"]) == {"A1"}


def test_maml_clients_deploy_the_meta_model_after_fine_tuning(synthetic_dir, tmp_path):
    params = {"strategy": "maml", "dataset": str(synthetic_dir), "rounds": 1, "seed": 3, "lr": 0.05, "local-epochs": 1,
              "maml-alpha": 0.02, "maml-finetune-steps": 3, "maml-finetune-lr": 0.1, "out-dir": str(tmp_path / "maml")}
    summary = simulate_many([params], num_supernodes=8, echo=False)[0]
    full = json.loads((tmp_path / "maml" / "config.json").read_text())
    spec, n_clients = {"model": "logreg"}, len(read_manifest(synthetic_dir).clients)
    start = get_weights(build_model(spec, 1, seed=3))
    locals_ = []
    for k in range(n_clients):
        data = load_client(synthetic_dir, k)
        model = build_model(spec, 1)
        set_weights(model, start)
        train_local(model, data.train, TrainConfig(lr=0.05, epochs=1, batch_size=full["batch-size"]),
                    seed=_seed_of(full, 1, k), step=PerFedAvgStep(alpha=0.02))
        locals_.append((get_weights(model), len(data.train)))
    total = sum(n for _, n in locals_)
    meta = {key: sum(w[key] * (n / total) for w, n in locals_) for key in start}
    finetune_seed = MAMLStrategy.adapt_seed(SimpleNamespace(params=full), 1)
    for entry in summary["clients"]:
        data = load_client(synthetic_dir, entry["client"])
        model = build_model(spec, 1)
        set_weights(model, copy.deepcopy(meta))
        # 3 fine-tuning SGD steps of size 0.1 on seeded mini-batches of the client's training data
        train_local(model, data.train, TrainConfig(lr=0.1, batch_size=full["batch-size"], max_steps=3), seed=finetune_seed)
        assert entry["accuracy"] == pytest.approx(evaluate(model, data.test).accuracy, abs=1e-12)
        assert entry["model"] == "global + fine-tuning"
