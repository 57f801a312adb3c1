"""Client-side mitigations: PUFFLE's regulariser and FairIF's plug-in (seed 002 Section 5, seed 004)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.data import ClientData, Split
from fedfair.local import train_with
from fedfair.local.puffle import PuffleRegulariser, disparity_with_gradient, start_lambda
from fedfair.models import build_model
from fedfair.registry import run_params
from fedfair.training import Batch, TrainConfig
from fedfair.strategies.plugins import sum_statistics


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """n x K probabilities: softmax of K logits, or [1 - sigmoid, sigmoid] of one binary logit."""
    if logits.dim() > 1:
        return torch.softmax(logits, dim=1)
    p1 = torch.sigmoid(logits)
    return torch.stack([1 - p1, p1], dim=1)


def demographic_disparity(probs, groups, n_groups, shared=None, classes=None):
    """An independent, autograd reference of PUFFLE's DPL (its RegularizationLoss.forward) in torch, written as
    its loops and branches: the module's numpy value and hand-written gradient are checked against it."""
    predicted = probs.argmax(dim=1)
    classes = range(probs.shape[1]) if classes is None else [int(c) for c in classes]
    s_sums = None if shared is None else np.asarray(shared[0], dtype=np.float64)
    s_counts = None if shared is None else np.asarray(shared[1], dtype=np.float64)

    def estimate(k, members):  # the server's rate of class k over the groups ``members`` (None: no rows)
        if s_sums is None or s_counts[members].sum() <= 0:
            return None
        return float(np.clip(s_sums[members, k].sum() / s_counts[members].sum(), 0, 1))

    violations = [torch.zeros((), dtype=probs.dtype)]
    for k in classes:
        for z in sorted(set(groups.tolist())):  # the groups present in the batch
            inside, outside = groups == z, groups != z
            y_z, y_rest = probs[(predicted == k) & inside][:, k].sum(), probs[(predicted == k) & outside][:, k].sum()
            n_z, n_rest = int(inside.sum()), int(outside.sum())
            others = [g for g in range(n_groups) if g != z]
            if y_z == 0 and y_rest != 0:  # no row of z predicted k: z's rate estimated
                e = estimate(k, [z])
                violations.append(torch.zeros(()) if e is None else (e - y_rest / n_rest).abs())
            elif (y_z != 0 and y_rest == 0) or n_rest == 0:  # nothing (predicted k) outside z: that side estimated
                e = estimate(k, others)
                violations.append(torch.zeros(()) if e is None else (y_z / n_z - e).abs())
            else:
                violations.append((y_z / n_z - y_rest / n_rest).abs())
    return torch.stack([v.to(probs.dtype) for v in violations]).max()


def test_demographic_disparity_equals_a_hand_computation():
    probs = torch.tensor([[0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.1, 0.9], [0.6, 0.4]])
    groups = torch.tensor([0, 0, 0, 1, 1])
    # predicted k: 1, 1, 0, 1, 0. Group 0 (3 rows): class-1 mass 0.8 + 0.6 = 1.4 -> 1.4 / 3; class-0 mass 0.7 / 3.
    # group 1 (2 rows): class 1: 0.9 / 2, class 0: 0.6 / 2. Gaps |P(k|z) - P(k|not z)|, max over k, z:
    expected = max(abs(1.4 / 3 - 0.9 / 2), abs(0.7 / 3 - 0.6 / 2))
    assert float(demographic_disparity(probs, groups, 2)) == pytest.approx(expected)
    # the module's numpy DPL on logits giving these probabilities (two-class logits log p)
    assert disparity_with_gradient(np.log(probs.numpy()).astype(np.float64), groups.numpy(), 2)[0] == \
        pytest.approx(expected)
    # one logit: probabilities [1 - sigmoid, sigmoid]
    torch.testing.assert_close(class_probabilities(torch.tensor([0.0])), torch.tensor([[0.5, 0.5]]))
    # a group absent from the batch is compared through the server's statistics (sums over predicted-k rows, counts)
    only_zero = demographic_disparity(probs[:3], groups[:3], 2, shared=(np.array([[5.0, 1.0], [1.0, 6.0]]),
                                                                        np.array([10.0, 10.0])))
    expected_shared = max(abs(0.7 / 3 - 1.0 / 10), abs(1.4 / 3 - 6.0 / 10),  # z = 0 vs the shared rest (group 1)
                          abs(1.0 / 10 - 0.7 / 3), abs(6.0 / 10 - 1.4 / 3))  # z = 1 (shared) vs the batch
    assert float(only_zero) == pytest.approx(expected_shared)
    assert float(demographic_disparity(probs[:3], groups[:3], 2)) == 0.0  # no comparison possible


def test_puffle_lambda_follows_the_momentum_rule_and_the_loss_mixes_ce_and_dpl():
    model = build_model({"model": "logreg"}, 2, seed=0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
    batch = Batch(x, torch.tensor([1.0, 0.0, 1.0, 0.0]), None, torch.arange(4))
    codes = torch.tensor([0, 0, 1, 1])
    reg = PuffleRegulariser(codes, 2, lam=0.3, tune=True, target=0.05, alpha=2.0, momentum=0.5, shared=None)
    lambdas, velocity, lam = [], 0.0, 0.3
    for step in range(3):
        batch.logits = model(x)
        dpl = float(demographic_disparity(class_probabilities(batch.logits.detach()), codes, 2))
        if step > 0:  # PUFFLE: v <- m v + (target - DPL); lambda <- clip(lambda - alpha v, 0, 1)
            velocity = 0.5 * velocity + (0.05 - dpl)
            lam = float(np.clip(lam - 2.0 * velocity, 0, 1))
        penalty = reg(model, batch)  # lambda DPL; the loop scales the cross-entropy by batch.loss_scale
        ce = torch.nn.functional.binary_cross_entropy_with_logits(batch.logits, batch.y)
        assert batch.loss_scale == pytest.approx(1 - lam, rel=1e-5)
        torch.testing.assert_close(batch.loss_scale * ce + penalty, (1 - lam) * ce + lam * torch.tensor(dpl),
                                   rtol=1e-5, atol=1e-6)
        lambdas.append(lam)
    assert reg.history == pytest.approx(lambdas, rel=1e-5)
    # PUFFLE's start: the excess DD - T rescaled from [0, 1 - T] to [0, 1] (DD 0.2, T 0.05: 0.158)
    assert start_lambda(0.04, 0.05) == 0 and start_lambda(0.05, 0.05) == 0
    assert start_lambda(0.2, 0.05) == pytest.approx(0.15 / 0.95) and start_lambda(1.0, 0.05) == pytest.approx(1.0)


def test_dpl_edge_cases_follow_puffles_branches():
    """A present group with no row predicted k uses the server's estimate (or counts 0 without one), and a batch
    with one label value compares only that class, as PUFFLE's RegularizationLoss does."""
    probs = torch.tensor([[0.4, 0.6], [0.45, 0.55],  # group 0: both predicted 1, none predicted 0
                          [0.1, 0.9], [0.2, 0.8], [0.95, 0.05]], dtype=torch.float64)  # group 1
    groups = torch.tensor([0, 0, 1, 1, 1])
    logits = np.log(probs.numpy())
    shared = (np.array([[0.5, 6.0], [3.0, 5.0]]), np.array([10.0, 10.0]))  # group 0's class-0 rate: 0.05
    class_1 = abs((0.6 + 0.55) / 2 - (0.9 + 0.8) / 3)
    class_0 = abs(0.05 - 0.95 / 3)  # z = 0: no row of group 0 predicted 0 -> its estimate; z = 1: the same pair
    assert disparity_with_gradient(logits, groups.numpy(), 2, shared)[0] == pytest.approx(max(class_0, class_1))
    assert disparity_with_gradient(logits, groups.numpy(), 2)[0] == pytest.approx(class_1)  # no estimate: 0
    only_ones = disparity_with_gradient(logits, groups.numpy(), 2, shared, classes=np.array([1]))[0]
    assert only_ones == pytest.approx(class_1)  # a batch whose labels are all 1: class 1's pairs only
    for classes in (None, [1]):
        assert float(demographic_disparity(probs, groups, 2, shared, classes)) == \
            pytest.approx(disparity_with_gradient(logits, groups.numpy(), 2, shared, classes=classes)[0])


def test_puffle_starts_a_clients_first_round_at_lambda_zero():
    data = _puffle_client()
    config = {k: v for k, v in _puffle_dp_config(0.0, 0.0).items() if not k.startswith("dp-")}
    config["puffle-target"] = 0.01
    loop = TrainConfig(lr=0.1, epochs=1, batch_size=200)
    first = train_with(["puffle"], config, build_model({"model": "logreg"}, 3, seed=0), data, loop, seed=0)
    later = train_with(["puffle"], {**config, p.TRAINED_BEFORE: True}, build_model({"model": "logreg"}, 3, seed=0),
                       data, loop, seed=0)
    assert first.report["puffle-lambda-start"] == 0.0
    dd = later.report["puffle-dd-start"]
    assert first.report["puffle-dd-start"] == dd and dd > 0.01
    assert later.report["puffle-lambda-start"] == pytest.approx((dd - 0.01) / 0.99) and dd > 0.01


class _Forbidden(Mapping):
    """Sensitive columns nobody may read (the training rows' groups under FairIF)."""

    def __getitem__(self, key):
        raise AssertionError("FairIF read a training row's sensitive attribute")

    def __iter__(self):
        raise AssertionError("FairIF listed the training rows' sensitive attributes")

    def __len__(self):
        return 1


def _fairif_client(with_val=True, seed=0):
    rng = np.random.default_rng(seed)

    def split(n):
        x = rng.normal(size=(n, 3)).astype(np.float32)
        s = (rng.random(n) < 0.3).astype(np.int64)
        y = ((x[:, 0] + 0.8 * s + 0.3 * rng.normal(size=n)) > 0.2).astype(np.int64)
        return Split(x, y, {"sex": s})

    train, val, test = split(200), split(80), split(50)
    train = Split(train.x, train.y, _Forbidden())
    return ClientData(name="c", partition_id=3, train=train, test=test, val=val if with_val else None,
                      sensitive_values={"sex": [0, 1]})


def _fairif_config(round_):
    return {"sensitive": "", "fairif-lambda": 0.1, "fairif-warmup": 1, "fairif-damping": 0.01,
            "fairif-temperature": 0.5, p.SERVER_ROUND: round_}


def test_fairif_reads_only_validation_groups_and_keeps_its_weights():
    data, state = _fairif_client(), {}
    model = build_model({"model": "logreg"}, 3, seed=0)
    loop = TrainConfig(lr=0.5, epochs=20, batch_size=50)
    warm = train_with(["fairif"], _fairif_config(1), model, data, loop, seed=0, state=state)
    assert not state and not warm.report  # round 1 = warm-up: plain training
    first = train_with(["fairif"], _fairif_config(2), model, data, loop, seed=0, state=state)
    weights = state["fairif/fairif-weights"]
    assert len(weights) == 200 and weights.mean() == pytest.approx(1.0) and not first.notes
    assert set(first.report) >= {"fairif-tpr-gap", "fairif-tnr-gap", "fairif-clipped", "fairif-residual"}
    again = train_with(["fairif"], _fairif_config(3), model, data, loop, seed=0, state=state)
    assert not again.report  # weights reused, not recomputed
    np.testing.assert_array_equal(state["fairif/fairif-weights"], weights)


def test_fairif_without_a_validation_split_trains_plainly_and_says_why():
    data = _fairif_client(with_val=False)
    a, b = build_model({"model": "logreg"}, 3, seed=0), build_model({"model": "logreg"}, 3, seed=0)
    run = train_with(["fairif"], _fairif_config(2), a, data, TrainConfig(), seed=0)
    train_with(["sgd"], {}, b, data, TrainConfig(), seed=0)
    assert run.notes == ["fairif: no validation split (build the dataset with --splits train,val,test)"]
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_mitigation_parameters_are_checked_before_any_work():
    with pytest.raises(ParamError, match="parameter 'mitigation' = 'fairness' is out of range: accepted none, fairif, puffle or a local-objective plugin"):
        run_params({"strategy": "fedavg", "mitigation": "fairness"})
    with pytest.raises(ParamError, match="fairif-warmup=5 leaves no round to train with FairIF's weights in rounds=5"):
        run_params({"strategy": "ifca", "mitigation": "fairif", "rounds": 5, "fairif-warmup": 5})
    with pytest.raises(ParamError, match="parameter 'puffle-target' = 1.5 is out of range"):
        run_params({"strategy": "fedprox", "mitigation": "puffle", "puffle-target": 1.5})
    with pytest.raises(ParamError, match="parameter 'fairif-lambda' = -0.1 is out of range"):
        run_params({"strategy": "fedavg", "mitigation": "fairif", "fairif-lambda": -0.1})
    params, _ = run_params({"strategy": "mmfl-random", "mitigation": "puffle"})
    assert params["puffle-target"] == 0.05


def test_shared_statistics_are_summed_element_wise():
    a = {"sums": [[1.0, 2.0], [3.0, 4.0]], "counts": [5.0, 6.0]}
    assert sum_statistics(a, a) == {"sums": [[2.0, 4.0], [6.0, 8.0]], "counts": [10.0, 12.0]}


@pytest.fixture(scope="module")
def gaussian_with_val(tmp_path_factory):
    from fedfair.partitioners.builtins import build_builtin

    return build_builtin("synthetic-gaussian-8", tmp_path_factory.mktemp("val") / "g", seed=0, splits=[0.6, 0.2, 0.2])


@pytest.mark.slow
def test_mitigations_run_with_several_strategies(gaussian_with_val, tmp_path):
    from fedfair.simulation import simulate_many

    base = {"dataset": str(gaussian_with_val), "rounds": 4, "seed": 0, "model": "mlp", "hidden": "8"}
    configs = [
        {**base, "strategy": "fedavg", "out-dir": str(tmp_path / "plain")},
        {**base, "strategy": "fedavg", "mitigation": "puffle", "out-dir": str(tmp_path / "puffle")},
        {**base, "strategy": "fedavg", "mitigation": "fairif", "out-dir": str(tmp_path / "fairif")},
        {**base, "strategy": "ifca", "mitigation": "fairif", "fairif-warmup": 3, "out-dir": str(tmp_path / "ifca")},
        {**base, "strategy": "fairfed", "mitigation": "puffle", "out-dir": str(tmp_path / "fairfed")},
    ]
    plain, puffle, fairif, ifca, fairfed = simulate_many(configs, num_supernodes=8, echo=False, keep_going=False)
    assert "mitigation" not in plain
    assert puffle["mitigation"]["name"] == "puffle" and len(puffle["mitigation"]["rounds"]) == 4
    first = puffle["mitigation"]["rounds"][0]["clients"]
    assert len(first) == 8 and all({"puffle-lambda", "puffle-dd-start", "puffle-dd-end"} <= set(r) for r in first.values())
    assert all(0 <= r["puffle-lambda"] <= 1 for r in first.values())
    # FairIF: rounds 1-2 warm up (half of 4), round 3 computes the weights once, round 4 reuses them
    assert [r["round"] for r in fairif["mitigation"]["rounds"]] == [3]
    assert len(fairif["mitigation"]["rounds"][0]["clients"]) == 8
    assert [r["round"] for r in ifca["mitigation"]["rounds"]] == [4]
    assert fairfed["mitigation"]["rounds"] and plain["clients"] != puffle["clients"]


def test_cg_raises_the_damping_on_negative_curvature():
    from fedfair.influence import hessian_vector_product, inverse_hvp

    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(40, 4)).astype(np.float32))
    y = torch.as_tensor((rng.random(40) < 0.5).astype(np.float32))
    model = build_model({"model": "mlp", "hidden": [6]}, 4, seed=5)  # at initialisation: an indefinite Hessian
    p_ = sum(q.numel() for q in model.parameters())
    hvp = hessian_vector_product(model, x, y)
    dense = torch.stack([hvp(e) for e in torch.eye(p_)]).double()
    dense = 0.5 * (dense + dense.T)
    assert float(torch.linalg.eigvalsh(dense).min()) < -1e-4  # the case the escalation is for
    b = torch.randn(1, p_, generator=torch.Generator().manual_seed(0))
    result = inverse_hvp(model, x, y, b, damping=1e-4, exact_limit=0, tol=1e-8, max_iter=500)
    assert result.damping > 1e-4 and result.residuals[0] < 1e-5
    expected = torch.linalg.solve(dense + result.damping * torch.eye(p_, dtype=torch.float64), b.double().T).T
    torch.testing.assert_close(result.solutions.double(), expected, rtol=1e-3, atol=1e-4)


MNIST_5K = __import__("tests.conftest", fromlist=["SHARED_DATA"]).SHARED_DATA / "mnist" / "mnist_5k.csv.gz"


@pytest.mark.skipif(not MNIST_5K.is_file(), reason=f"MNIST-5k not found at {MNIST_5K} (../shared/data/mnist)")
@pytest.mark.parametrize("bias", ["size", "shift", "class"])
def test_ci_mnist_builtins_apply_their_bias_per_client(bias, tmp_path):
    from fedfair.data import load_client, read_manifest
    from fedfair.partitioners.builtins import build_builtin
    from fedfair.partitioners.ci_mnist import strengths

    root = build_builtin(f"ci-mnist-{bias}", tmp_path / bias, seed=0, data_root=str(MNIST_5K.parent.parent))
    manifest = read_manifest(root)
    assert manifest.client_names == [str(k) for k in range(10)] and manifest.raw["input_shape"] == [3, 28, 28]
    for k, strength in enumerate(strengths(bias, 10)):
        data = load_client(root, k)
        y = np.concatenate([data.train.y, data.val.y, data.test.y])
        red = np.concatenate([s.sensitive["color"] for s in (data.train, data.val, data.test)])
        assert len(np.unique(data.val.sensitive["color"])) == 2  # FairIF's val split carries both groups
        if bias == "size":
            for label in (0, 1):
                assert red[y == label].mean() == pytest.approx(strength, abs=0.005)
        elif bias == "shift":
            assert red[y == 0].mean() == pytest.approx(1 - strength, abs=0.005)
            assert red[y == 1].mean() == pytest.approx(strength, abs=0.005)
        else:
            assert (y == 1).sum() / (y == 0).sum() == pytest.approx(strength, abs=0.005)
            assert red.mean() == pytest.approx(0.5, abs=0.01)
        # the background shows the group: the corner pixel is red (1, 0, 0) or blue (0, 0, 1)
        image = data.train.x[0].reshape(3, 28, 28)
        expected = [1.0, 0.0, 0.0] if data.train.sensitive["color"][0] == 1 else [0.0, 0.0, 1.0]
        assert image[:, 0, 0].tolist() == expected


def test_fairif_command_compares_erm_and_fairif(tmp_path):
    import json

    from typer.testing import CliRunner

    from fedfair.cli import app
    from fedfair.partitioners.builtins import build_builtin

    with_val = build_builtin("synthetic-gaussian-8", tmp_path / "val", seed=0, splits=[0.6, 0.2, 0.2])
    no_val = build_builtin("synthetic-gaussian-8", tmp_path / "noval", seed=0)
    runner = CliRunner()
    result = runner.invoke(app, ["fairif", "-d", str(with_val), "--client", "1", "--epochs", "5", "--lr", "0.01",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["rows"]) == {"ERM", "FairIF"}
    assert all({"accuracy", "ad", "aod", "eod", "epochs"} <= set(r) for r in report["rows"].values())
    both = runner.invoke(app, ["fairif", "-d", str(with_val), "--client", "1", "--pooled"])
    assert both.exit_code == 2 and "give exactly one of --client NAME and --pooled" in both.output
    missing = runner.invoke(app, ["fairif", "-d", str(no_val), "--pooled"])
    assert missing.exit_code == 2 and "FairIF needs a validation split" in " ".join(missing.output.split())


@pytest.mark.parametrize("classes", [1, 3])
def test_numpy_disparity_and_gradient_match_autograd_of_the_reference(classes):
    rng = torch.Generator().manual_seed(classes)
    for trial in range(20):
        n = 24
        logits = torch.randn((n,) if classes == 1 else (n, classes), generator=rng, dtype=torch.float64, requires_grad=True)
        groups = torch.randint(0, 3, (n,), generator=rng)
        if trial % 4 == 0:
            groups[groups == 2] = 1  # a group absent from the batch
        shared = (np.abs(np.random.default_rng(trial).normal(size=(3, max(classes, 2)))) * 5, np.array([10.0, 12.0, 9.0])) \
            if trial % 2 else None
        labels = [1] if trial % 3 == 0 else None  # a batch with one label value
        value, gradient = disparity_with_gradient(logits.detach().numpy(), groups.numpy(), 3, shared, classes=labels)
        reference = demographic_disparity(class_probabilities(logits), groups, 3, shared, labels)
        (g_ref,) = torch.autograd.grad(reference, logits) if reference.requires_grad else (torch.zeros_like(logits),)
        assert value == pytest.approx(float(reference.detach()))
        np.testing.assert_allclose(gradient, g_ref.numpy(), atol=1e-12)


def _dp_config(noise, clip, round_=1):
    return {"dp-noise-multiplier": noise, "dp-max-grad-norm": clip, "dp-delta": 1e-5, p.SERVER_ROUND: round_}


def test_dp_sgd_clips_each_row_and_accounts_epsilon_across_rounds():
    pytest.importorskip("opacus")
    from opacus.accountants import RDPAccountant

    data = _fairif_client()
    data = ClientData(name="c", partition_id=0, train=Split(data.train.x, data.train.y, {}), test=data.test, val=None)
    loop = TrainConfig(lr=0.1, epochs=2, batch_size=20)
    # no clipping in effect and negligible noise: DP-SGD = plain SGD
    a, b = build_model({"model": "logreg"}, 3, seed=0), build_model({"model": "logreg"}, 3, seed=0)
    train_with(["dp"], _dp_config(1e-9, 100.0), a, data, loop, seed=0)
    train_with(["sgd"], {}, b, data, loop, seed=0)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)
    assert list(a.state_dict()) == list(b.state_dict())  # opacus' wrapper and hooks are gone
    # a tiny clipping norm bounds every step: ||delta|| <= lr * C per step
    c = build_model({"model": "logreg"}, 3, seed=0)
    start = torch.cat([q.detach().reshape(-1) for q in c.parameters()])
    train_with(["dp"], _dp_config(1e-9, 0.01), c, data, TrainConfig(lr=0.1, epochs=1, batch_size=20, max_steps=1), seed=0)
    moved = torch.cat([q.detach().reshape(-1) for q in c.parameters()]) - start
    assert float(moved.norm()) <= 0.1 * 0.01 * 1.001
    # epsilon over two rounds equals opacus' accountant fed the same steps
    state = {}
    train_with(["dp"], _dp_config(1.1, 1.0, 1), build_model({"model": "logreg"}, 3), data, loop, seed=0, state=state)
    second = train_with(["dp"], _dp_config(1.1, 1.0, 2), build_model({"model": "logreg"}, 3), data, loop, seed=0,
                        state=state)
    accountant = RDPAccountant()
    accountant.history = [(1.1, 20 / 200, 20), (1.1, 20 / 200, 20)]  # per round: 2 epochs x 10 batches of 20 rows
    assert second.report["dp-epsilon"] == pytest.approx(accountant.get_epsilon(1e-5))


def test_dp_parameters_are_checked_before_any_work():
    with pytest.raises(ParamError, match=r"DP-SGD \(dp-noise-multiplier > 0\) cannot be combined with maml's own local step"):
        run_params({"strategy": "maml", "dp-noise-multiplier": 1.0})
    with pytest.raises(ParamError, match="parameter 'dp-delta' = 1.0 is out of range"):
        run_params({"strategy": "fedavg", "dp-noise-multiplier": 1.0, "dp-delta": 1.0})
    assert run_params({"strategy": "fedavg", "dp-noise-multiplier": 1.0})[0]["dp-max-grad-norm"] == 1.0


def test_one_puffle_step_equals_autograd_of_the_papers_loss():
    """The loop with PUFFLE's regulariser (fixed lambda) takes the SGD step of (1 - lambda) CE + lambda DPL."""
    from fedfair.training import TrainConfig, train_local

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = (rng.random(16) < 0.5).astype(np.int64)
    s = np.array([0, 1] * 8)
    split = Split(x, y, {"sex": s})
    a, b = build_model({"model": "logreg"}, 3, seed=1), build_model({"model": "logreg"}, 3, seed=1)
    reg = PuffleRegulariser(torch.as_tensor(s), 2, lam=0.3, tune=False, target=0.05, alpha=1.0, momentum=0.0, shared=None)
    train_local(a, split, TrainConfig(lr=0.5, batch_size=16, max_steps=1), seed=0, penalties=[reg])
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))  # the loop's first batch
    logits = b(torch.as_tensor(x)[order])
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y[order]).float())
    dpl = demographic_disparity(class_probabilities(logits), torch.as_tensor(s)[order], 2)
    ((1 - 0.3) * ce + 0.3 * dpl).backward()
    with torch.no_grad():
        for q in b.parameters():
            q -= 0.5 * q.grad
    for qa, qb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(qa, qb, rtol=1e-5, atol=1e-6)


def _puffle_dp_config(lambda_noise, statistics_noise, dp_noise=1.1, seed=0):
    return {"sensitive": "sex", "puffle-target": 0.05, "puffle-tune": True, "puffle-lambda": 0.5, "puffle-alpha": 1.0,
            "puffle-momentum": 0.0, "puffle-lambda-noise": lambda_noise, "puffle-statistics-noise": statistics_noise,
            **_dp_config(dp_noise, 1.0), p.TRAIN_SEED: seed}


def _puffle_client():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    s = (rng.random(200) < 0.4).astype(np.int64)
    y = ((x[:, 0] + s) > 0.5).astype(np.int64)
    split = Split(x, y, {"sex": s})
    return ClientData(name="c", partition_id=0, train=split, test=split, val=None, sensitive_values={"sex": [0, 1]})


def test_puffle_with_dp_sgd_noises_its_releases_and_accounts_them_with_the_model_steps():
    """PUFFLE's lambda reads (start DD + one per update) and its shared statistics are Gaussian mechanisms in the
    same RDP accountant as DP-SGD's steps (PUFFLE's client.py / learning.py)."""
    pytest.importorskip("opacus")
    from opacus.accountants import RDPAccountant

    data, loop = _puffle_client(), TrainConfig(lr=0.1, epochs=2, batch_size=20)
    runs = [train_with(["puffle", "dp"], _puffle_dp_config(0.8, 2.0), build_model({"model": "logreg"}, 3, seed=0),
                       data, loop, seed=0, state={}) for _ in range(2)]
    accountant = RDPAccountant()
    # DP-SGD: 2 epochs x 10 batches at rate 0.1; start DD: one full read; 19 lambda updates (none before the first
    # step) at rate 0.1; the statistics: one full release, sensitivity sqrt(2)
    accountant.history = [(1.1, 0.1, 20), (0.8, 1.0, 1), (0.8, 0.1, 19), (2.0 / np.sqrt(2), 1.0, 1)]
    assert runs[0].report["dp-epsilon"] == pytest.approx(accountant.get_epsilon(1e-5))
    dp_only = RDPAccountant()
    dp_only.history = [(1.1, 0.1, 20)]
    assert runs[0].report["dp-epsilon"] > dp_only.get_epsilon(1e-5)
    assert runs[0].report == runs[1].report  # the noise follows the train seed
    counts = np.asarray(runs[0].share["puffle:sex"]["counts"])
    assert counts.sum() != pytest.approx(200) and counts.sum() == pytest.approx(200, abs=10)  # noised counts
    # the update reads DPL + N(0, sigma^2): lambda <- clip(lambda - alpha (target - DPL - noise), 0, 1)
    model, x = build_model({"model": "logreg"}, 3, seed=0), torch.as_tensor(data.train.x[:20])
    codes = data.train.sensitive["sex"][:20]
    batch = Batch(x, torch.as_tensor(data.train.y[:20]).float(), None, torch.arange(20))
    reg = PuffleRegulariser(codes, 2, 0.3, True, 0.05, 0.5, 0.0, None, noise=0.2, rng=np.random.default_rng(9))
    draws = np.random.default_rng(9).normal(0.0, 0.2, 2)
    lam = 0.3
    for step in range(3):
        batch.logits = model(x)
        dpl = disparity_with_gradient(batch.logits.detach().numpy(), codes, 2)[0]
        if step:
            lam = float(np.clip(lam - 0.5 * (0.05 - dpl - draws[step - 1]), 0, 1))
        reg(model, batch)
        assert reg.lam == pytest.approx(lam)
    assert reg.updates == 2
    # without DP no noise, exact statistics (the row counts per group)
    plain = {k: v for k, v in _puffle_dp_config(0.0, 0.0).items() if not k.startswith("dp-")}
    shared = train_with(["puffle"], plain, build_model({"model": "logreg"}, 3, seed=0), data, loop, seed=0).share
    np.testing.assert_array_equal(shared["puffle:sex"]["counts"], np.bincount(data.train.sensitive["sex"]))


def test_puffle_privacy_parameters_are_checked_before_any_work():
    pytest.importorskip("opacus")
    base = {"strategy": "fedavg", "mitigation": "puffle", "dp-noise-multiplier": 1.0}
    with pytest.raises(ParamError, match="set puffle-lambda-noise > 0 and puffle-statistics-noise > 0"):
        run_params(base)
    with pytest.raises(ParamError, match=r"releases its lambda updates and group statistics of the training rows: set "
                                         r"puffle-statistics-noise > 0 \(e.g. 1.0\)"):
        run_params({**base, "puffle-tune": False})
    with pytest.raises(ParamError, match="accounted with DP-SGD's budget: set dp-noise-multiplier > 0 too"):
        run_params({"strategy": "fedavg", "mitigation": "puffle", "puffle-lambda-noise": 1.0})
    params, _ = run_params({**base, "puffle-lambda-noise": 1.0, "puffle-statistics-noise": 1.0})
    assert params["puffle-statistics-noise"] == 1.0
