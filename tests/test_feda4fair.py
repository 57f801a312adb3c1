"""FeDa4Fair-style datasets: sources, builder, partitioning, settings, audit, recipes, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.data import DatasetError, load_client, read_manifest
from fedfair.partitioners.audit import audit_dataset
from fedfair.partitioners.builder import BuildSpec, build_dataset
from fedfair.partitioners.partitioning import partition_client
from fedfair.partitioners.sources import load_csv_dir, load_source
from tests.conftest import SHARED_DATA

FEDA4FAIR = SHARED_DATA / "feda4fair"
needs_feda4fair = pytest.mark.skipif(
    not (FEDA4FAIR / "cross_silo_value_final").is_dir(),
    reason=f"FeDa4Fair release not found at {FEDA4FAIR} (../shared/data/feda4fair); set FEDFAIR_SHARED_DATA",
)
STATES = ["AL", "AK", "AZ", "AR"]


def _all_rows(root, client):
    data = load_client(root, client)
    splits = [s for s in (data.train, data.val, data.test) if s is not None and len(s)]
    return np.concatenate([s.y for s in splits]), {a: np.concatenate([s.sensitive[a] for s in splits]) for a in splits[0].sensitive}


# ----- synthetic-acs and the builder ----------------------------------------------------
def test_synthetic_acs_is_heterogeneous_and_labelled_synthetic(tmp_path):
    src = load_source("synthetic-acs", states=STATES, seed=0)
    rates = [f["PINCP"].mean() for f in src.clients.values()]
    white = [(f["RAC1P"] == 1).mean() for f in src.clients.values()]
    assert np.ptp(rates) > 0.03 and np.ptp(white) > 0.05
    root = build_dataset(BuildSpec(source="synthetic-acs", source_options={"states": STATES}), tmp_path / "d")
    manifest = read_manifest(root)
    assert manifest.raw["synthetic"] is True and "SYNTHETIC" in manifest.raw["source"]["note"]
    assert manifest.client_names == STATES
    assert manifest.features == ["AGEP", "COW", "SCHL", "MAR", "OCCP", "POBP", "RELP", "WKHP"]


def test_build_records_exact_modification_counts(tmp_path):
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, mapping={"RAC1P": "race-binary"},
                     modifications=[{"client": "AL", "attribute": "RAC1P", "value": 2, "drop_rate": 0.4, "flip_rate": 0.2},
                                    {"client": "AZ", "attribute": "SEX", "value": 2, "flip_rate": 0.5}])
    plain = build_dataset(BuildSpec(source="synthetic-acs", source_options={"states": STATES}, mapping={"RAC1P": "race-binary"}), tmp_path / "plain")
    root = build_dataset(spec, tmp_path / "mod")
    records = {r["client"]: r for r in read_manifest(root).raw["modifications"]}
    for client, attr in (("AL", "RAC1P"), ("AZ", "SEX")):
        y0, s0 = _all_rows(plain, client)
        y1, s1 = _all_rows(root, client)
        rec = records[client]
        assert rec["group_label_rows"] == int(((s0[attr] == 2) & (y0 == 1)).sum())
        assert len(y0) - len(y1) == rec["dropped"]
        assert int(((s1[attr] == 2) & (y1 == 1)).sum()) == rec["group_label_rows"] - rec["dropped"] - rec["flipped"]
    assert records["AL"]["dropped"] == round(0.4 * records["AL"]["group_label_rows"]) > 0
    assert records["AZ"]["flipped"] == round(0.5 * records["AZ"]["group_label_rows"]) > 0
    # untouched clients are identical
    assert np.array_equal(_all_rows(plain, "AK")[0], _all_rows(root, "AK")[0])


def test_splits_standardisation_per_client_and_scale_knob(tmp_path):
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, scale={"ids": [1], "factor": 0.6})
    root = build_dataset(spec, tmp_path / "d")
    manifest = read_manifest(root)
    for name in STATES:
        data = load_client(root, name)
        n = len(data.train) + len(data.val) + len(data.test)
        assert abs(len(data.train) / n - 0.7) < 0.01 and abs(len(data.test) / n - 0.15) < 0.01
        expected_std = 0.6 if name == "AL" else 1.0  # ID 1 = AL, the first state in folktables' order
        assert data.train.x.std(axis=0) == pytest.approx(np.full(8, expected_std), abs=1e-3)
        assert data.train.x.mean(axis=0) == pytest.approx(np.zeros(8), abs=1e-3)
    steps = {s["step"]: s for s in manifest.raw["preprocessing"]}
    assert steps["scale-features"]["clients"] == ["AL"] and steps["standardise"]["fit"].startswith("per client")


def test_caps_and_categorical_encoding(tmp_path):
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, max_train=300, max_test=100, categorical=["MAR"])
    root = build_dataset(spec, tmp_path / "d")
    manifest = read_manifest(root)
    assert [c.n_train for c in manifest.clients] == [300] * 4 and [c.n_test for c in manifest.clients] == [100] * 4
    assert [f for f in manifest.features if f.startswith("MAR=")] == [f"MAR={v}" for v in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert {s["step"] for s in manifest.raw["preprocessing"]} >= {"one-hot", "standardise", "setting"}


def test_feda4fair_encoding_one_hot_codes_and_global_min_max(tmp_path):
    # FeDa4Fair's evaluation code: COW and SCHL one-hot, the other columns to [0, 1] with the federation's min / max
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, categorical=["COW", "SCHL"],
                     standardise="global-minmax")
    root = build_dataset(spec, tmp_path / "d")
    manifest = read_manifest(root)
    train = np.concatenate([load_client(root, c).train.x for c in manifest.client_names])
    assert train.min(axis=0) == pytest.approx(np.zeros(train.shape[1]))
    assert train.max(axis=0) == pytest.approx(np.ones(train.shape[1]))  # every column reaches 1 somewhere
    one_hot = [i for i, f in enumerate(manifest.features) if f.startswith(("COW=", "SCHL="))]
    assert len(one_hot) > 2 and set(np.unique(train[:, one_hot])) == {0.0, 1.0}
    assert (train[:, one_hot].sum(axis=1) == 2).all()  # one COW and one SCHL column per row
    step = next(s for s in manifest.raw["preprocessing"] if s["step"] == "standardise")
    assert step["method"] == "min-max to [0, 1]" and len(step["global"]["min"]) == len(manifest.features)


def test_scaling_raw_features_keeps_the_scaled_clients_apart_after_a_global_standardisation(tmp_path):
    # seed 000 multiplies the raw features of some states by 0.6: standardised over the federation afterwards, the
    # scaled state's mean sits apart from the others'; scaling the standardised features keeps the means at ~0
    def build(on):
        spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, standardise="global",
                         scale={"clients": ["AL"], "factor": 0.6, "on": on})
        root = build_dataset(spec, tmp_path / on)
        return {c: load_client(root, c).train.x.mean(axis=0) for c in STATES}, read_manifest(root)

    raw, manifest = build("raw")
    others = np.mean([raw[c] for c in STATES[1:]], axis=0)
    age = manifest.features.index("AGEP")
    assert raw["AL"][age] < others[age] - 0.5  # AGEP x 0.6 before standardising: far below the federation's mean
    assert next(s for s in manifest.raw["preprocessing"] if s["step"] == "scale-features")["on"].startswith("raw")
    standardised, _ = build("standardised")
    assert abs(standardised["AL"][age]) < 0.2  # a z-score shrunk toward 0: no shift
    with pytest.raises(DatasetError, match="scale.on must be standardised or raw"):
        BuildSpec(source="synthetic-acs", scale={"clients": ["AL"], "factor": 0.6, "on": "later"}).validate()


def test_partitioning_with_flwr_partitioners_and_cross_device_roles(tmp_path):
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, setting="cross-device", test_clients=0.25,
                     partitioning={"*": "iid:3", "AK": {"kind": "dirichlet", "num_partitions": 2, "partition_by": "SEX", "alpha": 0.3}})
    root = build_dataset(spec, tmp_path / "d")
    manifest = read_manifest(root)
    names = manifest.client_names
    assert names[:3] == ["AL_0", "AL_1", "AL_2"] and [n for n in names if n.startswith("AK")] == ["AK_0", "AK_1"]
    roles = [c.role for c in manifest.clients]
    assert roles.count("test") == round(0.25 * len(names)) and set(roles) == {"train", "test"}
    for entry in manifest.clients:
        data = load_client(root, entry.name)
        assert (len(data.train) > 0) == (entry.role == "train") and (len(data.test) > 0) == (entry.role == "test")
        assert entry.parent == entry.name.split("_")[0]
    # Dirichlet on SEX skews the two AK parts' sex shares apart
    shares = [np.mean(_all_rows(root, n)[1]["SEX"] == 2) for n in ("AK_0", "AK_1")]
    assert abs(shares[0] - shares[1]) > 0.1


def test_partitioner_that_empties_a_client_is_an_error():
    frame = pd.DataFrame({"x": np.arange(5.0), "y": [0, 1, 0, 1, 0]})
    with pytest.raises(DatasetError, match=r"client 'tiny'.*empty"):
        partition_client("tiny", frame, "iid:8", seed=0)
    with pytest.raises(DatasetError, match="unknown partitioner 'nope'"):
        partition_client("tiny", frame, {"kind": "nope"}, seed=0)


def test_bad_input_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown state\(s\) \['XX'\]"):
        load_source("synthetic-acs", states=["AL", "XX"])
    with pytest.raises(DatasetError, match="unknown folktables task 'ACSNope'"):
        load_source("acs", task="ACSNope", acs_root=str(tmp_path))
    with pytest.raises(DatasetError, match=r"splits must be"):
        build_dataset(BuildSpec(splits=(0.5, 0.1, 0.1)), tmp_path / "x")
    with pytest.raises(DatasetError, match="unknown preset 'race-7'"):
        build_dataset(BuildSpec(source_options={"states": STATES}, mapping={"RAC1P": "race-7"}), tmp_path / "x")
    with pytest.raises(DatasetError, match="drop_rate must be in"):
        build_dataset(BuildSpec(source_options={"states": STATES},
                                modifications=[{"client": "AL", "attribute": "SEX", "value": 2, "drop_rate": 2}]), tmp_path / "x")
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_one_group_client_is_a_recorded_warning_and_undefined_in_the_audit(tmp_path):
    # drop every woman of AK: all positives, then all negatives
    spec = BuildSpec(source="synthetic-acs", source_options={"states": STATES}, mapping={"RAC1P": "race-binary"},
                     modifications=[{"client": "AK", "attribute": "SEX", "value": 2, "drop_rate": 1.0},
                                    {"client": "AK", "attribute": "SEX", "value": 2, "label": 0, "drop_rate": 1.0}])
    root = build_dataset(spec, tmp_path / "d")
    warnings = read_manifest(root).raw["warnings"]
    assert any("client 'AK': only one SEX group" in w for w in warnings)
    result = audit_dataset(root, tmp_path / "audit", models="lr", jobs=1, plots=False)
    ak = result.table[(result.table["client"] == "AK") & (result.table["model"] == "lr")].iloc[0]
    assert np.isnan(ak["dd_SEX"]) and "group 2 absent" in ak["notes"]
    assert not np.isnan(ak["dd_RAC1P"])


# ----- acs via folktables, from tiny local files ----------------------------------------
ACS_COLUMNS = ["AGEP", "COW", "SCHL", "MAR", "OCCP", "POBP", "RELP", "WKHP", "SEX", "RAC1P", "PINCP", "PWGTP", "ESR"]


def _write_acs_files(root, year=2018, horizon="1-Year"):
    """psam_p01.csv (AL) and psam_p02.csv (AK) in folktables' layout."""
    folder = root / str(year) / horizon
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for fips in ("01", "02"):
        n = 400
        frame = pd.DataFrame({
            "RT": "P", "SERIALNO": [f"2018GQ{fips}{i:07d}" for i in range(n)], "AGEP": rng.integers(14, 80, n),
            "COW": rng.integers(1, 9, n), "SCHL": rng.integers(1, 25, n), "MAR": rng.integers(1, 6, n),
            "OCCP": rng.integers(10, 9000, n), "POBP": rng.integers(1, 60, n), "RELP": rng.integers(0, 18, n),
            "WKHP": rng.integers(0, 60, n), "SEX": rng.integers(1, 3, n), "RAC1P": rng.integers(1, 10, n),
            "PINCP": rng.integers(0, 120000, n), "PWGTP": rng.integers(0, 50, n), "ESR": rng.integers(1, 7, n),
        })
        frame.to_csv(folder / f"psam_p{fips}.csv", index=False)
    return folder


def test_acs_source_reads_the_folktables_layout_offline(tmp_path):
    _write_acs_files(tmp_path / "acs")
    src = load_source("acs", task="ACSIncome", year=2018, states=["AL", "AK"], acs_root=str(tmp_path / "acs"))
    raw = pd.read_csv(tmp_path / "acs" / "2018" / "1-Year" / "psam_p01.csv")
    kept = raw[(raw.AGEP > 16) & (raw.PINCP > 100) & (raw.WKHP > 0) & (raw.PWGTP >= 1)]  # ACSIncome's adult filter
    assert len(src.clients["AL"]) == len(kept)
    assert src.clients["AL"]["PINCP"].mean() == pytest.approx((kept.PINCP > 50000).mean())
    root = build_dataset(BuildSpec(source="acs", source_options={"states": ["AL", "AK"], "acs_root": str(tmp_path / "acs")},
                                   mapping={"RAC1P": "race-5"}), tmp_path / "d")
    manifest = read_manifest(root)
    assert manifest.sensitive["RAC1P"]["values"] == [1, 2, 3, 4, 5]
    assert manifest.sensitive["RAC1P"]["labels"]["4"] == "American Indian / Alaska Native"
    with pytest.raises(DatasetError, match=r"psam_p<FIPS>.csv.*--acs-root"):
        load_source("acs", states=["AZ"], acs_root=str(tmp_path / "acs"))


# ----- csv-dir ------------------------------------------------------------------------
def _write_csv_dir(folder, n_clients=3, seed=0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for k in range(n_clients):
        n = 300
        frame = pd.DataFrame({"Unnamed: 0": np.arange(n), "AGEP": rng.integers(17, 90, n).astype(float),
                              "WKHP": rng.integers(1, 80, n).astype(float), "SEX": rng.integers(1, 3, n).astype(float),
                              "RAC1P": rng.integers(1, 3, n).astype(float), "PINCP": rng.random(n) < 0.4})
        frame.to_csv(folder / f"S{k}_0.csv.gz", index=False)
    pd.DataFrame({"state": ["S0"], "drop_rate": [0.1]}).to_csv(folder / "modifications.csv", index=False)
    return folder


def test_csv_dir_names_index_columns_and_inconsistent_files(tmp_path):
    folder = _write_csv_dir(tmp_path / "csv")
    src = load_csv_dir(folder, label="PINCP", sensitive=["SEX", "RAC1P"])
    assert list(src.clients) == ["S0", "S1", "S2"] and src.positive is True
    assert "Unnamed: 0" not in src.clients["S0"].columns and src.info["ignored_files"] == ["modifications.csv"]
    bad = pd.read_csv(folder / "S1_0.csv.gz").drop(columns=["WKHP"])
    bad.to_csv(folder / "S1_0.csv.gz", index=False)
    with pytest.raises(DatasetError, match=r"S1_0.csv.gz \(client 'S1'\) has inconsistent columns: extra \[\], missing \['WKHP'\]"):
        load_csv_dir(folder, label="PINCP", sensitive=["SEX", "RAC1P"])
    with pytest.raises(DatasetError, match=r"column\(s\) \['MAR'\] not found"):
        load_csv_dir(_write_csv_dir(tmp_path / "csv2"), label="PINCP", sensitive=["SEX", "MAR"])


# ----- audit ----------------------------------------------------------------------------
def _dd_eod(y, pred, groups):
    """Independent DD / EOD: pandas groupby, all value pairs."""
    frame = pd.DataFrame({"y": y, "p": pred, "g": groups})
    sel = frame.groupby("g")["p"].mean()
    tpr = frame[frame.y == 1].groupby("g")["p"].mean()
    fpr = frame[frame.y == 0].groupby("g")["p"].mean()
    both = tpr.index.intersection(fpr.index)  # EO of a pair needs both rates of both groups
    tpr, fpr = tpr[both], fpr[both]
    return sel.max() - sel.min(), max(tpr.max() - tpr.min(), fpr.max() - fpr.min())


def test_audit_matches_an_independent_computation(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = build_dataset(BuildSpec(source="synthetic-acs", source_options={"states": STATES}, mapping={"RAC1P": "race-5"}), tmp_path / "d")
    result = audit_dataset(root, tmp_path / "audit", models="lr,xgb", jobs=2)
    table = pd.read_csv(tmp_path / "audit" / "audit.csv")
    assert len(table) == 3 * len(STATES) and set(table["model"]) == {"labels", "lr", "xgb"}
    for name in STATES:
        data = load_client(root, name)
        y_all, sens_all = _all_rows(root, name)
        labels_row = table[(table.client == name) & (table.model == "labels")].iloc[0]
        assert labels_row["dd_RAC1P"] == pytest.approx(_dd_eod(y_all, y_all, sens_all["RAC1P"])[0], abs=1e-12)
        assert labels_row["n_test"] == len(y_all)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.train.x, data.train.y)
        pred = model.predict(data.test.x)
        row = table[(table.client == name) & (table.model == "lr")].iloc[0]
        assert row["accuracy"] == pytest.approx(np.mean(pred == data.test.y), abs=1e-12)
        for attr in ("SEX", "RAC1P"):
            dd, eod = _dd_eod(data.test.y, pred, data.test.sensitive[attr])
            assert row[f"dd_{attr}"] == pytest.approx(dd, abs=1e-9)
            assert row[f"eod_{attr}"] == pytest.approx(eod, abs=1e-9)
    pairs = pd.read_csv(tmp_path / "audit" / "pairs.csv")
    assert len(pairs[(pairs.client == "AL") & (pairs.model == "lr") & (pairs.attribute == "RAC1P")]) == 10  # C(5, 2)
    for f in ("report.md", "dd_per_client.png", "lr_vs_xgb.png", "max_gap_values.png"):
        assert (tmp_path / "audit" / f).is_file()
    # report.md counts agree with audit.csv: clients whose LR max-DD attribute is SEX
    lr = result.table[result.table.model == "lr"]
    n_sex = int((lr["dd_SEX"] > lr["dd_RAC1P"]).sum())
    report = (tmp_path / "audit" / "report.md").read_text()
    sex_line = re.search(r"^\| SEX \|  \| (\d+) \| (\d+) \|", report, re.M)
    assert sex_line and int(sex_line.group(2)) == n_sex


# ----- recipes ---------------------------------------------------------------------------
def test_recipe_is_deterministic_and_meets_the_rule(tmp_path):
    from fedfair.partitioners.recipes import local_gaps, rule_holds

    data = {"source": "synthetic-acs", "source_options": {"states": STATES + ["CA", "CO"]}, "seed": 3}
    root1, decisions = build_recipe_quiet("attribute-silo", data, tmp_path / "a")
    root2, _ = build_recipe_quiet("attribute-silo", data, tmp_path / "b")
    m1, m2 = read_manifest(root1).raw, read_manifest(root2).raw
    assert m1["modifications"] == m2["modifications"] and m1["source"]["recipe"]["recipe"] == "attribute-silo"
    for d in decisions:
        assert d["reached"] == d["trail"][-1]["holds"]
    reached = [d["client"] for d in decisions if d["reached"] and d["modification"]]
    assert reached, "expected at least one state that needed a drop"
    # re-check the rule on a modified state independently of the recipe's bookkeeping
    from fedfair.partitioners.bias import Modification, apply_modification
    from fedfair.partitioners.recipes import _mapped_clients, _prepare, RECIPES

    spec, source = _prepare(data, RECIPES["attribute-silo"])
    frame = _mapped_clients(spec, source)[reached[0]]
    mod = next(m for m in m1["modifications"] if m["client"] == reached[0])
    modified, _ = apply_modification(frame, Modification(client=mod["client"], attribute=mod["attribute"], value=mod["value"],
                                                         drop_rate=mod["drop_rate"]), "PINCP", 3)
    assert rule_holds(local_gaps(modified, "PINCP", reached[0], 3), "attribute", 0.1)[0]


def build_recipe_quiet(name, data, out, **kw):
    from fedfair.partitioners.recipes import build_recipe

    return build_recipe(name, data, out, echo=lambda m: None, jobs=2, **kw)


def test_device_recipe_keeps_parts_and_holds_out_test_clients(tmp_path):
    data = {"source": "synthetic-acs", "source_options": {"states": STATES + ["CA", "CO"], "rows_per_state": 3000}}
    root, _ = build_recipe_quiet("value-device", data, tmp_path / "dev", threshold=0.05)
    manifest = read_manifest(root)
    assert all(re.fullmatch(r"[A-Z]{2}_[0-3]", n) for n in manifest.client_names)
    assert {c.role for c in manifest.clients} == {"train", "test"}
    assert manifest.raw["source"]["recipe"]["device_parts_kept"] == len(manifest.clients)


def test_unknown_recipe():
    with pytest.raises(DatasetError, match="unknown recipe 'x'.*attribute-silo"):
        build_recipe_quiet("x", {}, "/tmp/never")


# ----- CLI ------------------------------------------------------------------------------
def test_cli_build_info_report(tmp_path):
    runner = CliRunner()
    out = tmp_path / "built"
    res = runner.invoke(app, ["data", "build", "--source", "synthetic-acs", "--states", "AL,AK,AZ", "--map", "RAC1P=race-binary",
                              "--drop", "AL:RAC1P=2:0.5", "--flip", "AL:RAC1P=2:0.1", "--flip", "AK:SEX=2&RAC1P=2:0.3",
                              "--partition", "AZ=iid:2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = read_manifest(out)
    mods = manifest.raw["modifications"]
    assert [(m["client"], m["drop_rate"], m["flip_rate"]) for m in mods] == [("AL", 0.5, 0.1), ("AK", 0.0, 0.3)]
    assert mods[1]["extra_attribute"] == "RAC1P" and manifest.client_names == ["AL", "AK", "AZ_0", "AZ_1"]
    res = runner.invoke(app, ["data", "info", str(out)])
    assert res.exit_code == 0 and "AZ_1" in res.output and "modifications: 2" in res.output
    res = runner.invoke(app, ["data", "report", str(out), "--models", "lr", "--out", str(tmp_path / "rep"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "rep" / "audit.csv")["model"]) == {"labels", "lr"}
    res = runner.invoke(app, ["data", "build", "--source", "synthetic-acs", "--drop", "AL:SEX=2:1.5", "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "drop_rate must be in [0, 1]" in res.output
    res = runner.invoke(app, ["data", "report", str(out), "--models", "svm"])
    assert res.exit_code == 2 and "unknown audit model(s) ['svm']" in res.output


@needs_feda4fair
@pytest.mark.slow
def test_issue_command_on_the_feda4fair_release(tmp_path):
    runner = CliRunner()
    out, rep = tmp_path / "attr", tmp_path / "attr-report"
    res = runner.invoke(app, ["data", "build", "--source", "csv-dir", "--path", str(FEDA4FAIR / "cross_silo_attribute_final"),
                              "--label", "PINCP", "--sensitive", "SEX,RAC1P,MAR", "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = read_manifest(out)
    assert len(manifest.clients) == 47 and "CA" not in manifest.client_names
    res = runner.invoke(app, ["data", "report", str(out), "--models", "lr,xgb", "--out", str(rep)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(rep / "audit.csv")
    assert len(table) == 3 * 47
    # RAC1P is binarised in this release: the disadvantaged value is "other" (2) for almost every state
    xgb = table[table.model == "xgb"]
    assert (xgb["dd_RAC1P_value"].astype(str) == "2").mean() > 0.9
    # data bias: women have the lower positive rate in every state (labels row)
    labels = table[table.model == "labels"]
    assert (labels["dd_SEX_value"].astype(str) == "2").all()
    assert json.loads((out / "manifest.json").read_text())["source"]["ignored_files"] == ["crosssilo_attribute_modifications.csv"]


# ----- training on built directories -----------------------------------------------------
@pytest.mark.slow
def test_built_directories_train_with_fedavg_and_standalone(tmp_path):
    from fedfair.simulation import simulate, simulate_many

    silo = build_dataset(BuildSpec(source="synthetic-acs", source_options={"states": STATES}, mapping={"RAC1P": "race-binary"},
                                   modifications=[{"client": "AL", "attribute": "SEX", "value": 2, "drop_rate": 0.5}]), tmp_path / "silo")
    device = build_dataset(BuildSpec(source="synthetic-acs", source_options={"states": STATES}, setting="cross-device",
                                     partitioning={"*": "iid:2"}, test_clients=["AL_0", "AK_1"]), tmp_path / "device")
    summaries = {}
    silo_runs = [("fedavg", silo), ("standalone", silo)]  # one simulation for the two silo runs
    configs = [{"strategy": s, "dataset": str(r), "rounds": 3, "seed": 0, "out-dir": str(tmp_path / f"{s}-{r.name}")}
               for s, r in silo_runs]
    for (strategy, root), summary in zip(silo_runs, simulate_many(configs, len(read_manifest(silo).clients), echo=False,
                                                                   keep_going=False)):
        summaries[(strategy, root.name)] = summary
    summaries[("fedavg", "device")] = simulate(
        {"strategy": "fedavg", "dataset": str(device), "rounds": 3, "seed": 0, "out-dir": str(tmp_path / "fedavg-device")},
        num_supernodes=len(read_manifest(device).clients), echo=False)
    for strategy, root in (*silo_runs, ("fedavg", device)):
        assert json.loads((tmp_path / f"{strategy}-{root.name}" / "status.json").read_text())["status"] == "complete"
    for key in (("fedavg", "silo"), ("standalone", "silo")):
        clients = summaries[key]["clients"]
        assert [c["client"] for c in clients] == STATES
        assert all(0.6 < c["accuracy"] <= 1.0 for c in clients)
        assert all(set(c["fairness"]) == {"SEX", "RAC1P"} for c in clients)
    # cross-device: only the held-out test clients are evaluated, with the global model
    held_out = summaries[("fedavg", "device")]["clients"]
    assert [c["client"] for c in held_out] == ["AL_0", "AK_1"] and all(c["n_train"] == 0 for c in held_out)
    assert all(0.6 < c["accuracy"] <= 1.0 for c in held_out)
