"""FedFB, Fed-FairBatch, Fed-FairGrad: their controllers against independent computations, the clients' row
weights, and one round of each by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedfair.data import ClientData, Split, load_client, read_manifest
from fedfair.local.group_weights import GroupWeights
from fedfair import protocol as p
from fedfair.models import build_model
from fedfair.simulation import simulate_many
from fedfair.training import cell_losses
from fedfair.strategies.fed_fairbatch import fairbatch_initial, fairbatch_probabilities, fairbatch_step
from fedfair.strategies.fed_fairgrad import fairgrad_constants, fairgrad_step, fairgrad_weights
from fedfair.strategies.fedfb import FedFBStrategy, fedfb_gradient, fedfb_initial, fedfb_step

N = np.array([[30.0, 10.0], [20.0, 40.0]])  # [label][value]: 100 rows


def _rows(rng, n=400, values=3):
    y, a, pred = rng.integers(0, 2, n), rng.integers(0, values, n), rng.integers(0, 2, n)
    counts = np.array([[np.sum((y == l) & (a == v)) for v in range(values)] for l in (0, 1)], dtype=float)
    errors = np.array([[np.mean(pred[(y == l) & (a == v)] != l) for v in range(values)] for l in (0, 1)])
    return y, a, pred, counts, errors


@pytest.mark.parametrize("seed", range(5))
def test_fairgrad_canonical_form_equals_the_direct_fairness_definitions(seed):
    """F_k = C_k^0 + sum C_k^k' err_k' is P(h = y | a) - P(h = y) for SP (k = (y, a)), and
    P(h = y | y, a) - P(h = y | y) for EO (Maheshwari & Perrot's canonical form), from raw predictions."""
    y, a, pred, counts, errors = _rows(np.random.default_rng(seed))
    c0, c = fairgrad_constants("sp", counts)
    direct = [np.mean(pred[a == v] == l) - np.mean(pred == l) for l in (0, 1) for v in range(3)]
    assert c0 + c @ errors.reshape(-1) == pytest.approx(direct, abs=1e-12)
    c0, c = fairgrad_constants("eo", counts)
    direct = [np.mean(pred[(y == l) & (a == v)] == l) - np.mean(pred[y == l] == l) for l in (0, 1) for v in range(3)]
    assert c0 + c @ errors.reshape(-1) == pytest.approx(direct, abs=1e-12)
    c0, c = fairgrad_constants("eqop", counts)
    assert (c0 + c @ errors.reshape(-1))[:3] == pytest.approx([0, 0, 0]) and np.allclose((c0 + c @ errors.reshape(-1))[3:], direct[3:])


def test_fairgrad_multipliers_and_weights_by_hand():
    f = np.array([0.1, -0.2, 0.0, 0.05])
    lam, delta = fairgrad_step(np.zeros(4), np.array([0.0, 0.0, 0.5, 0.0]), f, eta=0.5, eps=0.01)
    assert lam == pytest.approx([0.045, 0.0, 0.0, 0.02]) and delta == pytest.approx([0.0, 0.095, 0.495, 0.0])
    _, c = fairgrad_constants("eo", N)
    weights = fairgrad_weights(N, c, lam, delta)
    # w_k = n_k / n + sum_k' C_k'^k (lambda_k' - delta_k'), written out for k = (0, a0)
    expected = 0.30 + c[0, 0] * 0.045 + c[1, 0] * (0 - 0.095) + c[2, 0] * -0.495 + c[3, 0] * 0.02
    assert weights[0] == pytest.approx(expected) and c[0, 0] == pytest.approx(30 / 40 - 1) and c[2, 0] == 0
    assert fairgrad_weights(N, c, np.zeros(4), np.zeros(4)) == pytest.approx(N.reshape(-1) / 100)  # start: plain ERM


def test_fairbatch_probabilities_and_steps_by_hand():
    for notion in ("eqop", "eo", "sp"):  # the start is the empirical cell shares
        assert fairbatch_probabilities(notion, fairbatch_initial(notion, N), N) == pytest.approx(N / 100)
    loss = np.array([[0.5, 0.4], [0.9, 0.3]])
    lam = fairbatch_step("eqop", fairbatch_initial("eqop", N), N, loss, 0.05)  # L(1,a0) > L(1,a1): lambda up
    assert fairbatch_probabilities("eqop", lam, N) == pytest.approx(np.array([[0.3, 0.1], [0.25, 0.35]]))
    lam = fairbatch_step("eo", fairbatch_initial("eo", N), N, loss, 0.05)  # |d_1| = 0.6 > |d_0| = 0.1: lambda_2 up
    assert lam == pytest.approx([0.3, 0.25])
    assert fairbatch_step("eqop", [0.59], N, loss, 0.05) == pytest.approx([0.6])  # kept in [0, P_1]
    # sp: l = L n / n_a: l0 = [0.5 * 30 / 50, 0.4 * 10 / 50] = [0.3, 0.08], l1 = [0.9 * 20 / 50, 0.3 * 40 / 50] = [0.36, 0.24]
    lam = fairbatch_step("sp", fairbatch_initial("sp", N), N, loss, 0.05)  # |d0| = 0.22 > |d1| = 0.12: lambda_1 down
    assert lam == pytest.approx([0.25, 0.1])
    assert fairbatch_probabilities("sp", lam, N).sum() == pytest.approx(1.0)


def test_fedfb_step_by_hand():
    lam = fedfb_initial(N)
    assert lam == pytest.approx(np.full((2, 2), 0.5))  # n_z / n for both labels
    assert lam * N / N.sum(axis=0) == pytest.approx(N / 100)  # the cell weights: plain FedAvg
    s = np.array([[12.0, 3.0], [16.0, 8.0]])
    f = (16 - 12) / 50 + (3 - 8) / 50 + 30 / 50 - 10 / 50
    assert fedfb_gradient(N, s) == pytest.approx([f])
    new = fedfb_step(lam, N, s, alpha=0.3, t=4)
    step = 0.3 / 2
    assert new == pytest.approx(np.array([[0.5 - step * f, 0.5 + step * f], [0.5 + step * f, 0.5 - step * f]]))
    assert new.sum(axis=0) == pytest.approx(2 * N.sum(axis=0) / 100)


def test_fedfb_with_a_silent_client_uses_the_replying_clients_counts():
    # four clients with equal cell counts; one does not reply: f is the replying three's (their own means and
    # shares), not their loss sums over the whole federation's counts
    per_client = N / 4
    losses = np.array([[[3.0, 0.5], [4.0, 2.0]], [[3.5, 1.0], [4.5, 2.5]], [[2.5, 0.5], [3.0, 1.5]], [[9.0, 2.0], [1.0, 9.0]]])
    replied_sums, replied_counts = losses[:3].sum(axis=0), 3 * per_client
    strategy = FedFBStrategy.__new__(FedFBStrategy)
    strategy.counts, strategy.params = N, {"fedfb-alpha": 0.3}
    state = strategy.update({"lambda": fedfb_initial(N)}, {"n": replied_counts, "loss": replied_sums}, server_round=5)
    n_z = replied_counts.sum(axis=0)
    f = ((replied_sums[1, 0] - replied_sums[0, 0]) / n_z[0] + (replied_sums[0, 1] - replied_sums[1, 1]) / n_z[1]
         + replied_counts[0, 0] / n_z[0] - replied_counts[0, 1] / n_z[1])
    step = 0.3 / 2
    assert state["lambda"][0] == pytest.approx([0.5 - step * f, 0.5 + step * f])
    assert f != pytest.approx(fedfb_gradient(N, replied_sums)[0])  # what dividing by the federation's counts gave
    everyone = strategy.update({"lambda": fedfb_initial(N)}, {"n": N, "loss": losses.sum(axis=0)}, server_round=5)
    assert everyone["lambda"] == pytest.approx(fedfb_step(fedfb_initial(N), N, losses.sum(axis=0), 0.3, 4))


def test_the_rows_weights_give_the_federations_weighted_objective():
    """Clients weigh rows by m_k = w_k n / n_k and FedAvg weighs clients by n_c / n: the federation's loss is
    sum_k w_k mean_{i in k} l_i."""
    rng = np.random.default_rng(3)
    y, a, _, counts, _ = _rows(rng, n=300, values=2)
    loss, client = rng.random(300), rng.integers(0, 4, 300)
    w = rng.dirichlet(np.ones(4)).reshape(2, 2)
    m = w * counts.sum() / counts
    clients = []
    for c in range(4):
        rows = client == c
        split = Split(np.zeros((rows.sum(), 1), np.float32), y[rows], {"g": a[rows]})
        data = ClientData(f"c{c}", c, split, split, None, {"g": [0, 1]})
        spec = {"attribute": "g", "values": [0, 1], "multipliers": m.tolist()}
        weights = GroupWeights({p.GROUP_WEIGHTS: json.dumps(spec)}).sample_weight(None, data)
        clients.append((rows.sum(), np.mean(weights * loss[rows])))
    federation = sum(n_c / 300 * local for n_c, local in clients)
    expected = sum(w[l, v] * loss[(y == l) & (a == v)].mean() for l in (0, 1) for v in (0, 1))
    assert federation == pytest.approx(expected)


@pytest.mark.slow
def test_one_round_of_each_equals_a_hand_computation(synthetic_dir, tmp_path):
    """Round 1's statistics are those of the initial model on every client's training split: Fed-FairBatch's
    lambda and Fed-FairGrad's multipliers from them by hand; FedFB trains round 1 at n_z / n, i.e. as FedAvg."""
    common = {"dataset": str(synthetic_dir), "rounds": 1, "seed": 5}
    runs = [{"strategy": s, **common, "out-dir": str(tmp_path / f"{s}-{i}"), **extra} for i, (s, extra) in enumerate((
        ("fedfb", {}), ("fed-fairbatch", {"fairness": "eo", "fairbatch-alpha": 0.01}),
        ("fed-fairgrad", {"fairness": "sp", "fairgrad-eta": 0.5}), ("fedavg", {}),
        ("fed-fairbatch", {"fairness": "sp", "fairbatch-alpha": 0.01})))]
    fedfb, fairbatch, fairgrad, fedavg, fairbatch_sp = simulate_many(runs, num_supernodes=8, echo=False, keep_going=False)
    names = read_manifest(synthetic_dir).client_names
    start = build_model({"model": "logreg"}, 1, seed=5)
    n, s, s_positive, correct = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))
    for name in names:
        data = load_client(synthetic_dir, name)
        attribute = list(data.sensitive_values)[0]
        counts, losses, positive = cell_losses(start, data.train, attribute, data.sensitive_values[attribute])
        n, s, s_positive = n + counts, s + losses, s_positive + positive
        pred = (start(torch.from_numpy(data.train.x)).detach().numpy() > 0).astype(int)
        g = np.array([data.sensitive_values[attribute].index(v) for v in data.train.sensitive[attribute]])
        for l in (0, 1):
            for v in (0, 1):
                correct[l, v] += np.sum((data.train.y == l) & (g == v) & (pred == l))
    # Fed-FairBatch, eo
    lam = fairbatch_step("eo", fairbatch_initial("eo", n), n, s / n, 0.01)
    recorded = fairbatch["group_weights"]["rounds"][0]
    assert recorded["state"]["lambda"] == pytest.approx(lam, abs=1e-9)
    assert np.array(recorded["weights"]) == pytest.approx(fairbatch_probabilities("eo", lam, n), abs=1e-9)
    # Fed-FairBatch, sp: on the loss against the positive label (FairBatch's demographic-parity loss)
    z = start(torch.from_numpy(np.concatenate([load_client(synthetic_dir, c).train.x for c in names]))).detach()
    assert s_positive.sum() == pytest.approx(float(torch.nn.functional.softplus(-z).sum()), rel=1e-5)
    lam = fairbatch_step("sp", fairbatch_initial("sp", n), n, s_positive / n, 0.01)
    assert fairbatch_sp["group_weights"]["rounds"][0]["state"]["lambda"] == pytest.approx(lam, abs=1e-9)
    assert lam != pytest.approx(fairbatch_step("sp", fairbatch_initial("sp", n), n, s / n, 0.01))  # the loss matters
    # Fed-FairGrad, sp
    c0, c = fairgrad_constants("sp", n)
    f = c0 + c @ (1 - correct / n).reshape(-1)
    lam, delta = fairgrad_step(np.zeros(4), np.zeros(4), f, 0.5, 1e-6)
    recorded = fairgrad["group_weights"]["rounds"][0]
    assert recorded["state"]["fairness"] == pytest.approx(f, abs=1e-9)
    assert np.ravel(recorded["weights"]) == pytest.approx(fairgrad_weights(n, c, lam, delta), abs=1e-9)
    # FedFB: round 1 at lambda = n_z / n is FedAvg
    assert np.array(fedfb["group_weights"]["rounds"][0]["weights"]) == pytest.approx(n / n.sum(), abs=1e-9)
    assert [c["accuracy"] for c in fedfb["clients"]] == pytest.approx([c["accuracy"] for c in fedavg["clients"]], abs=1e-6)
    assert np.abs(np.ravel(recorded["weights"]) - n.reshape(-1) / n.sum()).max() > 1e-3  # round 1 already reweighted
    for run in runs:
        assert json.loads((tmp_path / run["out-dir"] / "status.json").read_text())["status"] == "complete"


def test_wrong_notion_is_one_clear_error_before_anything_runs(synthetic_dir, tmp_path):
    from typer.testing import CliRunner

    from fedfair.cli import app

    result = CliRunner().invoke(app, ["run", "--strategy", "fedfb", "--dataset", str(synthetic_dir), "--set", "fairness=eo",
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "fedfb implements fairness sp, not 'eo'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
