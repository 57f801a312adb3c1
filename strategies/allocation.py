"""Client-task allocation for multi-model FL (seed 003), pure numpy: no Flower types.

- :func:`alpha_fair_probabilities`: eq. 5, p_s = f_s^(alpha-1) / sum_s' f_s'^(alpha-1);
- :func:`draw_tasks`: each active client gets at most one task, drawn from p
  restricted to the tasks it holds training data for (Algorithm 1, lines 4-5);
- :func:`round_robin_tasks`: active clients cycle through the tasks across rounds
  (Bhuyan & Moharir, seed 003's baseline);
- :func:`task_qffl_step`: q-FFL's aggregation (Li et al., Flower's
  ``compute_delta_and_h``) applied to one task with the task's loss F_s;
  :func:`qffl_step`: the same with each reply's own loss F_k (client-level q-FFL).

A client that lacks training data for a task cannot train it. fedfair's rule
(the paper's clients hold every task): the client's draw uses eq. 5's
probabilities over the tasks it holds, renormalised; round robin moves to the
next task it holds. A client holding no task is never active.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from flwr.serverapp.strategy.qfedavg import compute_delta_and_h


def alpha_fair_probabilities(f: Sequence[float], alpha: float) -> np.ndarray:
    """Eq. 5: p_s proportional to f_s^(alpha - 1). alpha = 1 is uniform; all f_s = 0 (nothing left to
    learn) is uniform too. f_s must be >= 0 (a loss, or 1 - accuracy)."""
    f = np.asarray(f, dtype=np.float64)
    if alpha < 1:
        raise ValueError(f"alpha must be >= 1 (alpha-fairness of seed 003 eq. 3), got {alpha}")
    if np.any(f < 0) or np.any(np.isnan(f)):
        raise ValueError(f"task losses f_s must be >= 0 and defined, got {f.tolist()}")
    weights = np.power(f, alpha - 1.0)
    total = weights.sum()
    return np.full(len(f), 1.0 / len(f)) if total <= 0 else weights / total


def draw_tasks(active: Sequence[str], holds: Mapping[str, Sequence[int]], p: np.ndarray,
               rng: np.random.Generator) -> dict[str, int]:
    """One task index per active client, drawn from ``p`` restricted to the tasks it holds (renormalised;
    uniform over them when p gives them no mass)."""
    chosen = {}
    for client in active:
        allowed = np.asarray(holds[client], dtype=int)
        if len(allowed) == 0:
            continue
        weights = p[allowed]
        weights = np.full(len(allowed), 1.0 / len(allowed)) if weights.sum() <= 0 else weights / weights.sum()
        chosen[client] = int(allowed[rng.choice(len(allowed), p=weights)])
    return chosen


def round_robin_tasks(active: Sequence[str], position: Mapping[str, int], holds: Mapping[str, Sequence[int]],
                      n_tasks: int, server_round: int) -> dict[str, int]:
    """Client at position i takes task (i + round) mod S in round ``round``, or the next task it holds."""
    chosen = {}
    for client in active:
        allowed = set(holds[client])
        for step in range(n_tasks):
            task = (position[client] + server_round + step) % n_tasks
            if task in allowed:
                chosen[client] = task
                break
    return chosen


def task_qffl_step(global_weights: list[np.ndarray], local_weights: Sequence[list[np.ndarray]], q: float, lr: float,
                   task_loss: float) -> list[np.ndarray]:
    """One task's q-FFL update: w - sum_k F_s^q L (w - w_k) / sum_k (q F_s^(q-1) ||L (w - w_k)||^2 + L F_s^q).

    Flower's q-FedAvg with every reply's loss replaced by the task's loss F_s, so that the fairness is over
    tasks: the step of task s is Delta / (q ||Delta||^2 / F_s + L) per reply, larger for a task with a larger
    loss. L = 1 / lr (the local learning rate). q = 0 gives the plain mean of the local models.
    """
    return qffl_step(global_weights, local_weights, [task_loss] * len(local_weights), q, lr)


def qffl_step(global_weights: list[np.ndarray], local_weights: Sequence[list[np.ndarray]], losses: Sequence[float],
              q: float, lr: float) -> list[np.ndarray]:
    """q-FedAvg's server update (Li et al., ICLR 2020, Algorithm 2) with reply k's loss F_k:
    Delta_k = F_k^q L (w - w_k), h_k = q F_k^(q-1) ||L (w - w_k)||^2 + L F_k^q, w <- w - sum Delta_k / sum h_k,
    L = 1 / lr; Flower's ``compute_delta_and_h`` per reply."""
    sum_delta: list[np.ndarray] | None = None
    sum_h = 0.0
    for local, loss in zip(local_weights, losses):
        delta, h = compute_delta_and_h([np.asarray(w, dtype=np.float64) for w in global_weights],
                                       [np.array(w, dtype=np.float64) for w in local], q, 1.0 / lr, float(loss))
        sum_delta = delta if sum_delta is None else [a + b for a, b in zip(sum_delta, delta)]
        sum_h += h
    if sum_delta is None:
        return [np.asarray(w) for w in global_weights]
    return [np.asarray(w, dtype=np.float64) - d / sum_h for w, d in zip(global_weights, sum_delta)]
