"""Client failures (issue: production readiness): FedAvg, IFCA, FL+HC, FairFed and Standalone with and without
``fail-rate=0.2``, 10 rounds, on synthetic-gaussian-8 and on FeDa4Fair's attribute-silo release.

    python benchmarks/bench_failures.py [--rounds 10] [--fail-rate 0.2]

Prints, per dataset and strategy, the mean and worst-client accuracy and the mean SP of the fault-free run and
of the run with failures, the failures recorded, and writes benchmarks/failures_results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

OUT = REPO / "benchmarks"
STRATEGIES = {"fedavg": {}, "ifca": {"num-clusters": 2}, "flhc": {"hc-k1": 3, "num-clusters": 2}, "fairfed": {},
              "standalone": {}}


def _figures(summary: dict, attribute: str) -> dict:
    accuracies = [c["accuracy"] for c in summary["clients"]]
    return {"mean_accuracy": summary["mean"]["accuracy"], "worst_accuracy": min(accuracies),
            "mean_sp": summary["mean"]["fairness"][attribute]["sp"],
            "failures": summary.get("failures", {}).get("count", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--min-replies", type=float, default=0.25, help="a round goes on with this fraction of replies "
                        "(with 8 clients and fail-rate 0.2, 5 or more failures in one of 10 rounds happens ~10 %% of runs)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "feda4fair"))
    args = parser.parse_args()

    from bench_puffle import build
    from fedfair.registry import resolve_dataset
    from fedfair.api import run_configs

    results: dict = {"rounds": args.rounds, "fail_rate": args.fail_rate, "min_replies": args.min_replies, "datasets": {}}
    with tempfile.TemporaryDirectory() as work:
        datasets = {"synthetic-gaussian-8": (resolve_dataset("synthetic-gaussian-8", 0), "group", {}),
                    "attribute-silo": (build(Path(args.data), Path(work), "attribute-silo"), "SEX",
                                       {"model": "mlp", "hidden": "32", "batch-size": 64})}
        for name, (root, attribute, extra) in datasets.items():
            plan = [(s, rate) for s in STRATEGIES for rate in (0.0, args.fail_rate)]
            configs = [{"strategy": s, "dataset": str(root), "rounds": args.rounds, "fail-rate": rate,
                        "min-replies": args.min_replies,
                        "sensitive": attribute, **extra, **STRATEGIES[s], "out-dir": f"{work}/{name}-{s}-{rate}"}
                       for s, rate in plan]
            summaries = run_configs(configs, echo=False, keep_going=False)
            table = results["datasets"].setdefault(name, {})
            for (strategy, rate), summary in zip(plan, summaries):
                table.setdefault(strategy, {})["faults" if rate else "fault-free"] = _figures(summary, attribute)
            for strategy, runs in table.items():
                free, faulty = runs["fault-free"], runs["faults"]
                print(f"{name:22s} {strategy:10s} accuracy {free['mean_accuracy']:.4f} -> {faulty['mean_accuracy']:.4f}  "
                      f"worst {free['worst_accuracy']:.4f} -> {faulty['worst_accuracy']:.4f}  SP {free['mean_sp']:.4f} -> "
                      f"{faulty['mean_sp']:.4f}  failures {faulty['failures']}", flush=True)
    (OUT / "failures_results.json").write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
