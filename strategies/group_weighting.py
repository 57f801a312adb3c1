"""The round template of the group-reweighting strategies (FedFB, Fed-FairBatch, Fed-FairGrad).

FedAvg whose clients weigh every training row's loss by its cell k = (label y, value a of the attribute
``sensitive``). Round t:

1. the server sends the global model w^t to every training client (``query.evaluate_models`` on the train
   split with ``cell-losses``); each replies, per cell, its row count, summed loss, summed loss against the
   positive label and number of correct predictions of w^t (statistics, never rows) and the server sums them over the clients (n_k, S_k, C_k);
2. the algorithm's controller updates its state from them (:meth:`GroupWeightedStrategy.update`) and gives the
   cell weights w_k (sum 1 for FairBatch's sampling probabilities; FairGrad's may be negative);
3. each sampled client trains from w^t on (1 / n_c) sum_i m_i l_i with m_k = w_k n / n_k (the
   ``group-weights`` plug-in, :mod:`fedfair.local.group_weights`) and the server averages the local models with
   FedAvg's n_c / n, so the federation minimises sum_k w_k mean_{i in k} l_i (the loss of a batch drawn with
   cell probabilities w_k, what FairBatch's sampler draws in expectation; declearn's SumAggregator of
   count-weighted updates is the same step).

The counts n_k are the first round's (the whole federation); later rounds' losses are divided by the counts of
the clients that replied. Every client deploys the global model. summary.json ``group_weights``: per round the
cell weights, the controller's state and the federation's fairness statistic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.metrics import GroupCounts
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.evaluation import scores_message
from fedfair.strategies.fedavg import FedAvgStrategy
from fedfair.strategies.nodes import ClientError
from fedfair.strategies.specs import GROUP_WEIGHTED_PARAMS


def cell_statistics(values: Sequence[Any], replies: Sequence[tuple[dict[str, Any], GroupCounts]]) -> dict[str, np.ndarray]:
    """Sum over clients of (cells JSON, hard group table) into n, loss, loss_positive (the loss against label 1)
    and correct arrays [y, a], aligned to ``values`` (correct: tn for y = 0, tp for y = 1)."""
    position = {v: i for i, v in enumerate(values)}
    out = {key: np.zeros((2, len(values))) for key in ("n", "loss", "loss_positive", "correct")}
    for cells, table in replies:
        index = [position[v] for v in cells["values"]]
        out["n"][:, index] += np.asarray(cells["counts"], dtype=np.float64)
        out["loss"][:, index] += np.asarray(cells["loss"], dtype=np.float64)
        out["loss_positive"][:, index] += np.asarray(cells["loss_positive"], dtype=np.float64)
        tp, tn = table.counts[:, 0], table.counts[:, 2]
        index = [position[v] for v in table.values]
        out["correct"][0, index] += tn
        out["correct"][1, index] += tp
    return out


class GroupWeightedStrategy(FedAvgStrategy):
    """FedAvg with server-set loss weights per (label, group) cell; subclasses give the controller."""

    objectives = ("group-weights",)
    # the fairness notions the controller implements, and whether it needs a binary attribute
    notions: tuple[str, ...] = ("sp", "eqop", "eo")
    binary_attribute = False
    extra_params = GROUP_WEIGHTED_PARAMS

    # ----- the controller (subclasses) -------------------------------------------------------------
    def initial_state(self, counts: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, state: dict[str, Any], stats: dict[str, np.ndarray], server_round: int) -> dict[str, Any]:
        """The controller's state after seeing the federation's cell statistics of w^t (round ``server_round``)."""
        raise NotImplementedError

    def cell_weights(self, state: dict[str, Any]) -> np.ndarray:
        """w_k, shape (2, number of values)."""
        raise NotImplementedError

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        super().check_params(params)
        if params["fairness"] not in cls.notions:
            raise ParamError(f"{cls.name} implements fairness {', '.join(cls.notions)}, not {params['fairness']!r}: "
                             f"--set fairness={cls.notions[0]}, or use fed-fairbatch / fed-fairgrad")

    # ----- the round template --------------------------------------------------------------------
    def setup(self, grid: Grid) -> None:
        super().setup(grid)
        self.attribute, self.notion = self.sensitive_attribute(), self.params["fairness"]
        self.values = list(self.nodes[0].sensitive[self.attribute])
        if self.binary_attribute and len(self.values) != 2:
            raise ParamError(f"{self.name} needs a binary sensitive attribute; {self.attribute!r} has {len(self.values)} "
                             f"values: --set sensitive=<a binary attribute>, or use fed-fairgrad")
        self.counts: np.ndarray | None = None
        self.state: dict[str, Any] = {}
        self.multipliers = np.ones((2, len(self.values)))
        self.group_history: list[dict[str, Any]] = []

    def begin_round(self, grid: Grid, server_round: int) -> None:
        stats = self.federation_statistics(grid, server_round)
        if self.counts is None:
            self.counts = stats["n"]
            empty = [(y, self.values[a]) for y, a in zip(*np.nonzero(self.counts == 0))]
            if empty:
                raise ParamError(f"{self.name}: cells (label, {self.attribute}) {empty} have no training rows in the "
                                 f"federation: use another --set sensitive, or a strategy without group weights")
            self.state = self.initial_state(self.counts)
        self.state = self.update(self.state, stats, server_round)
        weights = self.cell_weights(self.state)
        self.multipliers = weights * self.counts.sum() / self.counts  # m_k = w_k n / n_k
        errors = 1 - stats["correct"] / np.maximum(stats["n"], 1)
        self.group_history.append({"round": server_round, "weights": weights.round(12).tolist(),
                                   "state": {k: np.round(v, 12).tolist() for k, v in self.state.items()},
                                   "error": errors.round(12).tolist()})

    def federation_statistics(self, grid: Grid, server_round: int) -> dict[str, np.ndarray]:
        """Step 1: the training clients' summed cell statistics of the global model on their training splits."""
        messages = []
        for node in self.training_nodes:
            config = self.message_config(server_round)
            config[p.CELL_LOSSES] = self.attribute
            messages.append(scores_message(node, config, [self.global_model], "train"))
        replies = self.send(grid, messages, f"group statistics round {server_round}")
        if not replies:
            raise ClientError(f"group statistics round {server_round}: no client replied")
        key = p.model_key(0)
        return cell_statistics(self.values, [
            (json.loads(str(r.content[p.INFO][p.cells_key(key)])),
             p.decode_groups(str(r.content[p.INFO][p.groups_key(key)]))[self.attribute]) for r in replies])

    def train_config(self, node: NodeInfo, server_round: int) -> dict[str, Any]:
        return {p.GROUP_WEIGHTS: json.dumps({"attribute": self.attribute, "values": self.values,
                                             "multipliers": self.multipliers.tolist()})}

    def summary_extra(self) -> dict[str, Any]:
        return {"group_weights": {"algorithm": self.name, "fairness": self.notion, "sensitive": self.attribute,
                                  "values": self.values, "cells": "[label][value]", "rounds": self.group_history}}
