"""Single-shot fair FL with synthetic data (Wu, Curtis & Robinson; seed 001, Algorithm 1).

One exchange instead of rounds: every training client answers ``query.synthesize``
with a synthetic dataset (x_hat, s_hat, y_hat) found by the bilevel penalty
problem of eqs. 11-12 (fedfair/singleshot.py, run on the client; no real row,
no size beyond N_s leaves it); the server trains an ordinary regularised
logistic regression on the union (eq. 15, L-BFGS) with no fairness term, and
every client scores that model on its test split like any other strategy.
The ``rounds`` parameter does not apply (summary.json records 1). A client that
fails or times out contributes no synthetic rows (recorded in ``failures``); the
server trains on the others' union while ``min-replies`` of them answered.

summary.json ``synthesis`` holds per client: the outer objective at the start
and the end, the covariance on its real and synthetic rows, the privacy
indicator min_ij ||x_i - x_hat_j||, N_s, the bytes uploaded, the synthesis time,
the inner solves that stopped above tolerance (with the worst gradient norm)
and the paper's signed SPD on its test split; ``server`` the server's inner
solve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from fedfair import protocol as p
from fedfair.config import ParamError
from fedfair.metrics import group_rates
from fedfair.models import build_model
from fedfair.singleshot import check_binary, parse_size, train_server_model
from fedfair.strategies.base import Deployed, FedFairStrategy
from fedfair.strategies.fairness import sensitive_attribute
from fedfair.strategies.specs import SPECS

SYNTHESIZE = "query.synthesize"


class SingleShotStrategy(FedFairStrategy):
    """Clients synthesise fair datasets once; the server trains logistic regression on their union."""

    name = "single-shot"
    extra_params = SPECS["single-shot"].params

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """No local training: a mitigation or DP-SGD would be silently ignored, so they are refused."""
        if params.get("mitigation", "none") != "none" or params.get("dp-noise-multiplier", 0) > 0:
            raise ParamError("single-shot has no local training rounds: mitigation and dp-noise-multiplier do not "
                             "apply (its fairness comes from ss-rho-o); drop them")

    def model_spec(self, default: Any = None) -> dict[str, Any]:
        return {"model": "logreg"}  # eq. 15: logistic regression, whatever the dataset's default model

    def run(self, grid: Grid) -> dict[str, Any]:
        self.describe(grid)
        self.current_round = 1
        attribute = self.check_nodes()
        nodes = self.training_nodes
        replies = self.send(grid, [self.synthesize_message(n, attribute) for n in nodes], "synthesize")
        records, x, y = {}, [], []
        for reply in replies:
            node = self.node(reply.metadata.src_node_id)
            arrays = reply.content[p.ARRAYS]
            x_hat, y_hat = arrays["x"].numpy(), arrays["y"].numpy()
            x.append(x_hat.astype(np.float64))
            y.append(y_hat)
            metrics = dict(reply.content[p.METRICS])
            records[node.client] = {
                **{k: (int(v) if k in ("n-synthetic", "inner-failures") else float(v)) for k, v in metrics.items()},
                "bytes-uploaded": int(sum(arrays[k].numpy().nbytes for k in arrays)),
            }
            note = reply.content[p.INFO].get("synthesis-note")
            if note:
                records[node.client]["note"] = str(note)
            if metrics.get("inner-failures", 0):
                self.recorder.log(f"[yellow]{node.client}: {int(metrics['inner-failures'])} inner solves stopped "
                                  f"above tolerance (worst gradient norm {metrics['worst-inner-gradient']:.2e})[/yellow]")
        a_hat = np.column_stack([np.concatenate(x), np.ones(sum(len(part) for part in x))])
        labels = np.where(np.concatenate(y) > 0, 1.0, -1.0)
        theta, gradient_norm = train_server_model(a_hat, labels, self.params["ss-lambda-theta"])
        self.global_model = self.logistic_model(theta)
        evals = self.evaluate_nodes(grid, 1, {n.node_id: [Deployed("global", self.global_model)] for n in self.nodes})
        for e in evals:
            if e.client in records and attribute in e.groups:
                records[e.client]["spd-test"] = self.signed_spd(e.groups[attribute])
        return self.recorder.finish(evals, extra={
            "rounds": 1, "synthesis": records,
            "server": {"rows": int(len(labels)), "gradient_norm": gradient_norm, "sensitive": attribute},
            "communication": self.traffic.summary(self.nodes), **self.failure_summary(),
        })

    def check_nodes(self) -> str:
        """Binary label and a binary sensitive attribute on every node; returns the attribute."""
        if self.nodes and self.nodes[0].num_classes > 2:
            raise ParamError(f"single-shot trains logistic regression on a binary label; this dataset has "
                             f"{self.nodes[0].num_classes} classes")
        attribute = sensitive_attribute(self.params, list(self.nodes[0].sensitive) if self.nodes else [])
        values = list(self.nodes[0].sensitive.get(attribute, []))
        try:
            check_binary(values, attribute)
        except ValueError as err:
            raise ParamError(str(err)) from None
        size = parse_size(self.params["ss-size"])
        if isinstance(size, int):
            small = [n.client for n in self.training_nodes if n.n_train < size]
            if small:
                raise ParamError(f"ss-size={size} exceeds the training rows of client(s) {small[:5]}: use at most "
                                 f"{min(n.n_train for n in self.training_nodes)} rows or a fraction (e.g. 0.1)")
        self.attribute_values = values
        return attribute

    def synthesize_message(self, node, attribute: str) -> Message:
        """``query.synthesize`` for one node: the penalty problem's parameters, the attribute, a seed."""
        record = self.message_config(1)
        record.update({key: self.params[key] for key in self.extra_params if key.startswith("ss-")})
        record.update({"sensitive": attribute, p.TRAIN_SEED: self.train_seed(1, node), **self.fault_config()})
        return Message(RecordDict({p.CONFIG: record}), dst_node_id=node.node_id, message_type=SYNTHESIZE)

    def logistic_model(self, theta: np.ndarray) -> ArrayRecord:
        """The logreg model (weights theta[:-1], bias theta[-1]) every client evaluates."""
        node = self.nodes[0]
        model = build_model({"model": "logreg"}, node.n_features, seed=0)
        state = model.state_dict()
        weight_key, bias_key = [k for k in state if k.endswith("weight")][0], [k for k in state if k.endswith("bias")][0]
        state[weight_key] = torch.as_tensor(theta[:-1], dtype=state[weight_key].dtype).reshape(state[weight_key].shape)
        state[bias_key] = torch.as_tensor(theta[-1:], dtype=state[bias_key].dtype).reshape(state[bias_key].shape)
        return ArrayRecord(state)

    def signed_spd(self, table) -> float:
        """Eq. 4 on a client's test split: P(y = 1 | first value) - P(y = 1 | second value)."""
        rates = dict(zip(table.values, group_rates(table.counts)["selection_rate"]))
        first, second = self.attribute_values
        return float(rates.get(first, float("nan")) - rates.get(second, float("nan")))
