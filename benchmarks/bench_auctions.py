"""Seed 003 Section V (client recruitment auctions): speed, Experiment 5 (take-up) and Experiment 6 (learning).

    python benchmarks/bench_auctions.py speed                    # every mechanism at 100,000 users x 10 tasks
    python benchmarks/bench_auctions.py exp5 --seeds 5           # Fig. 7 (a), (b): take-up vs budget
    python benchmarks/bench_auctions.py exp6 --rounds 60 --seeds 3 --local-epochs 2  # Fig. 7 (c): B = 29, recruitment + FedFairMMFL
    python benchmarks/bench_auctions.py truthfulness             # how often overbidding pays, per mechanism
    python benchmarks/bench_auctions.py corollary10              # closed forms vs Monte Carlo, S = 2 exp bids

Each writes benchmarks/auctions_<what>_results.json and prints a markdown table; figures go to
benchmarks/auction_figures/. exp6 needs ``--data-root`` (default ../shared/data) with MNIST-5k and
Fashion-MNIST.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fedfair.recruitment import (  # noqa: E402
    EXPERIMENT_5, draw_bids, mean_over_seeds, parse_distributions, simulate_take_up, write_take_up,
)
from fedfair.strategies.auctions import MECHANISMS, run_mechanism  # noqa: E402

OUT = REPO / "benchmarks"
FIGURES = OUT / "auction_figures"
LAWS = "gauss:0.5:0.2,linear"


def speed(args: argparse.Namespace) -> dict:
    """Wall time of every mechanism on 100,000 users x 10 tasks (tasks alternate Experiment 5's two bid laws),
    at budgets from constrained to generous; best of 3 calls."""
    laws = parse_distributions(",".join([LAWS] * 5))
    bids = draw_bids(laws, args.users, np.random.default_rng(0))
    result: dict = {"users": args.users, "tasks": len(laws), "seconds": {}}
    for name in MECHANISMS:
        times = {}
        for budget in (10.0, 1_000.0, 100_000.0):
            best = np.inf
            for _ in range(3):
                started = time.perf_counter()
                auction = run_mechanism(name, bids, budget, seed=0, price=0.4)
                best = min(best, time.perf_counter() - started)
            times[f"{budget:g}"] = {"seconds": round(best, 4), "min_take_up": float(min(auction.take_up))}
        result["seconds"][name] = times
    print(f"| mechanism | B = 10 | B = 1,000 | B = 100,000 |  ({args.users} users x {len(laws)} tasks, seconds)")
    print("|---|---|---|---|")
    for name, times in result["seconds"].items():
        print(f"| {name} | " + " | ".join(f"{t['seconds']:.3f}" for t in times.values()) + " |")
    return result


def exp5(args: argparse.Namespace) -> dict:
    """Experiment 5: 100 users, task 1 truncated Gaussian bids, task 2 increasing linear, every mechanism at every
    budget, mean over seeds; also the low-budget end at a finer grid."""
    laws = parse_distributions(args.laws)
    result: dict = {"users": args.users, "laws": args.laws, "seeds": args.seeds, "grids": {}}
    for grid, budgets in (("main", np.linspace(1, 40, 40)), ("low", np.linspace(0.1, 3.0, 30))):
        rows = simulate_take_up(args.users, laws, budgets, args.seeds)
        if grid == "main":
            write_take_up(rows, FIGURES / f"exp5{args.suffix}", ["task1", "task2"])
        minimum, spread = mean_over_seeds(rows, "min_take_up"), mean_over_seeds(rows, "difference")
        result["grids"][grid] = {label: {"budgets": minimum[label][0].tolist(), "min_take_up": minimum[label][1].tolist(),
                                         "difference": spread[label][1].tolist()} for label, _, _ in EXPERIMENT_5}
    main = result["grids"]["main"]
    shown = [1, 2, 5, 10, 20, 29, 40]
    print("| mechanism | " + " | ".join(f"B={b}" for b in shown) + " |  min take-up (difference)")
    print("|---|" + "---|" * len(shown))
    for label, values in main.items():
        cells = [f"{values['min_take_up'][b - 1]:.1f} ({values['difference'][b - 1]:.1f})" for b in shown]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return result


def exp6(args: argparse.Namespace) -> dict:
    """Experiment 6: B = 29; each mechanism recruits from 100 clients' bids (Experiment 5's laws), then FedFairMMFL
    trains the two tasks (MNIST and the noisy Fashion-MNIST stand-in for CIFAR-10) with the recruited clients:
    minimum test accuracy across the tasks per round (Fig. 7 (c))."""
    from fedfair.api import run_configs
    from fedfair.partitioners.task_sets import build_image_tasks

    root = Path("/tmp/fedfair-bench") / f"exp6-{args.clients}clients"
    if not (root / "tasks.json").is_file():
        build_image_tasks(root, "exp6", ["mnist", "fashion-mnist-noisy30"], seed=0, data_root=args.data_root,
                          clients=args.clients, limit=args.rows, paper="seed 003, Experiment 6")
    lineup = [("mmfl-max-min", "mmfl-max-min", {}), ("budget-fair", "budget-fair", {}), ("gmm-fair (NT)", "gmm-fair", {}),
              ("val-threshold 0.4 (NB)", "val-threshold", {"posted-price": 0.4}),
              ("greedy-within-budget (NT)", "greedy-within-budget", {})]
    configs = [{"strategy": "fedfair-mmfl", "dataset": str(root), "rounds": args.rounds, "seed": seed, "lr": 0.1,
                "local-epochs": args.local_epochs,
                "recruit": mechanism, "budget": args.budget, "bid-distributions": LAWS, **extra,
                "out-dir": f"/tmp/fedfair-bench/exp6-{mechanism}-{extra.get('posted-price', '')}-{seed}"}
               for _, mechanism, extra in lineup for seed in range(args.seeds)]
    started = time.time()
    summaries = run_configs(configs, echo=False, keep_going=False)
    result: dict = {"clients": args.clients, "rows_per_task": args.rows, "budget": args.budget, "rounds": args.rounds,
                    "local_epochs": args.local_epochs,
                    "seeds": args.seeds, "seconds": round(time.time() - started, 1), "rows": {}}
    for i, (label, _, _) in enumerate(lineup):
        mine = summaries[i * args.seeds:(i + 1) * args.seeds]
        curves = [[min(v for k, v in h.items() if k != "round") for h in s["task_accuracy"]] for s in mine]
        result["rows"][label] = {
            "take_up": [s["recruitment"]["take_up"] for s in mine], "spent": [s["recruitment"]["spent"] for s in mine],
            "min_curve": np.mean(curves, axis=0).tolist(), "final_min_accuracy": [s["min_accuracy"] for s in mine],
            "final_mean_accuracy": [s["mean_accuracy"] for s in mine],
        }
    _plot_exp6(result)
    print("| mechanism | take-up (task 1, task 2) | spent | min accuracy, last round | mean accuracy |")
    print("|---|---|---|---|---|")
    for label, row in result["rows"].items():
        take_up = np.mean([list(t.values()) for t in row["take_up"]], axis=0)
        print(f"| {label} | {take_up[0]:.1f}, {take_up[1]:.1f} | {np.mean(row['spent']):.1f} | "
              f"{np.mean(row['final_min_accuracy']):.3f} ± {np.std(row['final_min_accuracy']):.3f} | "
              f"{np.mean(row['final_mean_accuracy']):.3f} |")
    return result


def truthfulness(args: argparse.Namespace) -> dict:
    """Random instances (8 users, 2 tasks, uniform bids, budgets 0.2-4): for every (user, task) with a bid, does
    some higher bid (a grid of 40 raises) give the user more utility (payment - participation x cost) than
    bidding its cost? Share of such pairs and the mean best gain among them, per mechanism."""
    rng = np.random.default_rng(0)
    raises = np.linspace(0.01, 0.99, 40)
    mechanisms = ["budget-fair", "mmfl-max-min", "gmm-fair", "greedy-within-budget"]
    counts = {m: [0, 0, []] for m in mechanisms}
    for _ in range(args.instances):
        costs = rng.random((8, 2))
        budget = float(rng.uniform(0.2, 4.0))
        for name in mechanisms:
            truthful = run_mechanism(name, costs, budget)
            for i in range(8):
                for s_ in range(2):
                    base = _utility(truthful, i, s_, costs[i, s_])
                    best = 0.0
                    for extra in raises:
                        lied = costs.copy()
                        lied[i, s_] = min(1.0, costs[i, s_] + extra)
                        best = max(best, _utility(run_mechanism(name, lied, budget), i, s_, costs[i, s_]) - base)
                    counts[name][0] += 1
                    if best > 1e-9:
                        counts[name][1] += 1
                        counts[name][2].append(best)
    result = {"instances": args.instances, "rows": {}}
    print("| mechanism | (user, task) pairs | overbidding pays | mean best gain when it does |")
    print("|---|---|---|---|")
    for name, (pairs, gaining, gains) in counts.items():
        result["rows"][name] = {"pairs": pairs, "gaining": gaining, "mean_gain": float(np.mean(gains)) if gains else 0.0}
        print(f"| {name} | {pairs} | {gaining} ({gaining / pairs:.1%}) | {result['rows'][name]['mean_gain']:.4f} |")
    return result


def _utility(auction, user: int, task: int, cost: float) -> float:
    """Eq. 32 with a fractional winner doing (and bearing the cost of) a fraction x of the work."""
    share = 1.0 if auction.participation is None else auction.participation[user, task]
    joined = user in auction.winners[task]
    return float(auction.payments[user, task] - share * cost) if joined else 0.0


def corollary10(args: argparse.Namespace) -> dict:
    """Corollary 10, S = 2, K users bidding exp(rate): P(some task gets no whole user) under the max-min auction,
    exp(-B lam)(1 + B lam), and under budget-fair, exp(-B lam)(2 exp(B lam / 2) - 1), lam = K rate, against the
    mechanisms run on draws (bids and budget divided by the largest bid: the mechanisms are scale-free)."""
    from fedfair.strategies.auctions import budget_fair, mmfl_max_min

    rng = np.random.default_rng(0)
    users, draws = 10, args.draws
    result: dict = {"users": users, "draws": draws, "rows": []}
    print("| B lam | max-min: formula | max-min: Monte Carlo | budget-fair: formula | budget-fair: Monte Carlo |")
    print("|---|---|---|---|---|")
    for bl in (0.5, 1.0, 2.0, 4.0):
        budget = bl / users  # rate 1
        empty = np.zeros(2)
        for _ in range(draws):
            bids = rng.exponential(1.0, size=(users, 2))
            scale = bids.max()
            empty[0] += min(mmfl_max_min(bids / scale, budget / scale, fractional=False).take_up) == 0
            empty[1] += min(budget_fair(bids / scale, budget / scale).take_up) == 0
        row = {"b_lambda": bl, "max_min_formula": float(np.exp(-bl) * (1 + bl)), "max_min_mc": empty[0] / draws,
               "budget_fair_formula": float(np.exp(-bl) * (2 * np.exp(bl / 2) - 1)), "budget_fair_mc": empty[1] / draws}
        result["rows"].append(row)
        print(f"| {bl:g} | {row['max_min_formula']:.4f} | {row['max_min_mc']:.4f} | {row['budget_fair_formula']:.4f} | "
              f"{row['budget_fair_mc']:.4f} |")
    return result


def _plot_exp6(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, row in result["rows"].items():
        curve = row["min_curve"]
        ax.plot(range(1, len(curve) + 1), curve, label=label, linewidth=2.2 if label == "mmfl-max-min" else 1.2)
    ax.set_xlabel("round")
    ax.set_ylabel("minimum accuracy over the two tasks")
    ax.set_title(f"(c) recruitment with B = {result['budget']:g}, then FedFairMMFL")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(FIGURES / "exp6_min_accuracy.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "exp5", "exp6", "truthfulness", "corollary10"))
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--users", type=int, default=None, help="speed: 100000; exp5: 100")
    parser.add_argument("--laws", default=LAWS, help="exp5: one bid law per task")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--budget", type=float, default=29.0, help="exp6: the paper's constrained budget")
    parser.add_argument("--clients", type=int, default=100, help="exp6: clients (bidders)")
    parser.add_argument("--local-epochs", type=int, default=1, help="exp6: local epochs per round")
    parser.add_argument("--rows", type=int, default=5000, help="exp6: rows per task (MNIST-5k bounds it offline)")
    parser.add_argument("--instances", type=int, default=200, help="truthfulness: random instances")
    parser.add_argument("--draws", type=int, default=20000, help="corollary10: Monte-Carlo draws per budget")
    parser.add_argument("--suffix", default="", help="appended to the results file name")
    args = parser.parse_args()
    if args.users is None:
        args.users = 100_000 if args.what == "speed" else 100
    result = {"speed": speed, "exp5": exp5, "exp6": exp6, "truthfulness": truthfulness,
              "corollary10": corollary10}[args.what](args)
    path = OUT / f"auctions_{args.what}{args.suffix}_results.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
