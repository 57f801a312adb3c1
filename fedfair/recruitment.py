"""Client recruitment before multi-model training (seed 003 Section V): bids in, winners and payments out.

The mechanisms themselves are pure numpy in :mod:`fedfair.strategies.auctions`; this
module connects them to users:

- :func:`read_bids`: a ``user,task,bid`` CSV (one row per bid) as a users x tasks
  matrix (NaN = no bid), users and tasks in the order they first appear;
- :func:`parse_distributions` / :func:`draw_bids`: per-task bid laws
  (``gauss:MEAN:STD`` truncated to [0, 1], ``linear`` density 2x,
  ``uniform``), seeded;
- :func:`auction_report`: the JSON ``fedfair auction`` prints and summary.json
  records (winners, payments, fractional participation, take-up, spent);
- :func:`simulate_take_up` / :func:`write_take_up`: Experiment 5 (every
  mechanism, every budget, several seeds; Fig. 7 (a) and (b));
- :func:`check_recruitment` / :func:`recruit_clients`: recruitment before a
  multi-task run (``recruit=MECHANISM``, ``budget``, ``bids`` or
  ``bid-distributions``): which clients train which task, and in what fraction
  of the rounds they are allocated to it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedfair.strategies.auctions import MECHANISMS, Auction, linear_bids, run_mechanism, truncated_gaussian_bids

# Experiment 5's lineup: (label, mechanism, posted price); NB = no budget, NT = not truthful (Fig. 7)
EXPERIMENT_5 = [
    ("mmfl-max-min", "mmfl-max-min", None),
    ("budget-fair", "budget-fair", None),
    ("gmm-fair (NT)", "gmm-fair", None),
    ("val-threshold 0.4 (NB)", "val-threshold", 0.4),
    ("val-threshold 0.6 (NB)", "val-threshold", 0.6),
    ("greedy-within-budget (NT)", "greedy-within-budget", None),
    ("random-within-budget (NT)", "random-within-budget", None),
]


@dataclass(frozen=True)
class BidTable:
    """Bids of named users for named tasks: ``bids[i, s]`` (NaN = user i does not bid for task s)."""

    users: list[str]
    tasks: list[str]
    bids: np.ndarray


def read_bids(path: str | Path) -> BidTable:
    """A ``user,task,bid`` CSV as a :class:`BidTable`; a one-line ValueError for a malformed file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"bids file {path} not found; give a CSV with columns user,task,bid")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False,
                            on_bad_lines="error")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; give a CSV with columns user,task,bid") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} cannot be read as a user,task,bid CSV ({reason})") from None
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("user", "task", "bid") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {missing} missing; the bids file needs columns user,task,bid "
                         f"(one row per bid), found {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{path}: no bids")
    frame = frame[["user", "task", "bid"]].apply(lambda column: column.str.strip())
    bid = pd.to_numeric(frame["bid"], errors="coerce")
    line = frame.index + 2  # the header is line 1
    bad = bid.isna()
    if bad.any():
        raise ValueError(f"{path} line {line[bad][0]}: bid {frame['bid'][bad].iloc[0]!r} is not a number")
    outside = (bid < 0) | (bid > 1)
    if outside.any():
        raise ValueError(f"{path} line {line[outside][0]}: bid {bid[outside].iloc[0]} outside [0, 1]; "
                         f"bids are costs scaled to [0, 1]")
    repeated = frame.duplicated(["user", "task"])
    if repeated.any():
        first = frame[repeated].iloc[0]
        raise ValueError(f"{path} line {line[repeated][0]}: duplicate bid of user {first['user']!r} for task "
                         f"{first['task']!r}; keep one row per (user, task)")
    users = list(dict.fromkeys(frame["user"]))
    tasks = list(dict.fromkeys(frame["task"]))
    bids = np.full((len(users), len(tasks)), np.nan)
    bids[pd.Index(users).get_indexer(frame["user"]), pd.Index(tasks).get_indexer(frame["task"])] = bid.to_numpy()
    return BidTable(users, tasks, bids)


def parse_distributions(text: str) -> list[tuple[str, tuple[float, ...]]]:
    """``gauss:0.5:0.2,linear,uniform`` -> one (law, parameters) per task, in task order."""
    laws = []
    for entry in [e.strip() for e in text.split(",") if e.strip()]:
        name, *args = entry.split(":")
        try:
            values = tuple(float(a) for a in args)
        except ValueError:
            values = None
        if name == "gauss" and values is not None and len(values) == 2 and values[1] > 0:
            mean, std = values
            if not (0.0 <= mean <= 1.0 and np.isfinite(std)):
                raise ValueError(f"bid distribution {entry!r}: bids lie in [0, 1], so gauss:MEAN:STD needs MEAN in "
                                 f"[0, 1] and a finite STD > 0 (e.g. gauss:0.5:0.2)")
            laws.append((name, values))
        elif name in ("linear", "uniform") and not args:
            laws.append((name, ()))
        else:
            raise ValueError(f"bid distribution {entry!r} not understood; use gauss:MEAN:STD (std > 0, truncated "
                             f"to [0, 1]), linear (density 2x on [0, 1]) or uniform, one per task, comma separated")
    if not laws:
        raise ValueError("no bid distribution given; e.g. gauss:0.5:0.2,linear (one per task)")
    return laws


def draw_bids(laws: Sequence[tuple[str, tuple[float, ...]]], n_users: int, rng: np.random.Generator) -> np.ndarray:
    """n_users x len(laws) bids, column s from law s (Experiment 5's generators)."""
    columns = []
    for name, args in laws:
        if name == "gauss":
            columns.append(truncated_gaussian_bids(n_users, args[0], args[1], rng))
        elif name == "linear":
            columns.append(linear_bids(n_users, rng))
        else:
            columns.append(rng.random(n_users))
    return np.column_stack(columns)


def auction_report(mechanism: str, budget: float | None, auction: Auction, users: Sequence[str],
                   tasks: Sequence[str]) -> dict[str, Any]:
    """The outcome keyed by the users' and tasks' names (the JSON of ``fedfair auction``)."""
    fractional = auction.fractional()
    report: dict[str, Any] = {
        "mechanism": mechanism,
        "budget": budget,
        "spent": auction.spent,
        "winners": {t: [users[u] for u in auction.winners[s]] for s, t in enumerate(tasks)},
        "payments": {t: {users[u]: float(auction.payments[u, s]) for u in auction.winners[s]} for s, t in enumerate(tasks)},
        "fractional": {t: {users[u]: x for u, x in fractional[s].items()} for s, t in enumerate(tasks)},
        "take_up": {t: float(x) for t, x in zip(tasks, auction.take_up)},
    }
    empty = [tasks[s] for s in auction.empty_tasks()]
    if empty:
        report["warnings"] = [f"task(s) {empty} recruited nobody: the budget is too small for their bids"]
    return report


MAX_BUDGETS = 10_000  # budgets of one --simulate sweep


def parse_budgets(text: str) -> np.ndarray:
    """``START:STOP:COUNT`` (evenly spaced, both ends included) or a comma-separated list."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            if not 1 <= int(count) <= MAX_BUDGETS:
                raise ValueError(f"budgets {text!r}: COUNT must be in [1, {MAX_BUDGETS}]")
            budgets = np.linspace(float(start), float(stop), int(count))
        else:
            budgets = np.array([float(x) for x in text.split(",") if x.strip()])
    except ValueError as err:
        if str(err).startswith("budgets"):
            raise
        raise ValueError(f"budgets {text!r} not understood; use START:STOP:COUNT (e.g. 1:40:40) or B1,B2,...") from None
    if not len(budgets) or np.any(budgets <= 0) or not np.all(np.isfinite(budgets)):
        raise ValueError(f"budgets {text!r}: give at least one budget, all finite and > 0")
    return budgets


def simulate_take_up(n_users: int, laws: Sequence[tuple[str, tuple[float, ...]]], budgets: Sequence[float],
                     seeds: int, fractional: bool = True) -> list[dict[str, Any]]:
    """Experiment 5: for every seed one bid draw, then every mechanism at every budget; one row each.

    Row: label, mechanism, budget, seed, take_up (per task), min_take_up, difference (max - min take-up).
    """
    rows = []
    for seed in range(seeds):
        bids = draw_bids(laws, n_users, np.random.default_rng([seed, 5]))
        for label, mechanism, price in EXPERIMENT_5:
            for budget in budgets:
                auction = run_mechanism(mechanism, bids, float(budget), seed=seed, fractional=fractional, price=price)
                take_up = [float(x) for x in auction.take_up]
                rows.append({"label": label, "mechanism": mechanism, "budget": float(budget), "seed": seed,
                             "take_up": take_up, "min_take_up": min(take_up),
                             "difference": max(take_up) - min(take_up), "spent": auction.spent})
    return rows


def mean_over_seeds(rows: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{label: (budgets, mean of ``key`` over seeds)}."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        mine = [r for r in rows if r["label"] == label]
        budgets = np.array(sorted({r["budget"] for r in mine}))
        out[label] = (budgets, np.array([np.mean([r[key] for r in mine if r["budget"] == b]) for b in budgets]))
    return out


def write_take_up(rows: Sequence[dict[str, Any]], out: Path, tasks: Sequence[str]) -> list[Path]:
    """OUT/take_up.csv (one row per mechanism, budget, seed) and Fig. 7 (a), (b) as PNGs: one line per mechanism
    in its colour of every fedfair figure (:func:`fedfair.figures.colour_map`), named at its end."""
    from fedfair.figures import colour_map, direct_labels, pyplot, save

    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "take_up.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mechanism", "budget", "seed", *[f"take_up_{t}" for t in tasks], "min_take_up", "difference", "spent"])
        for r in rows:
            writer.writerow([r["label"], f"{r['budget']:.6g}", r["seed"], *[f"{x:.6g}" for x in r["take_up"]],
                             f"{r['min_take_up']:.6g}", f"{r['difference']:.6g}", f"{r['spent']:.6g}"])
    written = [out / "take_up.csv"]
    for key, name, title in (("difference", "take_up_difference.png", "(a) difference in users across tasks"),
                             ("min_take_up", "take_up_min.png", "(b) minimum users recruited over tasks")):
        fig, ax = plt.subplots(figsize=(7.4, 4.2))
        curves = mean_over_seeds(rows, key)
        colours = colour_map(list(curves))
        for label, (budgets, values) in curves.items():
            ax.plot(budgets, values, label=label, color=colours[label], linewidth=2.2 if label == "mmfl-max-min" else 1.2)
        ax.set_xlabel("budget B")
        ax.set_ylabel("users" if key == "min_take_up" else "max - min users")
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout(rect=(0, 0, 0.8, 1))
        direct_labels(ax, [b[-1] for b, _ in curves.values()], [v[-1] for _, v in curves.values()], list(curves),
                      [colours[label] for label in curves])
        written.append(save(fig, out / name))
    return written


def check_recruitment(params: dict[str, Any]) -> None:
    """Before any work: a run with ``recruit`` set names a known mechanism, a budget and one bid source."""
    mechanism = params.get("recruit", "")
    if not mechanism:
        return
    if mechanism not in MECHANISMS:
        raise ValueError(f"recruit={mechanism!r} is not a mechanism; valid: {', '.join(MECHANISMS)} ('' = no recruitment)")
    if mechanism != "val-threshold" and not params.get("budget", 0) > 0:
        raise ValueError(f"recruit={mechanism} needs budget=B > 0 (bids are costs in [0, 1], e.g. budget=29)")
    sources = [k for k in ("bids", "bid-distributions") if params.get(k)]
    if len(sources) != 1:
        raise ValueError("recruitment needs exactly one bid source: bids=FILE.csv (user,task,bid with the task set's "
                         "client and task names) or bid-distributions=LAW,LAW (one per task, e.g. gauss:0.5:0.2,linear)")
    if params.get("bids"):
        read_bids(params["bids"])
    else:
        parse_distributions(params["bid-distributions"])


def recruitment_bids(params: dict[str, Any], clients: Sequence[str], tasks: Sequence[str],
                     eligible: np.ndarray) -> np.ndarray:
    """clients x tasks bids from the run's bid source; NaN where a client does not bid or holds no training
    data for the task (``eligible`` False)."""
    if params.get("bids"):
        table = read_bids(params["bids"])
        unknown_users = sorted(set(table.users) - set(clients))
        unknown_tasks = sorted(set(table.tasks) - set(tasks))
        if unknown_users or unknown_tasks:
            raise ValueError(f"bids file {params['bids']}: {'users ' + str(unknown_users[:5]) if unknown_users else ''}"
                             f"{' ' if unknown_users and unknown_tasks else ''}"
                             f"{'tasks ' + str(unknown_tasks) if unknown_tasks else ''} not in the task set "
                             f"(clients like {list(clients[:3])}, tasks {list(tasks)})")
        bids = np.full((len(clients), len(tasks)), np.nan)
        rows = [clients.index(u) for u in table.users]
        cols = [list(tasks).index(t) for t in table.tasks]
        bids[np.ix_(rows, cols)] = table.bids
    else:
        laws = parse_distributions(params["bid-distributions"])
        if len(laws) != len(tasks):
            raise ValueError(f"bid-distributions gives {len(laws)} law(s) for {len(tasks)} tasks {list(tasks)}; "
                             f"give one per task, in this order")
        bids = draw_bids(laws, len(clients), np.random.default_rng([params.get("seed", 0), 11]))
    return np.where(eligible, bids, np.nan)


def recruit_clients(params: dict[str, Any], clients: Sequence[str], tasks: Sequence[str],
                    eligible: np.ndarray) -> tuple[Auction, dict[str, Any]]:
    """Run the recruitment of a multi-task run: the auction and its report (summary.json ``recruitment``).

    A task nobody can bid for is an error; a task the budget leaves empty is an error too unless
    ``allow-empty-tasks`` (then it is a recorded warning and the task is not trained).
    """
    bids = recruitment_bids(params, clients, tasks, eligible)
    nobody = [t for s, t in enumerate(tasks) if np.isnan(bids[:, s]).all()]
    if nobody:
        raise ValueError(f"nobody bids for task(s) {nobody} (or none of its bidders holds training data for it); "
                         f"add bids for them")
    budget = params.get("budget") or None
    auction = run_mechanism(params["recruit"], bids, budget, seed=params.get("seed", 0),
                            fractional=params.get("fractional", True), price=params.get("posted-price"))
    report = auction_report(params["recruit"], budget, auction, clients, tasks)
    empty = [tasks[s] for s in auction.empty_tasks()]
    if empty and not params.get("allow-empty-tasks", False):
        raise ValueError(f"recruitment ({params['recruit']}, budget {budget}) left task(s) {empty} without clients; "
                         f"raise the budget, or set allow-empty-tasks=true to train the other tasks only")
    return auction, report


__all__ = ["check_recruitment", "recruitment_bids", "recruit_clients", "MECHANISMS", "EXPERIMENT_5", "BidTable", "read_bids", "parse_distributions", "draw_bids",
           "auction_report", "parse_budgets", "simulate_take_up", "mean_over_seeds", "write_take_up"]
