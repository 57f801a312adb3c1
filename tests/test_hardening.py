"""The validation layer on the cases users hit (issue 22's list): each malformed file is one line naming the file,
the field and the fix, before any work; paths stay inside; checkpoints are not pickles; keys are private."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import linked_dataset
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.data import DatasetError, read_manifest


def _invoke(args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    text = " ".join(result.output.split())
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), \
        f"{args}: {result.exception!r}\n{result.output[-1500:]}"
    return result.exit_code, text


@pytest.fixture(scope="module")
def cases(tmp_path_factory, synthetic_dir):
    """Broken copies of a sound dataset (client directories linked), task sets, configs and CSV sources."""
    root = tmp_path_factory.mktemp("hard")
    manifest = json.loads((Path(synthetic_dir) / "manifest.json").read_text())

    def dataset(name, change):
        return linked_dataset(root, synthetic_dir, name, change)

    out = {
        "clients-object": dataset("clients-object", lambda m: m.update(clients={"a": m["clients"][0]})),
        "name-number": dataset("name-number", lambda m: m["clients"][3].update(name=7)),
        "n-train-text": dataset("n-train-text", lambda m: m["clients"][3].update(n_train="1200")),
        "input-shape": dataset("input-shape", lambda m: m.update(input_shape="28x28")),
        "num-classes": dataset("num-classes", lambda m: m.update(num_classes=2.5)),
        "sensitive-list": dataset("sensitive-list", lambda m: m.update(sensitive=["group"])),
        "escape": dataset("escape", lambda m: m["clients"][1].update(dir="../../client_001")),
        "unknown-field": dataset("unknown-field", lambda m: m.update(lable="y")),
        "rows": dataset("rows", lambda m: m["clients"][0].update(n_train=5)),
        "string-feature": dataset("string-feature", lambda m: m.update(features=["x", "group_name"])),
    }
    # a string feature column: one client's parquet has a text column the manifest calls a feature
    strings = out["string-feature"]
    first = manifest["clients"][0]["dir"]
    (strings / first).unlink()
    (strings / first).mkdir()
    for split in ("train", "test"):
        frame = pd.read_parquet(Path(synthetic_dir) / first / f"{split}.parquet")
        frame.assign(group_name=np.where(frame["group"] == 1, "a", "b")).to_parquet(strings / first / f"{split}.parquet")
    # task sets
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "inside").symlink_to(synthetic_dir)
    for name, content in {
        "not-json": "{tasks: [",
        "a-list": json.dumps([{"name": "a"}]),
        "task-number": json.dumps({"format": 1, "clients": [str(k) for k in range(1, 9)], "tasks": [{"name": 5}]}),
        "model-text": json.dumps({"format": 1, "clients": [str(k) for k in range(1, 9)],
                                  "tasks": [{"name": "a", "dataset": "inside", "model": "cnn"}]}),
        "outside": json.dumps({"format": 1, "clients": [str(k) for k in range(1, 9)],
                               "tasks": [{"name": "a", "dataset": "../elsewhere"}]}),
    }.items():
        (tasks / name).mkdir()
        (tasks / name / "inside").symlink_to(synthetic_dir)
        (tasks / name / "tasks.json").write_text(content)
        out[f"tasks-{name}"] = tasks / name
    # config files
    (root / "black.toml").write_text("[tool.black]\nline-length = 100\n")
    (root / "binary.toml").write_bytes(bytes(range(256)))
    (root / "inf.json").write_text('{"lr": Infinity}')
    (root / "inf.toml").write_text("lr = inf\n")
    for name in ("black.toml", "binary.toml", "inf.json", "inf.toml"):
        out[name] = root / name
    # CSV sources with NaN / inf
    rng = np.random.default_rng(1)
    for name, column, value in (("nan-label", "y", np.nan), ("nan-sensitive", "sex", np.nan), ("inf-feature", "age", np.inf)):
        folder = root / name
        folder.mkdir()
        for client in ("p", "q"):
            frame = pd.DataFrame({"age": rng.normal(40, 9, 50), "sex": rng.integers(1, 3, 50).astype(float),
                                  "y": rng.integers(0, 2, 50).astype(float)})
            if client == "q":
                frame.loc[[3, 7], column] = value
            frame.to_csv(folder / f"{client}.csv", index=False)
        out[name] = folder
    out["root"] = root
    return out


def test_manifest_mistakes_name_the_file_and_the_field(cases):
    expected = {
        "clients-object": "manifest.json: clients: Input should be a valid list",
        "name-number": "clients[3].name: Input should be a valid string, got 7",
        "n-train-text": "clients[3].n_train: Input should be a valid integer, got '1200'",
        "input-shape": "input_shape: Input should be a valid list",
        "num-classes": "num_classes: Input should be a valid integer, got 2.5",
        "sensitive-list": "sensitive: Input should be a valid dictionary",
        "escape": "clients[1].dir: '../../client_001' leaves",
        "unknown-field": "lable: unknown field (the fields are: format, name, features, label",
        "rows": "the manifest records n_train = 5 but",
        "string-feature": "feature column 'group_name' holds",
    }
    for name, message in expected.items():
        code, text = _invoke(["run", "-d", cases[name], "--out", cases["root"] / "runs" / name])
        assert code == 2 and message in text, f"{name}: {text[-400:]}"
        assert text.count("error:") == 1 and not (cases["root"] / "runs" / name / "status.json").exists()


def test_task_set_mistakes_and_directories_outside(cases):
    expected = {
        "not-json": "tasks.json is not valid JSON",
        "a-list": "tasks.json holds a list, not an object",
        "task-number": "tasks[0].name: Input should be a valid string, got 5",
        "model-text": "tasks[0].model: Input should be a valid dictionary, got 'cnn'",
        "outside": "tasks[0].dataset: '../elsewhere' leaves",
    }
    for name, message in expected.items():
        code, text = _invoke(["run", "-s", "fedfair-mmfl", "-d", cases[f"tasks-{name}"], "--out", cases["root"] / "r" / name])
        assert code == 2 and message in text, f"{name}: {text[-400:]}"


def test_config_file_mistakes(cases, synthetic_dir):
    expected = {
        "black.toml": "has a [tool] table but no [tool.flwr.app.config] table",
        "binary.toml": "is not a UTF-8 text file",
        "inf.json": "line 1: Infinity is not a finite number",
        "inf.toml": "line 1: parameter 'lr' must be a finite number",
    }
    for name, message in expected.items():
        code, text = _invoke(["run", "-d", synthetic_dir, "--config", cases[name], "--out", cases["root"] / "c" / name])
        assert code == 2 and message in text, f"{name}: {text[-400:]}"
    code, text = _invoke(["run", "-d", synthetic_dir, "--set", "lr=inf"])
    assert code == 2 and "'lr' must be a finite number" in text
    code, text = _invoke(["run", "-d", synthetic_dir, "--set", "model=cnn", "--out", cases["root"] / "c" / "cnn"])
    assert code == 2 and "model 'cnn' needs image features" in text
    code, text = _invoke(["run", "-d", synthetic_dir, "--out", "/tmp/" + "x" * 300])
    assert code == 2 and "the path is too long" in text


def test_sources_with_nan_or_inf_are_refused_at_build_time(cases):
    expected = {
        "nan-label": "client 'q': label 'y' has 2 missing / NaN / infinite value(s) of 50 rows",
        "nan-sensitive": "client 'q': sensitive column 'sex' has 2 missing",
        "inf-feature": "client 'q': feature 'age' has 2 missing / NaN / infinite value(s) of 50 rows",
    }
    for name, message in expected.items():
        out = cases["root"] / "built" / name
        code, text = _invoke(["data", "build", "--source", "csv-dir", "--path", cases[name], "--label", "y",
                              "--sensitive", "sex", "--out", out])
        assert code == 2 and message in text and "--impute" in text or name != "inf-feature", text
        assert code == 2 and message in text, f"{name}: {text[-400:]}"
        assert not out.exists()
    code, text = _invoke(["data", "build", "--source", "synthetic-acs", "--states", "AL", "--partition", "iid:0",
                          "--out", cases["root"] / "built" / "iid0"])
    assert code == 2 and "iid:N needs a whole number of parts N >= 1" in text


@pytest.mark.parametrize("method", ["mean", "median", "drop"])
def test_impute_fills_or_drops_exactly_the_missing_feature_values(cases, method, tmp_path):
    from fedfair.partitioners.builder import BuildSpec, build_dataset
    from fedfair.partitioners.sources import load_source

    folder = cases["inf-feature"]
    raw = pd.read_csv(folder / "q.csv")
    finite = raw["age"][np.isfinite(raw["age"])]
    spec = BuildSpec.from_dict({"source": "csv-dir", "source_options": {"path": str(folder)}, "label": "y",
                                "sensitive": ["sex"], "splits": [0.5, 0.0, 0.5], "standardise": "none", "impute": method})
    root = build_dataset(spec, tmp_path / method)
    manifest = read_manifest(root)
    step = next(s for s in manifest.raw["preprocessing"] if s["step"] == "impute")
    rows = pd.concat([pd.read_parquet(root / c.dir / f"{s}.parquet") for c in manifest.clients if c.name == "q"
                      for s in ("train", "test")])
    if method == "drop":
        assert step["clients"] == {"q": {"rows_dropped": 2}} and len(rows) == 48
    else:
        fill = finite.mean() if method == "mean" else finite.median()
        assert step["clients"] == {"q": {"age": 2}} and len(rows) == 50
        assert np.isclose(np.sort(rows["age"].to_numpy()), np.sort(np.r_[finite.to_numpy(), fill, fill]).astype(np.float32)).all()
    del load_source


def test_client_directories_stay_inside_unless_absolute(synthetic_dir, tmp_path):
    manifest = json.loads((Path(synthetic_dir) / "manifest.json").read_text())
    target = tmp_path / "abs"
    target.mkdir()
    manifest["clients"][0]["dir"] = str(Path(synthetic_dir) / manifest["clients"][0]["dir"])  # absolute: recorded
    for entry in manifest["clients"][1:]:
        shutil.copytree(Path(synthetic_dir) / entry["dir"], target / entry["dir"])
    (target / "manifest.json").write_text(json.dumps(manifest))
    from fedfair.data import load_client, validate_dataset

    validate_dataset(target)
    assert len(load_client(target, 0).train) == manifest["clients"][0]["n_train"]
    manifest["clients"][0]["dir"] = "client_001/../../elsewhere"
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=r"clients\[0\].dir: 'client_001/../../elsewhere' leaves"):
        read_manifest(target)


def test_checkpoints_are_checked_and_never_unpickled(tmp_path):
    from flwr.app import Array, ArrayRecord

    from fedfair.strategies.checkpoint import CheckpointError, checksum, load_checkpoint, save_checkpoint

    model = ArrayRecord({"w": Array(np.arange(4, dtype=np.float32))})
    state = {"global_model": model, "pending": (3, [model]), "weights": {987654321: np.float64(0.25)}, "seen": {1, 2}}
    save_checkpoint(tmp_path, {"round": 3, "state": state}, strategy="fedavg", dataset="d")
    loaded = load_checkpoint(tmp_path, strategy="fedavg", dataset="d")["state"]
    assert loaded["pending"][1][0] is loaded["global_model"]  # one object again, as written
    assert loaded["weights"] == {987654321: 0.25} and isinstance(loaded["weights"][987654321], np.float64)
    assert loaded["seen"] == {1, 2} and np.array_equal(loaded["global_model"]["w"].numpy(), np.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-3.npz", "checkpoint.json"]
    with pytest.raises(CheckpointError, match="is a fedavg run, not ifca"):
        load_checkpoint(tmp_path, strategy="ifca")
    with pytest.raises(CheckpointError, match="of dataset d, not e"):
        load_checkpoint(tmp_path, dataset="e")
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    (tmp_path / "checkpoint.json").write_text(json.dumps({**meta, "fedfair_version": "0.0.1"}))
    with pytest.raises(CheckpointError, match="written by fedfair 0.0.1"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text(json.dumps(meta))
    edited = json.loads(json.dumps(meta).replace("0.25", "0.5"))  # a value changed by hand
    (tmp_path / "checkpoint.json").write_text(json.dumps(edited))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text(json.dumps(meta))
    npz = tmp_path / "checkpoint-3.npz"
    arrays = npz.read_bytes()
    npz.write_bytes(arrays[:-10])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path)
    npz.write_bytes(arrays)
    state = {"~": "object", "class": "os:system", "v": {}}  # a forged state with a matching checksum
    forged = {**meta, "state": state, "sha256": checksum(arrays, state)}
    (tmp_path / "checkpoint.json").write_text(json.dumps(forged))
    with pytest.raises(CheckpointError, match="not a class of fedfair"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").unlink()
    (tmp_path / "checkpoint.pkl").write_bytes(b"\x80\x04cos\nsystem\n.")  # an old-format pickle is never loaded
    with pytest.raises(CheckpointError, match="pickles are not read"):
        load_checkpoint(tmp_path)


def test_no_pickle_load_on_user_files():
    repo = Path(__file__).resolve().parents[1]
    hits = [str(p.relative_to(repo)) for folder in ("fedfair", "strategies", "partitioners")
            for p in (repo / folder).rglob("*.py") if "pickle.load" in p.read_text() or "allow_pickle=True" in p.read_text()]
    assert hits == []


def test_private_keys_are_written_owner_only(tmp_path):
    from fedfair.certificates import write_certificates

    write_certificates(tmp_path, ["127.0.0.1"], nodes=2)
    os.chmod(tmp_path / "node-1.key", 0o644)  # an existing file is narrowed before the key is written (--force)
    written = write_certificates(tmp_path, ["127.0.0.1"], nodes=2, force=True)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert {n for n, m in modes.items() if m == 0o600} == {"ca.key", "server.key", "node-1.key", "node-2.key"}
    assert all(m & 0o077 == 0 for n, m in modes.items() if n.endswith(".key"))
    assert all(m & 0o004 for n, m in modes.items() if not n.endswith(".key"))  # certificates and .pub stay readable
