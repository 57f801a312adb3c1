"""q-FFL over tasks (seed 003's baseline c, Li et al.'s q-FFL adapted so that fairness is over tasks).

Allocation is uniform at random (as ``mmfl-random``); the aggregation changes.
For each task s, with the global model w_s, its selected clients' local models
w_k and the task's loss F_s (the n-weighted mean of those clients' training
losses this round), Flower's q-FedAvg maths (``compute_delta_and_h``) are
applied with every reply's loss replaced by F_s:

    Delta_k = F_s^q L (w_s - w_k),  h_k = q F_s^(q-1) ||L (w_s - w_k)||^2 + L F_s^q,
    w_s <- w_s - sum_k Delta_k / sum_k h_k,          L = 1 / lr

so each task's aggregation coefficients and step size follow its own loss: a
task with a larger F_s takes a larger step (the per-reply step is
L (w_s - w_k) / (q ||L (w_s - w_k)||^2 / F_s + L)), and q = 0 is the plain mean
of the local models. ``mmfl-q`` defaults to 1 (Li et al.'s smallest
non-trivial value in their grid; seed 003 gives none).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flwr.app import Message

from fedfair import protocol as p
from fedfair.strategies.aggregation import record_of, state_of
from fedfair.strategies.allocation import task_qffl_step
from fedfair.strategies.mmfl_random import MMFLRandomStrategy
from fedfair.strategies.specs import SPECS


class MMFLQFFLStrategy(MMFLRandomStrategy):
    """Uniform allocation, task-level q-FFL aggregation."""

    name = "mmfl-qffl"
    extra_params = SPECS["mmfl-qffl"].params

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        for task in self.tasks:
            mine = [r for r in replies if self.assigned[r.metadata.src_node_id] == task]
            if not mine:
                continue  # a task without clients keeps its model
            sizes = np.array([float(r.content[p.METRICS][p.NUM_EXAMPLES]) for r in mine])
            loss = float(np.dot(sizes, [float(r.content[p.METRICS][p.TRAIN_LOSS]) for r in mine]) / sizes.sum())
            current = state_of(self.models[task])
            keys = list(current)
            local = [list(state_of(r.content[p.ARRAYS]).values()) for r in mine]  # same key order as current
            updated = task_qffl_step(list(current.values()), local, self.params["mmfl-q"], self.params["lr"], loss)
            self.models[task] = record_of(dict(zip(keys, updated)))
