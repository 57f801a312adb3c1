"""Resume checks what it resumes, and runs that end badly say what happened (issue 32 parts 3 and 4).

- ``fedfair run --resume DIR`` with options that differ from the run's config.json is an error naming them; equal
  options and the ones that decide only where and how fast the run runs are fine;
- a checkpoint records the dataset's fingerprint and the run's parameters: a dataset rebuilt with other rows is
  refused (the run stays resumable), one rebuilt with the same rows is not; a checkpoint without them (older
  fedfair) is accepted;
- a run directory another process holds is refused at once;
- divergence (NaN / inf loss or weights), a round where no reply arrives in time and a dataset removed during the
  run end the run with one line naming the round / client / path, status ``failed``, no traceback.

Every run is a tiny in-process one (synthetic-gaussian-8, 3 rounds, no bootstrap intervals).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedfair.cli import app

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--set", "ci-resamples=0"]


def _invoke(args) -> tuple[int, str, str]:
    """`fedfair ARGS` in this process: (exit code, output as one line, output); never a traceback."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), \
        f"{args}: {result.exception!r}\n{result.output[-1500:]}"
    return result.exit_code, " ".join(result.output.split()), result.output


def _error_line(output: str) -> str:
    """The one line of an error (progress lines aside); its text after 'error: '."""
    lines = [line for line in output.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0][len("error: "):]


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def _interrupted(out: Path, monkeypatch, dataset: str = "synthetic-gaussian-8", after: int = 1, **params) -> dict:
    """A 3-round run of ``dataset`` interrupted (as by Ctrl-C) right after round ``after``'s checkpoint; its status."""
    from fedfair.api import prepare_runs
    from fedfair.simulation import simulate_many
    from fedfair.strategies import state

    save = state.save_checkpoint

    def save_then_interrupt(out_dir, payload, *args, **kwargs):
        save(out_dir, payload, *args, **kwargs)
        if payload["round"] >= after:
            raise KeyboardInterrupt

    config = {"strategy": "fedavg", "dataset": dataset, "rounds": 3, "seed": 0, "out-dir": str(out),
              "ci-resamples": 0, **params}
    with monkeypatch.context() as patch:
        patch.setattr(state, "save_checkpoint", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            simulate_many([p.config for p in prepare_runs([config])], 8, echo=False, keep_going=False)
    status = _status(out)
    assert status["status"] == "interrupted" and status["last_round"] == after
    return status


def _build(path: Path, seed: int) -> Path:
    """synthetic-gaussian-8 drawn with ``seed`` written to ``path`` (replacing what is there)."""
    from fedfair.partitioners.builtins import build_builtin

    shutil.rmtree(path, ignore_errors=True)
    return build_builtin("synthetic-gaussian-8", path, seed=seed)


# ----- resume checks what it resumes ---------------------------------------------------------------------------------
def test_resume_with_options_that_differ_is_refused_naming_them(tmp_path, monkeypatch):
    out = tmp_path / "run"
    before = _interrupted(out, monkeypatch)

    code, _, output = _invoke(["run", "--resume", out, "-s", "ifca", "--rounds", "9"])
    assert code == 2
    assert _error_line(output) == (f"--resume {out} continues the run as it was configured (strategy fedavg; rounds 3); "
                                   f"--strategy ifca, --rounds 9 differ: start a new run with another --out (or leave "
                                   f"them out to resume)")
    code, _, output = _invoke(["run", "--resume", out, "--set", "lr=0.1", "--seed", "0"])
    assert code == 2 and _error_line(output) == (
        f"--resume {out} continues the run as it was configured (lr 0.05); --set lr=0.1 differs: start a new run "
        f"with another --out (or leave it out to resume)")
    code, _, output = _invoke(["run", "--resume", out, "--out", tmp_path / "elsewhere"])
    assert code == 2 and f"--out {tmp_path / 'elsewhere'} differs" in _error_line(output)
    code, _, output = _invoke(["run", "--resume", out, "--overwrite"])
    assert code == 2 and "--overwrite replaces a complete one: give one of them" in _error_line(output)
    assert _status(out) == before  # refused before the run directory was touched: still resumable

    # the checkpoint's own record catches what bypasses the flags (fedfair.run, an edited config.json)
    from fedfair import api
    from fedfair.strategies.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=r"parameters differ from the run's checkpoint: rounds 9 \(the run's: 3\)"):
        api.run("fedavg", rounds=9, out=out, resume=True, ci_resamples=0)
    assert _status(out) == before

    # the stored values themselves, and what only decides where / how fast it runs, are fine
    code, text, output = _invoke(["run", "--resume", out, "-s", "fedavg", "--rounds", "3", "--set", "lr=5e-2",
                                  "--dataset", "synthetic-gaussian-8", "--set", "engine=inprocess",
                                  "--set", "round-timeout=60", "--set", "batch-clients=false"])
    assert code == 0, output
    assert "resume: continuing after round 1" in text and _status(out)["status"] == "complete"


def test_a_changed_dataset_is_refused_and_the_same_rows_rebuilt_are_not(tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "run"
    _build(data, seed=0)
    before = _interrupted(out, monkeypatch, dataset=str(data))
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["dataset_fingerprint"]["files"] == 17  # the manifest and 8 clients' train and test splits
    assert meta["params"]["lr"] == 0.05 and "engine" not in meta["params"]

    _build(data, seed=1)  # rebuilt with other rows
    code, _, output = _invoke(["run", "--resume", out])
    line = _error_line(output)
    assert code == 2 and line.startswith(f"--resume {out}: the dataset {data} changed since the run started (")
    assert line.endswith("): rerun from scratch with a new --out"), line
    assert _status(out) == before  # not failed, not complete: still resumable

    _build(data, seed=0)  # the same rows again (new files, new modification times): the same fingerprint
    code, text, output = _invoke(["run", "--resume", out])
    assert code == 0, output
    assert "resume: continuing after round 1" in text and _status(out)["status"] == "complete"


def test_a_checkpoint_without_fingerprint_or_parameters_is_accepted(tmp_path, synthetic_dir):
    """Checkpoints of an older fedfair recorded neither: resuming them checks only strategy and dataset name."""
    from fedfair.strategies.checkpoint import check_resume, read_meta, save_checkpoint

    save_checkpoint(tmp_path, {"round": 1, "state": {}}, strategy="fedavg", dataset=str(synthetic_dir))
    meta = read_meta(tmp_path)
    assert "dataset_fingerprint" not in meta and "params" not in meta
    check_resume(tmp_path, {"dataset": str(synthetic_dir), "rounds": 99}, str(synthetic_dir))  # nothing to compare


def test_resume_of_a_directory_another_process_holds_fails_at_once(tmp_path, monkeypatch):
    out = tmp_path / "run"
    before = _interrupted(out, monkeypatch)
    code = textwrap.dedent(f"""
        import time
        from fedfair.outdirs import claim
        held = claim({str(out)!r}, "run", resume=True)
        print("ready", flush=True)
        time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        code, _, output = _invoke(["run", "--resume", out])
        assert time.monotonic() - started < 30  # at once, not after (or beside) a run
        assert code == 2 and _error_line(output) == (
            f"--resume {out} is in use by another fedfair process (pid {holder.pid}: fedfair run); wait for it to "
            f"finish or choose another --resume")
    finally:
        holder.kill()
        holder.wait()
    assert _status(out) == before


# ----- runs that end badly say what happened -------------------------------------------------------------------------
def test_divergence_stops_the_run_naming_round_client_and_learning_rate(tmp_path):
    out = tmp_path / "run"
    code, _, output = _invoke(["run", "--rounds", "3", "--set", "lr=1e300", *QUICK, "--out", out])
    message = "training diverged in round 1 on client 1 (train loss nan): lower the learning rate (lr=1e+300)"
    assert code == 2 and _error_line(output) == message
    assert _status(out) == {"status": "failed", "error": f"ClientError: {message}"}
    assert not (out / "summary.json").exists()


def test_non_finite_weights_with_a_finite_loss_are_divergence_too():
    from types import SimpleNamespace

    from flwr.app import Array, ArrayRecord, Message, MessageType, MetricRecord, RecordDict

    from fedfair import protocol as p
    from fedfair.strategies.messaging import MessagingMixin
    from fedfair.strategies.nodes import ClientError

    def reply(weights: np.ndarray, loss: float = 0.5) -> Message:
        content = RecordDict({p.ARRAYS: ArrayRecord({"w": Array(weights)}),
                              p.METRICS: MetricRecord({p.TRAIN_LOSS: loss})})
        return Message(content, dst_node_id=7, message_type=MessageType.TRAIN)

    strategy = SimpleNamespace(_by_id={}, current_round=4, params={"lr": 0.5})
    MessagingMixin.check_diverged(strategy, [reply(np.ones(3, dtype=np.float32))])  # finite: nothing happens
    with pytest.raises(ClientError, match=r"training diverged in round 4 on client \S+ \(weights 'w' hold inf\): "
                                          r"lower the learning rate \(lr=0.5\)"):
        MessagingMixin.check_diverged(strategy, [reply(np.array([1.0, np.inf], dtype=np.float32))])


def test_a_round_without_a_reply_in_time_fails_with_the_failure_policys_message(tmp_path):
    """Every client straggles past round-timeout (on the in-process engine a virtual clock: nothing waits)."""
    out = tmp_path / "run"
    code, _, output = _invoke(["run", "--rounds", "2", "--set", "straggle-rate=1", "--set", "straggle-seconds=30",
                               "--set", "round-timeout=1", *QUICK, "--out", out])
    line = _error_line(output)
    assert code == 2 and line == ("train round 1: 0 of 8 replies, 4 needed (min-replies 0.5); failed: 8 clients "
                                  "(1, 2, 3, ..., 8): no reply within 1 s"), line  # one reason, named once
    assert _status(out) == {"status": "failed", "error": f"ClientError: {line}"}


def test_a_dataset_removed_during_the_run_fails_naming_its_path(tmp_path, monkeypatch):
    """The clients read their data (cached) at every message, but first check that the manifest is still there:
    a dataset directory removed after round 1 fails round 2, naming it (not each client's own error)."""
    from fedfair.strategies import state

    data, out = tmp_path / "data", tmp_path / "run"
    _build(data, seed=0)
    save = state.save_checkpoint

    def save_then_remove(out_dir, payload, *args, **kwargs):
        save(out_dir, payload, *args, **kwargs)
        if payload["round"] == 1:
            shutil.rmtree(data)

    monkeypatch.setattr(state, "save_checkpoint", save_then_remove)
    code, _, output = _invoke(["run", "--dataset", data, "--rounds", "3", *QUICK, "--out", out])
    message = (f"train round 2: the dataset {data} is gone (removed or moved during the run: no manifest.json); "
               f"put it back and resume with: fedfair run --resume {out}")
    assert code == 2 and _error_line(output) == message
    assert _status(out) == {"status": "failed", "error": f"DatasetError: {message}"}

    code, _, output = _invoke(["run", "--resume", out])  # still gone: refused before anything runs, naming it
    assert code == 2 and _error_line(output).startswith(f"unknown dataset '{data}': not a directory with manifest.json")
    assert _status(out)["status"] == "failed"
