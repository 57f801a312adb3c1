"""Every benchmark script runs end to end in its ``--smoke DIR`` mode (tiny offline data, seconds), in this process:
a renamed step, column or option breaks a test, not a reader of benchmarks/ (issue 29).

The contract each script keeps (see benchmarks/README section in README.md):

- ``main(argv)`` parses ``argv`` (``None``: sys.argv) and runs;
- ``--smoke DIR`` runs the script's whole pipeline on tiny data that needs no download and no ../shared
  (synthetic generators, scikit-learn's digits, a few rounds), and writes every file it would write
  (its JSON, and the markdown it renders from that JSON) into DIR only: never into benchmarks/;
- the JSON it writes holds ``"smoke": true``;
- a script with a committed markdown report has ``reports(folder)``: {file name: markdown} rendered from the committed
  JSON in ``folder`` alone (tables, numbers and verdict sentences; only settings and explanations are fixed text),
  and ``--report`` writes it into benchmarks/ without a run; the committed file must equal it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))
# scripts that render a committed report from committed data but run nothing themselves (no --smoke)
RENDERERS = ["suite_report"]


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


@pytest.mark.parametrize("name", SCRIPTS + RENDERERS)
def test_committed_reports_equal_their_rendering_from_the_committed_json(name):
    """A script's ``reports(folder)`` renders its committed markdown reports from the committed JSON alone (no run):
    each must equal the file under benchmarks/ (``python benchmarks/<name>.py --report`` rewrites them), so a table
    or a verdict sentence never drifts from its numbers by hand."""
    module = _module(name)
    if not hasattr(module, "reports"):
        pytest.skip(f"{name} commits no markdown report")
    rendered = module.reports(BENCHMARKS)
    assert rendered, f"{name}.reports() renders nothing"
    for file, text in rendered.items():
        assert (BENCHMARKS / file).read_text() == text, (
            f"benchmarks/{file} is not what {name}.py renders from its JSON: run python benchmarks/{name}.py --report")


# committed markdown under benchmarks/ that no bench script renders, and why (everything else must be some script's
# ``reports()``, so that no table or verdict is edited by hand)
NOT_RENDERED = {
    "VERDICTS.md": "the verdict table, written by hand from the reports; each row cites its JSON file and key",
}


def test_every_committed_report_is_rendered_by_a_script():
    rendered = set()
    for name in SCRIPTS + RENDERERS:
        module = _module(name)
        if hasattr(module, "reports"):
            rendered |= set(module.reports(BENCHMARKS))
    committed = {p.name for p in BENCHMARKS.glob("*.md")}
    assert committed - rendered - set(NOT_RENDERED) == set(), "a committed report no script renders from its JSON"
    assert not set(NOT_RENDERED) & rendered
