"""Never destroy what a user has: one output-directory policy (fedfair.outdirs) for every command that writes.

One test per data-loss case of issue 32: the user's files stay untouched and the command ends with a one-line
error (or, with --overwrite / --force, only fedfair's own files are replaced). Refusals come before any work, so
only two tests run a (tiny, in-process) simulation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedfair import outdirs
from fedfair.cli import app
from fedfair.outdirs import LOCK, MARKER, OutDirError, claim

REPO = Path(__file__).resolve().parents[1]


def _invoke(args):
    """(exit code, output as one line, output); never a traceback."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), \
        f"{args}: {result.exception!r}\n{result.output[-1500:]}"
    return result.exit_code, " ".join(result.output.split()), result.output


def _one_error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip() and "preparing dataset" not in line]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _user_dir(path: Path, files: dict[str, str]) -> dict[str, bytes]:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return _snapshot(path)


def _complete(path: Path, command: str, files: dict[str, str]) -> None:
    """A complete output of ``command`` as fedfair leaves one (claimed, written, marked done)."""
    with claim(path, command) as held:
        for name, text in files.items():
            (held.path / name).write_text(text)
        held.done()


def _holder(directory: Path, command: str = "run") -> subprocess.Popen:
    """Another process that claims ``directory`` (holding its lock) until killed; its pid."""
    code = textwrap.dedent(f"""
        import sys, time
        from fedfair.outdirs import claim
        held = claim({str(directory)!r}, {command!r})
        print("ready", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "ready"
    return proc


# ----- fedfair run ---------------------------------------------------------------------------------------------------
def test_run_into_a_directory_with_a_status_json_and_the_users_files_is_refused(tmp_path, synthetic_dir):
    out = tmp_path / "mine"
    before = _user_dir(out, {"status.json": '{"status": "complete"}', "config.json": "{}", "notes.txt": "my notes"})
    code, text, output = _invoke(["run", "--dataset", synthetic_dir, "--rounds", "1", "--out", out])
    assert code == 2 and "holds files fedfair did not write" in text and "notes.txt" in text, text
    _one_error_line(output)
    assert _snapshot(out) == before  # nothing removed, nothing added (no marker, no lock file)
    code, text, _ = _invoke(["run", "--dataset", synthetic_dir, "--rounds", "1", "--out", out, "--overwrite"])
    assert code == 2 and "fedfair did not write" in text and _snapshot(out) == before  # --overwrite: fedfair's files only


def test_a_second_writer_to_the_same_directory_fails_at_once_naming_the_first(tmp_path, synthetic_dir):
    out = tmp_path / "busy"
    proc = _holder(out)
    try:
        before = _snapshot(out)
        started = time.monotonic()
        code, text, output = _invoke(["run", "--dataset", synthetic_dir, "--rounds", "1", "--out", out])
        assert code == 2 and f"in use by another fedfair process (pid {proc.pid}: fedfair run)" in text, text
        assert time.monotonic() - started < 30  # at once, not after a run
        _one_error_line(output)
        with pytest.raises(OutDirError, match=f"pid {proc.pid}"):  # the lock itself, also for the other commands
            claim(out, "run", overwrite=True)
        assert _snapshot(out) == before
    finally:
        proc.kill()
        proc.wait()
    with claim(out, "run") as held:  # a killed writer's lock is gone with it
        assert held.path == out.resolve()


# ----- fedfair compare / data report ---------------------------------------------------------------------------------
def test_compare_never_overwrites_a_users_results(tmp_path, synthetic_dir):
    out = tmp_path / "results"
    before = _user_dir(out, {"results.json": '{"mine": 1}', "table.md": "| my | table |"})
    code, text, output = _invoke(["compare", "-s", "fedavg", "-n", "1", "-r", "1", "--dataset", synthetic_dir,
                                  "--out", out])
    assert code == 2 and "holds files fedfair did not write (results.json, table.md)" in text, text
    _one_error_line(output)
    assert _snapshot(out) == before


def test_compare_never_replaces_a_complete_comparison_or_run_without_overwrite(tmp_path, synthetic_dir):
    out = tmp_path / "cmp"
    _complete(out, "compare", {"table.md": "| earlier |", "results.json": "{}"})
    _complete(out / "runs" / "fedavg-seed0", "run", {"summary.json": "{}", "status.json": '{"status": "complete"}'})
    before = _snapshot(out)
    code, text, output = _invoke(["compare", "-s", "fedavg", "-n", "1", "-r", "1", "--dataset", synthetic_dir,
                                  "--out", out])
    assert code == 2 and "holds a complete comparison" in text and "--overwrite" in text, text
    _one_error_line(output)
    # the comparison's own marker says incomplete (an interrupted compare --overwrite): its complete run still counts
    written = (out / MARKER).read_bytes()
    (out / MARKER).write_text(json.dumps({**json.loads(written), "complete": False}))
    code, text, _ = _invoke(["compare", "-s", "fedavg", "-n", "1", "-r", "1", "--dataset", synthetic_dir, "--out", out])
    assert code == 2 and "runs/fedavg-seed0 holds a complete run" in text, text
    (out / MARKER).write_bytes(written)
    assert _snapshot(out) == before


def test_data_report_never_overwrites_a_users_report(tmp_path, synthetic_dir):
    out = tmp_path / "audit"
    before = _user_dir(out, {"report.md": "# my report", "audit.csv": "a,b\n1,2\n"})
    dataset_before = _snapshot(Path(synthetic_dir))
    code, text, output = _invoke(["data", "report", synthetic_dir, "--models", "lr", "--jobs", "1", "--out", out])
    assert code == 2 and "holds files fedfair did not write (audit.csv, report.md)" in text, text
    _one_error_line(output)
    assert _snapshot(out) == before and _snapshot(Path(synthetic_dir)) == dataset_before


def test_a_datasheet_fedfair_did_not_write_is_never_replaced(tmp_path, synthetic_dir):
    import shutil

    dataset = tmp_path / "ds"
    shutil.copytree(synthetic_dir, dataset)
    (dataset / MARKER).unlink()  # a dataset whose DATASHEET.md is the user's own
    (dataset / "DATASHEET.md").write_text("# our own datasheet, reviewed by legal\n")
    code, text, output = _invoke(["data", "datasheet", dataset])
    assert code == 2 and "DATASHEET.md was not written by fedfair" in text, text
    _one_error_line(output)
    assert (dataset / "DATASHEET.md").read_text() == "# our own datasheet, reviewed by legal\n"
    code, _, _ = _invoke(["data", "report", dataset, "--models", "lr", "--jobs", "1", "--out", tmp_path / "a"])
    assert code == 2 and not (tmp_path / "a").exists()  # refused before any work


# ----- a complete run (the one real run of this file) ----------------------------------------------------------------
def test_a_complete_run_is_replaced_only_with_overwrite_and_then_only_fedfairs_files(tmp_path, synthetic_dir):
    out = tmp_path / "run"
    args = ["run", "--dataset", synthetic_dir, "--set", "ci-resamples=0", "--out", out, "--rounds"]
    code, text, _ = _invoke([*args, "1"])
    assert code == 0, text
    (out / "notes.txt").write_text("what I saw in this run")
    first = _snapshot(out)
    code, text, output = _invoke([*args, "2"])
    assert code == 2 and "holds a complete run; pass --overwrite" in text, text
    _one_error_line(output)
    assert _snapshot(out) == first
    code, text, _ = _invoke([*args, "2", "--overwrite"])
    assert code == 0, text
    assert (out / "notes.txt").read_text() == "what I saw in this run"  # the user's file stays
    assert json.loads((out / "summary.json").read_text())["rounds"] == 2  # fedfair's files replaced
    assert not (out / "checkpoint-1.npz").exists() and (out / "checkpoint-2.npz").exists()  # none left over
    marker = json.loads((out / MARKER).read_text())
    assert marker["complete"] and "notes.txt" not in marker["files"] and "summary.json" in marker["files"]
    assert json.loads((out / "config.json").read_text()).get("overwrite") is True
    again = json.loads((out / "config.json").read_text())
    from fedfair.registry import read_config_file

    assert "overwrite" not in read_config_file(out / "config.json")  # a replayed config.json does not overwrite
    assert again["rounds"] == 2


# ----- fedfair data create / build / tasks ---------------------------------------------------------------------------
def test_data_create_never_removes_a_directory_of_the_users_files(tmp_path):
    out = tmp_path / "data"
    before = _user_dir(out, {"manifest.json": "{}", "thesis.tex": "chapter 1"})
    for overwrite in ([], ["--overwrite"]):
        code, text, output = _invoke(["data", "create", "synthetic-gaussian-8", "--out", out, *overwrite])
        assert code == 2 and "holds files fedfair did not write (manifest.json, thesis.tex)" in text, text
        _one_error_line(output)
        assert _snapshot(out) == before


def test_data_create_replaces_its_own_dataset_only_with_overwrite_keeping_other_files(tmp_path):
    out = tmp_path / "data"
    code, text, _ = _invoke(["data", "create", "synthetic-gaussian-8", "--out", out])
    assert code == 0, text
    (out / "README.local").write_text("where this dataset went")
    first = _snapshot(out)
    code, text, output = _invoke(["data", "create", "synthetic-gaussian-8", "--out", out, "--seed", "1"])
    assert code == 2 and "holds a complete dataset" in text and "--overwrite" in text, text
    _one_error_line(output)
    assert _snapshot(out) == first
    code, text, _ = _invoke(["data", "create", "synthetic-gaussian-8", "--out", out, "--seed", "1", "--overwrite"])
    assert code == 0, text
    assert (out / "README.local").read_text() == "where this dataset went"
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    assert not [p for p in tmp_path.iterdir() if outdirs.STAGING in p.name]  # no staging directory left


def test_data_build_never_deletes_its_sources(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    rng = np.random.default_rng(0)
    for client in ("p", "q"):
        pd.DataFrame({"age": rng.normal(40, 9, 60), "sex": rng.integers(1, 3, 60), "y": rng.integers(0, 2, 60)}
                     ).to_csv(sources / f"{client}.csv", index=False)
    before = _snapshot(sources)
    code, text, output = _invoke(["data", "build", "--source", "csv-dir", "--path", sources, "--label", "y",
                                  "--sensitive", "sex", "--out", sources])
    assert code == 2 and "holds files fedfair did not write (p.csv, q.csv)" in text, text
    _one_error_line(output)
    assert _snapshot(sources) == before
    code, text, _ = _invoke(["data", "build", "--source", "csv-dir", "--path", sources, "--label", "y",
                             "--sensitive", "sex", "--out", tmp_path / "built"])
    assert code == 0 and (tmp_path / "built" / "manifest.json").is_file(), text
    code, text, output = _invoke(["data", "tasks", f"a={tmp_path / 'built'}", "--out", sources])
    assert code == 2 and "fedfair did not write" in text and _snapshot(sources) == before, text


# ----- fedfair certificates ------------------------------------------------------------------------------------------
def test_certificates_are_never_overwritten_without_force(tmp_path):
    out = tmp_path / "federation"
    code, text, _ = _invoke(["certificates", "--out", out, "--host", "127.0.0.1", "--nodes", "2"])
    assert code == 0, text
    deployed = _snapshot(out)
    code, text, output = _invoke(["certificates", "--out", out, "--host", "127.0.0.1", "--nodes", "2"])
    assert code == 2 and "--force" in text, text
    _one_error_line(output)
    assert _snapshot(out) == deployed  # ca.key and every node key as deployed
    # an interrupted earlier call (not marked complete) still keeps its keys
    marker = json.loads((out / MARKER).read_text())
    (out / MARKER).write_text(json.dumps({**marker, "complete": False}))
    code, text, _ = _invoke(["certificates", "--out", out, "--host", "127.0.0.1", "--nodes", "3"])
    assert code == 2 and "already holds ca.crt, ca.key" in text and "never overwritten" in text, text
    (out / "operator-notes.txt").write_text("who has which key")
    code, text, _ = _invoke(["certificates", "--out", out, "--host", "127.0.0.1", "--nodes", "2", "--force"])
    assert code == 0, text
    now = _snapshot(out)
    assert now["ca.key"] != deployed["ca.key"] and now["node-1.key"] != deployed["node-1.key"]
    assert now["operator-notes.txt"] == b"who has which key"
    # keys in a directory fedfair did not write: refused even with --force
    mine = tmp_path / "mine"
    before = _user_dir(mine, {"ca.key": "my CA key"})
    code, text, _ = _invoke(["certificates", "--out", mine, "--host", "127.0.0.1", "--force"])
    assert code == 2 and "fedfair did not write (ca.key)" in text and _snapshot(mine) == before, text


# ----- staging directories -------------------------------------------------------------------------------------------
_STAGING_WRITER = """
import sys, time
from pathlib import Path
from fedfair.outdirs import staging
with staging(Path(sys.argv[1]), "dataset") as tmp:
    (tmp / "client_000").mkdir()
    (tmp / "client_000" / "train.parquet").write_bytes(b"half written")
    print(tmp, flush=True)
    time.sleep(120)
"""


def _staging_writer(out: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", _STAGING_WRITER, str(out)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    return proc, Path(proc.stdout.readline().strip())


def test_a_sigkilled_builds_staging_directory_is_removed_by_the_next_build(tmp_path):
    out = tmp_path / "data"
    proc, tmp = _staging_writer(out)
    assert tmp.is_dir() and tmp.parent == tmp_path and tmp.name.startswith(f".data{outdirs.STAGING}{proc.pid}-")
    assert outdirs.staging_leftovers(out.resolve()) == []  # its writer is alive: not a leftover
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tmp.is_dir()  # what SIGKILL leaves
    stranger = tmp_path / f".data{outdirs.STAGING}99999999-x"  # not recognisably fedfair's: never removed
    stranger.mkdir()
    (stranger / "keep").write_text("someone's")
    code, text, _ = _invoke(["data", "create", "synthetic-gaussian-8", "--out", out])
    assert code == 0, text
    assert not tmp.exists() and (stranger / "keep").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", stranger.name])


def test_staging_directories_are_removed_on_sigterm_and_on_errors(tmp_path):
    out = tmp_path / "data"
    proc, tmp = _staging_writer(out)
    assert tmp.is_dir()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not tmp.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with outdirs.staging(out, "dataset") as made:
            (made / "x").write_text("y")
            raise RuntimeError("build failed")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not outdirs._on_signal  # handlers restored


# ----- fedfair tensorboard -------------------------------------------------------------------------------------------
def _finished_run(path: Path, accuracy: float) -> Path:
    path.mkdir(parents=True)
    rows = [{"round": r, "client": c, "accuracy": accuracy, "stage": "evaluate",
             "fairness": {"SEX": {"sp": 0.1, "eqop": 0.1, "eo": 0.1}}} for r in (1, 2) for c in ("a", "b")]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "config.json").write_text(json.dumps({"strategy": "fedavg"}))
    (path / "summary.json").write_text(json.dumps({"rounds": 2, "clients": [
        {"client": c, "accuracy": accuracy, "fairness": {"SEX": {"sp": 0.1}}} for c in ("a", "b")]}))
    return path


def test_tensorboard_exports_two_runs_of_the_same_folder_name_side_by_side(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = _finished_run(tmp_path / "a" / "fedavg-seed0", 0.6)
    second = _finished_run(tmp_path / "b" / "fedavg-seed0", 0.9)
    logdir = tmp_path / "tb"
    code, text, _ = _invoke(["tensorboard", first, second, "--logdir", logdir])
    assert code == 0 and "2 runs exported" in text, text

    def accuracy(name):
        events = EventAccumulator(str(logdir / name))
        events.Reload()
        return events.Scalars("mean/accuracy")[0].value

    assert accuracy("fedavg-seed0") == pytest.approx(0.6) and accuracy("fedavg-seed0-2") == pytest.approx(0.9)
    # a later export of another run of that name adds a run; a re-export of the same run replaces its own events
    third = _finished_run(tmp_path / "c" / "fedavg-seed0", 0.3)
    code, text, _ = _invoke(["tensorboard", third, first, "--logdir", logdir])
    assert code == 0, text
    assert accuracy("fedavg-seed0-3") == pytest.approx(0.3) and accuracy("fedavg-seed0-2") == pytest.approx(0.9)
    assert len(list((logdir / "fedavg-seed0").glob("events.out.tfevents.*"))) == 1
    # a logdir of the user's own files is refused
    mine = tmp_path / "mine"
    before = _user_dir(mine, {"events.out.tfevents.123.host": "someone's events"})
    code, text, output = _invoke(["tensorboard", first, "--logdir", mine])
    assert code == 2 and "--logdir" in text and "fedfair did not write" in text and _snapshot(mine) == before, text
    _one_error_line(output)


# ----- an output path that is a file or a read-only directory --------------------------------------------------------
def _commands(out: Path, synthetic: str, bids: Path) -> dict[str, list]:
    return {
        "run": ["run", "--dataset", synthetic, "--rounds", "1", "--out", out],
        "compare": ["compare", "-s", "fedavg", "-n", "1", "-r", "1", "--dataset", synthetic, "--out", out],
        "bench": ["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies", "fedavg", "--mitigations",
                  "none", "--seeds", "1", "--rounds", "1", "--out", out],
        "data create": ["data", "create", "synthetic-gaussian-8", "--out", out],
        "data build": ["data", "build", "--source", "synthetic-gaussian-8", "--out", out],
        "data tasks": ["data", "tasks", f"a={synthetic}", "--out", out],
        "data report": ["data", "report", synthetic, "--models", "lr", "--out", out],
        "auction": ["auction", "--simulate", "--users", "5", "--budgets", "1:2:2", "--seeds", "1", "--out", out],
        "certificates": ["certificates", "--out", out, "--host", "127.0.0.1"],
        "tensorboard": ["tensorboard", bids.parent / "run", "--logdir", out],
    }


def test_an_output_path_that_is_a_file_or_read_only_is_one_line(tmp_path, synthetic_dir, monkeypatch):
    _finished_run(tmp_path / "run", 0.5)
    bids = tmp_path / "bids.csv"
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    problems = []
    for name, args in _commands(a_file, str(synthetic_dir), bids).items():
        code, text, output = _invoke(args)
        if code != 2 or "is a file" not in text:
            problems.append(f"{name} (a file): exit {code}: {text[-300:]}")
    for name, args in _commands(a_file / "sub", str(synthetic_dir), bids).items():
        code, text, output = _invoke(args)
        if code != 2 or "is a file" not in text:
            problems.append(f"{name} (under a file): exit {code}: {text[-300:]}")
    assert a_file.read_text() == "mine"
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    monkeypatch.setattr(outdirs, "_writable", lambda path: path != read_only)  # root ignores a directory's mode
    for target in (read_only, read_only / "new"):
        for name, args in _commands(target, str(synthetic_dir), bids).items():
            code, text, output = _invoke(args)
            if code != 2 or "is read-only" not in text:
                problems.append(f"{name} ({target.name}): exit {code}: {text[-300:]}")
            elif len([line for line in output.strip().splitlines() if line.strip()
                      and "preparing dataset" not in line]) != 1:
                problems.append(f"{name}: more than one line: {output[-300:]}")
    assert not problems, "\n".join(problems)
    assert list(read_only.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_really_read_only_directory_is_one_line(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        code, text, output = _invoke(["certificates", "--out", read_only, "--host", "127.0.0.1"])
        assert code == 2 and "is read-only" in text, text
        _one_error_line(output)
    finally:
        read_only.chmod(0o755)


# ----- the policy's pieces -------------------------------------------------------------------------------------------
def test_claim_marks_replaces_only_its_own_files_and_abandons_cleanly(tmp_path):
    out = tmp_path / "x"
    with pytest.raises(OutDirError, match="no such directory"):
        claim(out, "run", resume=True)
    held = claim(out, "run")
    assert json.loads((out / MARKER).read_text())["command"] == "run" and (out / LOCK).is_file()
    held.abandon()  # nothing written: the directory it created is gone again
    assert not out.exists()
    _complete(out, "run", {"summary.json": "old", "checkpoint-3.npz": "old"})
    (out / "mine.txt").write_text("mine")
    (out / "plots").mkdir()  # a directory fedfair never listed
    with pytest.raises(OutDirError, match="holds a complete run"):
        claim(out, "run", clear_files=True)
    with pytest.raises(OutDirError, match="holds a run, not a comparison"):
        claim(out, "compare", overwrite=True)
    with claim(out, "run", overwrite=True, clear_files=True):
        assert sorted(os.listdir(out)) == sorted([MARKER, LOCK, "mine.txt", "plots"])
        assert json.loads((out / MARKER).read_text())["complete"] is False  # until the new run is done
    with claim(out, "run", resume=True):  # resume keeps everything
        pass
    empty = tmp_path / "empty"
    empty.mkdir()
    claim(empty, "auction").abandon()  # an empty directory of the user's is left as it was
    assert empty.is_dir() and list(empty.iterdir()) == []


def test_errors_are_one_line_naming_the_fix(tmp_path):
    with pytest.raises(OutDirError) as caught:
        outdirs.check(tmp_path / ("x" * 300), "run")
    assert "choose a shorter --out" in str(caught.value)
    with pytest.raises(OutDirError, match="NUL"):
        outdirs.check("a\x00b", "run")
    many = tmp_path / "many"
    _user_dir(many, {f"f{k}.txt": "" for k in range(6)})
    with pytest.raises(OutDirError) as caught:
        outdirs.check(many, "compare")
    assert "(f0.txt, f1.txt, f2.txt, ... 3 more): choose an empty or new directory" in str(caught.value)
    assert "\n" not in str(caught.value)
