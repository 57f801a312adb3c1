"""What the bootstrap confidence intervals cost a run (comparison issue: < 10 % of its wall time).

    python benchmarks/bench_ci.py [--rounds 10] [--resamples 1000]
    python benchmarks/bench_ci.py --smoke DIR   # seconds: 2 rounds, 50 resamples on 4 synthetic states, files in DIR

Data: FeDa4Fair's attribute-silo release (47 states, sensitive SEX and RAC1P) when ../shared/data has it, else
the offline synthetic-acs stand-in (50 states). FedAvg, logistic regression, ``--rounds`` rounds, in one
simulation: once with ``ci-resamples=0`` (no intervals) and once with ``--resamples``. The intervals are
computed once, when summary.json is written; their cost is also timed exactly by replaying the final round's
evaluations (metrics.jsonl) through the same function. Writes benchmarks/ci_results.json and prints both
figures and their share of the run's wall time (``render_report`` of the JSON).

``--smoke DIR`` checks the pipeline in seconds: the same two runs and replay, 2 rounds and 50 resamples, on the
synthetic-acs generator (4 states: AK, AL, AR, AZ; about 100 rows each) (never the release, even where ../shared has
it); the runs, DIR/ci_results.json (``"smoke": true``) and DIR/bench_ci.md (the report) all go in DIR.
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
# --smoke's sizes (overridable by the options) and data: a few small synthetic states
SMOKE = {"rounds": 2, "resamples": 50}
SMOKE_STATES = ["AK", "AL", "AR", "AZ"]


def dataset(work: Path, smoke: bool = False) -> tuple[Path, str]:
    from fedfair.partitioners.builder import BuildSpec, build_dataset

    if smoke:  # seconds, and the same on every machine
        spec = BuildSpec(source="synthetic-acs", source_options={"states": SMOKE_STATES, "rows_per_state": 100})
        return build_dataset(spec, work / "synthetic"), "synthetic-acs stand-in (4 states, SYNTHETIC; smoke)"
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


def render_report(result: dict) -> str:
    """The printed report, from ci_results.json's contents alone."""
    seconds, clients, rounds = result["ci_seconds"], result["clients"], result["rounds"]
    return (f"{result['dataset']}: FedAvg {rounds} rounds, {clients} clients; run "
            f"{result['wall_seconds_without']:.2f} s without intervals, {result['wall_seconds_with']:.2f} s with "
            f"{result['resamples']} resamples\n"
            f"the intervals themselves: {seconds:.3f} s ({1e3 * seconds / clients:.2f} ms per client), "
            f"{100 * result['ci_share_of_run']:.2f} % of the run\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: 2 rounds, 50 resamples, 4 synthetic-acs "
                             "states of ~100 rows; the runs, ci_results.json and bench_ci.md go in DIR")
    args = parser.parse_args(argv)
    out = OUT / "ci_results.json"
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        out = args.smoke / "ci_results.json"
    from fedfair.api import run_configs

    work = Path(tempfile.mkdtemp(prefix="fedfair-bench-ci-", dir=args.smoke))  # kept: the runs (in DIR when smoke)
    root, what = dataset(work, smoke=bool(args.smoke))
    configs = [{"strategy": "fedavg", "dataset": str(root), "rounds": args.rounds, "model": "logreg",
                "ci-resamples": r, "out-dir": str(work / f"ci{r}")} for r in (0, args.resamples)]
    plain, with_ci = run_configs(configs, echo=False, keep_going=False)
    seconds, clients = replay(work / f"ci{args.resamples}", args.resamples)
    result = {"dataset": what, "clients": clients, "rounds": args.rounds, "resamples": args.resamples,
              "wall_seconds_without": plain["wall_seconds"], "wall_seconds_with": with_ci["wall_seconds"],
              "ci_seconds": round(seconds, 4), "ci_share_of_run": round(seconds / with_ci["wall_seconds"], 4),
              **({"smoke": True} if args.smoke else {})}
    out.write_text(json.dumps(result, indent=1) + "\n")
    report = render_report(json.loads(out.read_text()))  # from the JSON as written
    print(report, end="")
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(report)


if __name__ == "__main__":
    main()
