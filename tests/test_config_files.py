"""Config files: `fedfair run --config` / `fedfair compare --config` take the keys of --set; a run's own
config.json repeats the run exactly; flags override the file; bad files are named with their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedfair.cli import app, command_config
from fedfair.config import ParamError
from fedfair.registry import read_config_file
from tests.test_pinned_summaries import assert_same, comparable

REPO = Path(__file__).resolve().parents[1]


def test_a_runs_config_json_reproduces_its_summary_exactly(synthetic_dir, tmp_path):
    (tmp_path / "exp.toml").write_text(f'strategy = "ifca"\ndataset = "{synthetic_dir}"\nrounds = 3\nlr = 0.1\n'
                                       f'fraction-train = 0.5\nnum-clusters = 2\n')
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--config", str(tmp_path / "exp.toml"), "--out", str(tmp_path / "first")])
    assert first.exit_code == 0, first.output
    config = json.loads((tmp_path / "first" / "config.json").read_text())
    assert config["lr"] == 0.1 and config["fraction-train"] == 0.5 and config["strategy"] == "ifca"
    again = runner.invoke(app, ["run", "--config", str(tmp_path / "first" / "config.json"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("first", "again")]
    assert_same(comparable(summaries[1]), comparable(summaries[0]))
    assert json.loads((tmp_path / "again" / "config.json").read_text())["out-dir"] == str((tmp_path / "again").resolve())


def test_flags_and_set_override_the_file_and_the_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('strategy = "fedprox"\nrounds = 7\nproximal-mu = 0.1\nseed = 3\n')
    merged = command_config(path, {"strategy": None, "dataset": None, "rounds": 2, "seed": None, "data-root": None},
                            {"proximal-mu": 0.5})
    assert merged == {"strategy": "fedprox", "dataset": "synthetic-gaussian-8", "rounds": 2, "seed": 3, "data-root": "",
                      "proximal-mu": 0.5}
    # a pyproject.toml gives its [tool.flwr.app.config]: every key there is a run parameter
    assert read_config_file(REPO / "pyproject.toml")["strategy"] == "fedavg"


def test_compare_takes_the_files_settings_for_every_run(tmp_path, monkeypatch):
    captured = {}

    def fake_comparison(dataset, entries, seeds, rounds, overrides, out_dir, data_root="", verbose=False, **_):  # noqa: ANN001
        captured.update(dataset=dataset, entries=entries, seeds=seeds, rounds=rounds, overrides=overrides)
        (out_dir).mkdir(parents=True, exist_ok=True)
        (out_dir / "table.md").write_text("table")
        return []

    monkeypatch.setattr("fedfair.comparison.run_comparison", fake_comparison)
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "adult"\nrounds = 4\nlr = 0.2\nstrategy = "ifca"\n')
    result = CliRunner().invoke(app, ["compare", "--config", str(path), "-s", "fedavg,standalone", "-n", "2",
                                      "--out", str(tmp_path / "cmp"), "--set", "batch-size=64"])
    assert result.exit_code == 0, result.output
    assert captured == {"dataset": "adult", "entries": ["fedavg", "standalone"], "seeds": [0, 1], "rounds": 4,
                        "overrides": {"lr": 0.2, "batch-size": 64}}
    assert "strategy not used" in result.output


@pytest.mark.parametrize("text, suffix, message", [
    ("rounds = 3\nlrr = 0.1\n", ".toml", r"exp.toml, line 2: unknown parameter 'lrr' \(did you mean 'lr'\?\)"),
    ('rounds = "three"\n', ".toml", r"exp.toml, line 1: parameter 'rounds' must be an integer"),
    ("rounds = 0\n", ".toml", r"line 1: parameter 'rounds' = 0 is out of range: accepted integer >= 1"),
    ("[ifca]\nnum-clusters = 3\n", ".toml", r"line 1: \[ifca\] is a table; run parameters are top-level keys"),
    ("rounds = \n", ".toml", r"exp.toml: not valid TOML"),
    ('{"rounds": 3,\n "lr": }', ".json", r"exp.json, line 2: not valid JSON"),
    ('{"lr": 0.1, "fairness": "unfair"}', ".json", r"line 1: parameter 'fairness' = 'unfair' is out of range"),
    ("rounds: 3\n", ".yaml", r"a config file is .toml or .json"),
])
def test_a_bad_config_file_is_one_line_naming_the_file_and_line(tmp_path, text, suffix, message):
    path = tmp_path / f"exp{suffix}"
    path.write_text(text)
    with pytest.raises(ParamError, match=message):
        read_config_file(path)
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output and not (tmp_path / "out").exists()
