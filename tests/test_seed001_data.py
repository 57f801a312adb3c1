"""Seed 001's datasets: Law School (local file), the Dutch census loader (tiny file), the Adult stand-in."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fedfair.data import DatasetError, load_client
from fedfair.partitioners.builtins import build_builtin
from tests.conftest import ADULT_DIR, SHARED_DATA

LAW_DIR = SHARED_DATA / "law"
DUTCH_COLUMNS = ["sex", "age", "household_position", "household_size", "prev_residence_place", "citizenship",
                 "country_birth", "edu_level", "economic_status", "cur_eco_activity", "Marital_status", "occupation"]


def _tiny_dutch(folder, rows=400, sex_words=False):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.integers(1, 4, rows).astype(str) for c in DUTCH_COLUMNS[1:-1]})
    sex = rng.integers(1, 3, rows)
    frame.insert(0, "sex", np.where(sex == 1, "male", "female") if sex_words else sex.astype(str))
    frame["occupation"] = np.where(rng.random(rows) < 0.4, "2_1", "5_4_9")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "dutch.csv", index=False)
    return frame


@pytest.mark.parametrize("sex_words", [False, True])
def test_dutch_loader_reads_the_documented_layout_into_four_clients(tmp_path, sex_words):
    raw = _tiny_dutch(tmp_path / "data" / "dutch", sex_words=sex_words)
    root = build_builtin("dutch", tmp_path / "built", seed=0, data_root=str(tmp_path / "data"))
    manifest = json.loads((root / "manifest.json").read_text())
    assert [c["name"] for c in manifest["clients"]] == ["0", "1", "2", "3"]
    assert sum(c["n_train"] + c["n_test"] for c in manifest["clients"]) == 400
    assert all(c["n_train"] == 80 for c in manifest["clients"])  # 100 rows each, 80 / 20
    assert manifest["sensitive"]["sex"]["values"] == [1, 2]
    assert "age=1" in manifest["features"] and "sex==2" in manifest["features"]
    clients = [load_client(root, name) for name in "0123"]
    positives = sum(int(c.train.y.sum() + c.test.y.sum()) for c in clients)
    assert positives == int((raw["occupation"] == "2_1").sum())
    females = sum(int((c.train.sensitive["sex"] == 2).sum() + (c.test.sensitive["sex"] == 2).sum()) for c in clients)
    expected = int((raw["sex"].isin(["2", "female"])).sum())
    assert females == expected


def test_dutch_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="Dutch census file dutch.csv not found .* adult-dutch-standin"):
        build_builtin("dutch", tmp_path / "built", seed=0, data_root=str(tmp_path / "nothing"))
    raw = _tiny_dutch(tmp_path / "bad")
    raw.assign(occupation="9_9").to_csv(tmp_path / "bad" / "dutch.csv", index=False)
    with pytest.raises(DatasetError, match=r"occupation values \['9_9'\]"):
        build_builtin("dutch", tmp_path / "built2", seed=0, data_root=str(tmp_path / "bad"))


@pytest.mark.skipif(not (LAW_DIR / "law.csv.zip").is_file(), reason=f"law.csv.zip not found at {LAW_DIR} (../shared/data/law)")
def test_law_builtin_has_seed_001s_two_client_split(tmp_path):
    root = build_builtin("law", tmp_path / "law", seed=0, data_root=str(SHARED_DATA))
    manifest = json.loads((root / "manifest.json").read_text())
    assert [(c["n_train"], c["n_test"]) for c in manifest["clients"]] == [(8319, 2080), (8319, 2080)]
    assert manifest["features"] == ["LSAT", "UGPA", "ZFYA", "race==2", "sex==2"]
    client = load_client(root, "0")
    assert 0.85 < client.train.y.mean() < 0.92  # most students pass the bar
    assert set(np.unique(client.train.sensitive["race"])) == {1, 2}


@pytest.mark.skipif(not (ADULT_DIR / "adult.data").is_file(), reason=f"UCI Adult not found at {ADULT_DIR}")
def test_the_dutch_stand_in_is_adult_in_four_clients_with_sex_first(tmp_path):
    root = build_builtin("adult-dutch-standin", tmp_path / "standin", seed=0, data_root=str(SHARED_DATA))
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(manifest["clients"]) == 4 and list(manifest["sensitive"]) == ["sex", "race"]
    assert "stand-in" in json.dumps(manifest)
