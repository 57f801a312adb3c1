"""What the bootstrap confidence intervals cost a run (comparison issue: < 10 % of its wall time).

    python benchmarks/bench_ci.py [--rounds 10] [--resamples 1000]

Data: FeDa4Fair's attribute-silo release (47 states, sensitive SEX and RAC1P) when ../shared/data has it, else
the offline synthetic-acs stand-in (50 states). FedAvg, logistic regression, ``--rounds`` rounds, in one
simulation: once with ``ci-resamples=0`` (no intervals) and once with ``--resamples``. The intervals are
computed once, when summary.json is written; their cost is also timed exactly by replaying the final round's
evaluations (metrics.jsonl) through the same function. Prints both figures and their share of the run's
wall time, and writes benchmarks/ci_results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks"
RELEASE = REPO.parent / "shared" / "data" / "feda4fair" / "cross_silo_attribute_final"


def dataset(work: Path) -> tuple[Path, str]:
    from fedfair.partitioners.builder import BuildSpec, build_dataset

    if RELEASE.is_dir():
        spec = BuildSpec(source="csv-dir", source_options={"path": str(RELEASE)}, label="PINCP", sensitive=["SEX", "RAC1P"])
        return build_dataset(spec, work / "silo"), "FeDa4Fair attribute-silo release (47 states)"
    return build_dataset(BuildSpec(source="synthetic-acs"), work / "synthetic"), "synthetic-acs stand-in (50 states, SYNTHETIC)"


def replay(run_dir: Path, resamples: int) -> tuple[float, int]:
    """Seconds to compute every final-round client's intervals again from metrics.jsonl; the clients."""
    from fedfair.metrics import GroupCounts
    from fedfair.uncertainty import client_intervals, generator

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = max(r["round"] for r in rows if r.get("stage") == "evaluate")
    final = [r for r in rows if r.get("stage") == "evaluate" and r["round"] == last]
    tables = [{a: GroupCounts.from_json(t) for a, t in r["groups"].items()} for r in final]
    started = time.perf_counter()
    for r, groups in zip(final, tables):
        client_intervals(r["accuracy"], r["n_test"], groups, 0.95, resamples, generator(0, r["client"]))
    return time.perf_counter() - started, len(final)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    from fedfair.api import run_configs

    work = Path(tempfile.mkdtemp(prefix="fedfair-bench-ci-"))
    root, what = dataset(work)
    configs = [{"strategy": "fedavg", "dataset": str(root), "rounds": args.rounds, "model": "logreg",
                "ci-resamples": r, "out-dir": str(work / f"ci{r}")} for r in (0, args.resamples)]
    plain, with_ci = run_configs(configs, echo=False, keep_going=False)
    seconds, clients = replay(work / f"ci{args.resamples}", args.resamples)
    result = {"dataset": what, "clients": clients, "rounds": args.rounds, "resamples": args.resamples,
              "wall_seconds_without": plain["wall_seconds"], "wall_seconds_with": with_ci["wall_seconds"],
              "ci_seconds": round(seconds, 4), "ci_share_of_run": round(seconds / with_ci["wall_seconds"], 4)}
    (OUT / "ci_results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{what}: FedAvg {args.rounds} rounds, {clients} clients; run {plain['wall_seconds']:.2f} s without "
          f"intervals, {with_ci['wall_seconds']:.2f} s with {args.resamples} resamples")
    print(f"the intervals themselves: {seconds:.3f} s ({1e3 * seconds / clients:.2f} ms per client), "
          f"{100 * seconds / with_ci['wall_seconds']:.2f} % of the run")


if __name__ == "__main__":
    main()
