"""FedFairMMFL (seed 003, Algorithm 1): S models trained concurrently by shared clients, alpha-fair allocation.

Runs on a task set (``fedfair/tasks.py``): one model per task, one client list.
Round t:

1. (line 3) m = C x K clients are active: a seeded sample of ``active-rate`` C of
   the clients holding training data for some task;
2. (lines 4-5) each active client is allocated at most one task, drawn with
   probabilities p_s = f_s^(alpha-1) / sum_s' f_s'^(alpha-1) (eq. 5), restricted
   to the tasks it holds (see :mod:`fedfair.strategies.allocation`). f_s is the task's
   current loss proxy; as the paper ("Normalization") fedfair uses accuracy:
   f_s = 1 - accuracy of task s's global model, the n-weighted mean over the
   clients' test splits measured after every round (``mmfl-signal=accuracy``),
   or its mean test loss (``mmfl-signal=loss``). Round 1 allocates uniformly
   at random (line 1: "initial random client-task allocation");
3. (lines 6-10) each allocated client trains its task's global model w_s locally
   (the run's local SGD settings) and uploads it;
4. (line 12) w_s <- sum_{k in Sel_s} p_{k,Sel_s} w_{k,s} with p_{k,Sel_s} the share
   of training rows among the task's selected clients (eq. 6); a task that got
   no client keeps its model;
5. (line 13) every client evaluates every task's model on its test split for
   that task (metrics.jsonl rows carry ``task``), which gives f_s.

Recruitment before training (Section V, ``recruit=MECHANISM``): an auction over
the clients' bids (``bids`` file or ``bid-distributions``) with budget
``budget`` decides which clients may train which task (:mod:`fedfair.strategies.auctions`);
only winners are allocated to a task, and a fractional winner (mmfl-max-min's
last round, participation x < 1) trains the task in a fraction x of the rounds
it is allocated to it (it accumulates x per allocation and trains when the
credit reaches 1). summary.json ``recruitment``: winners, payments, fractional,
take-up, spent; ``sat_out``: per round the fractional winners allocated but not
training. The baselines accept the same parameters.

alpha = ``alpha`` (default 3, the paper's; alpha = 1 is uniform). summary.json:
``tasks`` (per task per-client figures and means), ``min_accuracy``,
``mean_accuracy``, ``accuracy_variance`` (across tasks, of the client-mean
accuracies), ``task_accuracy`` (the n-weighted accuracies behind f_s),
``allocation`` (per round: {client: task}), ``task_counts`` (clients per task
per round) and ``probabilities`` (p per round).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, Message
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.models import build_model
from fedfair.recruitment import check_recruitment, recruit_clients
from fedfair.results import ClientEval
from fedfair.strategies.aggregation import group_averages
from fedfair.strategies.allocation import alpha_fair_probabilities, draw_tasks
from fedfair.strategies.base import Deployed, FedFairStrategy, NodeInfo
from fedfair.strategies.nodes import sample
from fedfair.strategies.specs import ACTIVE_RATE, RECRUIT_PARAMS, SPECS  # noqa: F401 (names of the multi-task strategies' parameters)


class FedFairMMFLStrategy(FedFairStrategy):
    """Alpha-fair client-task allocation over the tasks of a task set."""

    name = "fedfair-mmfl"
    multi_task = True
    extra_params = SPECS["fedfair-mmfl"].params

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        super().check_params(params)
        if int(params.get("eval-every", 1)) != 1:
            raise ParamError(f"{cls.name} allocates from every task's accuracy after every round (Algorithm 1, line 13): "
                             "eval-every must be 1 (fraction-evaluate may sample the clients)")
        try:
            check_recruitment(params)
        except ValueError as err:
            raise ParamError(str(err)) from None

    # ----- allocation: the baselines override this -------------------------
    def allocate(self, server_round: int, active: Sequence[NodeInfo]) -> dict[str, int]:
        """{client: task index} for the active clients (eq. 5 probabilities, uniform in round 1)."""
        p_round = self.probabilities()
        self.history["probabilities"].append({"round": server_round, **dict(zip(self.tasks, p_round.tolist()))})
        rng = np.random.default_rng([self.params["seed"], server_round, 17])
        return draw_tasks([n.client for n in active], self.holds, p_round, rng)

    def probabilities(self) -> np.ndarray:
        if self.signal is None:  # line 1: initial random allocation
            return np.full(len(self.tasks), 1.0 / len(self.tasks))
        return alpha_fair_probabilities(self.signal, self.params["alpha"])

    # ----- tasks and models ------------------------------------------------
    def task_spec(self, task: str) -> dict[str, Any]:
        """The task's model spec; ``model`` / ``hidden`` override it as for one dataset."""
        return self.model_spec(self.task_info(task)[p.DEFAULT_MODEL] or {"model": "logreg"})

    def task_info(self, task: str) -> dict[str, Any]:
        return next(n.tasks[task] for n in self.nodes if task in n.tasks)

    def initial_task_arrays(self, index: int, task: str) -> ArrayRecord:
        info = self.task_info(task)
        shape = info.get(p.INPUT_SHAPE)
        try:
            model = build_model(self.task_spec(task), int(info[p.N_FEATURES]), seed=self.params["seed"] * 1000 + index,
                                num_classes=int(info[p.NUM_CLASSES]), input_shape=tuple(shape) if shape else None)
        except ValueError as err:
            raise ParamError(f"task {task!r}: {err}") from None
        return ArrayRecord(model.state_dict())

    # ----- the round template's hooks ----------------------------------------
    def setup(self, grid: Grid) -> None:
        self.tasks = list(dict.fromkeys(t for n in self.nodes for t in n.tasks))
        index = {t: i for i, t in enumerate(self.tasks)}
        self.holds = {n.client: [index[t] for t in n.tasks if n.trains(t)] for n in self.nodes}
        self.position = {n.client: n.partition_id for n in self.nodes}
        untrained = [t for t in self.tasks if not any(n.trains(t) for n in self.nodes)]
        if untrained:
            raise ParamError(f"task(s) {untrained}: no client holds training data for them; rebuild the task set")
        self.participation: dict[tuple[str, int], float] = {}
        self.credit: dict[tuple[str, int], float] = {}
        if self.params.get("recruit"):
            self.recruit()
        self.models = {t: self.initial_task_arrays(i, t) for i, t in enumerate(self.tasks)}
        self.specs = {t: self.task_spec(t) for t in self.tasks}
        self.signal: np.ndarray | None = None
        self.measured: dict[str, tuple[float, float]] = {}  # task: (accuracy, loss) last measured
        self.assigned: dict[int, str] = {}
        self.history: dict[str, Any] = {"allocation": [], "task_counts": [], "probabilities": [], "task_accuracy": [],
                                        **({"recruitment": self.recruitment, "sat_out": []} if self.params.get("recruit") else {})}

    def recruit(self) -> None:
        """Section V: the auction decides who may train which task; ``holds`` keeps only the winners."""
        clients = [n.client for n in self.nodes]
        eligible = np.array([[s in self.holds[c] for s in range(len(self.tasks))] for c in clients])
        try:
            auction, self.recruitment = recruit_clients(self.params, clients, self.tasks, eligible)
        except ValueError as err:
            raise ParamError(str(err)) from None
        share = auction.participation
        won = [set(w) for w in auction.winners]
        self.holds = {c: [s for s in range(len(self.tasks)) if i in won[s]] for i, c in enumerate(clients)}
        if share is not None:
            self.participation = {(clients[i], int(s)): float(share[i, s]) for i, s in zip(*np.nonzero((share > 0) & (share < 1)))}

    def trains_now(self, client: str, task: int) -> bool:
        """A fractional winner (participation x < 1) trains in a fraction x of the rounds it is allocated to
        the task: each allocation adds x to its credit; it trains when the credit reaches 1."""
        x = self.participation.get((client, task))
        if x is None:
            return True
        credit = self.credit.get((client, task), 0.0) + x
        due = credit >= 1.0 - 1e-9
        self.credit[(client, task)] = credit - 1.0 if due else credit
        return due

    def select(self, server_round: int) -> Sequence[NodeInfo]:
        pool = [n for n in self.nodes if self.holds[n.client]]
        active = sample(pool, self.params["active-rate"], self.params["seed"], server_round)
        drawn = self.allocate(server_round, active)
        allocation = {c: s for c, s in drawn.items() if self.trains_now(c, s)}
        if self.participation:
            self.history["sat_out"].append({"round": server_round, "tasks": {c: self.tasks[s] for c, s in drawn.items()
                                                                             if c not in allocation}})
        by_client = {n.client: n for n in self.nodes}
        self.assigned = {by_client[c].node_id: self.tasks[s] for c, s in allocation.items()}
        self.history["allocation"].append({"round": server_round, "tasks": {c: self.tasks[s] for c, s in allocation.items()}})
        self.history["task_counts"].append({"round": server_round, **{t: sum(1 for s in self.assigned.values() if s == t)
                                                                      for t in self.tasks}})
        return [n for n in active if n.node_id in self.assigned]

    def start_arrays(self, node: NodeInfo, server_round: int) -> ArrayRecord:
        return self.models[self.assigned[node.node_id]]

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        task = self.assigned[node.node_id]
        return {p.TASK: task, p.MODEL_SPEC: json.dumps(self.specs[task])}

    def aggregate(self, server_round: int, replies: Sequence[Message]) -> None:
        # eq. 6: per task, the n-weighted average of its selected clients' models
        self.models = group_averages(self.models, replies, lambda r: self.assigned[r.metadata.src_node_id])

    def deployment(self, server_round: int) -> dict[int, list[Deployed]]:
        return {n.node_id: [Deployed(t, self.models[t], task=t, model_spec=self.specs[t]) for t in self.tasks if n.tests(t)]
                for n in self.nodes}

    def observe(self, server_round: int, evals: Sequence[ClientEval]) -> None:
        """Line 13: every task's accuracy (n-weighted over the clients' test splits) and loss -> f_s. With
        ``fraction-evaluate`` < 1 the evaluated sample estimates them; a task none of the sampled clients
        holds keeps its last measured values (accuracy 0 and loss 1 before the first: it counts as behind)."""
        for task in self.tasks:
            mine = [e for e in evals if e.task == task]
            if mine:
                n = np.array([e.n_test for e in mine], dtype=np.float64)
                self.measured[task] = (float(np.dot(n, [e.accuracy for e in mine]) / n.sum()),
                                       float(np.dot(n, [e.loss for e in mine]) / n.sum()))
        accuracy, loss = (np.array([self.measured.get(t, (0.0, 1.0))[i] for t in self.tasks]) for i in (0, 1))
        self.history["task_accuracy"].append({"round": server_round, **dict(zip(self.tasks, accuracy.tolist()))})
        signal = self.params.get("mmfl-signal", "accuracy")  # the baselines do not read it
        self.signal = (1.0 - accuracy) if signal == "accuracy" else loss

    def summary_extra(self) -> dict[str, Any]:
        return {"multi_task": {"tasks": self.tasks, "models": self.specs}, **self.history}
