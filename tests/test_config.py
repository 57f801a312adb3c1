"""Run-parameter validation: errors name the key and the accepted range."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.config import COMMON_PARAMS, ParamError, parse_assignments, validate_params
from fedfair.registry import UnknownNameError, strategy_class


def test_defaults_and_coercion():
    params = validate_params(parse_assignments(["lr=0.1", "rounds=3", "model=mlp", "hidden=64,32"]), COMMON_PARAMS)
    assert params["lr"] == 0.1 and params["rounds"] == 3 and params["hidden"] == "64,32"
    assert params["batch-size"] == 32


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("lr=-1", "parameter 'lr' = -1.0 is out of range: accepted float > 0"),
        ("rounds=0", "parameter 'rounds' = 0 is out of range: accepted integer >= 1"),
        ("rounds=2.5", "parameter 'rounds' must be an integer"),
        ("lr=fast", "parameter 'lr' must be a number"),
        ("fraction-train=1.5", "accepted float in (0, 1]"),
        ("model=resnet", "accepted auto, logreg, mlp, cnn or a model plugin"),
        ("hidden=32,x", "comma-separated positive integers"),
    ],
)
def test_invalid_values_name_key_and_range(assignment, message):
    with pytest.raises(ParamError) as info:
        validate_params(parse_assignments([assignment]), COMMON_PARAMS)
    assert message in str(info.value)


def test_unknown_parameter_lists_valid_keys():
    with pytest.raises(ParamError, match="unknown parameter.*'learning-rate'.*valid parameters: batch-clients, batch-size"):
        validate_params({"learning-rate": 0.1}, COMMON_PARAMS)


def test_unknown_strategy_lists_valid_names():
    from fedfair.registry import STRATEGIES

    with pytest.raises(UnknownNameError, match="unknown strategy 'fedsgd'; valid strategies: " + ", ".join(sorted(STRATEGIES))):
        strategy_class("fedsgd")


def test_cli_run_rejects_bad_input_before_starting(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--strategy", "fedsgd", "--out", str(tmp_path / "r")])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2 and "unknown strategy 'fedsgd'; valid strategies: afl, cfl-cosine, ditto, fair-fca, " \
        "fair-flhc, fairfed, fairfed-af, fed-fairbatch, fed-fairgrad, fedavg, fedfair-mmfl, fedfb, fedprox, flhc, ifca, " \
        "maml, mmfl-qffl, mmfl-random, " \
        "mmfl-round-robin, qffl, single-shot, standalone" in flat
    result = runner.invoke(app, ["run", "--set", "lr=0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "'lr' = 0.0 is out of range" in result.output
    result = runner.invoke(app, ["run", "--dataset", "nope", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "valid builtin datasets" in result.output
    assert not (tmp_path / "r").exists()
