"""Client recruitment auctions for multi-model FL (seed 003, Section V), pure numpy: no Flower types.

Every mechanism takes bids ``b[i, s]`` in [0, 1] (users x tasks; NaN = user i
does not bid for task s) and returns an :class:`Auction`: winners per task,
the payment of every (user, task) (0 for losers) and the budget spent.

- :func:`budget_fair` (Section V-A, eqs. 33-35): each task gets B / S and runs
  the proportional-share mechanism: with the task's bids in ascending order,
  the first k with b_(k) > (B/S) / k is the first loser; the k - 1 lower bids
  win and each is paid (B/S) / (k - 1). Truthful.
- :func:`gmm_fair` (Algorithm 2, eqs. 36-38): greedy max-min; round t adds
  every task's t-th smallest bid while the remaining budget pays for all of
  them; payments = bids (optimal for eq. 36, not truthful).
- :func:`mmfl_max_min` (Algorithm 3): the max-min fair auction: proportional
  share per task, budget re-allocation between tasks (lines 11-16) and an
  optional fractional last round (lines 17-21).
- Experiment 5's baselines: :func:`val_threshold` (posted price, no budget),
  :func:`greedy_within_budget` and :func:`random_within_budget` (B / S per
  task, pay the bid).
- Bid generators of Experiment 5: :func:`truncated_gaussian_bids`,
  :func:`linear_bids`.

:data:`MECHANISMS` names them for the CLI and for recruitment before training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm


@dataclass(frozen=True)
class Auction:
    """Outcome: ``winners[s]`` = user indices recruited for task s, ``payments[i, s]``, budget ``spent``.

    ``participation[i, s]`` is the fraction of task s's rounds user i trains: 1 for a full winner, x < 1
    for a fractional winner of Algorithm 3's last round, 0 for a loser (None: every winner is full).
    """

    winners: list[list[int]]
    payments: np.ndarray
    participation: np.ndarray | None = None

    @property
    def spent(self) -> float:
        return float(self.payments.sum())

    @property
    def take_up(self) -> list[float]:
        """Recruited users per task, a fractional winner counted as its fraction x."""
        if self.participation is None:
            return [len(w) for w in self.winners]
        return [float(self.participation[w, s].sum()) for s, w in enumerate(self.winners)]

    def fractional(self) -> list[dict[int, float]]:
        """Per task {user: x} of the winners with x < 1."""
        if self.participation is None:
            return [{} for _ in self.winners]
        return [{u: float(self.participation[u, s]) for u in w if self.participation[u, s] < 1}
                for s, w in enumerate(self.winners)]

    def empty_tasks(self) -> list[int]:
        """Tasks that recruited nobody (a budget too small: a warning, not an error)."""
        return [s for s, w in enumerate(self.winners) if not w]


def check_bids(bids: np.ndarray, budget: float | None = None) -> np.ndarray:
    """Bids as a float (users x tasks) array in [0, 1] (NaN = no bid); a budget must be > 0."""
    bids = np.asarray(bids, dtype=np.float64)
    if bids.ndim != 2:
        raise ValueError(f"bids must be a users x tasks matrix, got shape {bids.shape}")
    present = bids[~np.isnan(bids)]
    if np.any((present < 0) | (present > 1)):
        raise ValueError("bids must lie in [0, 1] (NaN = the user does not bid for the task)")
    if budget is not None and not (budget > 0 and np.isfinite(budget)):
        raise ValueError(f"the budget must be > 0 and finite, got {budget}")
    nobody = np.flatnonzero(np.isnan(bids).all(axis=0))
    if len(nobody):
        raise ValueError(f"nobody bids for task(s) {nobody.tolist()}: give every task at least one bid or drop it")
    return bids


def _ascending(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(users, bids) of one task's bids in ascending order (ties: lower user index first)."""
    users = np.flatnonzero(~np.isnan(column))
    order = np.argsort(column[users], kind="stable")
    return users[order], column[users][order]


def proportional_share(column: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """One task's proportional-share mechanism: (winning users, payment each)."""
    users, sorted_bids = _ascending(column)
    k = np.arange(1, len(sorted_bids) + 1)
    losing = np.flatnonzero(sorted_bids > budget / k)  # b_(k) > B_s / k: the first is the first loser
    n_win = int(losing[0]) if len(losing) else len(sorted_bids)
    return users[:n_win], (budget / n_win if n_win else 0.0)


def budget_fair(bids: np.ndarray, budget: float) -> Auction:
    """Section V-A: B / S per task, proportional share in each (truthful)."""
    bids = check_bids(bids, budget)
    share = budget / bids.shape[1]
    payments = np.zeros_like(bids, dtype=np.float64)
    winners = []
    for s in range(bids.shape[1]):
        users, pay = proportional_share(bids[:, s], share)
        payments[users, s] = pay
        winners.append(users.tolist())
    return Auction(winners, payments)


def _sorted(bids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every task's bids ascending at once: (users[t, s] = the user of the (t+1)-th smallest bid of task s,
    the bids in that order with NaN (no bid) last, the number of bidders per task)."""
    users = np.argsort(bids, axis=0, kind="stable")  # NaN sorts last; ties: lower user index first
    return users, np.take_along_axis(bids, users, axis=0), (~np.isnan(bids)).sum(axis=0)


def gmm_fair(bids: np.ndarray, budget: float) -> Auction:
    """Algorithm 2: add every task's t-th smallest bid while the remaining budget pays for all of them.

    A task that has run out of bidders drops out of the rounds (its take-up is capped by its bidders);
    the others go on while the budget allows. Payments = bids. Round t costs the sum of the tasks' t-th
    smallest bids, so the rounds that fit (line 6) are where the cumulative cost stays within B.
    """
    bids = check_bids(bids, budget)
    users, ordered, n_bidders = _sorted(bids)
    spent = np.cumsum(np.nan_to_num(ordered).sum(axis=1))
    rounds = min(int(np.searchsorted(spent > budget + 1e-12, True)), int(n_bidders.max()))
    payments = np.zeros_like(bids, dtype=np.float64)
    winners = []
    for s in range(bids.shape[1]):  # lines 7-10 for every completed round
        mine = users[: min(rounds, n_bidders[s]), s]
        payments[mine, s] = bids[mine, s]
        winners.append(mine.tolist())
    return Auction(winners, payments)


def _needs(ordered: np.ndarray, n_bidders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the ascending bids: the bids padded past each task's last bidder with it, and needs[t, s] =
    the budget task s needs for t users under proportional share, min(t, n_s) * b_(min(t, n_s)),s (row 0 = 0)."""
    rows = np.arange(1, ordered.shape[0] + 1)[:, None]
    last = ordered[n_bidders - 1, np.arange(ordered.shape[1])]
    padded = np.where(rows <= n_bidders, ordered, last)
    needs = np.minimum(rows, n_bidders) * padded
    return padded, np.vstack([np.zeros(ordered.shape[1]), needs])


def _level(slack: np.ndarray, total: float) -> np.ndarray:
    """Waterfilling (Algorithm 3, line 16): donors' surpluses cut to a common level L, min(slack, L), so that
    they sum to ``total`` (the richest give first); slack <= 0 (the recipients) ends at 0."""
    give = np.maximum(slack, 0.0)
    ordered = np.sort(give)
    m = len(ordered)
    below = np.concatenate([[0.0], np.cumsum(ordered)[:-1]])  # sum of the levels under each
    fits = below + ordered * (m - np.arange(m)) >= total
    j = int(np.argmax(fits)) if fits.any() else m - 1
    level = (total - below[j]) / (m - j)
    return np.minimum(give, level)


def mmfl_max_min(bids: np.ndarray, budget: float, fractional: bool = True) -> Auction:
    """Algorithm 3, the max-min fair auction: proportional share per task with re-allocation between tasks.

    Every task starts with B_s = B / S (line 1). Round t offers every task its t-th smallest bid b_t,s; it
    joins if b_t,s <= B_s / t (lines 4-9) and the task's winners are paid B_s / t each. If some tasks fail
    (S_t-1), the tasks that passed (S_t) give them A = sum_S_t-1 (t b_t,s - B_s) out of their surplus
    C = sum_S_t (B_s - t b_t,s) when A <= C, taking it by waterfilling (lines 11-16); otherwise C is split
    fractionally: each failing task's t-th user gets p = min(C / |S_t-1|, b_t,s) for a fraction
    x = min(1, C / (|S_t-1| b_t,s)) of the rounds and the auction ends (lines 17-21; ``fractional=False``
    ends it there without them).

    Readings of the garbled extraction, chosen to agree with Section V-B's prose ("begin with a budget-fair
    auction for each task ... as in Algorithm 2"): line 5's "t-th biggest bid" is the t-th *smallest* (line 2
    orders bids ascending, Algorithm 2 uses the same notation for the t-th smallest, and only ascending order
    makes b_t,s <= B_s/t the proportional-share test); line 6's "B / t" is B_s^(t-1) / t, the task's own
    current budget (B / t would ignore the per-task budgets that lines 1, 8 and 13-14 maintain). A == C
    counts as enough (re-allocating exactly A is feasible). In a fractional first round the failing tasks'
    own B / S (committed to no winner yet) is split with C, as the prose says the round "uses up the
    remaining budget". A task that has run out of bidders keeps its
    users and only donates its surplus. Each task pays all its full winners the same price B_s / n_s (the
    proportional-share payment of line 8), so every full winner gets at least its bid and the whole
    budget of a task with winners is paid out, as in budget-fair.

    Because the surpluses sum to B - sum_s t b_t,s, round t completes for every task exactly when
    t * sum_s b_t,s <= B: the number of full rounds is found without the loop, which only tracks the
    per-task budgets (for payments and for who fails in the last round).
    """
    bids = check_bids(bids, budget)
    n_users, n_tasks = bids.shape
    users, ordered, n_bidders = _sorted(bids)
    padded, needs = _needs(ordered, n_bidders)
    rounds = int(n_bidders.max())
    over = needs[1:].sum(axis=1) > budget + 1e-12  # t * sum_s b_t,s > B: round t cannot complete
    full = min(int(np.searchsorted(over, True)), rounds)  # rounds that complete
    slack = np.full(n_tasks, budget / n_tasks)  # B_s - needs: the surplus each task holds
    deltas = np.diff(needs[: full + 1], axis=0)
    for t in range(full):
        slack = slack - deltas[t]
        if (slack < 0).any():  # lines 11-16: re-allocate, recipients end at exactly t b_t,s
            slack = _level(slack, budget - needs[t + 1].sum())
    counts = np.minimum(full, n_bidders)
    budgets = needs[full] + slack  # B_s after the last complete round
    participation = np.zeros((n_users, n_tasks))
    payments = np.zeros((n_users, n_tasks))
    if full < rounds:  # round t = full + 1 cannot be completed: lines 17-21, or stop there
        t = full + 1
        surplus = slack - (needs[t] - needs[full])
        failing = surplus < 0
        counts = counts + (~failing & (t <= n_bidders))  # the tasks that passed keep their t-th user
        if fractional:
            # C / |S_t-1|; at t = 1 a failing task's own B / S pays no winner yet, so it joins C ("uses up
            # the remaining budget", Section V-B) instead of being left unspent
            unspent = budgets[failing & (counts == 0)].sum()
            share = (surplus[~failing].sum() + unspent) / failing.sum()
            for s in np.flatnonzero(failing):
                bid = padded[full, s]
                x = 1.0 if bid <= share else share / bid
                if x > 0:
                    participation[users[full, s], s] = x
                    payments[users[full, s], s] = min(share, bid)  # line 19
            budgets = np.where(failing, budgets, needs[t])  # the donors gave their whole surplus C
    winners = []
    for s in range(n_tasks):
        full_winners = users[: counts[s], s]
        participation[full_winners, s] = 1.0
        if counts[s]:
            payments[full_winners, s] = budgets[s] / counts[s]
        last = users[counts[s] : counts[s] + 1, s]  # a fractional winner, if any
        winners.append(full_winners.tolist() + [int(u) for u in last if participation[u, s] > 0])
    return Auction(winners, payments, participation)


def val_threshold(bids: np.ndarray, price: float) -> Auction:
    """Posted price (Experiment 5's valThreshold): every user bidding below ``price`` joins and is paid it."""
    bids = check_bids(bids)
    join = ~np.isnan(bids) & (np.nan_to_num(bids, nan=np.inf) < price)
    return Auction([np.flatnonzero(join[:, s]).tolist() for s in range(bids.shape[1])], np.where(join, price, 0.0))


def _within_budget(bids: np.ndarray, budget: float, rng: np.random.Generator | None) -> Auction:
    """B / S per task; users in ascending-bid (greedy) or seeded random order join while the running sum of
    their bids stays within the task's budget (the first that does not fit ends the task's recruitment)."""
    bids = check_bids(bids, budget)
    share = budget / bids.shape[1]
    payments = np.zeros_like(bids, dtype=np.float64)
    winners = []
    for s in range(bids.shape[1]):
        users, ordered = _ascending(bids[:, s])
        if rng is not None:
            order = rng.permutation(len(users))
            users, ordered = users[order], ordered[order]
        n_win = int(np.searchsorted(np.cumsum(ordered), share + 1e-12, side="right"))
        payments[users[:n_win], s] = ordered[:n_win]
        winners.append(users[:n_win].tolist())
    return Auction(winners, payments)


def greedy_within_budget(bids: np.ndarray, budget: float) -> Auction:
    """B / S per task; users added by ascending bid while the task's budget lasts; pay the bid."""
    return _within_budget(bids, budget, None)


def random_within_budget(bids: np.ndarray, budget: float, seed: int = 0) -> Auction:
    """B / S per task; users taken in a seeded random order while their bids fit the task's budget; pay the bid."""
    return _within_budget(bids, budget, np.random.default_rng(seed))


def truncated_gaussian_bids(n: int, mean: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """n bids from N(mean, std^2) truncated to [0, 1] (Experiment 5, task 1)."""
    a, b = (0.0 - mean) / std, (1.0 - mean) / std
    return truncnorm.rvs(a, b, loc=mean, scale=std, size=n, random_state=rng)


def linear_bids(n: int, rng: np.random.Generator) -> np.ndarray:
    """n bids with the increasing linear density f(x) = 2x on [0, 1] (Experiment 5, task 2): sqrt(U)."""
    return np.sqrt(rng.random(n))


# name -> (mechanism, what it needs); the CLI and recruitment before training look mechanisms up here
MECHANISMS: dict[str, str] = {
    "budget-fair": "Section V-A: B / S per task, proportional share (truthful)",
    "mmfl-max-min": "Algorithm 3: max-min fair auction, budget re-allocation, optional fractional last round",
    "gmm-fair": "Algorithm 2: greedy max-min, pays bids (optimal for eq. 36, not truthful)",
    "val-threshold": "posted price: every user bidding below the price joins (no budget)",
    "greedy-within-budget": "B / S per task, ascending bids while they fit, pays bids (not truthful)",
    "random-within-budget": "B / S per task, seeded random order while bids fit, pays bids (not truthful)",
}


def run_mechanism(name: str, bids: np.ndarray, budget: float | None = None, *, seed: int = 0,
                  fractional: bool = True, price: float | None = None) -> Auction:
    """Run the mechanism ``name`` (a key of :data:`MECHANISMS`); ``price`` is val-threshold's posted price
    (it has no budget), ``seed`` random-within-budget's order, ``fractional`` mmfl-max-min's last round."""
    if name not in MECHANISMS:
        raise ValueError(f"unknown mechanism {name!r}; valid: {', '.join(MECHANISMS)}")
    if name == "val-threshold":
        if price is None or not 0 < price <= 1:
            raise ValueError(f"val-threshold needs a posted price in (0, 1], got {price}")
        return val_threshold(bids, price)
    if budget is None:
        raise ValueError(f"{name} needs a budget > 0")
    if name == "budget-fair":
        return budget_fair(bids, budget)
    if name == "mmfl-max-min":
        return mmfl_max_min(bids, budget, fractional=fractional)
    if name == "gmm-fair":
        return gmm_fair(bids, budget)
    if name == "greedy-within-budget":
        return greedy_within_budget(bids, budget)
    return random_within_budget(bids, budget, seed=seed)
