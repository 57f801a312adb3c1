"""Property-based fuzzing of every file a user hands fedfair, through the real CLI entry points in-process.

Valid files (a dataset's manifest.json, a task set's tasks.json, TOML and JSON config files, a build spec, a
csv-dir source, a bids CSV, a run's checkpoint) are mutated by hypothesis: a field dropped, a value replaced
by one of another type or a strange one (NaN, inf, huge, empty, unicode, a path escape, rich markup), the
file truncated, emptied or replaced by binary bytes. Each case must end either

- in success: the command exits 0 (a build writes a dataset that validates), or ``fedfair run`` gets past
  every check and would start its simulation (a few of those are then run for real, in one simulation, and
  must write a complete run directory), or
- in exit 2 with exactly one ``error:`` line, no traceback, and no run directory marked complete.

Issue 32 part 6 adds, generated the same way: input valid in form but wrong in meaning (a manifest, a build spec, a
run parameter, a task name), output directories holding foreign files, a second writer while another process holds
the directory's lock, and `fedfair data create / build` killed by SIGTERM / SIGKILL at a seeded moment. The known
bugs these found are ``test_known_bug_*`` (xfail, strict: a fix turns them into failures to remove the mark).

Seeded (``derandomize``), a few hundred cases, well under a minute; in the default suite.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
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


# =====================================================================================================================
# Issue 32 part 6: input valid in form but wrong in meaning, output directories holding foreign files, concurrent
# writers, signals during writes. Generated (seeded) like the cases above; refusals come before any work, so no
# simulation starts (``guarded_cli``); only the signal cases start subprocesses (a few, at the default scale).
# =====================================================================================================================
from fedfair.outdirs import LOCK, MARKER, STAGING  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class SimulationStarted(AssertionError):
    """Raised by the guard: a simulation started although every case here must be refused before one."""


@pytest.fixture
def guarded_cli(monkeypatch):
    """Invoke the CLI in-process; a simulation that starts fails the case (the guard of test_semantic_checks)."""
    import fedfair.simulation

    def started(*args, **kwargs):
        raise SimulationStarted("a simulation started")

    monkeypatch.setattr(fedfair.simulation, "simulate_many", started)
    monkeypatch.setattr(fedfair.simulation, "simulate", started)
    runner = CliRunner()
    return lambda args: runner.invoke(app, [str(a) for a in args])


def _refused(result: Any, case: str, *phrases: str) -> str:
    """Exit 2, one ``error:`` line, no traceback, and the error names one of ``phrases``; the output as one line."""
    assert _clean(result, case) == "error", f"{case}: not refused (exit {result.exit_code})\n{result.output[-1500:]}"
    text = " ".join(result.output.split())
    assert not phrases or any(p in text for p in phrases), f"{case}: error names none of {phrases}: {text[-600:]}"
    return text


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (symlinks not followed): a file's SHA-256, a link's target, or a directory."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return out


# ----- 1. semantic mutations that still validate syntactically ------------------------------------------------------
SEMANTIC_MANIFEST = {  # mutation -> what the one error line names
    "label-feature": ("the label column 'y' is listed among the features",),
    "sensitive-feature": ("is listed among the features",),
    "sensitive-label": ("is the label column",),
    "names-twice": ("appear twice",),
    "same-dir": ("is also the directory of",),
    "undeclared-value": ("does not declare",),
    "num-classes": ("num_classes is",),
    "rows-out-of-bound": ("the manifest records n_",),
}
SEEN: dict[str, set[str]] = {}  # what the generated cases drew (beyond their parameters): test_part_6_reaches_...
OUT_OF_BOUND = st.one_of(st.sampled_from([10**7, 2**63 - 1, 2**63, 2**64]), st.integers(10**6 + 1, 2**70))


@pytest.mark.parametrize("kind", sorted(SEMANTIC_MANIFEST))
@fuzz(5)
@given(data=st.data())
def test_fuzz_semantic_manifests(valid, guarded_cli, data, kind):
    """A manifest changed in meaning only (every field keeps its type): refused by `run` and `data info` alike."""
    manifest = copy.deepcopy(valid["manifest"])
    clients, attrs = manifest["clients"], sorted(manifest["sensitive"])
    i, j = data.draw(st.lists(st.integers(0, len(clients) - 1), min_size=2, max_size=2, unique=True), label="clients")
    attr = data.draw(st.sampled_from(attrs), label="attribute")
    if kind in ("label-feature", "sensitive-feature"):
        column = manifest["label"] if kind == "label-feature" else attr
        manifest["features"].insert(data.draw(st.integers(0, len(manifest["features"]))), column)
    elif kind == "sensitive-label":
        manifest["sensitive"][manifest["label"]] = {
            "values": data.draw(st.lists(st.sampled_from([0, 1]), min_size=1, max_size=2, unique=True))}
    elif kind == "names-twice":
        clients[j]["name"] = clients[i]["name"]
    elif kind == "same-dir":
        spelling = data.draw(st.sampled_from(["{}", "./{}", "{}/", "./{}/", "{}/.", "{}//", "./././{}"]))
        clients[j]["dir"] = spelling.format(clients[i]["dir"])
    elif kind == "undeclared-value":
        declared = manifest["sensitive"][attr]["values"]
        kept = sorted(data.draw(st.lists(st.sampled_from(declared), min_size=1, max_size=len(declared) - 1, unique=True)))
        manifest["sensitive"][attr]["values"] = kept
        labels = manifest["sensitive"][attr].get("labels")
        if labels:  # the value names stay consistent with the declared values (only the data disagrees)
            manifest["sensitive"][attr]["labels"] = {k: v for k, v in labels.items() if int(k) in kept}
    elif kind == "num-classes":
        manifest["num_classes"] = data.draw(st.integers(3, 10**5))  # beyond 10**5: test_num_classes_beyond_an_array_is_refused_in_one_line
    elif kind == "rows-out-of-bound":
        clients[i][data.draw(st.sampled_from(["n_train", "n_test"]))] = data.draw(OUT_OF_BOUND)
    dataset = _dataset_with(valid, json.dumps(manifest), "replace", 1.0)
    case = f"semantic-manifest {kind} clients {i},{j} {attr}"
    out = dataset / "run"
    _refused(guarded_cli(["run", "-d", dataset, "--rounds", "1", "--out", out]), case, *SEMANTIC_MANIFEST[kind])
    assert not out.exists(), f"{case}: a refused run created its directory"
    info = _clean(guarded_cli(["data", "info", dataset]), case + " (data info)")
    # `data info` reads no labels' classes: a num_classes that disagrees with the labels passes it (run refuses)
    assert info == "error" or kind == "num-classes", f"{case}: run refused, but data info accepted"


SEMANTIC_SPEC = {  # mutation of the valid csv-dir build spec -> what the error line names
    "sensitive-is-label": ("lists the label column",),
    "label-dropped": ("--drop-columns lists the label column",),
    "sensitive-dropped": ("--drop-columns lists the sensitive attribute",),
    "label-categorical": ("--categorical lists the label column",),
    "sensitive-categorical": ("--categorical lists the sensitive attribute",),
    "positive-never-occurs": ("no row's label",),
    "clients-renamed-alike": ("is given to 2 clients",),
    "seed-out-of-bound": ("seed must be an integer in [0, 2**31)",),
    "partitions-out-of-bound": ("would leave parts empty",),
    "modified-value-never-occurs": ("no row has",),
    "unknown-client": ("unknown client",),
}
BUILT_CLIENTS = ["north_0", "north_1", "south"]  # what the valid spec builds (north split IID in two)
LETTERS = st.text(st.sampled_from(list("abcxyzQ_-ü")), min_size=1, max_size=8)


@pytest.mark.parametrize("kind", sorted(SEMANTIC_SPEC))
@fuzz(4)
@given(data=st.data(), via_flag=st.booleans())
def test_fuzz_semantic_build_specs(valid, guarded_cli, data, kind, via_flag):
    """A build spec changed in meaning only: refused with one line, no dataset (nor its directory) left behind."""
    spec = {**copy.deepcopy(valid["spec"]), "source_options": {"path": str(valid["sources"])}}
    flags: list[str] = []
    if kind == "sensitive-is-label":
        spec["sensitive"] = data.draw(st.permutations(["sex", "y"]))
    elif kind in ("label-dropped", "sensitive-dropped", "label-categorical", "sensitive-categorical"):
        key = "drop_columns" if kind.endswith("dropped") else "categorical"
        chosen = ["job"] if key == "categorical" else data.draw(st.lists(st.sampled_from(["age", "hours"]), unique=True))
        chosen.insert(data.draw(st.integers(0, len(chosen))), "y" if kind.startswith("label") else "sex")
        spec[key] = chosen
    elif kind == "positive-never-occurs":
        value = data.draw(st.one_of(st.integers(2, 2**70), st.integers(-2**70, -1), LETTERS,
                                    st.floats(-1e6, 1e6).filter(lambda f: f not in (0.0, 1.0))))
        if via_flag:
            flags += ["--positive", str(value)]
        else:
            spec["positive"] = value
    elif kind == "clients-renamed-alike":
        first, second = data.draw(st.lists(st.sampled_from(BUILT_CLIENTS), min_size=2, max_size=2, unique=True))
        spec["rename_clients"] = {first: (name := data.draw(LETTERS)), second: name}
    elif kind == "seed-out-of-bound":
        value = data.draw(st.one_of(st.integers(2**31, 2**70), st.integers(-2**70, -1)))
        if via_flag and value >= 0:
            flags += ["--seed", str(value)]
        else:
            spec["seed"] = value
    elif kind == "partitions-out-of-bound":
        spec["partitioning"] = {data.draw(st.sampled_from(["north", "south", "*"])): f"iid:{data.draw(OUT_OF_BOUND)}"}
    elif kind == "modified-value-never-occurs":
        spec["modifications"] = [{"client": "south", "attribute": "sex", "drop_rate": 0.5,
                                  "value": data.draw(st.one_of(st.integers(3, 2**70), st.integers(-2**70, 0)))}]
    elif kind == "unknown-client":
        where = data.draw(st.sampled_from(["rename_clients", "keep_clients", "scale", "modifications"]))
        name = data.draw(LETTERS.filter(lambda n: n not in BUILT_CLIENTS + ["north"]))
        spec[where] = {"rename_clients": {name: "renamed"}, "keep_clients": [name, "south"],
                       "scale": {"clients": [name], "factor": 0.5},
                       "modifications": [{"client": name, "attribute": "sex", "value": 2, "drop_rate": 0.5}]}[where]
    target = _case_dir(valid, "semantic-spec")
    (target / "spec.json").write_text(json.dumps(spec))
    case = f"semantic-spec {kind} {'flag' if flags else 'spec'} {flags or ''}"
    out = target / "built"
    _refused(guarded_cli(["data", "build", "--spec", target / "spec.json", *flags, "--out", out]), case, *SEMANTIC_SPEC[kind])
    assert not out.exists(), f"{case}: a refused build left {sorted(os.listdir(out))}"
    assert sorted(os.listdir(target)) == ["spec.json"], f"{case}: left {sorted(os.listdir(target))} (a staging directory?)"


BOUNDED = {"rounds": 10**6, "local-epochs": 10**6, "batch-size": 10**6, "eval-every": 10**6, "min-nodes": 10**6,
           "seed": 2**31 - 1}


@fuzz(40)
@given(data=st.data(), command=st.sampled_from(["run", "compare"]), via=st.sampled_from(["flag", "set", "json", "toml"]))
def test_fuzz_out_of_bound_integers(valid, guarded_cli, data, command, via):
    """An integer run parameter beyond its bound (rounds = 10**7 or 2**63: a typo whose run never ends) is refused
    before any work, however it is given."""
    key = data.draw(st.sampled_from(sorted(BOUNDED) if command == "run" else sorted(set(BOUNDED) - {"seed"})),
                    label="key")  # compare runs seeds 0..N-1: a config's seed is not used
    limit = BOUNDED[key]
    value = data.draw(st.one_of(st.sampled_from([v for v in (10**7, 2**63, 2**63 - 1, 2**64, -2**63) if abs(v) > limit]),
                                st.integers(limit + 1, 2**70), st.integers(-2**70, -limit - 1)), label="value")
    if via == "flag" and key not in ("rounds", "seed"):
        via = "set"  # no dedicated flag
    if via == "set" and key in ("rounds", "seed"):
        via = "json"  # --set refuses the keys of the dedicated flags (another error)
    target = _case_dir(valid, "bounds")
    out = target / "out"
    args: list[Any] = (["run", "-d", valid["dataset"], "--out", out] if command == "run" else
                       ["compare", "-s", "fedavg", "-n", "1", "-d", valid["dataset"], "--out", out])
    if key != "rounds":
        args += ["--rounds", "1"]  # (a flag overrides the config file's value)
    if via == "flag":
        args += [f"--{key}", value]
    elif via == "set":
        args += ["--set", f"{key}={value}"]
    else:
        config = target / f"exp.{via}"
        config.write_text(json.dumps({key: value}) if via == "json" else f"{key} = {value}\n")
        args += ["--config", config]
    case = f"bounds {command} {key}={value} via {via}"
    _refused(guarded_cli(args), case, "is out of range")
    assert not out.exists(), f"{case}: a refused {command} created its directory"


SEGMENT = st.text(st.sampled_from(list("abxyz09_-.+ü")), min_size=1, max_size=6)
TASK_NAMES_LEAVING = st.one_of(  # names with a '/' (or exactly '..'): never a directory of the task set
    st.lists(st.one_of(st.just(".."), st.just("."), st.just(""), SEGMENT), min_size=2, max_size=4).map("/".join),
    st.sampled_from(["..", "/", "/tmp", "../..", "a/../..", "./x", "x/..", "../" * 6 + "etc"]))


@pytest.mark.parametrize("where", ["tasks.json", "data tasks"])
@fuzz(15)
@given(name=TASK_NAMES_LEAVING, index=st.integers(0, 1))
def test_fuzz_task_names_with_a_path(valid, guarded_cli, name, where, index):
    """A task name holding a path (a '/' or '..') is refused, and nothing is written outside the case directory."""
    target = _case_dir(valid, "task-name")
    inner = target / "a" / "b"
    inner.mkdir(parents=True)
    if where == "tasks.json":
        tree = copy.deepcopy(valid["tasks_json"])
        for entry in tree["tasks"]:
            (inner / entry["dataset"]).symlink_to(valid["tasks"] / entry["dataset"], target_is_directory=True)
        tree["tasks"][index]["name"] = name
        (inner / "tasks.json").write_text(json.dumps(tree))
        args = ["run", "-s", "fedfair-mmfl", "-d", inner, "--rounds", "1", "--out", inner / "run"]
        phrases = ("String should match pattern", "is not a plain name")
    else:
        entries = [f"ok={valid['dataset']}", f"{name}={valid['dataset']}"]
        # after '--': a task '-x/..' is a task, not an option
        args = ["data", "tasks", "--out", inner / "tasks", "--", *(entries if index else entries[::-1])]
        phrases = ("is not a plain name",)
    before = _tree(target)
    case = f"task-name {where} {name!r}"
    _refused(guarded_cli(args), case, *phrases)
    assert _tree(target) == before, f"{case}: wrote {set(_tree(target)) - set(before)}"


# ----- 2. output directories holding foreign files --------------------------------------------------------------------
def _writers(out: Any, valid: dict, again: bool) -> dict[str, list[Any]]:
    """Every command that writes an output directory, writing ``out`` (``again``: with --overwrite / --force)."""
    dataset = valid["dataset"]
    spec = valid["root"] / "spec-valid.json"
    if not spec.exists():
        spec.write_text(json.dumps({**valid["spec"], "source_options": {"path": str(valid["sources"])}}))
    overwrite = ["--overwrite"] if again else []
    return {
        "run": ["run", "-d", dataset, "--rounds", "1", "--out", out, *overwrite],
        "compare": ["compare", "-s", "fedavg", "-n", "1", "-r", "1", "-d", dataset, "--out", out, *overwrite],
        "data create": ["data", "create", "synthetic-gaussian-8", "--out", out, *overwrite],
        "data build": ["data", "build", "--spec", spec, "--out", out, *overwrite],
        "data tasks": ["data", "tasks", f"a={dataset}", "--out", out, *overwrite],
        "data report": ["data", "report", dataset, "--models", "lr", "--jobs", "1", "--out", out, *overwrite],
        "auction": ["auction", "--simulate", "--users", "5", "--budgets", "1:2:2", "--seeds", "1", "--out", out,
                    *overwrite],
        "certificates": ["certificates", "--out", out, "--host", "127.0.0.1", "--nodes", "1",
                         *(["--force"] if again else [])],
    }


# a user's names: any but the two fedfair reads as its own internal files (test_a_users_file_named_like_fedfairs_lock_is_kept covers look-alikes)
FOREIGN_NAME = st.text(st.sampled_from(list("abcXYZ019._- ~#ü名")), min_size=1, max_size=10).filter(
    lambda n: n not in (".", "..") and not n.startswith((MARKER, LOCK)))
FAKES = {"status.json": b'{"status": "complete"}', "summary.json": b'{"rounds": 1, "clients": []}',
         "manifest.json": b'{"format": 1}', "table.md": b"| my | table |", "ca.key": b"my CA key", "audit.csv": b"a\n1\n",
         "config.json": b"{}", "metrics.jsonl": b""}


@pytest.mark.parametrize("command", ["run", "compare", "data create", "data report", "certificates"])
@fuzz(8)
@given(data=st.data(), shape=st.sampled_from(["dir", "dir", "file", "under-file"]), again=st.booleans())
def test_fuzz_output_directories_holding_foreign_files(valid, guarded_cli, data, command, shape, again):
    """An --out holding what fedfair did not write (random names, nested directories, a fake status.json or
    summary.json, links to a user's files elsewhere) or a file where the directory should be: refused with one line
    (also with --overwrite / --force), and every byte of it as it was."""
    target = _case_dir(valid, "foreign")
    out = target / "out"
    if shape == "dir":
        out.mkdir()
        for parts, content in data.draw(st.lists(st.tuples(st.lists(FOREIGN_NAME, min_size=1, max_size=3),
                                                           st.binary(max_size=64)), max_size=5), label="files"):
            path = out.joinpath(*parts)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.write_bytes(content)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                pass  # a name drawn both as a file and as a directory
        for name in data.draw(st.lists(FOREIGN_NAME, max_size=2), label="empty dirs"):
            if not (out / name).exists():
                (out / name).mkdir()
        for name in data.draw(st.sets(st.sampled_from(sorted(FAKES))), label="fakes"):
            if not (out / name).exists():
                (out / name).write_bytes(FAKES[name])
        for name in data.draw(st.sets(st.sampled_from(sorted(FAKES)), max_size=2), label="links"):
            if not (out / name).exists():  # a link with one of fedfair's names, to a file of the user's elsewhere
                (target / "elsewhere").mkdir(exist_ok=True)
                (target / "elsewhere" / name).write_bytes(b"the user's own " + name.encode())
                (out / name).symlink_to(target / "elsewhere" / name)
        if not os.listdir(out):
            (out / "notes.txt").write_text("my notes")
        phrase = "fedfair did not write"
    else:
        blocker = target / "a-file"
        blocker.write_bytes(data.draw(st.binary(max_size=64), label="file bytes"))
        out = blocker if shape == "file" else blocker.joinpath(*data.draw(st.lists(FOREIGN_NAME, min_size=1, max_size=2)))
        phrase = "is a file"
    before = _tree(target)
    dataset_before = _tree(valid["dataset"]) if command == "data report" else None
    case = f"foreign {command} {shape} {'again' if again else ''}"
    _refused(guarded_cli(_writers(out, valid, again)[command]), case, phrase)
    after = _tree(target)
    assert after == before, f"{case}: changed {sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}"
    assert dataset_before is None or _tree(valid["dataset"]) == dataset_before, f"{case}: the dataset changed"
    SEEN.setdefault("foreign", set()).add(shape)


# ----- 3. concurrent writers ------------------------------------------------------------------------------------------
_HOLDER = """
import sys
from fedfair.outdirs import claim
held = []
for line in sys.stdin:
    path, command = line.rstrip("\\n").split("\\t")
    try:
        held.append(claim(path, command, overwrite=True))
        print("held", flush=True)
    except Exception as err:
        print(f"failed: {err!r}", flush=True)
"""
KIND = {"run": "run", "compare": "compare", "data create": "dataset", "data build": "dataset", "data tasks": "task-set",
        "data report": "data-report", "auction": "auction", "certificates": "certificates"}


@pytest.fixture(scope="module")
def holder():
    """Another process, claiming (holding the lock of) each directory it is given until the module ends."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=REPO)

    def hold(path: Path, command: str) -> None:
        proc.stdin.write(f"{path}\t{command}\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        assert answer == "held", f"the holder could not claim {path}: {answer or 'it ended'}"

    hold.pid = proc.pid  # type: ignore[attr-defined]
    yield hold
    proc.stdin.close()
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("command", sorted(KIND))
@fuzz(4)
@given(earlier=st.booleans(), again=st.booleans(),
       spelling=st.sampled_from(["absolute", "relative", "trailing slash", "symlink", "dot-dot"]))
def test_fuzz_concurrent_writers(valid, guarded_cli, holder, command, earlier, again, spelling):
    """While another process writes a directory (holds its lock), every command writing it is refused at once,
    with one line naming that process's pid, however the path is spelled; nothing in it changes."""
    target = _case_dir(valid, "busy")
    out = target / "out"
    if earlier:  # an earlier, complete output of the command that the other process is replacing
        from fedfair.outdirs import OWNED, claim

        with claim(out, KIND[command]) as held:
            for pattern in OWNED[KIND[command]][:2]:
                (out / pattern.replace("*", "0")).write_text("earlier")
            held.done()
    holder(out, KIND[command])
    spelled = {"absolute": str(out), "relative": "out", "trailing slash": f"{out}/", "symlink": str(target / "alias"),
               "dot-dot": str(out / ".." / "out")}[spelling]
    if spelling == "symlink":
        (target / "alias").symlink_to(out, target_is_directory=True)
    before = _tree(target)
    case = f"busy {command} {spelling} {'earlier' if earlier else ''} {'again' if again else ''}"
    cwd = os.getcwd()
    os.chdir(target)
    try:
        text = _refused(guarded_cli(_writers(spelled, valid, again)[command]), case, f"pid {holder.pid}")
    finally:
        os.chdir(cwd)
    assert "in use by another fedfair process" in text, f"{case}: {text[-400:]}"
    after = _tree(target)
    assert after == before, f"{case}: changed {sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}"
    SEEN.setdefault("busy", set()).add(spelling)


# ----- 4. signals during writes ---------------------------------------------------------------------------------------
# `fedfair data create / build` in a child process, on a "slow disk": ``pause`` slows each parquet write (a signal then
# often lands mid-write), ``hold`` sleeps after the output directory is claimed, before the dataset is built, and
# ``rename`` slows each rename (the entries moved from the staging directory into the claimed output)
_WRITER = """
import os, sys, time
pause, hold, rename = (float(x) for x in sys.argv[1:4])
if pause:
    import pandas
    write = pandas.DataFrame.to_parquet
    def slow_write(self, *args, **kwargs):
        time.sleep(pause)
        return write(self, *args, **kwargs)
    pandas.DataFrame.to_parquet = slow_write
if rename:
    move = os.rename
    def slow_rename(*args, **kwargs):
        time.sleep(rename)
        return move(*args, **kwargs)
    os.rename = slow_rename
if hold:
    import fedfair.partitioners.builder as builder, fedfair.registry as registry
    def held(build):
        def later(*args, **kwargs):
            time.sleep(hold)
            return build(*args, **kwargs)
        return later
    registry.build_builtin_dataset = held(registry.build_builtin_dataset)
    builder.build_dataset = held(builder.build_dataset)
sys.argv = ["fedfair", *sys.argv[4:]]
from fedfair.cli import main
main()
"""


def _staging_dirs(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if STAGING in p.name)


def _dataset_state(out: Path, case: str) -> str:
    """'absent', 'complete' (marked so, and a dataset that validates), 'claimed' (marked incomplete, nothing else in
    it) or 'partial' (marked incomplete, some of the dataset's entries); never a half-written dataset marked complete,
    never a manifest beside an incomplete dataset (the manifest is written last)."""
    from fedfair.data import validate_dataset
    from fedfair.outdirs import read_marker

    if not out.exists():
        return "absent"
    marker = read_marker(out)
    entries = [n for n in os.listdir(out) if not n.startswith((MARKER, LOCK))]
    if (out / "manifest.json").exists():
        validate_dataset(out)  # raises on a half-written dataset
    if marker is not None and marker.get("complete"):
        assert (out / "manifest.json").is_file(), f"{case}: marked complete without a manifest: {entries}"
        return "complete"
    assert marker is not None, f"{case}: {out} without fedfair's marker: {entries}"
    return "partial" if entries else "claimed"


def _start_writer(args: list[Any], pause: float = 0.0, hold: float = 0.0, rename: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(pause), str(hold), str(rename), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)


ANCHORS = {  # the moment a signal's seeded delay counts from: what the child has just done
    "started": lambda out: True,
    "claimed": lambda out: (out / MARKER).exists(),
    "staging": lambda out: bool(_staging_dirs(out.parent)),
    "publishing": lambda out: (out / "client_000").exists(),
}


def _wait_for(anchor: str, out: Path, proc: subprocess.Popen) -> None:
    """Until the child reached ``anchor`` (or ended)."""
    deadline = time.monotonic() + 120  # not a timing assertion: a bound on a wait that ends much sooner
    while proc.poll() is None and time.monotonic() < deadline and not ANCHORS[anchor](out):
        time.sleep(0.003)


def _signalled(proc: subprocess.Popen, signum: int) -> str:
    try:
        proc.send_signal(signum)
        return proc.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


SIGNAL_CASES = max(1, int(SCALE))  # per signal and anchor: 8 child processes at the default scale


@pytest.mark.parametrize("case_index", range(SIGNAL_CASES))
@pytest.mark.parametrize("anchor", sorted(ANCHORS))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_fuzz_signals_during_writes(valid, guarded_cli, signum, anchor, case_index):
    """A `fedfair data create / build` killed at a seeded moment: SIGTERM leaves no staging directory, SIGKILL's is
    recognised as a leftover and removed by the next writer; never a half-written dataset marked complete (nor a
    manifest beside one); the next run completes the dataset (or refuses to replace a complete one). Only the final
    state is asserted, wherever the signal landed. (Seeded numpy draws rather than hypothesis: one child process
    per case, so few cases, and none of them hypothesis's minimal first example; unseeded at a scale other than 1.)"""
    seed = [int(signum), sorted(ANCHORS).index(anchor), case_index] if SCALE == 1 else None
    rng = np.random.default_rng(seed)
    command = str(rng.choice(["data create", "data build"]))
    pause, hold, rename = float(rng.choice([0.0, 0.02, 0.05])), float(rng.choice([0.0, 0.2])), float(rng.choice([0.0, 0.05]))
    delay = float(rng.uniform(0.3, 1.5) if anchor == "started" else rng.uniform(0.0, 0.1))
    target = _case_dir(valid, "signal")
    out = target / "out"
    args = _writers(out, valid, False)[command]
    proc = _start_writer(args, pause, hold, rename)
    _wait_for(anchor, out, proc)
    time.sleep(delay)
    output = _signalled(proc, signum)
    name = signal.Signals(signum).name
    case = f"signal {name} {command} {anchor}+{delay:.3f} pause {pause} hold {hold} rename {rename} (exit {proc.returncode})"
    assert "Traceback" not in output, f"{case}:\n{output[-2000:]}"
    state = _dataset_state(out, case)
    leftovers = _staging_dirs(target)
    if signum == signal.SIGTERM:
        assert not leftovers, f"{case}: SIGTERM left {leftovers}"
        # KNOWN BUG (reported, issue 32 part 6): SIGTERM can leave 'claimed' (after the claim, before the staging
        # directory whose handler turns SIGTERM into an exit that abandons the claim: the directory is left marked
        # incomplete, holding only fedfair's marker and lock; test_known_bug_sigterm_between_claim_and_staging) or
        # 'partial' (an interrupted publish, replaced by the next run: test_an_interrupted_publish_is_replaced_by_
        # the_next_run), where the output must be absent or complete. Tolerated here; the next run is checked below.
        assert state in ("absent", "complete", "claimed", "partial"), f"{case}: {state}"
    else:
        from fedfair.outdirs import staging_leftovers

        assert sorted(p.name for p in staging_leftovers(out.resolve())) == leftovers, \
            f"{case}: the killed writer's staging directory {leftovers} is not recognised as a leftover"
    result = guarded_cli(args)  # the next run of the same command
    text = " ".join(result.output.split())
    # an interrupted publish ('partial') is listed in the marker as fedfair's and incomplete: replaced like the rest
    assert _dataset_state(out, case + " then again") == "complete", f"{case}: the next run: {text[-500:]}"
    assert (result.exit_code == 0) != (state == "complete" and "holds a complete dataset" in text), \
        f"{case}: the next run: {text[-500:]}"
    assert not _staging_dirs(target), f"{case}: the next run left {_staging_dirs(target)}"


# ----- known bugs (reported, issue 32 part 6): the strict form of what the generated cases above tolerate ----------
@pytest.mark.xfail(strict=True, reason="KNOWN BUG: SIGTERM between `data create`'s claim of --out and its staging "
                   "directory kills the process without abandoning the claim: --out is left marked incomplete "
                   "(fedfair's marker and lock only) instead of absent (fedfair/data_cli.py claim_output, "
                   "fedfair/outdirs.py claim: no SIGTERM handler while only a claim is held)")
def test_known_bug_sigterm_between_claim_and_staging(tmp_path):
    out = tmp_path / "out"
    proc = _start_writer(["data", "create", "synthetic-gaussian-8", "--out", out], hold=60)
    try:
        _wait_for("claimed", out, proc)
        assert (out / MARKER).exists() and proc.poll() is None, "the child never claimed --out"
    finally:
        _signalled(proc, signal.SIGTERM)
    assert not out.exists(), f"SIGTERM left {sorted(os.listdir(out))}"


def test_an_interrupted_publish_is_replaced_by_the_next_run(tmp_path, guarded_cli):
    """A SIGKILL while `data create` moves its dataset into the claimed --out: the marker already lists the
    entries, so the next run (--overwrite: the earlier output may have been complete) replaces them."""
    out = tmp_path / "out"
    args = ["data", "create", "synthetic-gaussian-8", "--out", out]
    proc = _start_writer(args, rename=0.3)
    try:
        _wait_for("publishing", out, proc)
        assert (out / "client_000").exists() and proc.poll() is None, "the child never began to publish"
    finally:
        _signalled(proc, signal.SIGKILL)
    result = guarded_cli([*args, "--overwrite"])
    assert result.exit_code == 0, " ".join(result.output.split())[-400:]


@pytest.mark.parametrize("num_classes", [2**64, 10**9], ids=["2**64", "10**9"])
def test_num_classes_beyond_an_array_is_refused_in_one_line(valid, guarded_cli, num_classes):
    manifest = {**copy.deepcopy(valid["manifest"]), "num_classes": num_classes}
    dataset = _dataset_with(valid, json.dumps(manifest), "replace", 1.0)
    args = ["run", "-d", dataset, "--rounds", "1", "--out", dataset / "run"]
    if num_classes < 2**63:  # a real allocation: in a child process whose address space is bounded (6 GiB)
        import resource

        limit = 6 * 2**30
        done = subprocess.run([sys.executable, "-m", "fedfair.cli", *map(str, args)], capture_output=True, text=True,
                              cwd=REPO, timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS,
                                                                                           (limit, limit)))
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert done.returncode == 2 and "Traceback" not in done.stderr and lines[-1].startswith("error:"), lines[-3:]
    else:
        _refused(guarded_cli(args), f"num_classes {num_classes}", "num_classes")


@pytest.mark.parametrize("name", [".fedfair-lock.old", ".fedfair-owned.bak"])
def test_a_users_file_named_like_fedfairs_lock_is_kept(valid, guarded_cli, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("the user's notes")
    spec = tmp_path / "spec.json"  # a build that fails after claiming --out (no row's label equals --positive)
    spec.write_text(json.dumps({**valid["spec"], "source_options": {"path": str(valid["sources"])}, "positive": 7}))
    result = guarded_cli(["data", "build", "--spec", spec, "--out", out])
    assert result.exit_code == 2
    assert (out / name).is_file(), f"{name} deleted: {' '.join(result.output.split())[-300:]}"
    assert "fedfair did not write" in result.output


@pytest.mark.xfail(strict=True, reason="KNOWN GAP: a build spec's partitioning rule for a client the source does "
                   "not have is silently ignored (partitioners/builder.py, step 5), where rename_clients, "
                   "keep_clients, scale and modifications refuse an unknown client")
def test_known_bug_partitioning_an_unknown_client_is_ignored(valid, guarded_cli, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**valid["spec"], "source_options": {"path": str(valid["sources"])},
                                "partitioning": {"nort": "iid:2"}}))
    _refused(guarded_cli(["data", "build", "--spec", spec, "--out", tmp_path / "built"]), "partitioning nort",
             "unknown client")


def test_part_6_reaches_every_kind_of_case():
    """The generated cases of this part reached every kind they draw from (the kinds they are parametrized with
    aside): every shape of a foreign --out, every spelling of a busy one."""
    if not SEEN:
        pytest.skip("run with the fuzz tests above")
    want = {"foreign": {"dir", "file", "under-file"},
            "busy": {"absolute", "relative", "trailing slash", "symlink", "dot-dot"}}
    missing = {k: sorted(v - SEEN.get(k, set())) for k, v in want.items() if v - SEEN.get(k, set())}
    assert not missing, f"never reached: {missing}"
