"""Speed of the fairness metrics: rows per second for attribute, pair and intersection levels.

Usage: python benchmarks/bench_metrics.py [--rows 1000000] [--out benchmarks/metrics_speed.md]
       python benchmarks/bench_metrics.py --smoke DIR   # a second: 2,000 rows, files in DIR

Writes the timings to ``<out stem>_results.json`` beside ``--out`` (benchmarks/metrics_speed_results.json) and
the markdown report that ``render_markdown`` makes of that JSON to ``--out``, and prints it. ``--smoke DIR``
runs the same cases on 2,000 rows and writes DIR/metrics_speed_results.json (``"smoke": true``) and
DIR/bench_metrics.md instead.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from fedfair.metrics import fairness_report
from reporting import write_reports  # noqa: E402 (benchmarks/ is the script's folder)

# --smoke's sizes (overridable by the options)
SMOKE = {"rows": 2000}


def measure(rows: int, repeats: int = 3) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, rows), rng.integers(0, 2, rows)
    sensitive = {"SEX": rng.integers(1, 3, rows), "RAC1P": rng.integers(1, 6, rows), "MAR": rng.integers(1, 6, rows)}
    cases = {
        "3 attributes (2, 5, 5 values), every pair": dict(intersectional=False),
        "3 attributes + intersection (50 groups, 1225 pairs)": dict(intersectional=True),
    }
    results = []
    for name, kwargs in cases.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fairness_report(y, p, sensitive, **kwargs)
            best = min(best, time.perf_counter() - start)
        results.append((name, best))
    return results


def render_markdown(result: dict) -> str:
    """The report (benchmarks/metrics_speed.md) of metrics_speed_results.json's contents."""
    rows = result["rows"]
    lines = [
        "# fedfair.metrics speed", "",
        f"{rows:,} rows, best of {result['repeats']}, `{result['processor']}`, Python {result['python']}.",
        f"Command: `python benchmarks/bench_metrics.py --rows {rows}`", "",
        "| case | seconds | rows / s |", "|---|---|---|",
    ]
    for case in result["cases"]:
        lines.append(f"| {case['case']} | {case['seconds']:.3f} | {rows / case['seconds']:,.0f} |")
    return "\n".join(lines) + "\n"


def reports(folder: Path = Path(__file__).parent) -> dict[str, str]:
    """The committed report rendered from folder/metrics_speed_results.json alone: {file name: markdown}."""
    return {"metrics_speed.md": render_markdown(json.loads((folder / "metrics_speed_results.json").read_text()))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("metrics_speed.md"))
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a second-long check of the whole pipeline: both cases on 2,000 rows; "
                             "metrics_speed_results.json and bench_metrics.md go in DIR (--out is ignored)")
    parser.add_argument("--report", action="store_true",
                        help="no run: render benchmarks/metrics_speed.md again from the committed "
                             "metrics_speed_results.json")
    args = parser.parse_args(argv)
    if args.report:
        write_reports(reports(), Path(__file__).parent)
        return
    results = args.out.with_name(f"{args.out.stem}_results.json")  # benchmarks/metrics_speed_results.json
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        results, args.out = args.smoke / "metrics_speed_results.json", args.smoke / f"{Path(__file__).stem}.md"
    repeats = 3
    result = {"rows": args.rows, "repeats": repeats, "processor": platform.processor() or platform.machine(),
              "python": platform.python_version(),
              "cases": [{"case": name, "seconds": seconds} for name, seconds in measure(args.rows, repeats)],
              **({"smoke": True} if args.smoke else {})}
    results.write_text(json.dumps(result, indent=1) + "\n")
    markdown = render_markdown(json.loads(results.read_text()))  # from the JSON as written
    args.out.write_text(markdown)
    print(markdown, end="")


if __name__ == "__main__":
    main()
