"""Checkpoint and resume: a run killed with SIGKILL after round 5 of 10 and resumed gives the uninterrupted
run's summary.json and metrics.jsonl (wall time aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedfair.simulation import OFFLINE_ENV
from fedfair.strategies.checkpoint import load_checkpoint, read_meta, remap_nodes
from tests.conftest import REPO
from tests.procs import descendants, stop

FEDFAIR = str(Path(sys.executable).with_name("fedfair"))


def test_remap_replaces_old_node_ids_everywhere():
    from fedfair.strategies.nodes import NodeInfo, Traffic

    traffic = Traffic()
    traffic.down = {111111111111: 5}
    node = NodeInfo(node_id=111111111111, client="a", partition_id=0, n_train=1, n_test=1, n_features=1, default_model={})
    state = {"assignment": {111111111111: 2, 222222222222: 0}, "clusters": [[111111111111], [222222222222]],
             "local": [node], "traffic": traffic, "rounds": 5}
    out = remap_nodes(state, {111111111111: 7, 222222222222: 8})
    assert out["assignment"] == {7: 2, 8: 0} and out["clusters"] == [[7], [8]] and out["rounds"] == 5
    assert out["local"][0].node_id == 7 and out["traffic"].down == {7: 5}
    assert traffic.down == {111111111111: 5}  # the loaded state itself is not modified


def _run(args):
    """`fedfair run ARGS` in this process (the session's Ray); its output."""
    from typer.testing import CliRunner

    from fedfair.cli import app

    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _comparable(run_dir: Path) -> tuple[dict, list]:
    summary = {k: v for k, v in json.loads((run_dir / "summary.json").read_text()).items() if k != "wall_seconds"}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fedavg", "ifca", "fairfed"])
def test_a_killed_run_resumes_to_the_same_summary(tmp_path, strategy):
    env = {**os.environ, **OFFLINE_ENV, "FEDFAIR_CACHE": os.environ["FEDFAIR_CACHE"]}
    common = ["-s", strategy, "--rounds", "10", "--set", "fail-rate=0.1", "--set", "min-replies=0.25"]
    if strategy == "ifca":
        common += ["--set", "num-clusters=2"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _run([*common, "--out", str(whole)])
    process = subprocess.Popen([FEDFAIR, "run", *common, "--out", str(broken)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            payload = read_meta(broken)
            if payload and payload["round"] >= 5:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run never reached round 5")
        children = descendants(process.pid)
        os.killpg(process.pid, signal.SIGKILL)  # no cleanup, no summary: a crash
        stop(children)
        process.wait(timeout=30)
    finally:
        stop(descendants(process.pid) + [process.pid])
    assert json.loads((broken / "status.json").read_text())["status"] == "running"
    assert not (broken / "summary.json").exists()
    resumed = _run(["--resume", str(broken)])  # the crashed process is gone: resume here
    assert "resume: continuing after round" in resumed
    a, b = _comparable(broken), _comparable(whole)
    if a != b:  # name the first differing row (the whole dicts are too long to read)
        diffs = [(i, x, y) for i, (x, y) in enumerate(zip(a[1], b[1])) if x != y]
        raise AssertionError(f"resumed != whole: summary {'differs' if a[0] != b[0] else 'same'}; "
                             f"{len(diffs)} metrics rows differ, first: {diffs[:1]}; keys differing: "
                             f"{[k for k in diffs[0][1] if diffs[0][1].get(k) != diffs[0][2].get(k)] if diffs else []}")


def test_resume_refuses_a_complete_run_and_a_foreign_directory(tmp_path):
    from typer.testing import CliRunner

    from fedfair.cli import app

    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "status.json").write_text('{"status": "complete"}')
    (tmp_path / "done" / "config.json").write_text("{}")
    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path / "done")])
    assert result.exit_code == 2 and "already complete; nothing to resume" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a fedfair run directory" in " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["inprocess", "ray"])
def test_ctrl_c_marks_the_run_interrupted_and_leaves_no_process(tmp_path, engine):
    env = {**os.environ, **OFFLINE_ENV, "FEDFAIR_CACHE": os.environ["FEDFAIR_CACHE"]}
    out = tmp_path / "run"
    log = open(tmp_path / "run.log", "w")  # what the run printed, in the failure message
    # rounds enough never to finish before the signal (in process a round of 8 clients takes ~20 ms)
    process = subprocess.Popen([FEDFAIR, "run", "--rounds", "100000", "--out", str(out), "--set", f"engine={engine}"],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               # as a job a shell started in the background: SIGINT inherited ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 240
        while not ((out / "checkpoint.json").is_file() and read_meta(out)["round"] >= 2):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        stop(descendants(process.pid) + [process.pid])
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "interrupted" and status["last_round"] >= 2
    assert status["resume"] == f"fedfair run --resume {out}"
    time.sleep(2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "(Z)" not in Path(f"/proc/{pid}/stat").read_text()[:60] and " Z " not in Path(f"/proc/{pid}/stat").read_text()]
    assert not alive, f"processes left behind: {alive}"


def test_a_model_received_over_grpc_can_be_checkpointed(tmp_path):
    """Deployed SuperNodes' replies hold arrays as memoryviews of the message buffer (not picklable as such)."""
    import numpy as np
    from flwr.app import Array, ArrayRecord

    from fedfair.strategies.checkpoint import save_checkpoint

    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    record = ArrayRecord({"w": Array(values)})
    object.__setattr__(record["w"], "data", memoryview(bytes(record["w"].data)))  # as a gRPC reply holds it
    save_checkpoint(tmp_path, {"state": {"model": record}, "round": 1})
    loaded = load_checkpoint(tmp_path)["state"]["model"]
    np.testing.assert_array_equal(loaded["w"].numpy(), values)


def test_an_interrupt_after_a_folded_evaluation_resumes_without_repeating_its_rows(tmp_path, monkeypatch):
    """Round 2's evaluation is written during round 3 (folded into its train messages), after checkpoint 2: an
    interrupt in round 3 after those rows and before checkpoint 3 must not leave them twice once resumed."""
    from fedfair.simulation import simulate_many
    from fedfair.strategies.fedavg import FedAvgStrategy as FedAvg

    config = {"strategy": "fedavg", "rounds": 4, "ci-resamples": 0}
    simulate_many([{**config, "out-dir": str(tmp_path / "whole")}], 8, echo=False, keep_going=False)
    aggregate = FedAvg.aggregate

    def interrupted(self, server_round, replies):  # noqa: ANN001, ANN202
        if server_round == 3:
            raise KeyboardInterrupt
        return aggregate(self, server_round, replies)

    with monkeypatch.context() as patch:
        patch.setattr(FedAvg, "aggregate", interrupted)
        with pytest.raises(KeyboardInterrupt):
            simulate_many([{**config, "out-dir": str(tmp_path / "broken")}], 8, echo=False, keep_going=False)
    rows = [json.loads(line) for line in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()]
    assert any(r["round"] == 2 and r["stage"] == "evaluate" for r in rows)  # written before the interrupt
    simulate_many([{**config, "out-dir": str(tmp_path / "broken"), "resume": True}], 8, echo=False, keep_going=False)
    assert _comparable(tmp_path / "broken") == _comparable(tmp_path / "whole")
