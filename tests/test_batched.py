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
from fedfair.local import train_with
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


def test_can_batch_names_the_reason():
    assert can_batch({"model": "mlp"}, ["proximal", "group-weights"], {}, LOOP) is None
    assert can_batch({"model": "logreg"}, ["fairif"], {}) == "fairif: influence row weights kept in node state"
    assert "per-fedavg" in can_batch({"model": "logreg"}, ["sgd", "per-fedavg"], {})
    assert "dp" in can_batch({"model": "logreg"}, ["dp"], {})
    assert "pkg.mod:Obj" in can_batch({"model": "logreg"}, ["pkg.mod:Obj"], {})
    assert "cnn" in can_batch({"model": "cnn"}, ["sgd"], {})
    assert "plug-in model" in can_batch({"model": "pkg.mod:Net"}, ["sgd"], {})
    assert "adam" in can_batch({"model": "mlp"}, ["sgd"], {}, TrainConfig(optimizer="adam"))
    assert "DP-SGD" in can_batch({"model": "mlp"}, ["sgd"], {}, TrainConfig(dp_noise=1.0))
    with pytest.raises(ValueError, match="puffle"):
        train_batched({"model": "logreg"}, [], [], LOOP, [], ["puffle"], {})
