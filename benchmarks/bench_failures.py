"""Client failures (issue: production readiness): FedAvg, IFCA, FL+HC, FairFed and Standalone with and without
``fail-rate=0.2``, 10 rounds, on synthetic-gaussian-8 and on FeDa4Fair's attribute-silo release.

    python benchmarks/bench_failures.py [--rounds 10] [--fail-rate 0.2]
    python benchmarks/bench_failures.py --smoke DIR   # seconds: every run, 2 rounds, stand-in release, files in DIR

Prints, per dataset and strategy, the mean and worst-client accuracy and the mean SP of the fault-free run and
of the run with failures, the failures recorded (``render_report``: a function of the JSON), and writes
benchmarks/failures_results.json.

``--smoke DIR`` checks the pipeline in seconds: every strategy with and without failures on both datasets,
2 rounds; the attribute-silo release is an offline stand-in written into DIR unless ``--data`` names one (4
synthetic-acs states of about 80 rows in the release's CSV layout), synthetic-gaussian-8 is built into DIR's
cache; the runs, DIR/failures_results.json (``"smoke": true``) and DIR/bench_failures.md (the report) go in DIR.
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

from fedfair.paths import cache_at  # noqa: E402

OUT = REPO / "benchmarks"
STRATEGIES = {"fedavg": {}, "ifca": {"num-clusters": 2}, "flhc": {"hc-k1": 3, "num-clusters": 2}, "fairfed": {},
              "standalone": {}}
# --smoke's sizes (overridable by the options)
SMOKE = {"rounds": 2}


def _settings(strategy: str, rounds: int) -> dict:
    """The strategy's settings for a run of ``rounds``: FL+HC clusters after hc-k1 rounds and needs a round after
    that, so a run shorter than 4 rounds (--smoke's) clusters earlier."""
    settings = dict(STRATEGIES[strategy])
    if "hc-k1" in settings:
        settings["hc-k1"] = max(1, min(settings["hc-k1"], rounds - 1))
    return settings


def _figures(summary: dict, attribute: str) -> dict:
    accuracies = [c["accuracy"] for c in summary["clients"]]
    return {"mean_accuracy": summary["mean"]["accuracy"], "worst_accuracy": min(accuracies),
            "mean_sp": summary["mean"]["fairness"][attribute]["sp"],
            "failures": summary.get("failures", {}).get("count", 0)}


def render_dataset(name: str, table: dict) -> str:
    """One dataset's lines of the report: per strategy, fault-free -> with failures."""
    lines = []
    order = list(STRATEGIES)  # the JSON's keys are sorted: the report keeps the runs' order
    for strategy in sorted(table, key=lambda s: (order.index(s) if s in order else len(order), s)):
        free, faulty = table[strategy]["fault-free"], table[strategy]["faults"]
        lines.append(f"{name:22s} {strategy:10s} accuracy {free['mean_accuracy']:.4f} -> "
                     f"{faulty['mean_accuracy']:.4f}  worst {free['worst_accuracy']:.4f} -> "
                     f"{faulty['worst_accuracy']:.4f}  SP {free['mean_sp']:.4f} -> {faulty['mean_sp']:.4f}  "
                     f"failures {faulty['failures']}")
    return "\n".join(lines) + "\n"


def render_report(results: dict) -> str:
    """The whole report, from failures_results.json's contents alone."""
    return "".join(render_dataset(name, table) for name, table in results["datasets"].items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--min-replies", type=float, default=0.25, help="a round goes on with this fraction of replies "
                        "(with 8 clients and fail-rate 0.2, 5 or more failures in one of 10 rounds happens ~10 %% of runs)")
    parser.add_argument("--data", default=None, help="FeDa4Fair's release folder (default ../shared/data/feda4fair; "
                        "with --smoke: a synthetic stand-in written into DIR)")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="a seconds-long check of the whole pipeline: every strategy with and without failures "
                             "on both datasets, 2 rounds, a stand-in release (4 synthetic-acs states of ~80 rows) "
                             "unless --data names one; the runs, caches, failures_results.json and bench_failures.md "
                             "go in DIR")
    args = parser.parse_args(argv)
    out = OUT / "failures_results.json"
    if args.smoke:
        parser.set_defaults(**SMOKE)  # smoke sizes where no option says otherwise
        args = parser.parse_args(argv)
        args.smoke.mkdir(parents=True, exist_ok=True)
        out = args.smoke / "failures_results.json"

    from bench_overhead import write_standin_release
    from bench_puffle import build
    from fedfair.registry import resolve_dataset
    from fedfair.api import run_configs

    results: dict = {"rounds": args.rounds, "fail_rate": args.fail_rate, "min_replies": args.min_replies, "datasets": {}}
    with tempfile.TemporaryDirectory(dir=args.smoke) as work, cache_at(args.smoke and args.smoke / "cache"):
        if args.data:
            data = Path(args.data)
        elif args.smoke:  # the release is not on CI machines: its offline stand-in
            data = write_standin_release(Path(work) / "standin")
        else:
            data = REPO.parent / "shared" / "data" / "feda4fair"
        datasets = {"synthetic-gaussian-8": (resolve_dataset("synthetic-gaussian-8", 0), "group", {}),
                    "attribute-silo": (build(data, Path(work), "attribute-silo"), "SEX",
                                       {"model": "mlp", "hidden": "32", "batch-size": 64})}
        for name, (root, attribute, extra) in datasets.items():
            plan = [(s, rate) for s in STRATEGIES for rate in (0.0, args.fail_rate)]
            configs = [{"strategy": s, "dataset": str(root), "rounds": args.rounds, "fail-rate": rate,
                        "min-replies": args.min_replies, "plots": False,  # figures of runs in a temporary directory
                        "sensitive": attribute, **extra, **_settings(s, args.rounds),
                        "out-dir": f"{work}/{name}-{s}-{rate}"}
                       for s, rate in plan]
            summaries = run_configs(configs, echo=False, keep_going=False)
            table = results["datasets"].setdefault(name, {})
            for (strategy, rate), summary in zip(plan, summaries):
                table.setdefault(strategy, {})["faults" if rate else "fault-free"] = _figures(summary, attribute)
            print(render_dataset(name, table), end="", flush=True)
    if args.smoke:
        results["smoke"] = True
    out.write_text(json.dumps(results, indent=1, sort_keys=True))
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(render_report(json.loads(out.read_text())))


if __name__ == "__main__":
    main()
