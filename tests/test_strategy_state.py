"""Checkpoints through explicit state: a strategy outside fedfair (this module) that keeps its own dataclass
checkpoints and resumes through its state_dict() / load_state_dict(), without an allow-list or pickle; without
them the first checkpoint is a one-line error naming the class and the fix."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from fedfair.strategies.base import FedFairStrategy, NodeInfo
from fedfair.strategies.checkpoint import CHECKPOINT, STATE_FIX, StateError, load_checkpoint, save_checkpoint
from fedfair.strategies.fedavg import FedAvgStrategy


@dataclasses.dataclass
class Schedule:
    """The user strategy's own state: a step size, its history and per-client weights."""

    step: float
    history: list[float]
    weights: np.ndarray
    by_node: dict[int, int]


class Recorder:
    """What checkpoint() / restore() use of a RunRecorder."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir, self.lines, self.truncated = out_dir, [], None

    def log(self, line: str) -> None:
        self.lines.append(line)

    def metrics_bytes(self) -> int:
        return 0

    def truncate_metrics(self, server_round: int, size: int | None = None) -> None:
        self.truncated = server_round


OLD = [111111111111, 222222222222]


def nodes(ids: list[int]) -> list[NodeInfo]:
    return [NodeInfo(node_id=i, client=c, partition_id=k, n_train=10, n_test=5, n_features=3, default_model={})
            for k, (i, c) in enumerate(zip(ids, ["a", "b"]))]


def make(cls: type[FedFairStrategy], out_dir: Path, ids: list[int], resume: bool = False) -> FedFairStrategy:
    strategy = cls({"rounds": 5, "dataset": "d", "resume": resume}, Recorder(out_dir))
    strategy.nodes = nodes(ids)
    return strategy


class Plain(FedFairStrategy):
    """A user strategy that keeps a Schedule and does not say how to store it."""

    name = "user-plain"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = ArrayRecord({"w": Array(np.arange(4, dtype=np.float32))})
        self.schedule = Schedule(0.5, [1.0, 0.75], np.array([0.25, 0.75]), {OLD[0]: 1, OLD[1]: 0})


class Explicit(Plain):
    """The same strategy with its state as arrays and JSON values."""

    name = "user-explicit"

    def state_dict(self) -> dict[str, Any]:
        s = self.schedule
        return {**super().state_dict(), "schedule": {"step": s.step, "history": list(s.history), "weights": s.weights,
                                                     "by_node": [[k, v] for k, v in s.by_node.items()]}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        raw = state.pop("schedule")
        self.schedule = Schedule(raw["step"], raw["history"], raw["weights"], {k: v for k, v in raw["by_node"]})
        super().load_state_dict(state)


def test_a_user_strategy_round_trips_its_own_dataclass_through_state_dict(tmp_path):
    written = make(Explicit, tmp_path, OLD)
    written.schedule.history.append(0.5)
    written.current_round = 3
    save_checkpoint(tmp_path, {"round": 3, "state": written.state_dict()})
    text = (tmp_path / CHECKPOINT).read_text()
    assert "test_strategy_state" not in text and "Schedule" not in text  # no class of this module is named
    read = make(Explicit, tmp_path, OLD)
    read.load_state_dict(load_checkpoint(tmp_path)["state"])
    assert isinstance(read.schedule, Schedule) and read.schedule.step == 0.5
    assert read.schedule.history == [1.0, 0.75, 0.5] and read.schedule.by_node == {OLD[0]: 1, OLD[1]: 0}
    np.testing.assert_array_equal(read.schedule.weights, [0.25, 0.75])
    np.testing.assert_array_equal(read.model["w"].numpy(), np.arange(4))
    assert read.current_round == 3 and read.run_tag == written.run_tag  # the base's own state comes along


def test_a_user_strategy_checkpoints_and_resumes_on_new_nodes(tmp_path):
    written = make(Explicit, tmp_path, OLD)
    written.checkpoint(2, [])
    assert json.loads((tmp_path / CHECKPOINT).read_text())["strategy"] == "user-explicit"
    new = [7, 8]  # the SuperNodes restarted: new ids, the same clients
    resumed = make(Explicit, tmp_path, new, resume=True)
    calls = []
    load = resumed.load_state_dict
    resumed.load_state_dict = lambda state: (calls.append(state), load(state))  # restore goes through it
    assert resumed.restore() == (2, [])
    assert len(calls) == 1 and resumed.resumed and resumed.recorder.truncated == 2
    assert resumed.schedule.by_node == {7: 1, 8: 0}  # node ids mapped through the client names
    np.testing.assert_array_equal(resumed.schedule.weights, [0.25, 0.75])


def test_without_the_override_a_foreign_object_is_one_line_naming_the_class_and_the_fix(tmp_path):
    strategy = make(Plain, tmp_path, OLD)
    with pytest.raises(StateError) as caught:
        strategy.checkpoint(1, [])
    message = str(caught.value)
    assert "\n" not in message
    assert f"{__name__}:Plain" in message and f"{__name__}:Schedule" in message and "'schedule'" in message
    assert message.endswith(STATE_FIX)
    assert STATE_FIX == "override state_dict() / load_state_dict() to return arrays and JSON values"
    assert not (tmp_path / CHECKPOINT).exists()  # nothing half-written


def test_a_builtin_state_is_its_attributes_but_the_transient_ones(tmp_path):
    strategy = make(FedAvgStrategy, tmp_path, OLD)
    strategy.global_model = ArrayRecord({"w": Array(np.ones(2, dtype=np.float32))})
    state = strategy.state_dict()
    assert "global_model" in state and not set(state) & FedFairStrategy.TRANSIENT
    strategy.checkpoint(1, [])
    again = make(FedAvgStrategy, tmp_path, OLD, resume=True)
    assert again.restore() == (1, [])
    np.testing.assert_array_equal(again.global_model["w"].numpy(), np.ones(2))


# ----- the core names no algorithm ------------------------------------------------------------------------------
ALGORITHMS = ("ditto", "puffle", "fairif", "ifca", "fedprox", "fairfed", "qffl", "afl", "fedfb", "fairbatch",
              "fairgrad", "mmfl", "single_shot", "singleshot", "flhc", "cfl", "maml", "per_fedavg", "finetune", "proximal")


def _code_words(path) -> set[str]:
    """Identifiers of a module's code and the string constants its comparisons / subscripts test (not its
    docstrings, comments or messages), lower-cased."""
    import ast

    tree = ast.parse(path.read_text())
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            words.add(node.name)
        elif isinstance(node, (ast.Compare, ast.Subscript)):
            words |= {c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return {w.lower().replace("-", "_") for w in words}


def test_the_client_app_and_the_strategy_base_name_no_algorithm():
    from tests.conftest import REPO

    for path in [REPO / "fedfair" / "client_app.py", *(REPO / "strategies" / f"{m}.py" for m in
                                                       ("base", "messaging", "scoring", "state"))]:
        hits = sorted(w for w in _code_words(path) if any(a in w for a in ALGORITHMS))
        assert not hits, f"{path.name} names an algorithm in its code: {hits}"


def test_a_rounds_evaluations_are_written_as_columns_and_read_back_equal(tmp_path):
    """A round's evaluations go into the checkpoint as columns (one counts array for all clients' confusion
    tables, not one per client and attribute) and come back equal, field by field and dtype by dtype."""
    from fedfair.metrics import GroupCounts
    from fedfair.results import ClientEval

    rng = np.random.default_rng(0)
    evals = [ClientEval(client=f"c{k}", partition_id=k, n_train=10 + k, n_test=5 + k, model="global",
                        loss=float(rng.random()), accuracy=float(rng.random()), cluster=None if k % 2 else k,
                        task="" if k < 3 else "t2",
                        groups={"SEX": GroupCounts(["Male", "Female"], rng.integers(0, 9, (2, 4))),
                                "RAC1P": GroupCounts([1, 2, 3][: 2 + k % 2], rng.integers(0, 9, (2 + k % 2, 4)),
                                                     multiclass=k == 4)})
             for k in range(5)]
    save_checkpoint(tmp_path, {"round": 2, "evals": evals, "state": {"also": evals[:1]}})
    read = load_checkpoint(tmp_path)["evals"]
    assert [dataclasses.replace(e, groups={}) for e in read] == [dataclasses.replace(e, groups={}) for e in evals]
    for got, want in zip(read, evals):
        assert list(got.groups) == list(want.groups)
        for attr, table in want.groups.items():
            assert got.groups[attr].values == table.values and got.groups[attr].multiclass == table.multiclass
            assert got.groups[attr].counts.dtype == table.counts.dtype
            np.testing.assert_array_equal(got.groups[attr].counts, table.counts)
    with np.load(next(tmp_path.glob("checkpoint-*.npz"))) as arrays:
        # evals[0] is shared with the state: the list keeps its generic form (one array per table)
        assert len(arrays.files) == 10
    save_checkpoint(tmp_path, {"round": 3, "evals": evals})
    with np.load(next(tmp_path.glob("checkpoint-*.npz"))) as arrays:
        assert len(arrays.files) == 1  # 10 tables, one array
    assert len(load_checkpoint(tmp_path)["evals"]) == 5
