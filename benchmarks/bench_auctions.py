"""Seed 003 Section V (client recruitment auctions): speed, Experiment 5 (take-up) and Experiment 6 (learning).

    python benchmarks/bench_auctions.py speed                    # every mechanism at 100,000 users x 10 tasks
    python benchmarks/bench_auctions.py exp5 --seeds 5           # Fig. 7 (a), (b): take-up vs budget
    python benchmarks/bench_auctions.py exp6 --rounds 60 --seeds 3 --local-epochs 2  # Fig. 7 (c): B = 29, recruitment + FedFairMMFL
    python benchmarks/bench_auctions.py truthfulness             # how often overbidding pays, per mechanism
    python benchmarks/bench_auctions.py corollary10              # closed forms vs Monte Carlo, S = 2 exp bids
    python benchmarks/bench_auctions.py --smoke DIR              # every experiment on tiny offline data, into DIR
    python benchmarks/bench_auctions.py --report                 # benchmarks/auctions.md from the committed JSON, no run

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
from reporting import write_reports  # noqa: E402 (benchmarks/ is the script's folder)

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


# ---- the committed report (benchmarks/auctions.md), rendered from the committed JSON files alone ----

REPORT = "auctions.md"
REPORT_FILES = {w: f"auctions_{w}_results.json" for w in EXPERIMENTS}
PER_DRAW = Path("auction_figures") / "exp5" / "take_up.csv"  # exp5's every mechanism, budget and bid draw
MAXMIN, GMM, BF = "mmfl-max-min", "gmm-fair (NT)", "budget-fair"
GREEDY, RANDOM = "greedy-within-budget (NT)", "random-within-budget (NT)"


def _per_draw(path: Path) -> dict[tuple[float, int], dict[str, dict[str, float]]]:
    """{(budget, draw): {mechanism: {min_take_up, difference}}} from exp5's take_up.csv (empty when absent)."""
    import csv

    out: dict = {}
    if not path.is_file():
        return out
    with path.open() as f:
        for row in csv.DictReader(f):
            out.setdefault((float(row["budget"]), int(row["seed"])), {})[row["mechanism"]] = {
                "min_take_up": float(row["min_take_up"]), "difference": float(row["difference"])}
    return out


def _budgeted(mechanisms) -> list[str]:
    """The mechanisms that respect the budget (val-threshold's posted prices, "(NB)", ignore it)."""
    return [m for m in mechanisms if "(NB)" not in m]


def _difference_losses(cells: dict[str, dict[str, float]]) -> list[str]:
    """The mechanisms that reach a lower difference than mmfl-max-min in ``cells`` ({mechanism: {min_take_up,
    difference}}) while recruiting at least as many users for their worst task (a mechanism that recruits fewer can
    be "fair" by recruiting nobody); gmm-fair (0 by construction) aside."""
    mine = cells[MAXMIN]
    return [m for m, c in cells.items() if m not in (MAXMIN, GMM) and c["difference"] < mine["difference"] - 1e-9
            and c["min_take_up"] >= mine["min_take_up"] - 1e-9]


def _cells(grid: dict, i: int) -> dict[str, dict[str, float]]:
    return {m: {"min_take_up": grid[m]["min_take_up"][i], "difference": grid[m]["difference"][i]} for m in grid}


def _exp5_section(result: dict, draws: dict) -> tuple[list[str], dict]:
    main, low = result["grids"]["main"], result["grids"]["low"]
    grids = result["grids"]
    v: dict = {}
    lines = ["| mechanism | " + " | ".join(f"B={b}" for b in (1, 2, 5, 10, 20, 29, 40)) + " |",
             "|---|" + "---|" * 7]
    for label, values in main.items():
        at = [int(np.argmin(np.abs(np.asarray(values["budgets"]) - b))) for b in (1, 2, 5, 10, 20, 29, 40)]
        lines.append(f"| {label} | " + " | ".join(f"{values['min_take_up'][i]:.1f} ({values['difference'][i]:.1f})"
                                                 for i in at) + " |")
    shown_low = [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.5, 2.1, 2.9]
    lines += ["", "At the low end (the `low` grid, minimum take-up):", "",
              "| B | " + " | ".join(f"{b:g}" for b in shown_low) + " |", "|---|" + "---|" * len(shown_low)]
    for label in (MAXMIN, BF, GMM, GREEDY):
        if label in low:
            at = [int(np.argmin(np.abs(np.asarray(low[label]["budgets"]) - b))) for b in shown_low]
            lines.append(f"| {label} | " + " | ".join(f"{low[label]['min_take_up'][i]:.1f}" for i in at) + " |")
    n_b = {g: len(grid[MAXMIN]["budgets"]) for g, grid in grids.items()}
    # (a) the lowest difference, against every mechanism that recruits at least as many users for its worst task
    losses = {g: [b for i, b in enumerate(grid[MAXMIN]["budgets"]) if _difference_losses(_cells(grid, i))]
              for g, grid in grids.items()}
    cheaper = {g: sorted({m for i in range(n_b[g]) for m, c in _cells(grid, i).items()
                          if m not in (MAXMIN, GMM) and c["difference"] < grid[MAXMIN]["difference"][i] - 1e-9
                          and c["min_take_up"] < grid[MAXMIN]["min_take_up"][i]}) for g, grid in grids.items()}
    draw_losses = [k for k, cells in draws.items() if MAXMIN in cells and _difference_losses(cells)]
    mean_ok = not any(losses.values())
    v["lowest"] = "not reproduced" if not mean_ok else ("reproduced" if draws and not draw_losses else "direction only")
    diff_range = {g: (min(grid[MAXMIN]["difference"]), max(grid[MAXMIN]["difference"])) for g, grid in grids.items()}
    grow = {m: (main[m]["difference"][0], main[m]["difference"][-1]) for m in (BF, GREEDY, RANDOM) if m in main}
    v["fairer"] = "not reproduced" if any(b >= a for a, b in grow.values()) else "direction only"
    # (b) gmm-fair's highest minimum, among the mechanisms that respect the budget
    below = {g: [b for i, b in enumerate(grid[GMM]["budgets"])
                 if any(grid[m]["min_take_up"][i] > grid[GMM]["min_take_up"][i] + 1e-9 for m in _budgeted(grid))]
             for g, grid in grids.items()}
    gmm_draw = [k for k, cells in draws.items() if GMM in cells and any(
        cells[m]["min_take_up"] > cells[GMM]["min_take_up"] + 1e-9 for m in _budgeted(cells))]
    # where only mmfl-max-min is above gmm-fair, and by a fractional user (its last round pays fractions of a user;
    # gmm-fair, and Lemma 7, count whole users)
    fractional = {g: [b for i, b in enumerate(grid[GMM]["budgets"]) if b in below[g] and all(
        m == MAXMIN and grid[m]["min_take_up"][i] % 1 > 1e-9 for m in _budgeted(grid)
        if grid[m]["min_take_up"][i] > grid[GMM]["min_take_up"][i] + 1e-9)] for g, grid in grids.items()}
    only_fractional = all(set(below[g]) == set(fractional[g]) for g in grids)
    v["gmm"] = ("reproduced" if not any(below.values()) and draws and not gmm_draw else
                "direction only" if only_fractional else "not reproduced")
    # (c) mmfl-max-min above every other budgeted mechanism at the smallest budgets; greedy overtakes it
    others = [m for m in _budgeted(low) if m not in (MAXMIN, GMM)]
    lo_b = low[MAXMIN]["budgets"]
    best = [b for i, b in enumerate(lo_b) if all(low[MAXMIN]["min_take_up"][i] > low[m]["min_take_up"][i] for m in others)]
    beats_greedy = [b for i, b in enumerate(lo_b) if low[MAXMIN]["min_take_up"][i] > low[GREEDY]["min_take_up"][i]]
    greedy_from = min((b for b in lo_b if b > max(beats_greedy)), default=None) if beats_greedy else lo_b[0]
    greedy_main = all(main[GREEDY]["min_take_up"][i] > main[MAXMIN]["min_take_up"][i] for i in range(n_b["main"]))
    never_below = [m for m in (BF, RANDOM) if all(x >= y - 1e-9 for grid in (main, low) for x, y in
                                                  zip(grid[MAXMIN]["min_take_up"], grid[m]["min_take_up"]))]
    posted = {m: next((b for b, x, y in zip(main[MAXMIN]["budgets"], main[MAXMIN]["min_take_up"], main[m]["min_take_up"])
                       if x > y), None) for m in main if "(NB)" in m}
    v["constrained"] = "direction only" if best else "not reproduced"
    lines += [
        "", "**The paper's claims next to ours** (means over the bid draws in the JSON; per draw: "
        f"`{PER_DRAW.as_posix()}`, main grid only).", "",
        f"- *Fig. 7 (a): mmfl-max-min has the lowest difference across tasks, hitting gmm-fair's optimum.* "
        f"**{v['lowest'].capitalize()}** ({result['seeds']} bid draws): its difference stays at {diff_range['main'][0]:.2f}-"
        f"{diff_range['main'][1]:.2f} users ({diff_range['low'][0]:.2f}-{diff_range['low'][1]:.2f} on the low grid; "
        "gmm-fair's is 0 by construction, the remainder is the fractional last user). Against every mechanism that "
        "recruits at least as many users for its worst task it is the lowest on the mean at "
        f"{n_b['main'] - len(losses['main'])} of {n_b['main']} budgets (main grid) and {n_b['low'] - len(losses['low'])} "
        f"of {n_b['low']} (low grid)"
        + (f", and per draw in {len(draws) - len(draw_losses)} of {len(draws)} (budget, draw) pairs" if draws else "")
        + (f"; {', '.join(sorted(set(cheaper['main']) | set(cheaper['low'])))} reach a smaller difference at some "
           "budgets only by recruiting fewer users" if cheaper["main"] or cheaper["low"] else "")
        + " (`auctions_exp5_results.json` `grids.<main|low>.<mechanism>.{difference,min_take_up}`).",
        "- *Budget-fair and greedy become fairer as the budget grows.* **" + v["fairer"].capitalize() + "**: from "
        "B = 1 to B = 40 their differences go " + ", ".join(f"{m} {a:.1f} → {b:.1f}" for m, (a, b) in grow.items())
        + ". With 100 users and B <= 40 no task is saturated, and the per-task split B/S lets the cheaper task (the "
        "truncated Gaussian has more low bids) recruit ever more users than the linear one.",
        f"- *Fig. 7 (b) / Lemma 7: gmm-fair recruits the highest minimum.* **{v['gmm'].capitalize()}**: among the "
        "mechanisms that respect the budget it is the highest on the mean at "
        f"{n_b['main'] - len(below['main'])} of {n_b['main']} (main) and {n_b['low'] - len(below['low'])} of "
        f"{n_b['low']} (low) budgets"
        + (f", and per draw in {len(draws) - len(gmm_draw)} of {len(draws)} (budget, draw) pairs" if draws else "")
        + (f"; below mmfl-max-min at B = {', '.join(f'{b:g}' for g in grids for b in fractional[g])}, where "
           "mmfl-max-min's fractional last round counts fractions of a user and gmm-fair hires whole users only"
           if any(fractional.values()) else "")
        + " (`grids.<main|low>.<mechanism>.min_take_up`; it equals the brute-force optimum of eq. 36 in "
        "tests/test_auctions.py). The posted prices (NB) ignore the budget.",
        f"- *In the budget-constrained regime mmfl-max-min beats every other mechanism; as the budget grows the "
        f"greedy mechanisms overtake it.* **{v['constrained'].capitalize()}**: above every other budget-respecting "
        "mechanism but gmm-fair at B = " + (", ".join(f"{b:g}" for b in best) if best else "no budget")
        + " of the low grid; never below " + (" or ".join(never_below) if never_below else "-")
        + " at any budget; above greedy-within-budget at B = "
        + (", ".join(f"{b:g}" for b in beats_greedy) if beats_greedy else "none")
        + (f", and greedy is ahead at every budget from B = {greedy_from:g}" if greedy_from is not None else "")
        + (" (and at every budget of the main grid)" if greedy_main else "")
        + "; above the posted prices from B = "
        + ", ".join(f"{b:g} ({m})" if b is not None else f"never ({m})" for m, b in posted.items())
        + ". The crossover with greedy comes far earlier than in the paper's figure: a truthful uniform price costs "
        "t·b_t for t users of a task, pay-your-bid costs Σ_j≤t b_j, so greedy buys more users as soon as "
        "re-allocating between tasks stops being the binding advantage."]
    return lines, v


def render_report(results: dict[str, dict], draws: dict | None = None) -> str:
    """benchmarks/auctions.md from the five results JSON files (and exp5's per-draw CSV when given). Every number and
    verdict is computed here; the reading of the algorithms and the explanations are fixed text."""
    sp, e5, e6, tr, c10 = (results[w] for w in EXPERIMENTS)
    exp5_lines, v5 = _exp5_section(e5, draws or {})
    slowest = max(t["seconds"] for times in sp["seconds"].values() for t in times.values())
    truth = tr["rows"]
    v_truth = "reproduced" if truth.get(BF, {}).get("gaining", 1) == 0 else "not reproduced"
    gap = max(max(abs(r["max_min_formula"] - r["max_min_mc"]), abs(r["budget_fair_formula"] - r["budget_fair_mc"]))
              for r in c10["rows"])
    smaller = all(r["max_min_formula"] < r["budget_fair_formula"] and r["max_min_mc"] < r["budget_fair_mc"]
                  for r in c10["rows"])
    v_c10 = "reproduced" if smaller and gap < 0.01 else "not reproduced"
    rows6 = e6["rows"]
    final = {k: np.asarray(r["final_min_accuracy"], dtype=float) for k, r in rows6.items()}
    top = max(final, key=lambda k: final[k].mean())
    gmm, mm = final.get(GMM), final.get(MAXMIN)
    close = gmm is not None and mm is not None and abs(mm.mean() - gmm.mean()) <= max(mm.std(), gmm.std())
    gmm_top = top == GMM
    v6 = ("direction only" if (gmm_top or close) else "not reproduced") if e6["seeds"] < 5 else (
        "reproduced" if gmm_top and close else "direction only" if gmm_top or close else "not reproduced")
    marks = [r for r in (10, 20, 30, 40, 60) if r <= e6["rounds"]]
    lowest6 = min(final, key=lambda k: final[k].mean())
    status = (f"Fig. 7 (a) lowest difference **{v5['lowest']}**, budget-fair / greedy becoming fairer with the budget "
              f"**{v5['fairer']}**; Fig. 7 (b) GMMFair highest **{v5['gmm']}**, max-min best in the constrained regime "
              f"**{v5['constrained']}**; Corollary 10 **{v_c10}**; budget-fair truthfulness **{v_truth}**; Theorem 8 / "
              f"Corollary 9 **not attempted** as stated; Experiment 6 (Fig. 7 (c)) **{v6}** ({e6['seeds']} seeds: "
              f"indicative only). Experiment 5 averages {e5['seeds']} bid draws.")
    lines = [
        "# Seed 003 Section V: client recruitment auctions (take-up, truthfulness, learning)", "",
        "Generated by `python benchmarks/bench_auctions.py --report` from the JSON files named below (do not edit by "
        "hand; tests/test_bench_smoke.py checks it). Commands (2-core CPU machine; exp6 needs `../shared/data` with "
        "MNIST-5k and Fashion-MNIST):", "", "```bash",
        "python benchmarks/bench_auctions.py speed          # every mechanism at 100,000 users x 10 tasks",
        f"python benchmarks/bench_auctions.py exp5 --seeds {e5['seeds']} # Experiment 5, Fig. 7 (a), (b)",
        f"python benchmarks/bench_auctions.py truthfulness   # {tr['instances']} instances",
        f"python benchmarks/bench_auctions.py corollary10    # {c10['draws']} draws per budget",
        f"python benchmarks/bench_auctions.py exp6 --rounds {e6['rounds']} --seeds {e6['seeds']} --local-epochs "
        f"{e6['local_epochs']}   # Experiment 6, Fig. 7 (c)", "```", "",
        "Raw numbers: " + ", ".join(f"`{f}`" for f in REPORT_FILES.values()) + "; figures in `auction_figures/` "
        f"(`exp5/take_up_difference.png`, `exp5/take_up_min.png`, `exp6_min_accuracy.png`; `{PER_DRAW.as_posix()}` has "
        "every mechanism, budget and bid draw). `fedfair auction --simulate` produces the same Experiment 5 files for "
        "any bid laws.", "",
        f"**Status (issue 29).** {status} One row per result: [VERDICTS.md](VERDICTS.md).", "",
        "## How the algorithms were read (the extraction of Algorithm 3 is garbled)", "",
        "- **mmfl-max-min** (Algorithm 3): line 5's \"t-th biggest bid\" is read as the t-th *smallest* (line 2 sorts",
        "  ascending and Algorithm 2 uses the same symbol for the t-th smallest); line 6's test \"b ≤ B/t\" as",
        "  b_t,s ≤ B_s/t with the task's own current budget (lines 1, 8, 13 and 14 maintain per-task budgets). Every",
        "  full winner of a task is paid B_s/n_s (the proportional-share price of line 8). Re-allocation (lines",
        "  11-16) takes A from the passing tasks by waterfilling (their remaining surpluses are cut to a common",
        "  level, the richest give first). A == C counts as enough. In the fractional round (lines 17-21) the",
        "  failing tasks share C; when this happens in round 1 the failing tasks' own B/S, committed to nobody yet,",
        "  joins C (the prose: the round \"uses up the remaining budget\"). A task that runs out of bidders keeps its",
        "  users and only donates surplus. With these readings round t completes for every task exactly when",
        "  t · Σ_s b_t,s ≤ B, which is how the implementation finds the number of full rounds without a loop.",
        "- **budget-fair**: Section V-A's proportional share with B/S per task; **gmm-fair**: Algorithm 2, a task",
        "  that runs out of bidders drops out of the rounds.",
        "- **Baselines** as Experiment 5 describes them: val-threshold (posted price, no budget),",
        "  greedy- / random-within-budget (B/S per task, pay the bid, stop at the first user that does not fit).", "",
        f"## Speed ({sp['users']:,} users x {sp['tasks']} tasks, best of 3, seconds)", "",
        "| mechanism | " + " | ".join(f"B = {float(b):,.0f}" for b in next(iter(sp["seconds"].values()))) + " |",
        "|---|" + "---|" * len(next(iter(sp["seconds"].values())))]
    for name, times in sp["seconds"].items():
        lines.append(f"| {name} | " + " | ".join(f"{t['seconds']:.3f}" for t in times.values()) + " |")
    lines += ["", f"Slowest call {slowest:.3f} s: {'all under' if slowest < 1 else 'not all under'} a second (the "
              "target).", "",
              f"## Experiment 5: take-up vs budget (2 tasks, {e5['users']} users, {e5['seeds']} bid draws)", "",
              "Task 1 bids: truncated Gaussian (mean 0.5, std 0.2) on [0, 1]; task 2: increasing linear density 2x on "
              f"[0, 1] (`{e5['laws']}`; the paper does not give the Gaussian's parameters). Mean over the draws, "
              "minimum take-up over the two tasks, and in brackets the difference max − min (a fractional user counts "
              "as its fraction x):", "", *exp5_lines, "",
              "## Truthfulness (Theorem 8, Corollary 9)", "",
              f"{tr['instances']} random instances (8 users, 2 tasks, uniform bids, B in [0.2, 4]); for every (user, "
              "task) a grid of 40 higher bids, with full knowledge of the others' bids; utility = payment − x · cost "
              "(eq. 32, a fractional winner bears x of the cost):", "", truthfulness_markdown(tr), "",
              f"Budget-fair is truthful (also a test): **{v_truth}** ({truth[BF]['gaining']} of {truth[BF]['pairs']:,} "
              "pairs; `auctions_truthfulness_results.json` `rows.budget-fair.gaining`). Theorem 8 / Corollary 9 are "
              "**not attempted** as stated: this brute force does not check whether the profitable lies fall under "
              "Theorem 8's cases, nor Corollary 9's bound on the max-min objective. What it shows: overbidding pays "
              f"for mmfl-max-min in {truth[MAXMIN]['gaining'] / truth[MAXMIN]['pairs']:.1%} of the pairs at this small "
              "scale (where almost every auction has re-allocation or fractional rounds, Theorem 8's exceptions), with "
              f"a mean gain of {truth[MAXMIN]['mean_gain']:.3f} against "
              + ", ".join(f"{m} {truth[m]['mean_gain']:.3f}" for m in truth if m not in (BF, MAXMIN))
              + ". The paper's argument that such lies are hard in practice (they need the others' bids) is not "
              "tested: this brute force knows all bids.", "",
              "## Corollary 10 (S = 2, exponential bids)", "",
              f"K = {c10['users']} users per task, bids exp(1); probability that some task gets no (whole) user, "
              f"{c10['draws']:,} draws per budget (mechanisms run on the draws, bids and budget divided by the largest "
              "bid since the mechanisms are scale-free):", "", corollary10_markdown(c10), "",
              f"The closed forms are within {gap:.4f} of Monte Carlo, and the max-min auction's probability is "
              f"{'the smaller one at every B λ' if smaller else 'not always the smaller one'}, as the inequality of "
              f"Corollary 10 states: **{v_c10}** (`auctions_corollary10_results.json` `rows`; the extracted sentence "
              "\"strictly greater\" contradicts the inequality and these numbers; we read it as \"strictly smaller\").",
              "", f"## Experiment 6: recruitment with B = {e6['budget']:g}, then FedFairMMFL", "",
              f"Setting: {e6['clients']} clients (bidders), two tasks over the same clients: MNIST (the 5,000-row "
              "offline set) and the noisy-label Fashion-MNIST **stand-in for CIFAR-10** (30 % of labels replaced; the "
              f"paper's hard task), each client with 5 of the 10 classes of each task, {e6['rows_per_task'] // e6['clients']} "
              "rows per client per task. Bids drawn per seed from Experiment 5's laws, budget B; each mechanism "
              "recruits, then FedFairMMFL (alpha 3, every recruited client active, the CNN, lr 0.1, "
              f"{e6['local_epochs']} local epochs, batch 32) trains {e6['rounds']} rounds; {e6['seeds']} seeds; "
              f"{e6['seconds']:,.0f} s in all. Minimum accuracy over the two tasks, mean over seeds:", "",
              "| mechanism | take-up (task 1, task 2) | spent | " + " | ".join(f"round {r}" for r in marks)
              + " | final min accuracy (per seed) |", "|---|---|---|" + "---|" * len(marks) + "---|"]
    for label, row in rows6.items():
        take_up = np.mean([list(t.values()) for t in row["take_up"]], axis=0)
        lines.append(f"| {label} | {take_up[0]:.1f}, {take_up[1]:.1f} | {np.mean(row['spent']):.1f} | "
                     + " | ".join(f"{row['min_curve'][r - 1]:.3f}" for r in marks)
                     + f" | {final[label].mean():.3f} ± {final[label].std():.3f} ("
                     + " / ".join(f"{x:.3f}" for x in final[label]) + ") |")
    lines += ["", "Curves: `auction_figures/exp6_min_accuracy.png`.", "",
              f"*Paper: gmm-fair has the highest minimum accuracy (it recruits the most users per task); mmfl-max-min "
              f"nearly the same.* **{v6.capitalize()} ({e6['seeds']} seeds: indicative only; `auctions_exp6_results.json` "
              f"`rows.<mechanism>.final_min_accuracy`).** The highest mean is {top} ({final[top].mean():.3f})"
              + (f"; mmfl-max-min ({mm.mean():.3f}) is within one standard deviation of gmm-fair ({gmm.mean():.3f})"
                 if close else (f"; mmfl-max-min ({mm.mean():.3f}) is not within one standard deviation of gmm-fair "
                                f"({gmm.mean():.3f})" if mm is not None and gmm is not None else ""))
              + f"; the lowest is {lowest6} ({final[lowest6].mean():.3f}). The hard task's accuracy is limited by the "
              "stand-in's label noise (about 0.7 at 30 % noise) and by rounds more than by the number of clients. "
              f"Differences from the paper: offline stand-in for CIFAR-10, {e6['clients']} clients x "
              f"{e6['rows_per_task'] // e6['clients']} rows, {e6['rounds']} rounds, {e6['seeds']} seeds.", ""]
    return "\n".join(lines)


def reports(folder: Path = OUT) -> dict[str, str]:
    """The committed report rendered from the committed JSON files (and exp5's per-draw CSV) in ``folder``."""
    results = {w: json.loads((folder / f).read_text()) for w, f in REPORT_FILES.items()}
    return {REPORT: render_report(results, _per_draw(folder / PER_DRAW))}


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
    parser.add_argument("--report", action="store_true",
                        help="no run: render benchmarks/auctions.md again from the committed auctions_*_results.json")
    args = parser.parse_args(argv)
    if args.report:
        write_reports(reports(OUT), OUT)
        return
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
