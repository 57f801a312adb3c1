"""Builtin datasets and the dataset loader: contents, determinism, load-time errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from fedfair.data import DatasetError, load_client, read_manifest, validate_dataset
from fedfair.registry import UnknownNameError, resolve_dataset
from fedfair.partitioners.adult import RACE_SHARES, find_raw_files
from fedfair.partitioners.builtins import build_builtin
from fedfair.partitioners.synthetic_gaussian import TABLE_2_MEANS
from tests.conftest import ADULT_DIR, needs_adult


def test_synthetic_gaussian_follows_table_2(synthetic_dir):
    manifest = read_manifest(synthetic_dir)
    assert manifest.client_names == [str(k) for k in range(1, 9)]
    assert manifest.default_model == {"model": "logreg"}
    assert manifest.raw["synthetic"] is True
    step = next(s for s in manifest.raw["preprocessing"] if s["step"] == "standardise")["global"]
    center, scale = step["mean"][0], step["std"][0]
    for name, means in TABLE_2_MEANS.items():
        data = load_client(synthetic_dir, name)
        assert len(data.train) == 1200 and len(data.test) == 1200
        g, y = data.train.sensitive["group"], data.train.y
        x = data.train.x[:, 0] * scale + center  # undo the global standardisation
        # balanced groups and labels: 300 rows per (group, label)
        for (group, label), mean in zip([(1, 1), (1, 0), (0, 1), (0, 0)], means):
            cell = (g == group) & (y == label)
            assert cell.sum() == 300
            assert x[cell].mean() == pytest.approx(mean, abs=0.2)
            assert x[cell].std() == pytest.approx(1.0, abs=0.15)


def test_synthetic_gaussian_is_deterministic_per_seed(tmp_path):
    a = build_builtin("synthetic-gaussian-8", tmp_path / "a", seed=3, n_train=50, n_test=50)
    b = build_builtin("synthetic-gaussian-8", tmp_path / "b", seed=3, n_train=50, n_test=50)
    c = build_builtin("synthetic-gaussian-8", tmp_path / "c", seed=4, n_train=50, n_test=50)
    xa, xb, xc = (load_client(d, "2").train.x for d in (a, b, c))
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(xa, xc)


def test_resolve_dataset_caches_builtin_and_lists_valid_names():
    first = resolve_dataset("synthetic-gaussian-8", seed=5)
    assert resolve_dataset("synthetic-gaussian-8", seed=5) == first
    assert resolve_dataset(str(first)) == first
    with pytest.raises(UnknownNameError, match="valid builtin datasets: acs-tasks, adult, adult-dutch-standin, adult-iid, ci-mnist-class, ci-mnist-shift, ci-mnist-size, cifar10, digits, dutch, emnist, fashion-mnist, law, mmfl-10, mmfl-3, mmfl-6, mnist, synthetic-gaussian-8"):
        resolve_dataset("adulty")


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_sensitive_column_fails_at_load_naming_client_and_column(synthetic_dir, tmp_path):
    broken = _copy(synthetic_dir, tmp_path / "broken")
    path = broken / "client_002" / "train.parquet"
    pd.read_parquet(path).drop(columns=["group"]).to_parquet(path)
    with pytest.raises(DatasetError, match=r"client '3', train split: sensitive column\(s\) \['group'\] not found"):
        validate_dataset(broken)


def test_empty_client_fails_at_load(synthetic_dir, tmp_path):
    broken = _copy(synthetic_dir, tmp_path / "empty")
    path = broken / "client_004" / "test.parquet"
    pd.read_parquet(path).iloc[:0].to_parquet(path)
    with pytest.raises(DatasetError, match=r"client '5': the test split is empty"):
        validate_dataset(broken)


def test_client_lookup_by_name_and_partition_id(synthetic_dir):
    assert load_client(synthetic_dir, "8").partition_id == 7
    assert load_client(synthetic_dir, 7).name == "8"
    with pytest.raises(DatasetError, match="valid names are 1, 2"):
        load_client(synthetic_dir, "9")
    with pytest.raises(DatasetError, match="out of range"):
        load_client(synthetic_dir, 8)


def test_adult_absent_offline_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDFAIR_DATA_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="Put adult.data and adult.test in a directory and pass --data-root"):
        find_raw_files(download=False)


@needs_adult()
def test_adult_race_unbalanced_partition(tmp_path):
    root = build_builtin("adult", tmp_path / "adult", seed=0, data_root=str(ADULT_DIR.parent))
    manifest = read_manifest(root)
    assert manifest.raw["source"]["rows"] == 48842
    assert manifest.client_names == ["0", "1", "2", "3", "4"]
    clients = [load_client(root, k) for k in range(5)]
    sizes = [len(c.train) + len(c.test) for c in clients]
    nonwhite = [
        (np.concatenate([c.train.sensitive["race"], c.test.sensitive["race"]]) == 2).mean() for c in clients
    ]
    total_white, total_nonwhite = 41762, 7080
    for k in range(5):
        expected = int(RACE_SHARES[1][k] * total_white) + int(RACE_SHARES[2][k] * total_nonwhite)
        assert abs(sizes[k] - expected) <= 2
    # clients 0-2 mostly White, 3-4 hold most Non-White rows; client 2 is the small one
    assert max(nonwhite[:3]) < 0.05 < 0.25 < min(nonwhite[3:])
    assert sizes[2] == min(sizes)
    assert set(np.unique(clients[0].train.sensitive["sex"])) == {1, 2}
    assert len(clients[0].test) == pytest.approx(0.2 * sizes[0], abs=1)


@needs_adult()
def test_adult_iid_partition_has_equal_sizes(tmp_path):
    root = build_builtin("adult-iid", tmp_path / "iid", seed=0, data_root=str(ADULT_DIR))
    sizes = [len(load_client(root, k).train) + len(load_client(root, k).test) for k in range(5)]
    assert sum(sizes) == 48842 and max(sizes) - min(sizes) <= 1
    assert json.loads((root / "manifest.json").read_text())["name"] == "adult-iid"


def test_builtin_with_a_val_split_keeps_every_row(tmp_path):
    root = build_builtin("synthetic-gaussian-8", tmp_path / "val", seed=0, splits=(0.7, 0.15, 0.15), n_train=100, n_test=100)
    for name in TABLE_2_MEANS:
        data = load_client(root, name)
        assert (len(data.train), len(data.val), len(data.test)) == (140, 30, 30)
        # group x label cells still hold every drawn row: 50 each over the three splits
        g = np.concatenate([s.sensitive["group"] for s in (data.train, data.val, data.test)])
        y = np.concatenate([s.y for s in (data.train, data.val, data.test)])
        assert sorted(np.unique(g * 2 + y, return_counts=True)[1].tolist()) == [50, 50, 50, 50]


def test_data_create_with_splits_and_bad_splits(tmp_path):
    from typer.testing import CliRunner

    from fedfair.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["data", "create", "synthetic-gaussian-8", "--out", str(tmp_path / "g"), "--splits", "0.6,0.2,0.2"])
    assert result.exit_code == 0, result.output
    assert len(load_client(tmp_path / "g", "1").val) == 480
    bad = runner.invoke(app, ["data", "create", "synthetic-gaussian-8", "--out", str(tmp_path / "b"), "--splits", "0.6,0.6"])
    assert bad.exit_code == 2 and "splits must be three fractions" in bad.output


def test_builder_source_split_rename_and_standardised_columns(tmp_path):
    from fedfair.partitioners.builder import BuildSpec, build_dataset

    with pytest.raises(DatasetError, match="source 'synthetic-acs' has no split of its own"):
        build_dataset(BuildSpec(source="synthetic-acs", splits="source", source_options={"states": ["AL"]}), tmp_path / "x")
    with pytest.raises(DatasetError, match=r"rename_clients: unknown client\(s\) \['ZZ'\]"):
        build_dataset(BuildSpec(source="synthetic-acs", rename_clients={"ZZ": "z"}, source_options={"states": ["AL"]}),
                      tmp_path / "y")
    spec = BuildSpec(source="synthetic-acs", source_options={"states": ["AL", "AK"], "rows_per_state": 300},
                     rename_clients={"AL": "alabama"}, standardise="global", standardise_columns=["AGEP"])
    root = build_dataset(spec, tmp_path / "z")
    manifest = read_manifest(root)
    assert manifest.client_names == ["alabama", "AK"]
    train = pd.concat([pd.read_parquet(root / c.dir / "train.parquet") for c in manifest.clients])
    assert train["AGEP"].mean() == pytest.approx(0.0, abs=1e-5) and train["AGEP"].std(ddof=0) == pytest.approx(1.0, abs=1e-4)
    assert train["WKHP"].std() > 5  # not standardised: raw hours


def test_data_build_splits_source_keeps_the_sources_own_split(tmp_path):
    """`--splits source` (documented) builds from the source's own train / test split; a malformed value is
    one line naming the option and its two forms (it was a traceback: float('source'))."""
    from typer.testing import CliRunner

    from fedfair.cli import app

    out = tmp_path / "g8"
    built = CliRunner().invoke(app, ["data", "build", "--source", "synthetic-gaussian-8", "--splits", "source",
                                     "--out", str(out)])
    assert built.exit_code == 0, built.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["clients"][0]["n_train"] == 1200 and manifest["clients"][0]["n_test"] == 1200
    bad = CliRunner().invoke(app, ["data", "build", "--source", "synthetic-gaussian-8", "--splits", "a,b",
                                   "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--splits" in bad.output and "'source'" in bad.output
    assert not (tmp_path / "bad").exists()
