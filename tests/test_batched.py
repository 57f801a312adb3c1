"""Batched local training (fedfair.batched): every client's weights and loss equal its own train_with run."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from fedfair import protocol as p
from fedfair.batched import can_batch, evaluate_batched, train_batched
from fedfair.data import ClientData, Split
from fedfair.local import objective_class, train_with
from fedfair.local.puffle import _estimates, disparity_with_gradient, stacked_disparity_with_gradient
from fedfair.models import build_model
from fedfair.training import TrainConfig, evaluate

SIZES = (37, 64, 130, 5)  # batch 16: short last batches of 5, 0, 2 and 5 rows
LOOP = TrainConfig(lr=0.1, epochs=3, batch_size=16)
SEEDS = [3, 11, 4, 9]
GROUPS = json.dumps({"attribute": "sex", "values": [1, 2], "multipliers": [[1.5, 0.5], [0.7, -0.2]]})
# float32 sums in another order than the per-client addmm / mean: observed <= 2.4e-7 absolute on the weights
WEIGHTS_TOL = {"rtol": 1e-5, "atol": 1e-6}


def _client(n: int, seed: int, num_classes: int = 2, d: int = 6) -> ClientData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64) if num_classes == 2 else rng.integers(0, num_classes, n)
    split = Split(x=x, y=y, sensitive={"sex": rng.choice([1, 2], n)})
    return ClientData(name=f"c{seed}", partition_id=seed, train=split, test=split, val=None,
                      sensitive_values={"sex": [1, 2]}, num_classes=num_classes)


def _compare(spec, names, config, num_classes=2, sizes=SIZES, loop=LOOP):
    datas = [_client(n, k, num_classes) for k, n in enumerate(sizes)]
    models = [build_model(spec, 6, seed=20 + k, num_classes=num_classes) for k in range(len(datas))]
    starts = [copy.deepcopy(m.state_dict()) for m in models]
    configs = config if isinstance(config, list) else [config] * len(datas)
    expected = [train_with(names, c, m, d, loop, s).loss for c, m, d, s in zip(configs, models, datas, SEEDS)]
    results = train_batched(spec, starts, datas, loop, SEEDS[: len(datas)], names, config)
    for model, result, loss in zip(models, results, expected):
        state = model.state_dict()
        assert list(result.state_dict) == list(state)
        for key, value in state.items():
            assert result.state_dict[key].device.type == "cpu"
            torch.testing.assert_close(result.state_dict[key], value, **WEIGHTS_TOL)
        assert result.loss == pytest.approx(loss, rel=1e-6)
    return starts, models, results


SPECS = [{"model": "logreg"}, {"model": "mlp", "hidden": [32]}]
OBJECTIVES = [(["sgd"], {}), (["proximal"], {"proximal-mu": 0.5}),
              (["group-weights"], {p.GROUP_WEIGHTS: GROUPS}),
              (["proximal", "group-weights"], {"proximal-mu": 0.1, p.GROUP_WEIGHTS: GROUPS})]


@pytest.mark.parametrize("spec", SPECS, ids=["logreg", "mlp"])
@pytest.mark.parametrize("names,config", OBJECTIVES, ids=["sgd", "proximal", "group-weights", "both"])
def test_batched_training_equals_each_clients_own_run(spec, names, config):
    starts, _, results = _compare(spec, names, config)
    for start, result in zip(starts, results):  # it trained
        first = next(iter(start))
        assert not torch.equal(start[first], result.state_dict[first])


@pytest.mark.parametrize("spec", [SPECS[0], {"model": "mlp", "hidden": [8, 4]}], ids=["logreg", "mlp-2"])
def test_multiclass_and_deeper_mlp(spec):
    _compare(spec, ["proximal"], {"proximal-mu": 0.2}, num_classes=3)


def test_fixed_steps_per_client_configs_and_an_empty_client():
    # finetune: max_steps cycles past an epoch (37 rows = 3 batches); per-client lr; a client without rows
    configs = [{"maml-finetune-steps": s, "maml-finetune-lr": lr}
               for s, lr in ((7, 0.03), (2, 0.1), (0, 0.1), (5, 0.2))]
    starts, _, results = _compare(SPECS[1], ["finetune"], configs)
    assert results[2].loss == 0.0  # max_steps 0: no step, weights as sent
    for key, value in starts[2].items():
        torch.testing.assert_close(results[2].state_dict[key], value, rtol=0, atol=0)
    starts, _, results = _compare(SPECS[0], ["sgd"], {}, sizes=(37, 0, 20))
    assert results[1].loss == 0.0
    for key, value in starts[1].items():
        torch.testing.assert_close(results[1].state_dict[key], value, rtol=0, atol=0)


def test_evaluate_batched_equals_evaluate_bit_for_bit():
    datas = [_client(n, k) for k, n in enumerate(SIZES)]
    models = [build_model(SPECS[1], 6, seed=k) for k in range(len(datas))]
    results = evaluate_batched(SPECS[1], [m.state_dict() for m in models], [d.test for d in datas],
                               {"sex": [1, 2]})
    for model, data, result in zip(models, datas, results):
        expected = evaluate(model, data.test, {"sex": [1, 2]})
        assert (result.n, result.accuracy) == (expected.n, expected.accuracy)
        assert result.loss == expected.loss  # bit for bit: the same linear chain per client
        assert ({a: g.to_json() for a, g in result.groups.items()}
                == {a: g.to_json() for a, g in expected.groups.items()})


def _defaults(name: str, **changes) -> dict:
    return {key: param.default for key, param in objective_class(name).params.items()} | changes


def _compare_stateful(spec, names, configs, states, shared=None, num_classes=2):
    """_compare for plug-ins with node state and shared statistics: weights, loss, report, notes, share, and
    the node state each client leaves, against its own train_with run."""
    datas = [_client(n, k, num_classes) for k, n in enumerate(SIZES)]
    models = [build_model(spec, 6, seed=20 + k, num_classes=num_classes) for k in range(len(datas))]
    starts = [copy.deepcopy(m.state_dict()) for m in models]
    alone_states, shared = copy.deepcopy(states), shared or [None] * len(datas)
    expected = [train_with(names, c, m, d, LOOP, s, state=st, shared=sh)
                for c, m, d, s, st, sh in zip(configs, models, datas, SEEDS, alone_states, shared)]
    results = train_batched(spec, starts, datas, LOOP, SEEDS, names, configs, states=states, shared=shared)
    for model, result, run in zip(models, results, expected):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(result.state_dict[key], value, **WEIGHTS_TOL)
        assert result.loss == pytest.approx(run.loss, rel=1e-5)
        assert result.report.keys() == run.report.keys() and result.notes == run.notes
        for key, value in run.report.items():
            assert result.report[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        assert result.share.keys() == run.share.keys()
        for key, value in run.share.items():
            for part in value:
                np.testing.assert_allclose(result.share[key][part], value[part], rtol=1e-4, atol=1e-5)
    for batched_state, alone_state in zip(states, alone_states):
        assert batched_state.keys() == alone_state.keys()
        for key, value in alone_state.items():
            np.testing.assert_array_equal(batched_state[key], value)
    return results, expected


@pytest.mark.parametrize("spec", SPECS, ids=["logreg", "mlp"])
def test_batched_puffle_equals_each_clients_own_run(spec):
    # lambda tuned from 0 (first round) or from the start disparity, with and without the server's statistics
    target = 0.02
    configs = [_defaults("puffle", **{"puffle-target": target, p.TRAINED_BEFORE: k % 2 == 1}) for k in range(4)]
    configs[3]["puffle-tune"] = False  # a fixed lambda
    shared = {"puffle:sex": {"sums": [[10.0, 4.0], [6.0, 9.0]], "counts": [20.0, 18.0]}}
    results, expected = _compare_stateful(spec, ["puffle"], configs, [{} for _ in configs],
                                          [None, shared, shared, None])
    assert any(run.report["puffle-lambda"] > 0 for run in expected)  # the penalty was active
    for result, run in zip(results, expected):
        assert result.report["puffle-lambda"] == pytest.approx(run.report["puffle-lambda"], abs=1e-6)


def test_batched_puffle_with_proximal_and_classes():
    configs = [_defaults("puffle", **{"puffle-target": 0.0, p.TRAINED_BEFORE: True, "proximal-mu": 0.3})] * 4
    _compare_stateful({"model": "mlp", "hidden": [8]}, ["proximal", "puffle"], configs, [{} for _ in configs],
                      num_classes=3)


def test_batched_fairif_in_its_warm_up_and_with_kept_weights():
    rng = np.random.default_rng(0)
    config = _defaults("fairif", **{"fairif-warmup": 2, p.SERVER_ROUND: 1})
    _compare_stateful(SPECS[1], ["fairif"], [config] * 4, [{} for _ in SIZES])  # warm-up: plain training
    kept = [{"fairif/fairif-weights": rng.uniform(0.2, 3.0, n)} for n in SIZES]
    later = {**config, p.SERVER_ROUND: 3}
    _compare_stateful(SPECS[1], ["fairif"], [later] * 4, kept)  # stage 2: the kept weights
    with pytest.raises(ValueError, match="fairif: computes its influence weights this round"):
        train_batched(SPECS[1], [build_model(SPECS[1], 6).state_dict()], [_client(5, 0)], LOOP, [0], ["fairif"],
                      later, states=[{}])


def test_can_batch_names_the_reason():
    assert can_batch({"model": "mlp"}, ["proximal", "group-weights"], {}, LOOP) is None
    assert can_batch({"model": "logreg"}, ["fairif", "puffle"], {}) is None  # client_ready checks their state
    assert "per-fedavg" in can_batch({"model": "logreg"}, ["sgd", "per-fedavg"], {})
    assert "dp" in can_batch({"model": "logreg"}, ["dp"], {})
    assert "pkg.mod:Obj" in can_batch({"model": "logreg"}, ["pkg.mod:Obj"], {})
    assert "cnn" in can_batch({"model": "cnn"}, ["sgd"], {})
    assert "plug-in model" in can_batch({"model": "pkg.mod:Net"}, ["sgd"], {})
    assert "adam" in can_batch({"model": "mlp"}, ["sgd"], {}, TrainConfig(optimizer="adam"))
    assert "DP-SGD" in can_batch({"model": "mlp"}, ["sgd"], {}, TrainConfig(dp_noise=1.0))
    with pytest.raises(ValueError, match="ditto"):
        train_batched({"model": "logreg"}, [], [], LOOP, [], ["ditto"], {})


def test_stacked_dpl_equals_each_batchs_own_bit_for_bit():
    # random batches: binary and 3-class logits, padded rows, absent groups, with and without shared statistics
    rng = np.random.default_rng(0)
    for _ in range(300):
        k, width, groups = rng.integers(1, 6), rng.integers(1, 12), rng.integers(1, 4)
        classes = int(rng.choice([2, 3]))
        binary = classes == 2 and rng.random() < 0.7
        z = rng.normal(size=(k, width) if binary else (k, width, classes)) * rng.choice([0.1, 3.0])
        g, y = rng.integers(0, groups, size=(k, width)), rng.integers(0, classes, size=(k, width))
        lengths = rng.integers(1, width + 1, size=k)
        mask = np.arange(width)[None] < lengths[:, None]
        shared = None if rng.random() < 0.3 else (rng.random((groups, classes)) * 5, rng.integers(0, 4, groups) * 1.0)
        own, rest = _estimates(shared, groups, classes)
        wanted = np.zeros((k, classes), dtype=bool)
        for i in range(k):
            wanted[i, np.unique(y[i, : lengths[i]])] = True
        values, gradients = stacked_disparity_with_gradient(z, g, mask, groups, np.broadcast_to(own, (k, *own.shape)),
                                                            np.broadcast_to(rest, (k, *rest.shape)), wanted)
        for i, n in enumerate(lengths):
            value, gradient = disparity_with_gradient(z[i, :n], g[i, :n], groups, shared, classes=np.unique(y[i, :n]))
            assert values[i] == value
            np.testing.assert_array_equal(gradients[i, :n], gradient)
            assert not gradients[i, n:].any()
