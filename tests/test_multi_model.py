"""Several models per client: evaluated, recorded and averaged per model / task, never across them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from fedfair import protocol as p
from fedfair.client_app import app as client_app
from fedfair.data import load_client
from fedfair.metrics import GroupCounts
from fedfair.models import build_model
from fedfair.registry import STRATEGIES
from fedfair.results import ClientEval, RunRecorder
from fedfair.simulation import simulate_many
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.strategies.evaluation import Deployed
from fedfair.strategies.fedavg import FedAvgStrategy


def _eval(client, pid, task, accuracy, loss):
    return ClientEval(client=client, partition_id=pid, n_train=10, n_test=10, model=f"m-{task}", loss=loss,
                      accuracy=accuracy, groups={"g": GroupCounts([0, 1], np.array([[1, 1, 2, 1], [2, 0, 2, 1]]))},
                      task=task)


def test_recorder_keeps_tasks_apart(tmp_path):
    recorder = RunRecorder(tmp_path / "run", {"strategy": "x", "dataset": "d", "rounds": 1, "seed": 0}, echo=False).open()
    evals = [_eval("a", 0, "income", 0.8, 0.4), _eval("b", 1, "income", 0.6, 0.6),
             _eval("a", 0, "employment", 0.3, 1.0), _eval("b", 1, "employment", 0.5, 0.8)]
    recorder.record_round(1, evals)
    summary = recorder.finish(evals)
    assert "clients" not in summary and set(summary["tasks"]) == {"income", "employment"}
    assert summary["tasks"]["income"]["mean"]["accuracy"] == pytest.approx(0.7)
    assert summary["tasks"]["employment"]["mean"]["loss"] == pytest.approx(0.9)
    assert [c["client"] for c in summary["tasks"]["employment"]["clients"]] == ["a", "b"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sorted((r["client"], r["task"]) for r in rows) == [("a", "employment"), ("a", "income"),
                                                              ("b", "employment"), ("b", "income")]
    assert (tmp_path / "run" / "income_accuracy_vs_fairness.png").is_file()


@pytest.fixture(autouse=False)
def _task_identity():
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 7


def _call(kind, content, state):
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 1}, state=state, run_config={})
    return client_app(Message(content, dst_node_id=7, message_type=kind), context)


def test_client_scores_sent_and_personal_models_per_task(synthetic_dir, _task_identity):
    spec, state = {"model": "logreg"}, RecordDict()
    data = load_client(synthetic_dir, 1)
    first, second = build_model(spec, 1, seed=0), build_model(spec, 1, seed=1)
    base = {p.DATASET_DIR: str(synthetic_dir), p.MODEL_SPEC: json.dumps(spec), p.RUN_TAG: "r", p.BATCH_SIZE: 32}
    models = p.model_entries([{"key": "model-0", "use": p.SENT, "task": "a"},
                              {"key": "model-1", "use": p.PERSONAL, "task": "b"}])
    content = RecordDict({"model-0": ArrayRecord(first.state_dict()), "model-1": ArrayRecord(second.state_dict()),
                          p.CONFIG: ConfigRecord({**base, p.MODELS: models})})
    reply = _call("evaluate", content, state)
    # no personal model of task b yet: its sent model stands in
    assert reply.content["metrics.model-0"]["accuracy"] == pytest.approx(evaluate(first, data.test).accuracy)
    assert reply.content["metrics.model-1"]["accuracy"] == pytest.approx(evaluate(second, data.test).accuracy)

    train = RecordDict({p.ARRAYS: ArrayRecord(second.state_dict()), p.CONFIG: ConfigRecord({
        **base, p.LR: 0.1, p.LOCAL_EPOCHS: 2, p.TRAIN_SEED: 3, p.KEEP_PERSONAL: True, p.TASK: "b"})})
    _call("train", train, state)
    local = build_model(spec, 1, seed=1)
    train_local(local, data.train, TrainConfig(lr=0.1, epochs=2, batch_size=32), seed=3)
    content = RecordDict({"model-0": ArrayRecord(first.state_dict()), "model-1": ArrayRecord(first.state_dict()),
                          p.CONFIG: ConfigRecord({**base, p.MODELS: models})})
    reply = _call("evaluate", content, state)
    # task b's personal model is the locally trained one; task a still gets the sent model
    assert reply.content["metrics.model-1"]["loss"] == pytest.approx(evaluate(local, data.test).loss, rel=1e-6)
    assert reply.content["metrics.model-0"]["loss"] == pytest.approx(evaluate(first, data.test).loss, rel=1e-6)


class GlobalAndInitialStrategy(FedAvgStrategy):
    """Test strategy: every client deploys the FedAvg model (task "fedavg") and the initial model (task "init")."""

    name = "test-two-models"

    def setup(self, grid):
        super().setup(grid)
        self.initial = self.global_model

    def deployment(self, server_round):
        return {n.node_id: [Deployed("global", self.global_model, task="fedavg"), Deployed("initial", self.initial, task="init")]
                for n in self.nodes}


@pytest.mark.slow
def test_a_run_reports_every_task_of_every_client(synthetic_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(STRATEGIES, "test-two-models", f"{__name__}:GlobalAndInitialStrategy")
    out = tmp_path / "two"
    summary, fedavg = simulate_many([
        {"strategy": "test-two-models", "dataset": str(synthetic_dir), "rounds": 2, "seed": 4, "out-dir": str(out)},
        {"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 2, "seed": 4, "out-dir": str(tmp_path / "fedavg")},
    ], num_supernodes=8, echo=False, keep_going=False)
    assert set(summary["tasks"]) == {"fedavg", "init"}
    # the FedAvg task equals a plain FedAvg run; the initial model's task equals evaluating it directly
    assert summary["tasks"]["fedavg"]["clients"] == fedavg["clients"]
    assert summary["tasks"]["fedavg"]["mean"] == fedavg["mean"]
    init = build_model({"model": "logreg"}, 1, seed=4)
    for entry in summary["tasks"]["init"]["clients"]:
        expected = evaluate(init, load_client(synthetic_dir, entry["client"]).test)
        assert entry["accuracy"] == pytest.approx(expected.accuracy, abs=1e-12)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 8 * 2 and {r["task"] for r in rows} == {"fedavg", "init"}
