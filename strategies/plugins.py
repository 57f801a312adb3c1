"""The server's view of the client-side plug-ins: their reports, fallbacks and shared statistics.

After each training round :class:`PluginLog` reads every reply's plug-in numbers
(``local.<name>`` metrics), fallback notes and ``plugin-share`` statistics.
Shared statistics are summed element-wise over the round's clients (per task)
and sent with the next round's train messages (``shared``): counts, never rows.
summary.json gets ``mitigation``: the mitigation's name, per round each
client's numbers, and per client the reasons it trained without it.
It also answers the per-node facts a plug-in asks for in its train messages
(``LocalObjective.node_facts``, :data:`fedfair.protocol.NODE_FACTS`):
:meth:`PluginLog.node_fact`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flwr.app import Message

from fedfair import protocol as p


def sum_statistics(a: Any, b: Any) -> Any:
    """Element-wise sum of two nested structures of numbers (dicts, lists, numbers)."""
    if isinstance(a, Mapping):
        return {k: sum_statistics(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {*a, *b}}
    if isinstance(a, list):
        if len(a) != len(b):
            raise ValueError("shared statistics of different shapes cannot be summed")
        return [sum_statistics(x, y) for x, y in zip(a, b)]
    return a + b


class PluginLog:
    """What the plug-ins of a run reported, round by round, and the statistics to share next round."""

    def __init__(self, mitigation: str) -> None:
        self.mitigation = mitigation
        self.rounds: list[dict[str, Any]] = []
        self.fallbacks: dict[str, list[str]] = {}
        self.shared: dict[str, dict[str, Any]] = {}  # task -> {key: summed statistics}
        self.epsilon: dict[str, float] = {}  # DP-SGD: each client's budget spent so far
        self.trained: dict[str, set[str]] = {}  # task -> clients that replied to a train message

    def collect(self, server_round: int, replies: Sequence[Message], clients: Mapping[int, str]) -> None:
        reports: dict[str, dict[str, float]] = {}
        shared: dict[str, dict[str, Any]] = {}
        for reply in replies:
            client = clients.get(reply.metadata.src_node_id, str(reply.metadata.src_node_id))
            metrics, info = reply.content[p.METRICS], reply.content[p.INFO]
            numbers = {k[len(p.PLUGIN_REPORT):]: float(v) for k, v in metrics.items() if k.startswith(p.PLUGIN_REPORT)}
            if "dp-epsilon" in numbers:
                self.epsilon[client] = numbers.pop("dp-epsilon")
            if numbers:
                reports[client] = numbers
            for note in json.loads(str(info.get(p.PLUGIN_NOTES, "[]"))):
                if note not in self.fallbacks.setdefault(client, []):
                    self.fallbacks[client].append(note)
            task = str(info.get(p.TASK, ""))
            self.trained.setdefault(task, set()).add(client)
            for key, stats in json.loads(str(info.get(p.PLUGIN_SHARE, "{}"))).items():
                mine = shared.setdefault(task, {})
                mine[key] = sum_statistics(mine[key], stats) if key in mine else stats
        if reports:
            self.rounds.append({"round": server_round, "clients": reports})
        for task, stats in shared.items():  # replaces last round's: the clients that trained this round
            self.shared[task] = stats

    def trained_before(self, client: str, task: str = "") -> bool:
        """Whether ``client`` replied to a train message of ``task`` earlier in the run."""
        return client in self.trained.get(task, set())

    def node_fact(self, fact: str, client: str, task: str = "") -> Any:
        """The value of one per-node fact (:data:`fedfair.protocol.NODE_FACTS`) for ``client``'s train message
        of ``task``."""
        if fact == p.TRAINED_BEFORE:
            return self.trained_before(client, task)
        raise ValueError(f"unknown node fact {fact!r}; the server knows: {', '.join(p.NODE_FACTS)}")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.mitigation != "none" or self.rounds or self.fallbacks:
            out["mitigation"] = {"name": self.mitigation, "rounds": self.rounds, "fallbacks": self.fallbacks}
        if self.epsilon:
            values = list(self.epsilon.values())
            out["privacy"] = {"epsilon": dict(sorted(self.epsilon.items())), "max_epsilon": max(values),
                              "mean_epsilon": float(sum(values) / len(values))}
        return out
