"""Every benchmark script runs end to end in its ``--smoke DIR`` mode (tiny offline data, seconds), in this process:
a renamed step, column or option breaks a test, not a reader of benchmarks/ (issue 29).

The contract each script keeps (see benchmarks/README section in README.md):

- ``main(argv)`` parses ``argv`` (``None``: sys.argv) and runs;
- ``--smoke DIR`` runs the script's whole pipeline on tiny data that needs no download and no ../shared
  (synthetic generators, scikit-learn's digits, a few rounds), and writes every file it would write
  (its JSON, and the markdown it renders from that JSON) into DIR only: never into benchmarks/;
- the JSON it writes holds ``"smoke": true``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"smoke_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def _tracked_outputs() -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in BENCHMARKS.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"}  # what the scripts write


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_runs_in_smoke_mode(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _tracked_outputs()
    _module(name).main(["--smoke", str(tmp_path / "out")])
    results = sorted((tmp_path / "out").glob("*results*.json"))
    assert results, f"{name} --smoke wrote no *results*.json into its smoke directory"
    for path in results:
        data = json.loads(path.read_text())
        assert isinstance(data, dict) and data.get("smoke") is True, f"{path.name} does not say smoke: true"
    assert _tracked_outputs() == before, f"{name} --smoke changed files under benchmarks/"
