"""Commands that train nothing import no torch, Ray or Flower (seconds of start-up each): the builtin strategies
are listed from their declarations (fedfair/strategies/specs.py) and their source, the local objectives import
torch where they train. The listings are the same as those made by importing every strategy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fedfair import registry
from fedfair.cli import app
from fedfair.simulation import OFFLINE_ENV
from fedfair.strategies.specs import SPECS
from tests.conftest import REPO

HEAVY = ("torch", "ray", "flwr")
COMMANDS = [["--help"], ["strategies"], ["params"], ["params", "-s", "ifca"], ["data", "list"], ["data", "--help"],
            ["run", "--help"]]
# The installed plugins are hidden: listing a plugin imports it (the user's code; the example plugin's strategy
# imports Flower). Without them, what is imported is fedfair's own.
PROBE = """
import sys
from fedfair import plugins
plugins.entry_points = lambda kind: {}
from typer.testing import CliRunner
from fedfair.cli import app
r = CliRunner().invoke(app, ARGS)
assert r.exit_code == 0, r.output
print(sorted(m for m in HEAVY if m in sys.modules))
"""


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_that_trains_nothing_imports_no_torch_ray_or_flower(args):
    code = PROBE.replace("ARGS", repr(args)).replace("HEAVY", repr(HEAVY))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **OFFLINE_ENV})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", (args, done.stdout[-500:])


def test_every_builtin_strategy_has_a_declaration_its_class_agrees_with():
    assert list(SPECS) == list(registry.STRATEGIES)
    for name, spec in SPECS.items():
        cls = registry.strategy_class(name)
        assert cls.extra_params == dict(spec.params), name
        assert (cls.objectives, cls.adapt) == (spec.objectives, spec.adapt), name
        assert cls.param_components() == registry.strategy_components(name), name
        assert registry.strategy_params(name) == dict(cls.extra_params), name


def test_a_builtin_strategy_s_description_is_read_from_its_source_as_imported():
    for name in registry.STRATEGIES:
        cls = registry.strategy_class(name)
        assert registry.builtin_strategy_doc(name, of_class=True) == (cls.__doc__ or ""), name
        assert registry.builtin_strategy_doc(name) == (sys.modules[cls.__module__].__doc__ or ""), name
    assert registry.builtin_strategy_doc("fedfair_example.strategy:FedAvgMomentum") is None  # a plugin: imported


def test_the_listings_are_those_made_by_importing_every_strategy(monkeypatch):
    commands = [["strategies"], ["params"], *[["params", "-s", name] for name in registry.STRATEGIES]]

    def listings() -> list[str]:
        outputs = []
        for args in commands:
            result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
            assert result.exit_code == 0, (args, result.output)
            outputs.append(result.output)
        return outputs

    fast = listings()
    monkeypatch.setattr(registry, "_builtin_spec", lambda name: None)  # every strategy imported, as before
    monkeypatch.setattr(registry, "builtin_strategy_doc", lambda name, of_class=False: None)
    assert listings() == fast
