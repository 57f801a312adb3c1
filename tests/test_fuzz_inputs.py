"""Property-based fuzzing of every file a user hands fedfair, through the real CLI entry points in-process.

Valid files (a dataset's manifest.json, a task set's tasks.json, TOML and JSON config files, a build spec, a
csv-dir source, a bids CSV, a run's checkpoint) are mutated by hypothesis: a field dropped, a value replaced
by one of another type or a strange one (NaN, inf, huge, empty, unicode, a path escape, rich markup), the
file truncated, emptied or replaced by binary bytes. Each case must end either

- in success: the command exits 0 (a build writes a dataset that validates), or ``fedfair run`` gets past
  every check and would start its simulation (a few of those are then run for real, in one simulation, and
  must write a complete run directory), or
- in exit 2 with exactly one ``error:`` line, no traceback, and no run directory marked complete.

Seeded (``derandomize``), a few hundred cases, well under a minute; in the default suite.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fedfair.cli import app

FUZZ = settings(derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


SCALE = float(os.environ.get("FEDFAIR_FUZZ_SCALE", "1"))  # e.g. 20 for a longer hunt; the suite runs 1
OUTCOMES: dict[str, set[str]] = {}


def fuzz(cases: int) -> settings:
    """Seeded settings with ``cases`` examples (times FEDFAIR_FUZZ_SCALE; a scale other than 1 draws unseeded)."""
    return settings(FUZZ, max_examples=max(1, int(cases * SCALE)), derandomize=SCALE == 1)

STRANGE = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-1, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["", "../..", "/nonexistent/x", "ümlaut-名前-🙂", "x" * 3000, "[/red] [bold]", "NaN", "inf", "-1",
                     "0", "client_000", "logreg", "cnn", "\x00", "a\nb"]),
)
OPS = st.sampled_from(["drop", "replace", "replace", "replace", "truncate", "binary", "empty"])


class WouldRun(Exception):
    """Raised by the stand-in simulation: every check before the run passed."""

    def __init__(self, run_config: dict[str, Any]) -> None:
        super().__init__("would run")
        self.run_config = dict(run_config)


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (dict keys / list indices) into a JSON tree."""
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree[:3]):
            out += _paths(value, prefix + (i,))
    return out


def _mutate(tree: Any, path: tuple, op: str, value: Any) -> Any:
    tree = copy.deepcopy(tree)
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    if op == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return tree


def _write_mutated(path: Path, text: str, op: str, cut: float) -> None:
    if op == "truncate":
        path.write_text(text[: int(len(text) * cut)])
    elif op == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + os.urandom(0) + bytes(range(256)))
    elif op == "empty":
        path.write_text("")
    else:
        path.write_text(text)


def _clean(result: Any, case: str, out: Path | None = None) -> str:
    """'accepted' (would run), 'ok' (exit 0) or 'error' (exit 2, one error line); anything else fails."""
    outcome = _outcome(result, case, out)
    OUTCOMES.setdefault(case.split()[0], set()).add(outcome)
    return outcome


def _outcome(result: Any, case: str, out: Path | None) -> str:
    if isinstance(result.exception, WouldRun):
        return "accepted"
    output = result.output
    assert "Traceback" not in output, f"{case}: traceback\n{output[-2000:]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case}: {result.exception!r}") from result.exception
    if result.exit_code == 0:
        return "ok"
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}\n{output[-2000:]}"
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1].startswith("error:"), f"{case}: not one error line:\n{output[-2000:]}"
    if out is not None:
        for status in out.rglob("status.json"):
            assert json.loads(status.read_text()).get("status") != "complete", f"{case}: run marked complete"
    return "error"


@pytest.fixture(scope="module")
def valid(tmp_path_factory, synthetic_dir):
    """The valid files every case starts from."""
    root = tmp_path_factory.mktemp("fuzz")
    manifest = json.loads((Path(synthetic_dir) / "manifest.json").read_text())
    sources = root / "csv"
    sources.mkdir()
    rng = np.random.default_rng(0)
    for client in ("north", "south"):
        n = 80
        pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "hours": rng.normal(40, 8, n).round(1),
                      "job": rng.choice(["a", "b"], n), "sex": rng.integers(1, 3, n), "y": rng.integers(0, 2, n)}
                     ).to_csv(sources / f"{client}.csv", index=False)
    spec = {"source": "csv-dir", "source_options": {"path": str(sources)}, "label": "y", "sensitive": ["sex"],
            "categorical": ["job"], "splits": [0.6, 0.2, 0.2], "partitioning": {"north": "iid:2"},
            "modifications": [{"client": "south", "attribute": "sex", "value": 2, "drop_rate": 0.5}], "seed": 3}
    from fedfair.partitioners.task_sets import combine_task_set

    tasks = combine_task_set(root / "tasks", [("a", str(synthetic_dir), None), ("b", str(synthetic_dir), {"model": "mlp", "hidden": [4]})])
    return {"root": root, "dataset": Path(synthetic_dir), "manifest": manifest, "sources": sources, "spec": spec,
            "tasks": tasks, "tasks_json": json.loads((tasks / "tasks.json").read_text()),
            "config": {"strategy": "fedavg", "rounds": 2, "lr": 0.05, "model": "mlp", "hidden": "8", "batch-size": 16,
                       "fraction-train": 1.0, "fraction-evaluate": 1.0, "local-epochs": 1, "fold-evaluation": True,
                       "mitigation": "none", "timeout": 60.0},
            "bids": "user,task,bid\n0,a,0.5\n0,b,0.25\n1,a,0.75\n2,b,0.1\n"}


@pytest.fixture
def cli(monkeypatch):
    """Invoke the CLI in-process; ``fedfair run`` stops where its simulation would start."""
    import fedfair.simulation

    def stand_in(run_configs, **_):
        raise WouldRun(run_configs[0])

    monkeypatch.setattr(fedfair.simulation, "simulate_many", stand_in)
    runner = CliRunner()
    return lambda args: runner.invoke(app, [str(a) for a in args])


def _case_dir(valid: dict, kind: str) -> Path:
    valid["n"] = valid.get("n", 0) + 1
    path = valid["root"] / "cases" / f"{kind}-{valid['n']}"
    path.mkdir(parents=True)
    return path


def _dataset_with(valid: dict, manifest_text: str, op: str, cut: float) -> Path:
    """A dataset directory with the given manifest; its client directories link to the valid dataset's."""
    target = _case_dir(valid, "manifest")
    for entry in valid["manifest"]["clients"]:
        (target / entry["dir"]).symlink_to(valid["dataset"] / entry["dir"], target_is_directory=True)
    _write_mutated(target / "manifest.json", manifest_text, op, cut)
    return target


ACCEPTED: dict[str, list[dict[str, Any]]] = {"manifest": []}


@fuzz(70)
@given(data=st.data(), op=OPS, value=STRANGE, cut=st.floats(0.0, 0.99))
def test_fuzz_manifests(valid, cli, data, op, value, cut):
    paths = _paths(valid["manifest"])
    path = data.draw(st.sampled_from(paths))
    mutated = _mutate(valid["manifest"], path, op if op in ("drop", "replace") else "replace", value)
    dataset = _dataset_with(valid, json.dumps(mutated), op, cut)
    case = f"manifest {op} {path} = {value!r:.60}"
    out = dataset / "run"
    outcome = _clean(cli(["run", "-d", dataset, "--rounds", "1", "--out", out]), case, out)
    info = _clean(cli(["data", "info", dataset]), case + " (data info)")
    assert (info == "ok") == (outcome == "accepted"), f"{case}: run {outcome} but data info {info}"
    if outcome == "accepted":
        ACCEPTED["manifest"].append({"dataset": str(dataset), "out-dir": str(out)})


@fuzz(40)
@given(data=st.data(), op=OPS, value=STRANGE, cut=st.floats(0.0, 0.99))
def test_fuzz_task_sets(valid, cli, data, op, value, cut):
    tree = valid["tasks_json"]
    path = data.draw(st.sampled_from(_paths(tree)))
    mutated = _mutate(tree, path, op if op in ("drop", "replace") else "replace", value)
    target = _case_dir(valid, "tasks")
    for entry in tree["tasks"]:
        (target / entry["dataset"]).symlink_to(valid["tasks"] / entry["dataset"], target_is_directory=True)
    _write_mutated(target / "tasks.json", json.dumps(mutated), op, cut)
    case = f"tasks.json {op} {path} = {value!r:.60}"
    _clean(cli(["run", "-s", "fedfair-mmfl", "-d", target, "--rounds", "1", "--out", target / "run"]), case, target / "run")


@fuzz(70)
@given(op=OPS, key=st.sampled_from(["strategy", "rounds", "lr", "model", "hidden", "batch-size", "fraction-train",
                                     "local-epochs", "fold-evaluation", "mitigation", "timeout", "lrr", "tool", "[x]"]),
       value=STRANGE, cut=st.floats(0.0, 0.99), suffix=st.sampled_from([".json", ".toml"]))
def test_fuzz_config_files(valid, cli, op, key, value, cut, suffix):
    config = dict(valid["config"])
    if op == "drop":
        config.pop(key, None)
    else:
        config[key] = value
    if suffix == ".toml":
        config = {k: v for k, v in config.items() if v is not None}  # TOML has no null
        try:
            text = tomli_w.dumps(config)
        except (TypeError, ValueError):
            text = tomli_w.dumps(valid["config"]) + f"\n{json.dumps(str(key))} = {json.dumps(str(value))[:50]}\n"
    else:
        text = json.dumps(config)
    target = _case_dir(valid, "config")
    _write_mutated(target / f"exp{suffix}", text, op, cut)
    case = f"config{suffix} {op} {key} = {value!r:.60}"
    out = target / "run"
    _clean(cli(["run", "-d", valid["dataset"], "--config", target / f"exp{suffix}", "--out", out]), case, out)


@fuzz(30)
@given(data=st.data(), op=st.sampled_from(["cell", "cell", "cell", "drop-column", "truncate", "binary", "empty", "header"]),
       value=st.one_of(st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "ümlaut", "[/x]", "9" * 40, "NA", "None"]),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6)),
       cut=st.floats(0.0, 0.99))
def test_fuzz_source_tables(valid, cli, data, op, value, cut):
    target = _case_dir(valid, "source")
    source = target / "csv"
    shutil.copytree(valid["sources"], source)
    file = source / data.draw(st.sampled_from(["north.csv", "south.csv"]))
    frame = pd.read_csv(file)
    column = data.draw(st.sampled_from(list(frame.columns)))
    if op == "cell":
        frame[column] = frame[column].astype(object)
        frame.loc[data.draw(st.integers(0, len(frame) - 1)), column] = value
        frame.to_csv(file, index=False)
    elif op == "drop-column":
        frame.drop(columns=[column]).to_csv(file, index=False)
    elif op == "header":
        frame.rename(columns={column: str(value)}).to_csv(file, index=False)
    else:
        _write_mutated(file, file.read_text(), op, cut)
    spec = {**valid["spec"], "source_options": {"path": str(source)}}
    (target / "spec.json").write_text(json.dumps(spec))
    case = f"source {op} {file.name}:{column} = {value!r:.40}"
    out = target / "built"
    outcome = _clean(cli(["data", "build", "--spec", target / "spec.json", "--out", out]), case)
    if outcome == "ok":
        from fedfair.data import validate_dataset

        validate_dataset(out)  # what was built loads, every client and split
    else:
        assert not (out / "manifest.json").exists(), f"{case}: a failed build left a dataset"


@fuzz(30)
@given(data=st.data(), op=OPS, value=STRANGE, cut=st.floats(0.0, 0.99))
def test_fuzz_build_specs(valid, cli, data, op, value, cut):
    spec = {**valid["spec"], "source_options": {"path": str(valid["sources"])}}
    path = data.draw(st.sampled_from(_paths(spec)))
    mutated = _mutate(spec, path, op if op in ("drop", "replace") else "replace", value)
    target = _case_dir(valid, "spec")
    _write_mutated(target / "spec.json", json.dumps(mutated), op, cut)
    case = f"build spec {op} {path} = {value!r:.60}"
    out = target / "built"
    outcome = _clean(cli(["data", "build", "--spec", target / "spec.json", "--out", out]), case)
    if outcome == "ok":
        from fedfair.data import validate_dataset

        validate_dataset(out)
    else:
        assert not (out / "manifest.json").exists(), f"{case}: a failed build left a dataset"


@fuzz(30)
@given(line=st.integers(0, 4), field=st.integers(0, 2), op=st.sampled_from(["cell", "cell", "truncate", "binary", "empty"]),
       value=st.one_of(st.sampled_from(["", "nan", "inf", "-0.5", "2", "1e400", "ümlaut", "[/x]", "a,b", '"']),
                       st.text(max_size=6)), cut=st.floats(0.0, 0.99))
def test_fuzz_bids(valid, cli, line, field, op, value, cut):
    rows = [r.split(",") for r in valid["bids"].strip().splitlines()]
    if op == "cell":
        rows[line][field] = value
    text = "\n".join(",".join(r) for r in rows) + "\n"
    target = _case_dir(valid, "bids")
    _write_mutated(target / "bids.csv", text, op, cut)
    case = f"bids {op} line {line} field {field} = {value!r:.40}"
    _clean(cli(["auction", "--mechanism", "budget-fair", "--budget", "1", "--bids", target / "bids.csv"]), case)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A run directory with a real checkpoint of an IFCA-like state (models, assignments, evaluations)."""
    from flwr.app import Array, ArrayRecord

    from fedfair.strategies.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("ckpt")
    model = ArrayRecord({"w": Array(np.arange(6, dtype=np.float32).reshape(2, 3))})
    state = {"models": [model, model], "assignment": {123456789012: 1}, "history": [(1, 0.5)], "clusters": {1, 2}}
    save_checkpoint(root, {"strategy": "ifca", "round": 3, "state": state, "evals": [], "nodes": {123456789012: "a"}},
                    strategy="ifca", dataset="synthetic-gaussian-8")
    return root


@fuzz(40)
@given(data=st.data(), op=OPS, value=STRANGE, cut=st.floats(0.0, 0.99), which=st.sampled_from(["json", "json", "npz"]))
def test_fuzz_checkpoints(checkpointed, tmp_path_factory, data, op, value, cut, which):
    """A damaged or forged checkpoint is one CheckpointError line (a user error), never code run from the file."""
    from fedfair.strategies.checkpoint import CheckpointError, load_checkpoint

    target = tmp_path_factory.mktemp("ck")
    for file in checkpointed.iterdir():
        shutil.copy(file, target / file.name)
    meta_path = target / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    if which == "json":
        path = data.draw(st.sampled_from(_paths(meta)))
        mutated = _mutate(meta, path, op if op in ("drop", "replace") else "replace", value)
        _write_mutated(meta_path, json.dumps(mutated), op, cut)
    else:
        npz = target / meta["arrays"]
        _write_mutated(npz, npz.read_bytes().decode("latin-1"), op if op != "replace" else "truncate", cut)
    try:
        payload = load_checkpoint(target, strategy="ifca", dataset="synthetic-gaussian-8")
    except CheckpointError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert payload is None or payload["round"] >= 0  # a harmless change (e.g. a value in the state) reads back


def test_the_corpus_reaches_both_outcomes_of_every_file_kind():
    """Each kind of file had cases refused and (where mutations can be harmless) cases accepted."""
    kinds = {"manifest": {"accepted", "error"}, "tasks.json": {"error"}, "config.json": {"accepted", "error"},
             "config.toml": {"accepted", "error"}, "source": {"ok", "error"}, "build": {"ok", "error"},
             "bids": {"ok", "error"}}
    if not OUTCOMES:
        pytest.skip("run with the fuzz tests above")
    missing = {kind: sorted(want - OUTCOMES.get(kind, set())) for kind, want in kinds.items()}
    assert not {k: v for k, v in missing.items() if v}, f"outcomes never reached: {missing} (seen {OUTCOMES})"


@pytest.mark.slow
def test_accepted_cases_run_for_real(tmp_path):
    """Mutated inputs the checks accepted really run: a complete run directory with every client."""
    from fedfair.simulation import simulate_many

    cases = ACCEPTED["manifest"][:2]
    if not cases:
        pytest.skip("no accepted manifest mutation in this session (run the fuzz tests first)")
    configs = [{"strategy": "fedavg", "rounds": 1, **c} for c in cases]
    summaries = simulate_many(configs, num_supernodes=8, echo=False, keep_going=False)
    for config, summary in zip(configs, summaries):
        assert json.loads((Path(config["out-dir"]) / "status.json").read_text())["status"] == "complete"
        assert len(summary["clients"]) == 8
