"""What the benchmark scripts share for their reports: ``--report`` writes the markdown a script's ``reports()``
renders from its committed JSON (tests/test_bench_smoke.py checks the committed files equal that rendering)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_reports(rendered: Mapping[str, str], folder: Path) -> None:
    """Write each {file name: markdown} of ``rendered`` into ``folder`` and say so."""
    for name, text in rendered.items():
        (Path(folder) / name).write_text(text)
        print(f"wrote {Path(folder) / name}")
