"""Any Hugging Face dataset as a source: a tiny dataset saved with ``save_to_disk`` (offline) is built,
exacerbated, audited and trained like ACS; images become pixel features; fedfair's partitioner works inside
Flower's FederatedDataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from fedfair.data import DatasetError, load_client, read_manifest  # noqa: E402
from fedfair.partitioners.builder import BuildSpec, build_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    """600 rows, a state column (3 natural clients), a binary sensitive ClassLabel and a binary label."""
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.integers(0, 2, n)
    x1 = rng.normal(size=n) + 0.8 * sex
    data = {"state": rng.choice(["CA", "NY", "TX"], n).tolist(), "sex": sex.tolist(), "x1": x1.tolist(),
            "x2": rng.normal(size=n).tolist(), "income": (x1 + 0.5 * rng.normal(size=n) > 0.4).astype(int).tolist()}
    features = datasets.Features({"state": datasets.Value("string"), "sex": datasets.ClassLabel(names=["male", "female"]),
                                  "x1": datasets.Value("float32"), "x2": datasets.Value("float32"),
                                  "income": datasets.ClassLabel(names=["low", "high"])})
    path = tmp_path_factory.mktemp("hf") / "tabular"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(data, features=features)}).save_to_disk(str(path))
    return path, data


def _spec(path, **extra):
    return BuildSpec.from_dict({"source": "hf", "source_options": {"path": str(path), "natural_client": "state"},
                                "label": "income", "sensitive": ["sex"], **extra})


def test_a_saved_hf_dataset_builds_with_natural_clients_and_bias_exacerbation_then_audits_and_trains(tabular, tmp_path):
    from fedfair.partitioners.audit import audit_dataset

    path, data = tabular
    drop = {"client": "CA", "attribute": "sex", "value": 1, "drop_rate": 0.5}  # FeDa4Fair's drop of positives
    root = build_dataset(_spec(path, modifications=[drop]), tmp_path / "built")
    manifest = read_manifest(root)
    assert manifest.client_names == ["CA", "NY", "TX"] and manifest.features == ["x1", "x2"]
    assert manifest.raw["source"]["kind"] == "hf" and manifest.raw["source"]["natural_client"] == "state"
    states, income, sex = (np.array(data[k]) for k in ("state", "income", "sex"))
    for name in ("NY", "TX"):  # untouched clients keep every row
        client = load_client(root, name)
        rows = sum(len(s) for s in (client.train, client.test, client.val) if s is not None)
        assert rows == int((states == name).sum())
    ca = load_client(root, "CA")
    kept_positive_women = sum(int(((s.sensitive["sex"] == 1) & (s.y == 1)).sum()) for s in (ca.train, ca.test, ca.val))
    original = int(((states == "CA") & (sex == 1) & (income == 1)).sum())
    assert kept_positive_women == original - int(round(0.5 * original))
    audit = audit_dataset(root, tmp_path / "audit", models="lr", jobs=1)
    assert set(audit.table["client"]) == {"CA", "NY", "TX"}
    from fedfair.simulation import simulate

    summary = simulate({"strategy": "fedavg", "dataset": str(root), "rounds": 2, "local-epochs": 10, "out-dir": str(tmp_path / "run")},
                       num_supernodes=3, echo=False)
    assert [c["client"] for c in summary["clients"]] == ["CA", "NY", "TX"] and summary["mean"]["accuracy"] > 0.7


def test_image_columns_become_channel_first_pixels_in_unit_range(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    pictures = (rng.random((40, 4, 5, 3)) * 255).astype(np.uint8)
    dataset = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(p) for p in pictures], "smile": rng.integers(0, 2, 40).tolist(),
         "gender": rng.integers(0, 2, 40).tolist()},
        features=datasets.Features({"image": datasets.Image(), "smile": datasets.Value("int64"), "gender": datasets.Value("int64")}))
    dataset.save_to_disk(str(tmp_path / "faces"))
    root = build_dataset(BuildSpec.from_dict({"source": "hf", "source_options": {"path": str(tmp_path / "faces")},
                                              "label": "smile", "sensitive": ["gender"], "standardise": "none",
                                              "splits": [0.5, 0.0, 0.5]}), tmp_path / "built")
    manifest = read_manifest(root)
    assert list(manifest.input_shape) == [3, 4, 5] and len(manifest.features) == 60
    client = load_client(root, manifest.client_names[0])
    assert 0.0 <= client.train.x.min() and client.train.x.max() <= 1.0
    # every stored row is one of the pictures, channel first, divided by 255
    expected = np.stack([np.transpose(p, (2, 0, 1)).reshape(-1) / 255.0 for p in pictures])
    nearest = np.abs(client.train.x[:, None, :] - expected[None]).max(axis=2).min(axis=1)
    assert nearest.max() < 1e-6


def test_bad_hf_input_gets_one_line_errors(tabular, tmp_path):
    path, _ = tabular
    cases = [
        ({"path": "someone/no-such-dataset"}, "cannot be loaded from the hub"),
        ({"path": str(path), "split": "validation"}, r"no split 'validation'; it has train \(use --split\)"),
        ({"path": str(path), "natural_client": "county"}, r"column\(s\) \['county'\] not found"),
    ]
    for options, message in cases:
        with pytest.raises(DatasetError, match=message):
            build_dataset(BuildSpec.from_dict({"source": "hf", "source_options": options, "label": "income",
                                               "sensitive": ["sex"]}), tmp_path / "x")
    with pytest.raises(DatasetError, match=r"column\(s\) \['race'\] not found"):
        build_dataset(_spec(path, sensitive=["race"]), tmp_path / "x")
    with pytest.raises(DatasetError, match=r"column\(s\) \['salary'\] not found; columns: \['state', 'sex'"):
        build_dataset(_spec(path, label="salary"), tmp_path / "x")
    one_state = tmp_path / "one-state"
    datasets.Dataset.from_dict({"state": ["CA"] * 4, "sex": [0, 1, 0, 1], "income": [0, 1, 1, 0]}).save_to_disk(str(one_state))
    with pytest.raises(DatasetError, match="natural-client column 'state' has one value"):
        build_dataset(_spec(one_state), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_fedfair_partitioners_work_inside_flower_federated_dataset(tabular, tmp_path):
    from flwr_datasets import FederatedDataset

    from fedfair.partitioners.group_share import GroupSharePartitioner

    path, data = tabular
    files = tmp_path / "parquet"
    files.mkdir()
    datasets.load_from_disk(str(path))["train"].to_parquet(str(files / "train.parquet"))
    shares = {0: [0.7, 0.3], 1: [0.2, 0.8]}
    federated = FederatedDataset(dataset="parquet", data_files={"train": str(files / "train.parquet")},
                                 partitioners={"train": GroupSharePartitioner("sex", shares, seed=0)}, shuffle=False)
    parts = [federated.load_partition(k, "train") for k in range(2)]
    sex = np.array(data["sex"])
    for group in (0, 1):  # the partitioner's documented cut: floor of the cumulative shares of the group's rows
        cuts = np.floor(np.cumsum(shares[group]) * (sex == group).sum()).astype(int)
        assert [int((np.array(part["sex"]) == group).sum()) for part in parts] == [cuts[0], cuts[1] - cuts[0]]
    assert sum(len(p) for p in parts) == len(sex)  # the shares of every group sum to 1: every row placed once
    assert json.dumps(sorted(set(parts[0]["state"]))) == json.dumps(["CA", "NY", "TX"])
