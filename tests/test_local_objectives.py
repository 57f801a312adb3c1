"""Client-side plug-ins of the one training loop: composition, batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedfair.data import ClientData, Split
from fedfair.local import LOCAL_OBJECTIVES, objective_class, parse_names, train_with
from fedfair.local.base import LocalObjective
from fedfair.local.per_fedavg import PerFedAvgStep
from fedfair.models import build_model
from fedfair.training import Batch, TrainConfig, proximal_term, train_local
from tests.helpers_fl import get_weights


def _client(n=300, seed=0) -> ClientData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    split = Split(x=x, y=y, sensitive={"sex": rng.choice([1, 2], n), "race": rng.choice(["a", "b", "c"], n)})
    return ClientData(name="c", partition_id=0, train=split, test=split, val=None,
                      sensitive_values={"sex": [1, 2], "race": ["a", "b", "c"]})


class UpweightPositives(LocalObjective):
    """A test plug-in: weight 3 on positive rows."""

    name = "upweight"

    def sample_weight(self, model, data):
        return np.where(data.train.y == 1, 3.0, 1.0)


@pytest.fixture
def upweight(monkeypatch):
    monkeypatch.setitem(LOCAL_OBJECTIVES, "upweight", f"{__name__}:UpweightPositives")


def test_plugins_compose_weights_and_penalties_into_the_one_loop(upweight):
    data, loop = _client(), TrainConfig(lr=0.1, epochs=2, batch_size=16)
    composed, manual = build_model({"model": "logreg"}, 3, seed=1), build_model({"model": "logreg"}, 3, seed=1)
    loss = train_with(["proximal", "upweight"], {"proximal-mu": 0.5}, composed, data, loop, seed=4).loss
    expected = train_local(manual, data.train, loop, seed=4, sample_weight=np.where(data.train.y == 1, 3.0, 1.0),
                           penalties=[proximal_term(list(manual.parameters()), 0.5)])
    assert loss == pytest.approx(expected, rel=1e-12)
    for key, value in get_weights(manual).items():
        np.testing.assert_array_equal(get_weights(composed)[key], value)


def test_sgd_plugin_is_the_plain_loop():
    data, loop = _client(), TrainConfig(lr=0.1, epochs=1)
    a, b = build_model({"model": "mlp", "hidden": [4]}, 3, seed=2), build_model({"model": "mlp", "hidden": [4]}, 3, seed=2)
    train_with(parse_names(""), {}, a, data, loop, seed=0)
    train_local(b, data.train, loop, seed=0)
    for key, value in get_weights(a).items():
        np.testing.assert_array_equal(get_weights(b)[key], value)


def test_batches_carry_weights_and_the_rows_groups():
    data = _client(n=100)
    seen = []

    def spy(model, batch: Batch) -> torch.Tensor:
        seen.append(batch)
        return torch.zeros(())

    weights = np.arange(100, dtype=np.float64)
    train_local(build_model({"model": "logreg"}, 3, seed=0), data.train, TrainConfig(batch_size=32), seed=0,
                sample_weight=weights, penalties=[spy])
    assert sorted(torch.cat([b.index for b in seen]).tolist()) == list(range(100))
    for batch in seen:
        rows = batch.index.numpy()
        # row weights scaled to mean 1 over the split: the batch mean of weight x loss is unbiased
        np.testing.assert_allclose(batch.weight.numpy(), (weights / weights.mean())[rows], rtol=1e-6)
        sex_values = np.unique(data.train.sensitive["sex"])
        np.testing.assert_array_equal(sex_values[batch.groups["sex"].numpy()], data.train.sensitive["sex"][rows])
        race_values = np.unique(data.train.sensitive["race"])
        np.testing.assert_array_equal(race_values[batch.groups["race"].numpy()], data.train.sensitive["race"][rows])


def test_max_steps_stops_the_loop_and_cycles_the_data():
    data = _client(n=50)
    seen = []

    def count(model, batch):
        seen.append(len(batch.y))
        return torch.zeros(())

    train_local(build_model({"model": "logreg"}, 3, seed=0), data.train, TrainConfig(batch_size=20, max_steps=5),
                seed=0, penalties=[count])
    assert seen == [20, 20, 10, 20, 20]  # two passes over 50 rows, stopped after 5 steps


def test_two_plugins_with_their_own_step_are_refused(monkeypatch):
    class AnotherStep(LocalObjective):
        name = "another"

        def step(self):
            return PerFedAvgStep(0.1)

    monkeypatch.setitem(LOCAL_OBJECTIVES, "another", f"{__name__}:AnotherStep")
    monkeypatch.setitem(globals(), "AnotherStep", AnotherStep)
    with pytest.raises(ValueError, match="more than one defines its own step"):
        train_with(["per-fedavg", "another"], {"maml-alpha": 0.1}, build_model({"model": "logreg"}, 3), _client(),
                   TrainConfig(), seed=0)


def test_unknown_plugin_and_missing_parameter_are_named():
    with pytest.raises(ValueError, match="unknown local objective .fairiff.; valid local objectives: ditto, dp, fairif, finetune, group-weights, per-fedavg, proximal, puffle, sgd"):
        objective_class("fairiff")
    with pytest.raises(ValueError, match=r"'proximal': the message lacks its parameter\(s\) \['proximal-mu'\]"):
        train_with(["proximal"], {}, build_model({"model": "logreg"}, 3), _client(), TrainConfig(), seed=0)
