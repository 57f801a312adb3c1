"""The two simulation engines run the same ServerApp and ClientApp: the same seed gives the same summary.json
and metrics.jsonl on Flower's Ray engine and on the in-process engine (wall time aside; batched clients: to
float rounding), with plug-ins, injected failures, and a run interrupted on one engine and resumed on the other."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fedfair.api import prepare_runs
from fedfair.engine import InProcessGrid
from fedfair.simulation import simulate_many, simulation_engine

RUNS = {  # name: run parameters (each runs 3 rounds on synthetic-gaussian-8)
    "fedavg-failures": {"strategy": "fedavg", "fail-rate": 0.25, "min-replies": 0.25},
    "plugins": {"strategy": "fedavg-momentum", "model": "tanh-mlp", "momentum-beta": 0.5, "weight-decay": 0.001},
    "ifca": {"strategy": "ifca", "num-clusters": 2},
}


def _config(out: Path, engine: str, **params) -> dict:
    return {"dataset": "synthetic-gaussian-8", "rounds": 3, "seed": 0, "out-dir": str(out), "engine": engine,
            "ci-resamples": 100, **params}


def _comparable(run_dir: Path) -> tuple[dict, list]:
    summary = {k: v for k, v in json.loads((run_dir / "summary.json").read_text()).items() if k != "wall_seconds"}
    return summary, [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _assert_close(a, b, where="") -> None:
    """Equal up to float tolerance: the Ray and the per-client in-process engine run the same code; the batched
    one sums in another order (fedfair/batched.py: weights within ~2e-6 relative)."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    elif where.endswith("bytes"):  # a message's size: the JSON of its numbers, whose last digits may differ
        assert abs(a - b) <= 0.01 * max(a, b), f"{where}: {a} != {b}"
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b)), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _interrupt_after_round(monkeypatch, last: int) -> None:
    """Ctrl-C right after round ``last``'s checkpoint is written (deterministic, no signal timing)."""
    from fedfair.strategies import state

    save = state.save_checkpoint

    def save_then_interrupt(out_dir, payload, *args, **kwargs):
        save(out_dir, payload, *args, **kwargs)
        if payload["round"] >= last:
            raise KeyboardInterrupt

    monkeypatch.setattr(state, "save_checkpoint", save_then_interrupt)


@pytest.mark.slow
def test_inprocess_and_ray_engines_give_the_same_results(tmp_path, monkeypatch):
    inprocess = {name: _config(tmp_path / "inprocess" / name, "inprocess", **params) for name, params in RUNS.items()}
    alone = {name: _config(tmp_path / "alone" / name, "inprocess", **params, **{"batch-clients": False})
             for name, params in RUNS.items()}
    ray = {name: _config(tmp_path / "ray" / name, "ray", **params) for name, params in RUNS.items()}
    simulate_many([p.config for p in prepare_runs(list(inprocess.values()))], 8, echo=False, keep_going=False)
    simulate_many([p.config for p in prepare_runs(list(alone.values()))], 8, echo=False, keep_going=False)

    # fairfed interrupted after round 2 in process (as Ctrl-C in a notebook: KeyboardInterrupt, no exit) ...
    broken = _config(tmp_path / "broken", "inprocess", strategy="fairfed")
    with monkeypatch.context() as patch:
        _interrupt_after_round(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            simulate_many([broken], 8, echo=False, keep_going=False)
    status = json.loads((tmp_path / "broken" / "status.json").read_text())
    assert status == {"status": "interrupted", "last_round": 2, "resume": f"fedfair run --resume {tmp_path / 'broken'}"}
    whole = _config(tmp_path / "whole", "inprocess", strategy="fairfed")
    simulate_many([whole], 8, echo=False, keep_going=False)

    # ... and resumed on Ray, in the same Ray simulation as the other runs (Ray starts once)
    resumed = {**broken, "engine": "ray", "resume": True}
    summaries = simulate_many([*ray.values(), resumed], 8, echo=False, keep_going=False)
    assert all("error" not in s for s in summaries)
    for name in RUNS:  # Ray = in process one client after the other (the same code) ~ batched (float rounding)
        assert _comparable(Path(ray[name]["out-dir"])) == _comparable(Path(alone[name]["out-dir"])), name
        _assert_close(_comparable(Path(ray[name]["out-dir"])), _comparable(Path(inprocess[name]["out-dir"])), name)
    _assert_close(_comparable(tmp_path / "broken"), _comparable(tmp_path / "whole"), "resumed")
    failures = json.loads((Path(inprocess["fedavg-failures"]["out-dir"]) / "summary.json").read_text())
    assert failures["failures"]["count"] > 0, "fail-rate 0.25 over 3 rounds of 8 clients fails some clients"


def test_auto_is_inprocess_unless_ray_address_names_a_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert simulation_engine([{"engine": "auto"}]) == "inprocess" and simulation_engine([{}]) == "inprocess"
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    assert simulation_engine([{"engine": "auto"}]) == "ray"
    assert simulation_engine([{"engine": "inprocess"}]) == "inprocess"
    from fedfair.config import ParamError

    with pytest.raises(ParamError, match="one engine"):
        simulation_engine([{"engine": "ray"}, {"engine": "inprocess"}])


def test_a_straggler_is_late_on_the_engine_clock_without_anyone_waiting():
    """A client drawn to be 30 s late is left out of a 15 s round and kept in a 31 s one, and nobody waits (a
    frozen clock: the test cannot depend on the machine's speed)."""
    from flwr.app import ConfigRecord, Message, RecordDict

    from fedfair import protocol as p
    from fedfair.faults import draws, inject_faults

    def client(message, context):
        inject_faults(message.content[p.CONFIG], str(context.node_config["partition-id"]))
        return Message(RecordDict({}), reply_to=message)

    late_seed = next(s for s in range(100) if draws(s)[1] < 0.5)  # straggle-rate 0.5: this seed straggles
    on_time_seed = next(s for s in range(100) if draws(s)[1] >= 0.5)
    grid = InProcessGrid(client, 2, clock=lambda: 0.0)
    nodes = sorted(grid.get_node_ids())

    def messages():
        return [Message(RecordDict({p.CONFIG: ConfigRecord({p.STRAGGLE_RATE: 0.5, p.STRAGGLE_SECONDS: 30.0,
                                                            p.TRAIN_SEED: seed})}), dst_node_id=node,
                        message_type="train") for node, seed in zip(nodes, (late_seed, on_time_seed))]

    assert [r.metadata.src_node_id for r in grid.exchange(messages(), timeout=15.0)] == [nodes[1]]
    assert [r.metadata.src_node_id for r in grid.exchange(messages(), timeout=31.0)] == nodes


def test_a_client_that_raises_gets_an_error_reply_naming_its_message():
    from flwr.app import Message, RecordDict

    from fedfair.strategies.nodes import error_reason

    def client(message, context):
        raise ValueError("client 'a' has no test split")

    grid = InProcessGrid(client, 1)
    (reply,) = grid.exchange([Message(RecordDict({}), dst_node_id=next(iter(grid.get_node_ids())),
                                      message_type="evaluate")], timeout=10.0)
    assert reply.has_error() and error_reason(reply.error.reason) == "client 'a' has no test split"
