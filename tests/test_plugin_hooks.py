"""The plug-in hooks that keep algorithms out of the core: a personal-model update after the shared training
(Ditto's) and per-node facts the server sends (PUFFLE's trained-before)."""

from __future__ import annotations

import copy

import pytest
from flwr.app import ArrayRecord

from fedfair import protocol as p
from fedfair.local import objective_class, train_with
from fedfair.local.base import LocalObjective
from fedfair.models import build_model
from fedfair.strategies.base import FedFairStrategy, NodeInfo
from fedfair.strategies.ditto import DittoStrategy
from fedfair.training import TrainConfig, proximal_term, train_local
from tests.helpers_fl import get_weights
from tests.test_local_objectives import _client


class Personal:
    """A personal model store of one node, as the ClientApp gives it to the plug-ins (weights dicts)."""

    def __init__(self, sent: dict, kept: dict | None = None) -> None:
        self.sent_weights, self.kept = sent, kept

    def _build(self, weights: dict):
        model = build_model({"model": "logreg"}, 3)
        model.load_state_dict(copy.deepcopy(weights))
        return model

    def sent(self):
        return self._build(self.sent_weights)

    def load(self):
        return None if self.kept is None else self._build(self.kept)

    def save(self, model) -> None:
        self.kept = {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_ditto_updates_the_personal_model_as_algorithm_1_lines_6_to_8():
    data, loop, lam, seed = _client(), TrainConfig(lr=0.1, epochs=2, batch_size=32), 0.5, 11
    sent = build_model({"model": "logreg"}, 3, seed=3).state_dict()
    personal = Personal(sent)
    for _ in range(2):  # the first time from w^t, then from where v_k was
        start = copy.deepcopy(personal.kept) if personal.kept is not None else copy.deepcopy(sent)
        shared = build_model({"model": "logreg"}, 3)
        shared.load_state_dict(copy.deepcopy(sent))
        train_with(["ditto"], {"ditto-lambda": lam}, shared, data, loop, seed=seed, personal=personal)
        plain = build_model({"model": "logreg"}, 3)  # the shared training is plain SGD
        plain.load_state_dict(copy.deepcopy(sent))
        train_local(plain, data.train, loop, seed=seed)
        assert all((get_weights(shared)[k] == v).all() for k, v in get_weights(plain).items())
        anchor, mine = build_model({"model": "logreg"}, 3), build_model({"model": "logreg"}, 3)
        anchor.load_state_dict(copy.deepcopy(sent))
        mine.load_state_dict(start)
        train_local(mine, data.train, loop, seed=seed + 1, penalties=[proximal_term(list(anchor.parameters()), lam)])
        assert all((personal.kept[k].numpy() == v).all() for k, v in get_weights(mine).items())


def test_a_personal_plugin_without_a_personal_store_is_named():
    with pytest.raises(ValueError, match="'ditto' updates a personal model"):
        train_with(["ditto"], {"ditto-lambda": 0.1}, build_model({"model": "logreg"}, 3), _client(), TrainConfig(), seed=0)


def test_ditto_names_its_plugin_and_the_lambda_is_the_plugins_parameter():
    assert DittoStrategy.objectives == ("ditto",)
    assert "ditto-lambda" in DittoStrategy.param_components()["local ditto"]
    assert objective_class("ditto").update_personal is not LocalObjective.update_personal


class _Node(FedFairStrategy):
    name = "facts"


def test_node_facts_are_sent_only_to_plugins_that_ask(monkeypatch):
    from flwr.supercore.task_identity import TaskIdentity

    for key in ("_task_id", "_run_id", "_node_id"):  # Flower stamps messages with the running task's identity
        monkeypatch.setattr(TaskIdentity, key, 1)
    node = NodeInfo(node_id=5, client="a", partition_id=0, n_train=1, n_test=1, n_features=3, default_model={})
    params = {"seed": 0, "lr": 0.1, "local-epochs": 1, "batch-size": 8, "model": "logreg", "hidden": "8"}
    plain = _Node(params, recorder=None)
    assert p.TRAINED_BEFORE not in plain.train_message(node, 1, ArrayRecord()).content[p.CONFIG]
    mitigated = _Node({**params, "mitigation": "puffle", **objective_class("puffle").server_values(
        {k: s.default for k, s in objective_class("puffle").params.items()})}, recorder=None)
    assert mitigated.train_message(node, 1, ArrayRecord()).content[p.CONFIG][p.TRAINED_BEFORE] is False
    mitigated.plugins.trained.setdefault("", set()).add("a")
    assert mitigated.train_message(node, 2, ArrayRecord()).content[p.CONFIG][p.TRAINED_BEFORE] is True


def test_an_unknown_node_fact_is_refused_before_any_work(monkeypatch):
    from fedfair.config import ParamError

    monkeypatch.setattr(objective_class("proximal"), "node_facts", ("favourite-colour",))

    class Asks(FedFairStrategy):
        name = "asks"
        objectives = ("proximal",)

    with pytest.raises(ParamError, match="node facts \\['favourite-colour'\\] the server does not know"):
        Asks.check_params({})
