"""Seed 003 Section V (client recruitment auctions): speed, Experiment 5 (take-up) and Experiment 6 (learning).

    python benchmarks/bench_auctions.py speed                    # every mechanism at 100,000 users x 10 tasks
    python benchmarks/bench_auctions.py exp5 --seeds 5           # Fig. 7 (a), (b): take-up vs budget
    python benchmarks/bench_auctions.py exp6 --rounds 60 --seeds 3 --local-epochs 2  # Fig. 7 (c): B = 29, recruitment + FedFairMMFL
    python benchmarks/bench_auctions.py truthfulness             # how often overbidding pays, per mechanism
    python benchmarks/bench_auctions.py corollary10              # closed forms vs Monte Carlo, S = 2 exp bids
    python benchmarks/bench_auctions.py --smoke DIR              # every experiment on tiny offline data, into DIR

Each writes benchmarks/auctions_<what>_results.json and prints a markdown table rendered from that JSON
(:func:`render_markdown`); figures go to benchmarks/auction_figures/. exp6 needs ``--data-root`` (default
../shared/data) with MNIST-5k and Fashion-MNIST.

``--smoke DIR`` runs all five experiments (or only ``what`` when given) through the same functions with tiny
sizes (speed: 2,000 users; exp5: 100 users, 1 seed; exp6: scikit-learn's digits and its noisy-label variant as
the two image tasks, 10 clients, 300 rows per task, 1 round, 1 seed; truthfulness: 2 instances; corollary10:
200 draws) in seconds, with no ../shared: every file goes under DIR (auctions_<what>_results.json with
``"smoke": true``, bench_auctions.md, auction_figures/, the exp6 task set and run directories in DIR/work).
"""

from __future__ import annotations

import argparse
import json
import shutil
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
WORK = Path("/tmp/fedfair-bench")  # exp6's task set and run directories
LAWS = "gauss:0.5:0.2,linear"
EXPERIMENTS = ("speed", "exp5", "exp6", "truthfulness", "corollary10")
# exp6's two image tasks (keys of partitioners/task_sets.TASKS): MNIST and the noisy Fashion-MNIST stand-in for CIFAR-10
EXP6_TASKS = ["mnist", "fashion-mnist-noisy30"]
# --smoke: tiny sizes; digits and its 30 %-noisy variant are the offline stand-in (same shape: two image tasks of
# 10 classes, the second the harder) for exp6's MNIST / Fashion-MNIST task set, which needs ../shared; a tenth of
# the clients with a tenth of B = 29 keeps the budget binding
SMOKE = {"seeds": 1, "rounds": 1, "budget": 2.9, "clients": 10, "rows": 300, "local_epochs": 1, "instances": 2,
         "draws": 200, "laws": LAWS, "suffix": "", "exp6_tasks": ["digits", "digits-noisy30"]}
SMOKE_USERS = {"speed": 2_000}  # the others keep Experiment 5's 100 users


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
    return result


def speed_markdown(result: dict) -> str:
    lines = [f"| mechanism | B = 10 | B = 1,000 | B = 100,000 |  ({result['users']} users x {result['tasks']} tasks, "
             f"seconds)", "|---|---|---|---|"]
    for name, times in result["seconds"].items():
        lines.append(f"| {name} | " + " | ".join(f"{t['seconds']:.3f}" for t in times.values()) + " |")
    return "\n".join(lines)


def exp5(args: argparse.Namespace) -> dict:
    """Experiment 5: 100 users, task 1 truncated Gaussian bids, task 2 increasing linear, every mechanism at every
    budget, mean over seeds; also the low-budget end at a finer grid."""
    laws = parse_distributions(args.laws)
    result: dict = {"users": args.users, "laws": args.laws, "seeds": args.seeds, "grids": {}}
    for grid, budgets in (("main", np.linspace(1, 40, 40)), ("low", np.linspace(0.1, 3.0, 30))):
        rows = simulate_take_up(args.users, laws, budgets, args.seeds)
        if grid == "main":
            write_take_up(rows, args.figures / f"exp5{args.suffix}", ["task1", "task2"])
        minimum, spread = mean_over_seeds(rows, "min_take_up"), mean_over_seeds(rows, "difference")
        result["grids"][grid] = {label: {"budgets": minimum[label][0].tolist(), "min_take_up": minimum[label][1].tolist(),
                                         "difference": spread[label][1].tolist()} for label, _, _ in EXPERIMENT_5}
    return result


def exp5_markdown(result: dict) -> str:
    shown = [1, 2, 5, 10, 20, 29, 40]
    lines = ["| mechanism | " + " | ".join(f"B={b}" for b in shown) + " |  min take-up (difference)",
             "|---|" + "---|" * len(shown)]
    for label, values in result["grids"]["main"].items():
        at = [int(np.argmin(np.abs(np.asarray(values["budgets"]) - b))) for b in shown]  # the grid point of each B
        cells = [f"{values['min_take_up'][i]:.1f} ({values['difference'][i]:.1f})" for i in at]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def exp6(args: argparse.Namespace) -> dict:
    """Experiment 6: B = 29; each mechanism recruits from 100 clients' bids (Experiment 5's laws), then FedFairMMFL
    trains the two tasks (MNIST and the noisy Fashion-MNIST stand-in for CIFAR-10) with the recruited clients:
    minimum test accuracy across the tasks per round (Fig. 7 (c))."""
    from fedfair.api import run_configs
    from fedfair.partitioners.task_sets import build_image_tasks

    root = args.work / f"exp6-{args.clients}clients"
    if not (root / "tasks.json").is_file():
        build_image_tasks(root, "exp6", args.exp6_tasks, seed=0, data_root=args.data_root,
                          clients=args.clients, limit=args.rows, paper="seed 003, Experiment 6")
    lineup = [("mmfl-max-min", "mmfl-max-min", {}), ("budget-fair", "budget-fair", {}), ("gmm-fair (NT)", "gmm-fair", {}),
              ("val-threshold 0.4 (NB)", "val-threshold", {"posted-price": 0.4}),
              ("greedy-within-budget (NT)", "greedy-within-budget", {})]
    configs = [{"strategy": "fedfair-mmfl", "dataset": str(root), "rounds": args.rounds, "seed": seed, "lr": 0.1,
                "local-epochs": args.local_epochs,
                "recruit": mechanism, "budget": args.budget, "bid-distributions": LAWS, **extra,
                "out-dir": str(args.work / f"exp6-{mechanism}-{extra.get('posted-price', '')}-{seed}")}
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
    _plot_exp6(result, args.figures)
    return result


def exp6_markdown(result: dict) -> str:
    lines = ["| mechanism | take-up (task 1, task 2) | spent | min accuracy, last round | mean accuracy |",
             "|---|---|---|---|---|"]
    for label, row in result["rows"].items():
        take_up = np.mean([list(t.values()) for t in row["take_up"]], axis=0)
        lines.append(f"| {label} | {take_up[0]:.1f}, {take_up[1]:.1f} | {np.mean(row['spent']):.1f} | "
                     f"{np.mean(row['final_min_accuracy']):.3f} ± {np.std(row['final_min_accuracy']):.3f} | "
                     f"{np.mean(row['final_mean_accuracy']):.3f} |")
    return "\n".join(lines)


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
    for name, (pairs, gaining, gains) in counts.items():
        result["rows"][name] = {"pairs": pairs, "gaining": gaining, "mean_gain": float(np.mean(gains)) if gains else 0.0}
    return result


def truthfulness_markdown(result: dict) -> str:
    lines = ["| mechanism | (user, task) pairs | overbidding pays | mean best gain when it does |", "|---|---|---|---|"]
    for name, row in result["rows"].items():
        pairs, gaining = row["pairs"], row["gaining"]
        lines.append(f"| {name} | {pairs} | {gaining} ({gaining / pairs:.1%}) | {row['mean_gain']:.4f} |")
    return "\n".join(lines)


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
    return result


def corollary10_markdown(result: dict) -> str:
    lines = ["| B lam | max-min: formula | max-min: Monte Carlo | budget-fair: formula | budget-fair: Monte Carlo |",
             "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['b_lambda']:g} | {row['max_min_formula']:.4f} | {row['max_min_mc']:.4f} | "
                     f"{row['budget_fair_formula']:.4f} | {row['budget_fair_mc']:.4f} |")
    return "\n".join(lines)


def _plot_exp6(result: dict, figures: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, row in result["rows"].items():
        curve = row["min_curve"]
        ax.plot(range(1, len(curve) + 1), curve, label=label, linewidth=2.2 if label == "mmfl-max-min" else 1.2)
    ax.set_xlabel("round")
    ax.set_ylabel("minimum accuracy over the two tasks")
    ax.set_title(f"(c) recruitment with B = {result['budget']:g}, then FedFairMMFL")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figures / "exp6_min_accuracy.png", dpi=120)
    plt.close(fig)


RUNS = {"speed": speed, "exp5": exp5, "exp6": exp6, "truthfulness": truthfulness, "corollary10": corollary10}
MARKDOWN = {"speed": speed_markdown, "exp5": exp5_markdown, "exp6": exp6_markdown,
            "truthfulness": truthfulness_markdown, "corollary10": corollary10_markdown}


def render_markdown(what: str, result: dict) -> str:
    """The markdown table of one experiment, from its results JSON alone."""
    return MARKDOWN[what](result)


def run_experiment(what: str, args: argparse.Namespace, out: Path, smoke: bool = False) -> Path:
    """Run ``what``, write out/auctions_<what><suffix>_results.json, print the table rendered from that file."""
    result = RUNS[what](args)
    if smoke:
        result["smoke"] = True
    path = out / f"auctions_{what}{args.suffix}_results.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(render_markdown(what, json.loads(path.read_text())))  # from the JSON: the report can be regenerated
    print(f"wrote {path}")
    return path


def smoke(args: argparse.Namespace) -> None:
    """Every experiment (or ``args.what``) at SMOKE's sizes, every file under args.smoke; bench_auctions.md
    holds the tables rendered from the JSON files."""
    out = args.smoke.expanduser().resolve()
    vars(args).update(SMOKE, data_root=None, figures=out / "auction_figures", work=out / "work")
    shutil.rmtree(args.work, ignore_errors=True)  # run directories of an earlier smoke run in DIR would refuse a rerun
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for what in [args.what] if args.what else EXPERIMENTS:
        args.users = SMOKE_USERS.get(what, 100)
        path = run_experiment(what, args, out, smoke=True)
        sections.append(f"## {what}\n\n{render_markdown(what, json.loads(path.read_text()))}\n")
    (out / f"{Path(__file__).stem}.md").write_text("\n".join(sections))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=EXPERIMENTS, help="the experiment (required unless --smoke)")
    parser.add_argument("--smoke", type=Path, metavar="DIR",
                        help="run every experiment (or only WHAT) on tiny offline data in seconds (exp6 on digits); "
                             "write every file into DIR")
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
    args = parser.parse_args(argv)
    if args.smoke is not None:
        smoke(args)
        return
    if args.what is None:
        parser.error("the following arguments are required: what (or --smoke DIR)")
    if args.users is None:
        args.users = 100_000 if args.what == "speed" else 100
    args.figures, args.work, args.exp6_tasks = FIGURES, WORK, EXP6_TASKS
    run_experiment(args.what, args, OUT)


if __name__ == "__main__":
    main()
