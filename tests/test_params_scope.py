"""Scoped parameters: a run validates its strategy's and plug-ins' parameters; clashes are errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedfair.cli import app
from fedfair.comparison import plan_runs
from fedfair.config import Param, ParamError
from fedfair.local import LOCAL_OBJECTIVES, objective_class
from fedfair.registry import STRATEGIES, merge_components, param_catalogue, run_params, strategy_class

REPO = Path(__file__).resolve().parents[1]


def test_a_run_keeps_its_scope_and_ignores_other_strategies_keys():
    params, ignored = run_params({"strategy": "fedprox", "proximal-mu": 0.2, "gamma": 0.3, "hc-k1": 5})
    assert params["proximal-mu"] == 0.2 and "gamma" not in params and "maml-alpha" not in params
    assert ignored == ["gamma"]  # hc-k1 = 5 is its default: not worth a warning
    maml, _ = run_params({"strategy": "maml"})
    assert {"maml-alpha", "maml-finetune-steps", "maml-finetune-lr"} <= set(maml)


def test_unknown_and_out_of_range_keys_are_errors_even_outside_the_scope():
    with pytest.raises(ParamError, match=r"unknown parameter\(s\) \['gama'\]; parameters of fedavg: batch-clients, batch-size"):
        run_params({"strategy": "fedavg", "gama": 0.3})
    with pytest.raises(ParamError, match="parameter 'gamma' = 2.0 is out of range"):
        run_params({"strategy": "fedavg", "gamma": 2.0})


def test_two_components_declaring_one_key_differently_is_an_error():
    a = {"mu": Param(float, 0.1, "weight of a penalty")}
    b = {"mu": Param(float, 0.5, "a step size")}
    with pytest.raises(ParamError, match="'mu' is declared by local a and by strategy b with different meanings"):
        merge_components({"local a": a, "strategy b": b})
    assert merge_components({"x": a, "y": dict(a)}) == a  # one shared declaration is fine


def test_every_registered_component_declares_its_keys_once():
    merged = merge_components(param_catalogue())  # raises on a clash
    for name in STRATEGIES:
        for component, specs in strategy_class(name).param_components().items():
            assert all(merged[k] == spec for k, spec in specs.items()), (name, component)
    assert set(LOCAL_OBJECTIVES) == {"sgd", "proximal", "per-fedavg", "finetune", "fairif", "puffle", "dp", "group-weights", "ditto"}


def test_compare_entry_with_a_foreign_key_is_refused(tmp_path):
    with pytest.raises(ParamError, match=r"fedavg@gamma=0.3: \['gamma'\] not parameter\(s\) of fedavg"):
        plan_runs("synthetic-gaussian-8", ["fedavg@gamma=0.3"], [0], 2, {}, tmp_path)


def test_params_command_groups_keys_by_component():
    result = CliRunner().invoke(app, ["params", "-s", "fedprox"])
    assert result.exit_code == 0, result.output
    assert "local proximal" in result.output and "proximal-mu" in result.output
    assert "gamma" not in result.output and "common" in result.output
    everything = CliRunner().invoke(app, ["params"]).output
    assert "strategy fair-fca" in everything and "local finetune" in everything


def test_client_app_knows_no_algorithm():
    """The ClientApp dispatches by message; no strategy name or plug-in parameter appears in it."""
    source = (REPO / "fedfair" / "client_app.py").read_text()
    strings = {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    plugin_keys = {k for name in LOCAL_OBJECTIVES for k in objective_class(name).params}
    strategy_keys = {k for name in STRATEGIES for k in strategy_class(name).extra_params}
    forbidden = set(STRATEGIES) | set(LOCAL_OBJECTIVES) - {"sgd"} | plugin_keys | strategy_keys
    assert not {s for s in strings if s in forbidden}
