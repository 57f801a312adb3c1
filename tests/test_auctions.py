"""Recruitment auctions (seed 003 Section V): budget, payments, optimality and truthfulness on random instances."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from fedfair.strategies.auctions import (
    budget_fair, gmm_fair, greedy_within_budget, linear_bids, mmfl_max_min, random_within_budget,
    truncated_gaussian_bids, val_threshold,
)


def _instances(n_users=5, n_tasks=2, count=40, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        bids = rng.random((n_users, n_tasks))
        bids[rng.random(bids.shape) < 0.15] = np.nan  # some users do not bid for some tasks
        yield bids, float(rng.uniform(0.2, 3.0))


def _mmfl_without_fractions(bids, budget):
    return mmfl_max_min(bids, budget, fractional=False)


@pytest.mark.parametrize("mechanism", [budget_fair, gmm_fair, greedy_within_budget, random_within_budget,
                                       mmfl_max_min, _mmfl_without_fractions])
def test_budget_payments_and_bidders_are_respected(mechanism):
    for bids, budget in _instances():
        result = mechanism(bids, budget)
        assert result.spent <= budget + 1e-9
        share = result.participation if result.participation is not None else np.ones_like(bids)
        for s, users in enumerate(result.winners):
            assert len(set(users)) == len(users)
            assert all(not np.isnan(bids[u, s]) for u in users)  # only users who bid
            # paid at least the bid (a fractional winner: at least x times its bid, line 19)
            assert all(result.payments[u, s] >= share[u, s] * bids[u, s] - 1e-12 for u in users)
            losers = set(range(bids.shape[0])) - set(users)
            assert all(result.payments[u, s] == 0 for u in losers)


def test_proportional_share_by_hand():
    bids = np.array([[0.1], [0.2], [0.45], [0.3]])
    # B / S = 1: sorted 0.1 <= 1, 0.2 <= 1/2, 0.3 <= 1/3, 0.45 > 1/4 -> three winners paid 1/3 each
    result = budget_fair(bids, 1.0)
    assert sorted(result.winners[0]) == [0, 1, 3] and result.payments[3, 0] == pytest.approx(1 / 3)
    assert result.spent == pytest.approx(1.0)


def _best_min_take_up(bids, budget):
    """Brute force of eq. 36 with payments = bids: every subset of bidders per task."""
    n, n_tasks = bids.shape
    options = []
    for s in range(n_tasks):
        bidders = [u for u in range(n) if not np.isnan(bids[u, s])]
        options.append([c for r in range(len(bidders) + 1) for c in itertools.combinations(bidders, r)])
    best = 0
    for choice in itertools.product(*options):
        cost = sum(bids[u, s] for s, users in enumerate(choice) for u in users)
        if cost <= budget + 1e-12:
            best = max(best, min(len(users) for users in choice))
    return best


def test_gmm_fair_maximises_the_minimum_take_up():
    for bids, budget in _instances(n_users=4, n_tasks=2, count=30, seed=1):
        assert min(gmm_fair(bids, budget).take_up) == _best_min_take_up(bids, budget)


def test_budget_fair_is_truthful():
    """No user gains by bidding above its cost (costs = the truthful bids), for any other users' bids."""
    deviations = np.linspace(0.01, 0.9, 25)
    for bids, budget in _instances(n_users=6, n_tasks=2, count=25, seed=2):
        truthful = budget_fair(bids, budget)
        for i, s in zip(*np.nonzero(~np.isnan(bids))):
            cost = bids[i, s]
            utility = truthful.payments[i, s] - cost if i in truthful.winners[s] else 0.0
            for extra in deviations:
                lied = bids.copy()
                lied[i, s] = min(1.0, cost + extra)
                outcome = budget_fair(lied, budget)
                gain = outcome.payments[i, s] - cost if i in outcome.winners[s] else 0.0
                assert gain <= utility + 1e-12


def test_posted_price_and_random_order():
    bids = np.array([[0.3, 0.7], [0.5, np.nan], [0.1, 0.2]])
    posted = val_threshold(bids, 0.4)
    assert posted.winners == [[0, 2], [2]] and posted.spent == pytest.approx(3 * 0.4)
    # greedy: ascending bids while they fit (0.1 + 0.3 <= 0.45); a random order never recruits more
    assert greedy_within_budget(np.array([[0.3], [0.5], [0.1]]), 0.45).winners == [[2, 0]]
    for bids, budget in _instances(n_users=8, count=20, seed=4):
        greedy, random_ = greedy_within_budget(bids, budget), random_within_budget(bids, budget, seed=1)
        assert all(r <= g for r, g in zip(random_.take_up, greedy.take_up))


def test_bid_generators_follow_their_laws():
    rng = np.random.default_rng(0)
    gauss, linear = truncated_gaussian_bids(20000, 0.5, 0.2, rng), linear_bids(20000, rng)
    assert gauss.min() >= 0 and gauss.max() <= 1 and gauss.mean() == pytest.approx(0.5, abs=0.01)
    assert linear.mean() == pytest.approx(2 / 3, abs=0.01)  # E[X] for f(x) = 2x
    assert np.mean(linear < 0.5) == pytest.approx(0.25, abs=0.01)  # F(x) = x^2


def test_bad_bids_and_budget_are_refused():
    with pytest.raises(ValueError, match=r"bids must lie in \[0, 1\]"):
        budget_fair(np.array([[1.5]]), 1.0)
    with pytest.raises(ValueError, match="the budget must be > 0"):
        gmm_fair(np.array([[0.5]]), 0.0)


def test_max_min_auction_by_hand():
    bids = np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.7], [0.9, 0.95]])
    # B = 0.9: round 1 task 2 fails (0.5 > 0.45), A = 0.05 <= C = 0.35 -> re-allocated; round 2 task 2 needs
    # 1.2 - 0.5 = 0.7 > C = 0.4 - 0.4 = 0: no fraction left; task 1 keeps 2 users at 0.2, task 2 one at 0.5
    result = mmfl_max_min(bids, 0.9)
    assert result.winners == [[0, 1], [0]] and result.take_up == [2, 1]
    assert result.payments[:, 0].tolist() == pytest.approx([0.2, 0.2, 0, 0]) and result.payments[0, 1] == 0.5
    # B = 0.3: round 1 task 2 fails, A = 0.35 > C = 0.05: task 2's own 0.15 and C buy x = 0.2 / 0.5 of user 0
    result = mmfl_max_min(bids, 0.3)
    assert result.take_up == pytest.approx([1, 0.4]) and result.fractional() == [{}, {0: pytest.approx(0.4)}]
    assert result.payments[0].tolist() == pytest.approx([0.1, 0.2]) and result.spent == pytest.approx(0.3)
    assert mmfl_max_min(bids, 0.3, fractional=False).take_up == [1, 0]


def test_max_min_auction_is_fairer_than_budget_fair_and_bounded_by_gmm_fair():
    """Minimum take-up: budget-fair <= max-min auction (with or without fractions) <= gmm-fair (optimal)."""
    equal = constrained = 0
    for bids, budget in _instances(n_users=12, n_tasks=3, count=200, seed=5):
        fair, greedy = min(budget_fair(bids, budget).take_up), min(gmm_fair(bids, budget).take_up)
        whole = min(mmfl_max_min(bids, budget, fractional=False).take_up)
        assert fair <= whole <= min(mmfl_max_min(bids, budget).take_up) <= greedy + 1
        assert whole <= greedy
        if greedy < min((~np.isnan(bids)).sum(axis=0)):  # budget-constrained: the budget, not bidders, binds
            constrained += 1
            equal += whole == greedy
    print(f"max-min auction = gmm-fair on {equal} of {constrained} budget-constrained instances")
    assert constrained > 100 and equal > 0


def test_corollary_10_closed_forms_match_monte_carlo():
    """S = 2 tasks, K users each bidding exp(rate): the lowest bid per task is exp(K rate) = exp(lam); a task
    is left without a (whole) user w.p. exp(-B lam)(1 + B lam) under the max-min auction (x_1 + x_2 > B) and
    exp(-B lam)(2 exp(B lam / 2) - 1) under budget-fair (max x_s > B / 2). The mechanisms are scale-free,
    so bids and budget are divided by the largest bid to bring them into [0, 1]."""
    rng = np.random.default_rng(0)
    users, rate, budget, draws = 10, 1.0, 0.2, 3000
    lam = users * rate
    empty_max_min = empty_budget_fair = 0
    for _ in range(draws):
        bids = rng.exponential(1 / rate, size=(users, 2))
        scale = bids.max()
        empty_max_min += min(mmfl_max_min(bids / scale, budget / scale, fractional=False).take_up) == 0
        empty_budget_fair += min(budget_fair(bids / scale, budget / scale).take_up) == 0
    bl = budget * lam
    assert empty_max_min / draws == pytest.approx(np.exp(-bl) * (1 + bl), abs=0.03)
    assert empty_budget_fair / draws == pytest.approx(np.exp(-bl) * (2 * np.exp(bl / 2) - 1), abs=0.03)
    assert empty_max_min < empty_budget_fair


def test_a_task_nobody_bids_for_is_refused():
    with pytest.raises(ValueError, match=r"nobody bids for task\(s\) \[1\]"):
        mmfl_max_min(np.array([[0.5, np.nan], [0.2, np.nan]]), 1.0)


def _cli(args):
    from typer.testing import CliRunner

    from fedfair.cli import app

    return CliRunner().invoke(app, args)


def test_auction_command_prints_the_outcome_by_name(tmp_path):
    bids = tmp_path / "bids.csv"
    bids.write_text("user,task,bid\nalice,mnist,0.1\nbob,mnist,0.2\ncarol,mnist,0.3\ndan,mnist,0.9\n"
                    "alice,cifar,0.5\nbob,cifar,0.6\ncarol,cifar,0.7\ndan,cifar,0.95\n")
    result = _cli(["auction", "--mechanism", "mmfl-max-min", "--budget", "0.3", "--bids", str(bids)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["winners"] == {"mnist": ["alice"], "cifar": ["alice"]}
    assert report["payments"] == {"mnist": {"alice": pytest.approx(0.1)}, "cifar": {"alice": pytest.approx(0.2)}}
    assert report["fractional"] == {"mnist": {}, "cifar": {"alice": pytest.approx(0.4)}}
    assert report["take_up"] == {"mnist": 1.0, "cifar": pytest.approx(0.4)} and report["spent"] == pytest.approx(0.3)
    whole = json.loads(_cli(["auction", "-m", "mmfl-max-min", "-b", "0.3", "--bids", str(bids), "--no-fractional"]).stdout)
    assert whole["take_up"] == {"mnist": 1.0, "cifar": 0.0} and whole["warnings"]
    posted = json.loads(_cli(["auction", "-m", "val-threshold", "--price", "0.55", "--bids", str(bids)]).stdout)
    assert posted["winners"] == {"mnist": ["alice", "bob", "carol"], "cifar": ["alice"]}


def test_auction_command_refuses_bad_input(tmp_path):
    def error(args, text):
        result = _cli(args)
        assert result.exit_code == 2 and text in " ".join(result.output.split()), result.output

    def bids(name, content):
        (tmp_path / name).write_text(content)
        return str(tmp_path / name)

    good = bids("good.csv", "user,task,bid\na,x,0.1\n")
    error(["auction", "-m", "cheapest", "-b", "1", "--bids", good], "unknown mechanism 'cheapest'; valid: budget-fair")
    error(["auction", "-m", "gmm-fair", "-b", "0", "--bids", good], "the budget must be > 0")
    error(["auction", "-m", "gmm-fair", "--bids", good], "gmm-fair needs --budget B > 0")
    error(["auction", "-m", "gmm-fair", "-b", "1", "--bids", bids("cols.csv", "user,bid\na,0.1\n")],
          "column(s) ['task'] missing; the bids file needs columns user,task,bid")
    error(["auction", "-m", "gmm-fair", "-b", "1", "--bids", bids("dup.csv", "user,task,bid\na,x,0.1\na,x,0.2\n")],
          "line 3: duplicate bid of user 'a' for task 'x'")
    error(["auction", "-m", "gmm-fair", "-b", "1", "--bids", bids("text.csv", "user,task,bid\na,x,cheap\n")],
          "line 2: bid 'cheap' is not a number")
    error(["auction", "-m", "gmm-fair", "-b", "1", "--bids", bids("range.csv", "user,task,bid\na,x,-0.1\n")],
          "line 2: bid -0.1 outside [0, 1]")
    error(["auction", "--simulate", "--tasks", "gauss:0.5", "--out", str(tmp_path / "sim")],
          "bid distribution 'gauss:0.5' not understood")


def test_auction_simulation_writes_experiment_5(tmp_path):
    result = _cli(["auction", "--simulate", "--users", "30", "--budgets", "1:5:3", "--seeds", "2",
                   "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "sim" / "take_up.csv").read_text().splitlines()
    assert lines[0] == "mechanism,budget,seed,take_up_task1,take_up_task2,min_take_up,difference,spent"
    assert len(lines) == 1 + 7 * 3 * 2  # 7 mechanisms x 3 budgets x 2 seeds
    assert (tmp_path / "sim" / "take_up_difference.png").stat().st_size > 0
    assert (tmp_path / "sim" / "take_up_min.png").stat().st_size > 0
