"""Bad input, tried as a new user would: every case exits non-zero with one line naming the problem and the fix,
no Python traceback, and no run directory left marked complete. No simulation starts in any of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedfair.cli import app


@pytest.fixture(scope="module")
def files(tmp_path_factory, synthetic_dir):
    """A sound dataset copy, broken copies of it, CSVs for `fedfair metrics`, a spec file."""
    root = tmp_path_factory.mktemp("bad")

    def broken(name, change):
        target = root / name
        shutil.copytree(synthetic_dir, target)
        change(target)
        return target

    manifest = json.loads((Path(synthetic_dir) / "manifest.json").read_text())
    first = manifest["clients"][0]["dir"]
    parquet = sorted((Path(synthetic_dir) / first).glob("*.parquet"))[0].name
    out = {
        "truncated": broken("truncated", lambda d: (d / "manifest.json").write_text(
            (d / "manifest.json").read_text()[:120])),
        "no-keys": broken("no-keys", lambda d: (d / "manifest.json").write_text(json.dumps({"format": 1}))),
        "garbage-parquet": broken("garbage", lambda d: (d / first / parquet).write_bytes(b"not a parquet file at all")),
        "missing-parquet": broken("missing", lambda d: (d / first / parquet).unlink()),
        "no-clients": broken("no-clients", lambda d: (d / "manifest.json").write_text(
            json.dumps({**manifest, "clients": []}))),
    }
    csvs = {
        "empty": "",
        "header-only": "y,y_hat,sex\n",
        "nan-sensitive": "y,y_hat,sex\n1,1,a\n0,1,\n1,0,b\n0,0,a\n",
        "three-labels": "y,y_hat,sex\n0,1,a\n2,1,b\n1,0,a\n",
        "text-labels": "y,y_hat,sex\nyes,no,a\nno,no,b\n",
    }
    for name, text in csvs.items():
        (root / f"{name}.csv").write_text(text)
        out[f"csv-{name}"] = root / f"{name}.csv"
    (root / "spec.toml").write_text('source = "synthetic-acs"\nlabel = 3\nunknown_key = 1\n')
    out["spec"] = root / "spec.toml"
    (root / "bids.csv").write_text("user,task,bid\n0,a,1.5\n")
    out["bids"] = root / "bids.csv"
    nonempty = root / "nonempty"
    nonempty.mkdir()
    (nonempty / "keep.txt").write_text("someone's file")
    out["nonempty"] = nonempty
    return out


def _cases(f, synthetic):
    ds = ["--dataset", str(synthetic)]
    metrics = ["--label", "y", "--pred", "y_hat", "--sensitive", "sex"]
    return {
        # fedfair run: names and values
        "unknown strategy": (["run", "-s", "fedsgd"], "unknown strategy 'fedsgd'; valid strategies:"),
        "unknown dataset": (["run", "-d", "adulty"], "unknown dataset 'adulty'"),
        "zero rounds": (["run", *ds, "--rounds", "0"], "'rounds' = 0 is out of range"),
        "mistyped value": (["run", *ds, "--set", "lr=fast"], "'lr'"),
        "negative lr": (["run", *ds, "--set", "lr=-1"], "'lr' = -1.0 is out of range"),
        "unknown key": (["run", *ds, "--set", "learning-rate=0.1"], "learning-rate"),
        "no equals sign": (["run", *ds, "--set", "lr"], "KEY=VALUE"),
        "too many clusters": (["run", *ds, "-s", "ifca", "--set", "num-clusters=100"], "num-clusters = 100"),
        "unknown mitigation": (["run", *ds, "--set", "mitigation=fair"], "'mitigation' = 'fair' is out of range"),
        "dp with maml": (["run", *ds, "-s", "maml", "--set", "dp-noise-multiplier=1"], "cannot be combined with maml"),
        "unknown sensitive": (["run", *ds, "-s", "fairfed", "--set", "sensitive=age"], "sensitive attribute 'age'"),
        "min-replies zero": (["run", *ds, "--set", "min-replies=0"], "'min-replies' = 0.0 is out of range"),
        # fedfair run: the dataset directory
        "truncated manifest": (["run", "-d", str(f["truncated"])], "manifest.json is not valid JSON"),
        "manifest without keys": (["run", "-d", str(f["no-keys"])], "missing keys"),
        "manifest without clients": (["run", "-d", str(f["no-clients"])], "clients: empty"),
        "garbage parquet": (["run", "-d", str(f["garbage-parquet"])], "cannot be read as parquet"),
        "missing parquet": (["run", "-d", str(f["missing-parquet"])], "split missing"),
        # fedfair run: the run directory
        "out not empty": (["run", *ds, "--out", str(f["nonempty"])], "not empty"),
        "out under a file": (["run", *ds, "--out", str(f["csv-empty"] / "run")], "cannot write the run directory"),
        "out is a file": (["run", *ds, "--out", str(f["csv-empty"])], "is a file"),
        # fedfair metrics
        "metrics empty csv": (["metrics", str(f["csv-empty"]), *metrics], "is empty"),
        "metrics header only": (["metrics", str(f["csv-header-only"]), *metrics], "no rows"),
        "metrics nan sensitive": (["metrics", str(f["csv-nan-sensitive"]), *metrics], "missing values"),
        "metrics three labels": (["metrics", str(f["csv-three-labels"]), *metrics], "label column 'y'"),
        "metrics text labels": (["metrics", str(f["csv-text-labels"]), *metrics], "--positive"),
        "metrics missing column": (["metrics", str(f["csv-three-labels"]), "--label", "z", "--pred", "y_hat",
                                    "--sensitive", "sex"], "column(s) ['z'] not found"),
        # other commands
        "data create unknown": (["data", "create", "adulty", "--out", str(f["nonempty"].parent / "dc")], "unknown"),
        "data create bad splits": (["data", "create", "synthetic-gaussian-8", "--splits", "0.5,0.6",
                                    "--out", str(f["nonempty"].parent / "ds")], "splits must be three fractions"),
        "data build bad spec": (["data", "build", "--spec", str(f["spec"]), "--out", str(f["nonempty"].parent / "db")],
                                "unknown_key"),
        "compare bad entry": (["compare", "-s", "fedavg,ifca@gamma=0.3", *ds], "gamma"),
        "auction bid out of range": (["auction", "--mechanism", "budget-fair", "--budget", "1", "--bids", str(f["bids"])],
                                     "1.5"),
        "fairif neither client nor pooled": (["fairif", *ds], "--client NAME and --pooled"),
    }


def test_every_bad_input_gives_one_clean_line(files, synthetic_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run directories (runs/...) here, not beside earlier ones in the checkout
    runner = CliRunner()
    cases = _cases(files, synthetic_dir)
    assert len(cases) >= 25
    problems = []
    for name, (args, expected) in cases.items():
        result = runner.invoke(app, args)
        text = " ".join(result.output.split())
        lines = [line for line in result.output.strip().splitlines() if line.strip() and "preparing dataset" not in line]
        if result.exit_code == 0 or result.exception and not isinstance(result.exception, SystemExit):
            problems.append(f"{name}: exit {result.exit_code}, exception {result.exception!r}")
        elif "Traceback" in result.output:
            problems.append(f"{name}: traceback")
        elif expected not in text:
            problems.append(f"{name}: {expected!r} not in {text[:300]!r}")
        elif not lines or not lines[-1].lstrip().startswith(("error:", "Error", "│", "╰", "Usage:")) and \
                not any(line.startswith("error:") for line in lines):
            problems.append(f"{name}: no error line in {result.output[:300]!r}")
    assert not problems, "\n".join(problems)
    # no run directory anywhere is marked complete
    for status in Path(files["nonempty"].parent).rglob("status.json"):
        assert json.loads(status.read_text())["status"] != "complete"
