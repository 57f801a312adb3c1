"""Client failures (issue: production readiness): FedAvg, IFCA, FL+HC, FairFed and Standalone with and without
``fail-rate=0.2``, 10 rounds, on synthetic-gaussian-8 and on FeDa4Fair's attribute-silo release.

    python benchmarks/bench_failures.py [--rounds 10] [--fail-rate 0.2]
    python benchmarks/bench_failures.py --smoke DIR   # seconds: every run, 2 rounds, stand-in release, files in DIR
    python benchmarks/bench_failures.py --report      # benchmarks/failures.md from the committed JSON, no run

Prints, per dataset and strategy, the mean and worst-client accuracy and the mean SP of the fault-free run and
of the run with failures, the failures recorded (``render_report``: a function of the JSON), and writes
benchmarks/failures_results.json and the report benchmarks/failures.md rendered from it (``render_markdown``).

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
from reporting import write_reports  # noqa: E402 (benchmarks/ is the script's folder)

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


REPORT = "failures.md"


def render_markdown(results: dict) -> str:
    """benchmarks/failures.md from failures_results.json alone: the table per dataset and strategy and the changes it
    shows (every number computed here; the settings are fixed text)."""
    order = list(STRATEGIES)
    rows, changes = [], []
    for name, table in results["datasets"].items():
        for strategy in sorted(table, key=lambda s: (order.index(s) if s in order else len(order), s)):
            free, faulty = table[strategy]["fault-free"], table[strategy]["faults"]
            rows.append(f"| {name} | {strategy} | {free['mean_accuracy']:.4f} → {faulty['mean_accuracy']:.4f} | "
                        f"{free['worst_accuracy']:.4f} → {faulty['worst_accuracy']:.4f} | {free['mean_sp']:.4f} → "
                        f"{faulty['mean_sp']:.4f} | {faulty['failures']} |")
            changes.append({k: faulty[k] - free[k] for k in ("mean_accuracy", "worst_accuracy", "mean_sp")}
                           | {"dataset": name, "strategy": strategy})
    acc = max(changes, key=lambda c: abs(c["mean_accuracy"]))
    worst = max(changes, key=lambda c: abs(c["worst_accuracy"]))
    sp = {name: max(abs(c["mean_sp"]) for c in changes if c["dataset"] == name) for name in results["datasets"]}
    return "\n".join([
        f"# Client failures: five strategies with and without `fail-rate={results['fail_rate']:g}`", "",
        "Generated by `python benchmarks/bench_failures.py` from [failures_results.json](failures_results.json) (do "
        "not edit by hand; `--report` renders it again without a run; tests/test_bench_smoke.py checks it).", "",
        f"{results['rounds']} rounds, seed 0, `min-replies` {results['min_replies']:g} (with 8 clients and a 20 % "
        "failure rate, 5 or more failures in one round would stop a run at the default 0.5). synthetic-gaussian-8: "
        "logistic regression, fedfair's defaults; attribute-silo: FeDa4Fair's release (47 states), MLP 32, batch 64, "
        "`sensitive=SEX`. IFCA and FL+HC with 2 clusters (FL+HC clusters after round 3). Failures are injected in "
        "training only (every client is evaluated every round), seeded by the run seed, the round and the client, so "
        "the same clients fail in every strategy (FL+HC and IFCA count their extra messages: the personalisation "
        "before clustering and the initial cluster models). A robustness check, not a paper result; one seed (0): "
        "indicative only. The attribute-silo release of the committed JSON was built with the ACS code columns "
        "standardised per client as plain numbers (the encoding before the one-hot / min-max change).", "",
        "| dataset | strategy | mean accuracy: fault-free → failures | worst-client accuracy | mean SP | failures "
        "recorded |", "|---|---|---|---|---|---|", *rows, "",
        f"With failures every strategy ends within {abs(acc['mean_accuracy']):.4f} of its fault-free mean accuracy "
        f"(largest change: {acc['strategy']} on {acc['dataset']}, {acc['mean_accuracy']:+.4f}) and within "
        + ", ".join(f"{v:.4f} of its mean SP on {name}" for name, v in sp.items())
        + f"; worst-client accuracy moves by at most {abs(worst['worst_accuracy']):.4f} ({worst['strategy']} on "
        f"{worst['dataset']}).", ""])


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
    parser.add_argument("--report", action="store_true",
                        help="no run: render benchmarks/failures.md again from the committed failures_results.json")
    args = parser.parse_args(argv)
    if args.report:
        write_reports(reports(OUT), OUT)
        return
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
    saved = json.loads(out.read_text())
    if args.smoke:
        (args.smoke / f"{Path(__file__).stem}.md").write_text(render_report(saved) + "\n" + render_markdown(saved))
    else:
        (OUT / REPORT).write_text(render_markdown(saved))


def reports(folder: Path = OUT) -> dict[str, str]:
    """The committed report rendered from folder/failures_results.json alone: {file name: markdown}."""
    return {REPORT: render_markdown(json.loads((folder / "failures_results.json").read_text()))}


if __name__ == "__main__":
    main()
