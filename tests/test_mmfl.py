"""Multi-model FL (seed 003): allocation maths, task sets, FedFairMMFL and its baselines end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chisquare

from fedfair.config import ParamError
from fedfair.data import DatasetError, load_client
from fedfair.models import build_model
from fedfair.registry import run_params
from fedfair.simulation import simulate, simulate_many
from fedfair.tasks import read_task_set, write_task_set
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.partitioners.builder import build_dataset
from fedfair.partitioners.builtins import image_spec
from fedfair.partitioners.task_sets import combine_task_set
from fedfair.strategies.allocation import alpha_fair_probabilities, draw_tasks, round_robin_tasks, task_qffl_step
from tests.helpers_fl import get_weights, set_weights
from tests.test_run import _seed_of


def test_eq5_probabilities_by_hand():
    f = np.array([0.1, 0.3, 0.6])
    np.testing.assert_allclose(alpha_fair_probabilities(f, 3.0), f**2 / (f**2).sum())
    np.testing.assert_allclose(alpha_fair_probabilities(f, 1.0), [1 / 3] * 3)
    np.testing.assert_allclose(alpha_fair_probabilities([0.0, 0.0], 3.0), [0.5, 0.5])
    assert alpha_fair_probabilities(f, 50.0)[2] > 0.999  # alpha -> infinity: every client to the worst task
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        alpha_fair_probabilities(f, 0.5)


def test_draws_follow_p_over_the_tasks_a_client_holds():
    rng = np.random.default_rng(0)
    p = alpha_fair_probabilities([0.2, 0.4, 0.8], 3.0)
    clients = [f"c{i}" for i in range(6000)]
    holds = {c: [0, 1, 2] for c in clients}
    holds["c0"], holds["c1"] = [1], []
    drawn = draw_tasks(clients, holds, p, rng)
    assert drawn["c0"] == 1 and "c1" not in drawn
    counts = np.bincount([drawn[c] for c in clients[2:]], minlength=3)
    assert chisquare(counts, p * counts.sum()).pvalue > 1e-3
    uniform = np.bincount(list(draw_tasks(clients, {c: [0, 1, 2] for c in clients}, np.full(3, 1 / 3), rng).values()))
    assert chisquare(uniform).pvalue > 1e-3  # alpha = 1: indistinguishable from uniform random allocation


def test_round_robin_cycles_and_skips_missing_tasks():
    position = {"a": 0, "b": 1, "c": 2}
    holds = {"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 2]}
    assert round_robin_tasks(["a", "b", "c"], position, holds, 3, 1) == {"a": 1, "b": 2, "c": 0}
    assert round_robin_tasks(["a", "b", "c"], position, holds, 3, 2) == {"a": 2, "b": 0, "c": 2}  # c lacks task 1


def test_task_qffl_step_by_hand():
    w = [np.array([1.0, 2.0])]
    locals_ = [[np.array([0.0, 2.0])], [np.array([1.0, 0.0])]]
    np.testing.assert_allclose(task_qffl_step(w, locals_, q=0.0, lr=0.1, task_loss=0.7)[0], [0.5, 1.0])
    q, lr, f = 1.0, 0.1, 0.7
    big_l = 1 / lr
    deltas = [big_l * (w[0] - l[0]) for l in locals_]
    h = sum(q * f ** (q - 1) * float(d @ d) + big_l * f**q for d in deltas)
    expected = w[0] - sum(f**q * d for d in deltas) / h
    np.testing.assert_allclose(task_qffl_step(w, locals_, q, lr, f)[0], expected, rtol=1e-6)


@pytest.fixture(scope="module")
def digit_tasks(tmp_path_factory):
    """Two tasks (digits, digits with 30 % noisy labels) over 6 clients, logistic regression."""
    root = tmp_path_factory.mktemp("tasks")
    for name, variant in (("digits", {}), ("digits-noisy", {"label_noise": 0.3})):
        spec = image_spec("digits", 0, clients=6, classes_per_client=5, limit=None, dataset_name=name, **variant)
        spec.default_model = {"model": "logreg"}
        build_dataset(spec, root / "parts" / name)
    return combine_task_set(root / "set", [("digits", str(root / "parts" / "digits"), None),
                                           ("digits-noisy", str(root / "parts" / "digits-noisy"), None)])


def test_task_set_validation(digit_tasks, tmp_path):
    tasks = read_task_set(digit_tasks)
    assert tasks.clients == [str(k) for k in range(6)] and [t.name for t in tasks.tasks] == ["digits", "digits-noisy"]
    with pytest.raises(DatasetError, match="task 'x': dataset directory .* is missing"):
        write_task_set(tmp_path / "a", "a", ["0"], [{"name": "x", "dataset": "nowhere"}])
    import shutil

    shutil.copytree(digit_tasks / "digits", tmp_path / "b" / "digits")
    with pytest.raises(DatasetError, match=r"task 'digits': clients \['2', '3', '4', '5'\] are not in the task set"):
        write_task_set(tmp_path / "b", "b", ["0", "1"], [{"name": "digits"}])
    with pytest.raises(DatasetError, match="distinct non-empty name"):
        write_task_set(tmp_path / "b", "b", [str(k) for k in range(6)], [{"name": "digits"}, {"name": "digits"}])


def test_bad_parameters_are_refused_before_the_run():
    with pytest.raises(ParamError, match="'alpha' = 0.5 is out of range: accepted float >= 1"):
        run_params({"strategy": "fedfair-mmfl", "alpha": 0.5})
    with pytest.raises(ParamError, match=r"'active-rate' = 1.5 is out of range: accepted float in \(0, 1\]"):
        run_params({"strategy": "mmfl-random", "active-rate": 1.5})


def _manual_round_one(root, summary, params):
    """Eq. 6 by hand: every client allocated to a task in round 1 trains from that task's seeded initial model;
    the task model is the n-weighted average of their local models."""
    tasks = read_task_set(root)
    allocation = summary["allocation"][0]["tasks"]
    models = {}
    for index, task in enumerate(tasks.tasks):
        start = get_weights(build_model({"model": "logreg"}, 64, seed=params["seed"] * 1000 + index, num_classes=10))
        locals_, sizes = [], []
        for client, chosen in allocation.items():
            if chosen != task.name:
                continue
            data = load_client(task.dataset_dir, client)
            model = build_model({"model": "logreg"}, 64, num_classes=10)
            set_weights(model, start)
            train_local(model, data.train, TrainConfig(lr=params["lr"], epochs=1, batch_size=32),
                        seed=_seed_of(params, 1, tasks.clients.index(client)))
            locals_.append(get_weights(model))
            sizes.append(len(data.train))
        total = sum(sizes)
        weights = {k: sum(w[k] * (n / total) for w, n in zip(locals_, sizes)) for k in start} if locals_ else start
        models[task.name] = weights
    return models


@pytest.mark.slow
def test_mmfl_runs_allocate_one_task_per_active_client_and_aggregate_by_eq6(digit_tasks, tmp_path):
    base = {"dataset": str(digit_tasks), "rounds": 3, "seed": 2, "lr": 0.1, "active-rate": 0.5}
    configs = [{**base, "strategy": s, "out-dir": str(tmp_path / s)}
               for s in ("fedfair-mmfl", "mmfl-random", "mmfl-round-robin", "mmfl-qffl")]
    configs.append({**base, "strategy": "fedfair-mmfl", "alpha": 1.0, "out-dir": str(tmp_path / "alpha1")})
    configs.append({**base, "strategy": "fedfair-mmfl", "out-dir": str(tmp_path / "again")})
    configs.append({**base, "rounds": 1, "strategy": "fedfair-mmfl", "out-dir": str(tmp_path / "one")})
    mmfl, random_, robin, qffl, alpha1, again, one = simulate_many(configs, num_supernodes=6, echo=False, keep_going=False)
    for summary in (mmfl, random_, robin, qffl):
        assert set(summary["tasks"]) == {"digits", "digits-noisy"}
        for entry in summary["allocation"]:
            assert len(entry["tasks"]) == 3  # m = C x K = 0.5 x 6 active clients, one task each
        assert summary["min_accuracy"] == min(t["mean"]["accuracy"] for t in summary["tasks"].values())
    # the same seed gives the same allocation and summary; alpha = 1 allocates exactly as the random baseline
    assert json.dumps({k: v for k, v in mmfl.items() if k != "wall_seconds"}, sort_keys=True) == \
        json.dumps({k: v for k, v in again.items() if k != "wall_seconds"}, sort_keys=True)
    assert alpha1["allocation"] == random_["allocation"]
    assert [e["round"] for e in robin["allocation"]] == [1, 2, 3]
    # eq. 6: the task models after round 1 equal a hand computation
    params = json.loads((tmp_path / "one" / "config.json").read_text())
    models = _manual_round_one(digit_tasks, one, params)
    tasks = read_task_set(digit_tasks)
    for task in tasks.tasks:
        model = build_model({"model": "logreg"}, 64, num_classes=10)
        set_weights(model, models[task.name])
        for entry in one["tasks"][task.name]["clients"]:
            expected = evaluate(model, load_client(task.dataset_dir, entry["client"]).test)
            assert entry["accuracy"] == pytest.approx(expected.accuracy, abs=1e-12)
    rows = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert {r["task"] for r in rows} == {"digits", "digits-noisy"} and len(rows) == 12


@pytest.mark.slow
def test_strategies_refuse_the_wrong_kind_of_dataset(digit_tasks, tmp_path):
    digits = digit_tasks / "digits"  # one multi-class dataset of the task set
    configs = [
        {"strategy": "fedavg", "dataset": str(digit_tasks), "rounds": 1, "out-dir": str(tmp_path / "a")},
        {"strategy": "fedfair-mmfl", "dataset": str(digits), "rounds": 1, "out-dir": str(tmp_path / "b")},
        {"strategy": "fair-fca", "dataset": str(digits), "rounds": 1, "model": "logreg", "out-dir": str(tmp_path / "c")},
    ]
    a, b, c = simulate_many(configs, num_supernodes=6, echo=False, keep_going=True)
    assert "fedavg trains one model on one dataset, but the dataset is a task set: use a multi-task strategy" in a["error"]
    assert "fedfair-mmfl trains the tasks of a task set: give --dataset a task set" in b["error"]
    assert "fair-fca measures SP / EqOp / EO, which need a binary label; this dataset's label has 10 classes" in c["error"]
    for name in "abc":
        assert json.loads((tmp_path / name / "status.json").read_text())["status"] == "failed"


def test_cnn_on_a_tabular_task_is_refused(digit_tasks, tmp_path):
    import shutil

    from fedfair.partitioners.builtins import build_builtin

    build_builtin("synthetic-gaussian-8", tmp_path / "t" / "gauss", seed=0)
    with pytest.raises(DatasetError, match="task 'gauss': model 'cnn' needs image features"):
        write_task_set(tmp_path / "t", "t", [str(k) for k in range(1, 9)], [{"name": "gauss", "model": {"model": "cnn"}}])
    shutil.rmtree(tmp_path / "t")


def test_data_tasks_command_combines_built_datasets(digit_tasks, tmp_path):
    from typer.testing import CliRunner

    from fedfair.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["data", "tasks", f"a={digit_tasks / 'digits'}:mlp",
                                 f"b={digit_tasks / 'digits-noisy'}", "--out", str(tmp_path / "set")])
    assert result.exit_code == 0, result.output
    tasks = read_task_set(tmp_path / "set")
    assert [(t.name, t.model) for t in tasks.tasks] == [("a", {"model": "mlp"}), ("b", {"model": "logreg"})]
    bad = runner.invoke(app, ["data", "tasks", "nothing", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "expected TASK=DATASET_DIR[:MODEL]" in bad.output


def test_compare_reports_min_and_variance_over_tasks(tmp_path):
    from fedfair.comparison import summarise, write_outputs

    runs = [{"tasks": {"a": {}, "b": {}}, "mean_accuracy": m, "min_accuracy": lo, "accuracy_variance": v}
            for m, lo, v in ((0.8, 0.6, 0.04), (0.7, 0.5, 0.02))]
    rows = summarise(["fedfair-mmfl", "fedfair-mmfl"], runs)
    assert rows[0]["accuracy"] == pytest.approx((0.75, 0.05))
    assert rows[0]["min_accuracy"] == pytest.approx((0.55, 0.05))
    write_outputs(tmp_path, rows, runs, {"dataset": "mmfl-3", "rounds": 5, "seeds": [0, 1]})
    table = (tmp_path / "table.md").read_text()
    assert "| strategy | accuracy | min accuracy (tasks) | accuracy variance (tasks) |" in table
    assert "| fedfair-mmfl | 0.7500 ± 0.0500 | 0.5500 ± 0.0500 | 0.0300 ± 0.0100 |" in table


def test_acs_tasks_offline_pairs_the_release_with_named_synthetic_stand_ins(tmp_path):
    import pandas as pd

    from fedfair.data import read_manifest
    from fedfair.partitioners.task_sets import build_acs_tasks

    release = tmp_path / "data" / "feda4fair" / "cross_silo_attribute_final"
    release.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for state in ("AL", "AK"):
        n = 300
        pd.DataFrame({"AGEP": rng.integers(18, 80, n), "COW": rng.integers(1, 9, n), "SCHL": rng.integers(1, 25, n),
                      "MAR": rng.integers(1, 6, n), "OCCP": rng.integers(10, 9000, n), "POBP": rng.integers(1, 500, n),
                      "RELP": rng.integers(0, 18, n), "WKHP": rng.integers(1, 99, n), "SEX": rng.integers(1, 3, n),
                      "RAC1P": rng.integers(1, 3, n), "PINCP": rng.random(n) < 0.4}).to_csv(release / f"{state}_0.csv.gz",
                                                                                             index=False)
    tasks = read_task_set(build_acs_tasks(tmp_path / "acs", data_root=str(tmp_path / "data"), max_train=100))
    assert tasks.clients == ["AK", "AL"]
    assert [t.name for t in tasks.tasks] == ["ACSIncome", "ACSEmployment-synthetic", "ACSHealthInsurance-synthetic",
                                             "ACSPublicCoverage-synthetic"]
    stand_ins = {e["name"]: e["stand_in"] for e in tasks.raw["tasks"]}
    assert stand_ins["ACSEmployment-synthetic"].startswith("SYNTHETIC stand-in for ACSEmployment")
    income, employment = (read_manifest(t.dataset_dir) for t in tasks.tasks[:2])
    assert not income.raw["synthetic"] and employment.raw["synthetic"]
    assert employment.client_names == ["AK", "AL"] and set(employment.sensitive) == {"SEX", "RAC1P"}
    assert employment.sensitive_values["RAC1P"] == [1, 2]  # binarised like the release
    with pytest.raises(DatasetError, match="acs-tasks offline needs FeDa4Fair's release"):
        build_acs_tasks(tmp_path / "none", data_root=str(tmp_path / "nowhere"))


def _bids_file(path, rows):
    path.write_text("user,task,bid\n" + "".join(f"{u},{t},{b}\n" for u, t, b in rows))
    return str(path)


BIDS = [("0", "digits", 0.1), ("1", "digits", 0.2), ("2", "digits", 0.3), ("3", "digits", 0.9), ("5", "digits", 0.05),
        ("0", "digits-noisy", 0.4), ("1", "digits-noisy", 0.05), ("2", "digits-noisy", 0.1),
        ("3", "digits-noisy", 0.12), ("4", "digits-noisy", 0.6), ("5", "digits-noisy", 0.8)]


def test_recruitment_parameters_are_checked_before_any_work(tmp_path):
    base = {"strategy": "fedfair-mmfl", "bid-distributions": "gauss:0.5:0.2,linear"}
    with pytest.raises(ParamError, match="recruit='cheapest' is not a mechanism; valid: budget-fair"):
        run_params({**base, "recruit": "cheapest", "budget": 1.0})
    with pytest.raises(ParamError, match="recruit=gmm-fair needs budget=B > 0"):
        run_params({**base, "recruit": "gmm-fair"})
    with pytest.raises(ParamError, match="exactly one bid source"):
        run_params({"strategy": "mmfl-random", "recruit": "gmm-fair", "budget": 1.0})
    with pytest.raises(ParamError, match="bid distribution 'gauss:0.5' not understood"):
        run_params({**base, "recruit": "gmm-fair", "budget": 1.0, "bid-distributions": "gauss:0.5"})
    bad = _bids_file(tmp_path / "bad.csv", [("0", "digits", 1.5)])
    with pytest.raises(ParamError, match=r"line 2: bid 1.5 outside \[0, 1\]"):
        run_params({"strategy": "mmfl-round-robin", "recruit": "gmm-fair", "budget": 1.0, "bids": bad})
    assert run_params({**base, "recruit": "val-threshold"})[0]["posted-price"] == 0.4  # no budget needed


@pytest.mark.slow
def test_recruited_runs_train_only_the_winners(digit_tasks, tmp_path):
    bids = _bids_file(tmp_path / "bids.csv", BIDS)
    costly = _bids_file(tmp_path / "costly.csv", [(u, t, 0.7 if t == "digits-noisy" else b) for u, t, b in BIDS])
    base = {"dataset": str(digit_tasks), "rounds": 6, "seed": 1, "strategy": "fedfair-mmfl", "bids": bids}
    configs = [
        {**base, "recruit": "budget-fair", "budget": 1.0, "out-dir": str(tmp_path / "fair")},
        {**base, "recruit": "mmfl-max-min", "budget": 0.92, "out-dir": str(tmp_path / "maxmin")},
        {**base, "recruit": "budget-fair", "budget": 0.5, "bids": costly, "out-dir": str(tmp_path / "empty")},
        {**base, "recruit": "budget-fair", "budget": 0.5, "bids": costly, "allow-empty-tasks": True,
         "out-dir": str(tmp_path / "allowed")},
        {**base, "strategy": "mmfl-random", "recruit": "gmm-fair", "budget": 1.0, "bids": "",
         "bid-distributions": "uniform,linear", "out-dir": str(tmp_path / "drawn")},
    ]
    fair, maxmin, empty, allowed, drawn = simulate_many(configs, num_supernodes=6, echo=False, keep_going=True)
    # budget-fair by hand: B / S = 0.5 per task; digits 0.05, 0.1 win (0.2 > 0.5 / 3), paid 0.25 each;
    # digits-noisy 0.05, 0.1, 0.12 win (0.4 > 0.5 / 4), paid 1/6 each; client 4 wins nothing
    recruitment = fair["recruitment"]
    assert recruitment["winners"] == {"digits": ["5", "0"], "digits-noisy": ["1", "2", "3"]}
    assert recruitment["payments"]["digits"] == {"5": 0.25, "0": 0.25}
    assert recruitment["spent"] == pytest.approx(1.0) and recruitment["take_up"] == {"digits": 2, "digits-noisy": 3}
    for entry in fair["allocation"]:  # active-rate 1: every winner trains its only task every round
        assert entry["tasks"] == {"0": "digits", "1": "digits-noisy", "2": "digits-noisy", "3": "digits-noisy",
                                  "5": "digits"}
    # mmfl-max-min: client 1 wins digits for x = 0.5 of its rounds (C = 0.1 for a bid of 0.2)
    assert maxmin["recruitment"]["fractional"] == {"digits": {"1": pytest.approx(0.5)}, "digits-noisy": {}}
    trained = sum(e["tasks"].get("1") == "digits" for e in maxmin["allocation"])
    skipped = sum(e["tasks"].get("1") == "digits" for e in maxmin["sat_out"])
    assert trained + skipped > 0 and trained == (trained + skipped) // 2
    assert "left task(s) ['digits-noisy'] without clients; raise the budget, or set allow-empty-tasks=true" in empty["error"]
    assert allowed["recruitment"]["warnings"] and all(set(e["tasks"].values()) == {"digits"} for e in allowed["allocation"])
    assert set(allowed["tasks"]) == {"digits", "digits-noisy"}  # the untrained task is still evaluated
    winners = drawn["recruitment"]["winners"]
    for entry in drawn["allocation"]:
        assert all(client in winners[task] for client, task in entry["tasks"].items())
