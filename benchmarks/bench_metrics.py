"""Speed of the fairness metrics: rows per second for attribute, pair and intersection levels.

Usage: python benchmarks/bench_metrics.py [--rows 1000000] [--out benchmarks/metrics_speed.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from fedfair.metrics import fairness_report


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("metrics_speed.md"))
    args = parser.parse_args()
    lines = [
        "# fedfair.metrics speed", "",
        f"{args.rows:,} rows, best of 3, `{platform.processor() or platform.machine()}`, Python {platform.python_version()}.",
        f"Command: `python benchmarks/bench_metrics.py --rows {args.rows}`", "",
        "| case | seconds | rows / s |", "|---|---|---|",
    ]
    for name, seconds in measure(args.rows):
        lines.append(f"| {name} | {seconds:.3f} | {args.rows / seconds:,.0f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
