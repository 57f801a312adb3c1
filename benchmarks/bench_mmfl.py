"""Seed 003 (multi-model FL): round cost, Experiment 2 / Table II and Experiment 4 on the offline task sets.

    python benchmarks/bench_mmfl.py speed --rounds 10          # FedFairMMFL round vs single-task FedAvg round
    python benchmarks/bench_mmfl.py exp2 --tasks 3,6 --seeds 2 --rounds 40
    python benchmarks/bench_mmfl.py exp4 --alphas 1,2,3,5,10 --rounds 40
    python benchmarks/bench_mmfl.py exp1 --clients 120 --active-rate 0.35 --rounds 40 --seeds 2
    python benchmarks/bench_mmfl.py acs --rounds 20 --seeds 2      # group fairness within tasks (acs-tasks)

Data: ``--data-root`` (default ../shared/data) must hold mnist/mnist_5k.csv.gz and
fashion-mnist/*.gz. Each writes benchmarks/mmfl_<what>_results.json and prints a markdown
table; exp4 also writes allocation maps. Offline stand-ins are named in the task sets' tasks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.registry import resolve_dataset  # noqa: E402
from fedfair.api import run_configs  # noqa: E402

OUT = REPO / "benchmarks"
COMMON = {"lr": 0.1, "local-epochs": 1, "batch-size": 32}


def _runs(configs: list[dict], clients: int) -> list[dict]:
    return run_configs(configs, echo=False, keep_going=False)


def speed(args: argparse.Namespace) -> dict:
    """Per-round wall time of FedFairMMFL on mmfl-3 (20 active clients, one task each) vs FedAvg on one of its
    tasks with the same 20 clients and the same CNN: (wall of R rounds - wall of 2 rounds) / (R - 2)."""
    root = resolve_dataset("mmfl-3", 0, data_root=args.data_root)
    single = root / "mnist"
    # a first run warms the simulation (Ray workers import torch and load the data once)
    configs = [{**COMMON, "strategy": "fedfair-mmfl", "dataset": str(root), "rounds": 2, "seed": 0,
                "out-dir": "/tmp/fedfair-bench/speed-warmup"}]
    for rounds in (2, args.rounds):
        configs.append({**COMMON, "strategy": "fedavg", "dataset": str(single), "rounds": rounds, "seed": 0,
                        "out-dir": f"/tmp/fedfair-bench/speed-fedavg-{rounds}"})
        configs.append({**COMMON, "strategy": "fedfair-mmfl", "dataset": str(root), "rounds": rounds, "seed": 0,
                        "out-dir": f"/tmp/fedfair-bench/speed-mmfl-{rounds}"})
    _, fa2, mm2, fa, mm = _runs(configs, 20)
    per_round = {"fedavg": (fa["wall_seconds"] - fa2["wall_seconds"]) / (args.rounds - 2),
                 "fedfair-mmfl": (mm["wall_seconds"] - mm2["wall_seconds"]) / (args.rounds - 2)}
    result = {"rounds": args.rounds, "clients": 20, "per_round_seconds": per_round,
              "ratio": per_round["fedfair-mmfl"] / per_round["fedavg"], "cpus": os.cpu_count()}
    print(f"per round: FedAvg {per_round['fedavg']:.3f} s, FedFairMMFL (3 tasks) {per_round['fedfair-mmfl']:.3f} s, "
          f"ratio {result['ratio']:.2f}")
    return result


def exp2(args: argparse.Namespace) -> dict:
    """Table II: 3 / 6 / 10 tasks, 20 clients, participation 1: mean and min accuracy over tasks, variance."""
    strategies = args.strategies.split(",")
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "tasks": {}}
    for n_tasks in [int(t) for t in args.tasks.split(",")]:
        root = resolve_dataset(f"mmfl-{n_tasks}", 0, data_root=args.data_root)
        configs = [{**COMMON, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                    "out-dir": f"/tmp/fedfair-bench/exp2{args.suffix}-{n_tasks}-{s}-{seed}"}
                   for s in strategies for seed in range(args.seeds)]
        started = time.time()
        summaries = _runs(configs, 20)
        rows = {}
        for s in strategies:
            mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
            rows[s] = {key: [x[key] for x in mine] for key in ("mean_accuracy", "min_accuracy", "accuracy_variance")}
            rows[s]["min_curve"] = [[min(v for k, v in h.items() if k != "round") for h in x["task_accuracy"]]
                                    for x in mine]
        result["tasks"][n_tasks] = {"rows": rows, "seconds": round(time.time() - started, 1)}
        _print_table(n_tasks, rows)
    return result


def _print_table(n_tasks: int, rows: dict) -> None:
    import numpy as np

    print(f"\n{n_tasks} tasks | mean acc | min acc | variance")
    for s, r in rows.items():
        cells = [f"{np.mean(r[k]):.3f} ± {np.std(r[k]):.3f}" for k in ("mean_accuracy", "min_accuracy", "accuracy_variance")]
        print(f"{s} | " + " | ".join(cells))


def exp1(args: argparse.Namespace) -> dict:
    """Experiment 1: the 3 tasks of mmfl-3 over many clients (paper: 120 clients, 150-250 points each from 5 of 10
    classes, active rate 0.35): min accuracy over rounds for FedFairMMFL (alpha 3), random and round robin."""
    from fedfair.partitioners.task_sets import build_task_set

    root = Path("/tmp/fedfair-bench") / f"mmfl-3-{args.clients}clients"
    if not (root / "tasks.json").is_file():
        build_task_set("mmfl-3", root, seed=0, data_root=args.data_root, clients=args.clients, limit=args.rows)
    strategies = ["mmfl-random", "mmfl-round-robin", "fedfair-mmfl"]
    configs = [{**COMMON, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                "active-rate": args.active_rate, "out-dir": f"/tmp/fedfair-bench/exp1-{s}-{seed}"}
               for s in strategies for seed in range(args.seeds)]
    summaries = _runs(configs, args.clients)
    rows = {}
    for s in strategies:
        mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
        rows[s] = {key: [x[key] for x in mine] for key in ("mean_accuracy", "min_accuracy", "accuracy_variance")}
        rows[s]["task_accuracy"] = [x["task_accuracy"] for x in mine]
    _print_table(3, rows)
    return {"clients": args.clients, "rows_per_task": args.rows, "active_rate": args.active_rate,
            "rounds": args.rounds, "seeds": args.seeds, "rows": rows}


def acs(args: argparse.Namespace) -> dict:
    """Beyond the paper: acs-tasks (ACSIncome + synthetic stand-ins, 47 states, MLP): does favouring the worst task
    change group fairness within tasks? Per task: client-mean accuracy, SP and EqOp for SEX and RAC1P."""
    import numpy as np

    root = resolve_dataset("acs-tasks", 0, data_root=args.data_root)
    strategies = ["mmfl-random", "fedfair-mmfl"]
    configs = [{**COMMON, "lr": 0.05, "strategy": s, "dataset": str(root), "rounds": args.rounds, "seed": seed,
                "out-dir": f"/tmp/fedfair-bench/acs-{s}-{seed}"} for s in strategies for seed in range(args.seeds)]
    summaries = _runs(configs, 47)
    result: dict = {"rounds": args.rounds, "seeds": args.seeds, "rows": {}}
    for s in strategies:
        mine = [x for c, x in zip(configs, summaries) if c["strategy"] == s]
        per_task = {}
        for task in mine[0]["tasks"]:
            means = [x["tasks"][task]["mean"] for x in mine]
            per_task[task] = {"accuracy": float(np.mean([m["accuracy"] for m in means]))}
            for attr in ("SEX", "RAC1P"):
                for metric in ("sp", "eqop"):
                    per_task[task][f"{metric}_{attr}"] = float(np.mean([m["fairness"][attr][metric] for m in means]))
        shares = np.array([[sum(e[t] for e in x["task_counts"]) for t in mine[0]["tasks"]] for x in mine], dtype=float)
        result["rows"][s] = {"tasks": per_task, "min_accuracy": float(np.mean([x["min_accuracy"] for x in mine])),
                             "share": dict(zip(mine[0]["tasks"], (shares.sum(0) / shares.sum()).round(3).tolist()))}
        print(s, json.dumps(result["rows"][s], indent=1))
    return result


def exp4(args: argparse.Namespace) -> dict:
    """Experiment 4: allocation per alpha on mmfl-6 (20 clients, participation 1); share of clients per task."""
    import numpy as np

    root = resolve_dataset("mmfl-6", 0, data_root=args.data_root)
    alphas = [float(a) for a in args.alphas.split(",")]
    configs = [{**COMMON, "strategy": "fedfair-mmfl", "alpha": a, "dataset": str(root), "rounds": args.rounds, "seed": 0,
                "out-dir": f"/tmp/fedfair-bench/exp4/alpha-{a:g}"} for a in alphas]
    configs.append({**COMMON, "strategy": "mmfl-random", "dataset": str(root), "rounds": args.rounds, "seed": 0,
                    "out-dir": "/tmp/fedfair-bench/exp4/random"})
    summaries = _runs(configs, 20)
    figures = OUT / "mmfl_figures"
    figures.mkdir(exist_ok=True)
    for config in configs:  # keep the allocation maps (Fig. 6 style), not the run directories
        shutil.copy(Path(config["out-dir"]) / "allocation.png", figures / f"exp4_allocation_{Path(config['out-dir']).name}.png")
    result: dict = {"rounds": args.rounds, "alphas": {}}
    for label, summary in zip([f"alpha={a:g}" for a in alphas] + ["random"], summaries):
        tasks = list(summary["tasks"])
        counts = np.array([[entry[t] for t in tasks] for entry in summary["task_counts"]], dtype=float)
        result["alphas"][label] = {"share": dict(zip(tasks, (counts.sum(0) / counts.sum()).round(3).tolist())),
                                   "min_accuracy": summary["min_accuracy"], "mean_accuracy": summary["mean_accuracy"]}
        print(label, result["alphas"][label])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "exp1", "exp2", "exp4", "acs"))
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", default="3,6,10")
    parser.add_argument("--strategies", default="mmfl-random,mmfl-round-robin,fedfair-mmfl,mmfl-qffl")
    parser.add_argument("--alphas", default="1,2,3,5,10")
    parser.add_argument("--clients", type=int, default=120)
    parser.add_argument("--rows", type=int, default=5000, help="exp1: rows per task (MNIST-5k bounds it offline)")
    parser.add_argument("--active-rate", type=float, default=0.35)
    parser.add_argument("--suffix", default="", help="appended to the results file name, e.g. _120rounds")
    args = parser.parse_args()
    os.environ.setdefault("FEDFAIR_DATA_ROOT", args.data_root)
    result = {"speed": speed, "exp1": exp1, "exp2": exp2, "exp4": exp4, "acs": acs}[args.what](args)
    path = OUT / f"mmfl_{args.what}{args.suffix}_results.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
