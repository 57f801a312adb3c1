"""Plugins from outside the repository: the example package examples/plugin (installed by .ci/run or the
conftest, as a user installs theirs) runs through fedfair run, fedfair.run, compare, bench, a kill-and-resume
(and flwr run .: tests/test_flower_apps.py); names resolve by entry point or package.module:Name; bad plugins get one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fedfair
from fedfair import plugins
from fedfair.cli import app
from fedfair.config import ParamError
from fedfair.data import DatasetError
from fedfair.registry import read_config_file, run_params, strategy_class
from fedfair.simulation import OFFLINE_ENV
from fedfair.strategies.checkpoint import read_meta
from tests.conftest import REPO
from tests.procs import descendants, stop

FEDFAIR = str(Path(sys.executable).with_name("fedfair"))
PLUGIN_RUN = ["-s", "fedavg-momentum", "--set", "model=tanh-mlp", "--set", "momentum-beta=0.5",
              "--set", "weight-decay=0.001"]


class NotAStrategy:
    """A class that is not a strategy (no param_components / run)."""


# ----- names ---------------------------------------------------------------------------------------------
def test_entry_point_and_module_attr_name_the_same_plugin_and_say_where_it_comes_from():
    from fedfair.local import objective_class, objective_names
    from fedfair.models import build_model
    from fedfair.registry import strategy_names

    by_entry_point = strategy_class("fedavg-momentum")
    assert strategy_class("fedfair_example.strategy:FedAvgMomentum") is by_entry_point
    assert strategy_names()["fedavg-momentum"].source.startswith("plugin fedfair-example-plugin")
    assert strategy_names()["fedavg"].source == "fedfair"
    assert objective_class("weight-decay") is objective_class("fedfair_example.objective:WeightDecay")
    assert objective_names()["weight-decay"].target == "fedfair_example.objective:WeightDecay"
    listing = " ".join(CliRunner().invoke(app, ["strategies"]).output.split())
    assert "fedavg-momentum (plugin fedfair-example-plugin 0.1.0: fedfair_example.strategy:FedAvgMomentum)" in listing
    params = " ".join(CliRunner(env={"COLUMNS": "300"}).invoke(app, ["params", "-s", "fedavg-momentum"]).output.split())
    assert "strategy fedavg-momentum (plugin fedfair-example-plugin" in params and "momentum-beta" in params
    assert "local weight-decay (plugin fedfair-example-plugin 0.1.0)" in params
    model = build_model({"model": "tanh-mlp", "hidden": 5}, 3, num_classes=2)
    assert type(model).__name__ == "TanhMLP" and model.net[0].out_features == 5


def test_bad_plugin_names_get_one_line_naming_the_fix():
    with pytest.raises(plugins.PluginError) as err:
        strategy_class("not_installed_pkg.strategy:Mine")
    assert str(err.value) == ("strategy plugin 'not_installed_pkg.strategy:Mine' cannot be imported on this machine "
                              "(ModuleNotFoundError: No module named 'not_installed_pkg'): pip install the package "
                              "that provides 'not_installed_pkg.strategy' here and on every SuperNode")
    with pytest.raises(plugins.PluginError, match="module 'tests.test_plugins' has no 'Nope'"):
        strategy_class("tests.test_plugins:Nope")
    with pytest.raises(plugins.PluginError, match="not a strategy class: subclass fedfair.strategies.base.FedFairStrategy"):
        strategy_class("tests.test_plugins:NotAStrategy")
    with pytest.raises(plugins.UnknownNameError, match=r"installed plugins: fedavg-momentum.*did you mean 'fedavg-momentum'"):
        strategy_class("fedavg-momentun")


def test_plugin_parameters_are_validated_like_builtin_ones_and_travel_through_plugin_params():
    with pytest.raises(ParamError, match="momentum-beta"):
        run_params({"strategy": "fedavg-momentum", "momentum-beta": 1.5})
    with pytest.raises(ParamError, match="weight-decay"):
        run_params({"strategy": "fedavg-momentum", "weight-decay": -1.0})
    params, _ = run_params({"strategy": "fedavg-momentum", "plugin-params": "momentum-beta=0.5;weight-decay=0.01"})
    assert params["momentum-beta"] == 0.5 and params["weight-decay"] == 0.01
    with pytest.raises(ParamError, match="plugin-params sets \\['momentum-beta'\\], which the run config sets too"):
        run_params({"strategy": "fedavg-momentum", "momentum-beta": 0.2, "plugin-params": "momentum-beta=0.5"})
    params, _ = run_params({"strategy": "fedavg", "mitigation": "weight-decay", "weight-decay": 0.01})  # a plugin
    assert params["mitigation"] == "weight-decay" and params["weight-decay"] == 0.01          # as a mitigation
    with pytest.raises(ParamError, match="accepted none, fairif, puffle or a local-objective plugin"):
        run_params({"strategy": "fedavg", "mitigation": "proximal"})  # a builtin that is not a mitigation
    params, ignored = run_params({"strategy": "fedavg", "momentum-beta": 0.5})  # an installed plugin's key: known,
    assert "momentum-beta" not in params and ignored == ["momentum-beta"]     # not used by fedavg, and said so


def test_a_config_file_may_name_a_plugin_strategy_and_its_own_keys(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('strategy = "fedfair_example.strategy:FedAvgMomentum"\nmomentum-server-lr = 0.5\n')
    assert read_config_file(path)["momentum-server-lr"] == 0.5
    path.write_text('strategy = "fedfair_example.strategy:FedAvgMomentum"\nmomentum-server-lr = -1\n')
    with pytest.raises(ParamError, match="line 2: parameter 'momentum-server-lr'"):
        read_config_file(path)


def test_a_source_plugin_builds_a_dataset_and_its_complaints_are_one_line(tmp_path):
    root = fedfair.build_dataset({"source": "moons", "source_options": {"clients": 3, "rows": 200}, "seed": 1},
                                 tmp_path / "moons")
    manifest = json.loads((root / "manifest.json").read_text())
    assert [c["name"] for c in manifest["clients"]] == ["moons-0", "moons-1", "moons-2"]
    assert manifest["features"] == ["x1", "x2"] and list(manifest["sensitive"]) == ["group"]
    with pytest.raises(DatasetError, match="source 'moons': the moons source has label 'y'"):
        fedfair.build_dataset({"source": "moons", "label": "z"}, tmp_path / "bad")
    with pytest.raises(DatasetError, match="unknown source 'moonz'.*installed plugins: moons"):
        fedfair.build_dataset({"source": "moonz"}, tmp_path / "bad")


def test_a_plugin_model_that_does_not_fit_the_dataset_fails_before_the_run(synthetic_dir, tmp_path):
    with pytest.raises(ParamError, match="model 'tests.test_plugins:BrokenModel' cannot be built for .* "
                                         "ValueError: needs 100 features, got 1"):
        fedfair.prepare_run({"dataset": str(synthetic_dir), "model": "tests.test_plugins:BrokenModel"})


def BrokenModel(n_features: int) -> None:  # noqa: N802 (a model factory, named like a class)
    raise ValueError(f"needs 100 features, got {n_features}")


# ----- end to end --------------------------------------------------------------------------------------------
def _comparable(run_dir: Path) -> tuple[dict, list]:
    summary = {k: v for k, v in json.loads((run_dir / "summary.json").read_text()).items() if k != "wall_seconds"}
    return summary, [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_plugin_run_killed_at_round_3_resumes_to_the_uninterrupted_summary(tmp_path):
    whole = fedfair.run("fedavg-momentum", "synthetic-gaussian-8", rounds=6, seed=0, out=tmp_path / "whole",
                        model="tanh-mlp", momentum_beta=0.5, weight_decay=0.001)
    assert whole.complete and whole.summary["strategy"] == "fedavg-momentum" and len(whole.clients) == 8
    plain = fedfair.load_run(whole.out_dir).config
    assert plain["momentum-beta"] == 0.5 and plain["weight-decay"] == 0.001 and plain["model"] == "tanh-mlp"

    broken = tmp_path / "broken"
    env = {**os.environ, **OFFLINE_ENV, "FEDFAIR_CACHE": os.environ["FEDFAIR_CACHE"]}
    process = subprocess.Popen([FEDFAIR, "run", *PLUGIN_RUN, "--rounds", "6", "--out", str(broken)], cwd=REPO,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            meta = read_meta(broken) if (broken / "checkpoint.json").is_file() else None
            if meta and meta["round"] >= 3:
                break
            assert process.poll() is None, "the plugin run ended before round 3"
            time.sleep(0.05)
        else:
            pytest.fail("the plugin run never reached round 3")
        children = descendants(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        stop(children)
        process.wait(timeout=30)
    finally:
        stop(descendants(process.pid) + [process.pid])
    assert json.loads((broken / "status.json").read_text())["status"] == "running"
    resumed = CliRunner().invoke(app, ["run", "--resume", str(broken)])
    assert resumed.exit_code == 0 and "resume: continuing after round" in resumed.output, resumed.output
    assert _comparable(broken) == _comparable(whole.out_dir)


@pytest.mark.slow
def test_a_plugin_runs_through_compare_and_bench(tmp_path):
    comparison = fedfair.compare(["fedavg", "fedfair_example.strategy:FedAvgMomentum@momentum-beta=0.5"],
                                 "synthetic-gaussian-8", seeds=1, rounds=2, out=tmp_path / "compare",
                                 model="tanh-mlp")
    table = comparison.table
    assert list(table["entry"]) == ["fedavg", "fedfair_example.strategy:FedAvgMomentum@momentum-beta=0.5"]
    assert list(table["failed"]) == [0, 0] and table["accuracy"].between(0, 1).all()
    run = comparison.runs["fedfair_example.strategy:FedAvgMomentum@momentum-beta=0.5"][0]
    assert run.summary["strategy"] == "fedfair_example.strategy:FedAvgMomentum" and run.config["momentum-beta"] == 0.5
    cli = CliRunner().invoke(app, ["compare", "-s", "fedavg-momentum", "-n", "1", "-r", "2", "--set", "model=tanh-mlp",
                                   "--out", str(tmp_path / "compare-cli")])
    assert cli.exit_code == 0 and "fedavg-momentum" in cli.output, cli.output
    assert "| fedavg-momentum |" in (tmp_path / "compare-cli" / "table.md").read_text()

    bench = CliRunner().invoke(app, ["bench", "seed000", "--datasets", "synthetic-gaussian-8", "--strategies",
                                     "fedavg-momentum", "--mitigations", "none,weight-decay", "--seeds", "1",
                                     "--rounds", "2", "--out", str(tmp_path / "bench")])
    assert bench.exit_code == 0, bench.output
    meta = json.loads((tmp_path / "bench" / "bench.json").read_text())
    runs = meta["datasets"]["synthetic-gaussian-8"]["runs"]
    assert meta["runs"] == {"ran": 2, "reused": 0, "failed": 0}
    assert [r["label"] for r in runs] == ["fedavg-momentum", "fedavg-momentum + weight-decay"]
    assert json.loads((Path(runs[0]["out-dir"]) / "summary.json").read_text())["strategy"] == "fedavg-momentum"
    assert json.loads((Path(runs[1]["out-dir"]) / "config.json").read_text())["mitigation"] == "weight-decay"
