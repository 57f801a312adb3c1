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
- Experiment 5's baselines: :func:`val_threshold` (posted price, no budget),
  :func:`greedy_within_budget` and :func:`random_within_budget` (B / S per
  task, pay the bid).
- Bid generators of Experiment 5: :func:`truncated_gaussian_bids`,
  :func:`linear_bids`.

The max-min fair auction with budget re-allocation (Algorithm 3) is not here yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm


@dataclass(frozen=True)
class Auction:
    """Outcome: ``winners[s]`` = user indices recruited for task s, ``payments[i, s]``, budget ``spent``."""

    winners: list[list[int]]
    payments: np.ndarray

    @property
    def spent(self) -> float:
        return float(self.payments.sum())

    @property
    def take_up(self) -> list[int]:
        return [len(w) for w in self.winners]


def check_bids(bids: np.ndarray, budget: float | None = None) -> np.ndarray:
    """Bids as a float (users x tasks) array in [0, 1] (NaN = no bid); a budget must be > 0."""
    bids = np.asarray(bids, dtype=np.float64)
    if bids.ndim != 2:
        raise ValueError(f"bids must be a users x tasks matrix, got shape {bids.shape}")
    present = bids[~np.isnan(bids)]
    if np.any((present < 0) | (present > 1)):
        raise ValueError("bids must lie in [0, 1] (NaN = the user does not bid for the task)")
    if budget is not None and not budget > 0:
        raise ValueError(f"the budget must be > 0, got {budget}")
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
    return Auction(winners, np.nan_to_num(payments))


def gmm_fair(bids: np.ndarray, budget: float) -> Auction:
    """Algorithm 2: add every task's t-th smallest bid while the remaining budget pays for all of them.

    A task that has run out of bidders drops out of the rounds (its take-up is capped by its bidders);
    the others go on while the budget allows. Payments = bids.
    """
    bids = check_bids(bids, budget)
    ordered = [_ascending(bids[:, s]) for s in range(bids.shape[1])]
    payments = np.zeros_like(bids, dtype=np.float64)
    winners: list[list[int]] = [[] for _ in ordered]
    remaining, t = float(budget), 0
    while True:
        active = [s for s, (users, _) in enumerate(ordered) if t < len(users)]
        cost = sum(ordered[s][1][t] for s in active)
        if not active or cost > remaining + 1e-12:  # line 6: enough budget for one more user in each task?
            break
        for s in active:  # lines 7-10
            user = int(ordered[s][0][t])
            winners[s].append(user)
            payments[user, s] = ordered[s][1][t]
        remaining -= cost
        t += 1
    return Auction(winners, payments)


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
