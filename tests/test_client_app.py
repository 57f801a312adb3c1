"""The ClientApp handlers, called directly with Flower messages (no simulation)."""

from __future__ import annotations

import json

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from fedfair.client_app import app
from fedfair.data import load_client
from fedfair.metrics import GroupCounts, fairness_from_counts, fairness_report
from fedfair.models import build_model
from fedfair.training import TrainConfig, evaluate, predict_proba, train_local


@pytest.fixture(autouse=True)
def _task_identity():
    """Flower stamps messages with the running task's identity; set one as a runtime would."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 7


def _context(node_config):
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def _message(message_type, content):
    return Message(content, dst_node_id=7, message_type=message_type)


def test_evaluate_models_scores_each_sent_model_on_the_clients_data(synthetic_dir):
    data = load_client(synthetic_dir, "2")
    spec = {"model": "logreg"}
    trained, untrained = build_model(spec, 1, seed=0), build_model(spec, 1, seed=1)
    train_local(trained, data.train, TrainConfig(lr=0.1, epochs=3), seed=0)
    content = RecordDict({
        "model-0": ArrayRecord(trained.state_dict()),
        "model-1": ArrayRecord(untrained.state_dict()),
        "config": ConfigRecord({"dataset-dir": str(synthetic_dir), "model-spec": json.dumps(spec), "split": "test"}),
    })
    reply = app(_message("query.evaluate_models", content), _context({"partition-id": 1}))
    assert reply.content["info"]["client"] == "2"
    for key, model in (("model-0", trained), ("model-1", untrained)):
        expected = evaluate(model, data.test)
        metrics = reply.content[f"metrics.{key}"]
        assert metrics["accuracy"] == pytest.approx(expected.accuracy, abs=1e-12)
        assert metrics["loss"] == pytest.approx(expected.loss, rel=1e-6)
        groups = GroupCounts.from_json(json.loads(reply.content["info"][f"groups.{key}"])["group"])
        pred = (predict_proba(model, data.test.x) > 0.5).astype(int)
        assert fairness_from_counts(groups)["sp"] == pytest.approx(
            fairness_report(data.test.y, pred, data.test.sensitive)["group"]["sp"]
        )
    assert reply.content["metrics.model-0"]["accuracy"] > reply.content["metrics.model-1"]["accuracy"]


def test_describe_uses_node_config_in_deployment(synthetic_dir):
    content = RecordDict({"config": ConfigRecord({"dataset-dir": "", "model-spec": "{}"})})
    reply = app(_message("query.describe", content), _context({"dataset-dir": str(synthetic_dir), "client": "5"}))
    info = reply.content["info"]
    assert (info["client"], info["partition-id"], info["n-train"], info["n-features"]) == ("5", 4, 1200, 1)
    assert json.loads(info["default-model"]) == {"model": "logreg"}


def test_node_without_dataset_gets_a_clear_error():
    content = RecordDict({"config": ConfigRecord({"dataset-dir": ""})})
    with pytest.raises(ValueError, match="--node-config \"dataset-dir='DIR' client='NAME'\""):
        app(_message("query.describe", content), _context({}))
