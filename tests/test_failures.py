"""Client failures and stragglers: the one failure policy, the fault injector, strategies that go on."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from fedfair.faults import InjectedFailure, draws, inject_faults
from fedfair.simulation import simulate
from fedfair.strategies.nodes import ClientError, Failure, NodeInfo, error_reason, send_all


class _Reply:
    def __init__(self, node_id, error=None):
        self.metadata = SimpleNamespace(src_node_id=node_id, reply_to_message_id=f"m{node_id}")
        self.error = SimpleNamespace(reason=error) if error else None
        self.content = {}

    def has_error(self):
        return self.error is not None


class _Grid:
    """Answers the messages of the nodes in ``good``, errors for ``bad``, nothing for the rest."""

    def __init__(self, good, bad):
        self.good, self.bad = good, bad

    def push_messages(self, messages):
        self.replies = [_Reply(m.metadata.dst_node_id) for m in messages if m.metadata.dst_node_id in self.good] + \
            [_Reply(m.metadata.dst_node_id, "boom") for m in messages if m.metadata.dst_node_id in self.bad]
        return [f"m{m.metadata.dst_node_id}" for m in messages]

    def pull_messages(self, message_ids):
        arrived, self.replies = self.replies[:1], self.replies[1:]  # one reply per poll
        return arrived


def _nodes(k):
    return [NodeInfo(node_id=10 + i, client=f"c{i}", partition_id=i, n_train=1, n_test=1, n_features=1,
                     default_model={}) for i in range(k)]


def _messages(nodes):
    return [SimpleNamespace(metadata=SimpleNamespace(dst_node_id=n.node_id)) for n in nodes]


def test_send_all_goes_on_with_enough_replies_and_names_the_failed_clients():
    nodes = _nodes(4)
    grid = _Grid(good={12, 10}, bad={11})
    failures: list[Failure] = []
    replies = send_all(grid, _messages(nodes), nodes, 0.3, "train round 3", min_replies=0.5, failures=failures)
    assert [r.metadata.src_node_id for r in replies] == [10, 12]  # sorted by partition id
    assert failures == [Failure("c1", "boom"), Failure("c3", "no reply within 0.3 s")]
    with pytest.raises(ClientError, match=r"train round 3: 2 of 4 replies, 3 needed \(min-replies 0.75\); failed: "
                                          r"client c1: boom; client c3: no reply within 0.3 s"):
        send_all(grid, _messages(nodes), nodes, 0.3, "train round 3", min_replies=0.75)
    # every reply answered: no failure whatever min-replies says
    assert len(send_all(_Grid({10, 11, 12, 13}, set()), _messages(nodes), nodes, 5.0, "x")) == 4


def test_the_fault_injector_is_seeded_and_does_what_its_rates_say(monkeypatch):
    slept = []
    monkeypatch.setattr("fedfair.faults.time.sleep", slept.append)
    seeds = range(2000)
    failing = [s for s in seeds if draws(s)[0] < 0.3]
    assert 0.25 < len(failing) / 2000 < 0.35 and draws(7) == draws(7)
    with pytest.raises(InjectedFailure, match="client 'a': injected failure"):
        inject_faults({"fail-rate": 0.3, "train-seed": failing[0]}, "a")
    late = next(s for s in seeds if draws(s)[0] >= 0.3 and draws(s)[1] < 0.5)
    inject_faults({"fail-rate": 0.3, "straggle-rate": 0.5, "straggle-seconds": 2.5, "train-seed": late}, "a")
    assert slept == [2.5]
    inject_faults({"train-seed": failing[0]}, "a")  # no fault settings: nothing happens


def _expected_failures(rate, rounds, partitions, seed=0):
    """Which (round, partition) the injector fails: the server's train seed, drawn independently here."""
    return {(r, i) for r in range(1, rounds + 1) for i in partitions
            if draws((seed * 1_000_003 + r * 10_007 + i) % (2**31))[0] < rate}


@pytest.mark.parametrize("strategy", ["fedavg", *(pytest.param(s, marks=pytest.mark.slow)
                                                  for s in ("ifca", "flhc", "fairfed", "standalone"))])
def test_strategies_go_on_without_the_clients_that_failed(synthetic_dir, tmp_path, strategy):
    config = {"strategy": strategy, "dataset": str(synthetic_dir), "rounds": 3, "fail-rate": 0.25,
              "out-dir": str(tmp_path / strategy)}
    if strategy == "ifca":
        config["num-clusters"] = 2
    if strategy == "flhc":
        config.update({"hc-k1": 1, "num-clusters": 2})
    summary = simulate(config, num_supernodes=8, echo=False)
    rows = [json.loads(line) for line in (tmp_path / strategy / "metrics.jsonl").read_text().splitlines()]
    failed = {(r["round"], r["client"]) for r in rows if r["stage"] == "failed"}
    # clients "1".."8" are partitions 0..7; every injected failure is recorded, nothing else
    expected = {(r, str(i + 1)) for r, i in _expected_failures(0.25, 3, range(8))}
    if strategy == "flhc":  # FL+HC's personalisation step in round 2 is a second train message of that round
        assert failed >= expected
    else:
        assert failed == expected
    assert expected and summary["failures"]["count"] == len([r for r in rows if r["stage"] == "failed"])
    assert all(r["reason"] == f"client {r['client']!r}: injected failure (fail-rate 0.25)"
               for r in rows if r["stage"] == "failed")
    assert len(summary["clients"]) == 8  # everyone is still evaluated every round
    if strategy in ("ifca", "flhc"):
        assert sorted(c for cluster in summary["clusters"] for c in cluster) == [str(i) for i in range(1, 9)]


def test_too_few_replies_stop_the_run_naming_the_clients(synthetic_dir, tmp_path):
    with pytest.raises(Exception, match=r"train round 1: \d of 8 replies, 8 needed \(min-replies 1\); failed: client"):
        simulate({"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 2, "fail-rate": 0.5,
                  "min-replies": 1.0, "out-dir": str(tmp_path / "strict")}, num_supernodes=8, echo=False)
    assert json.loads((tmp_path / "strict" / "status.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_a_straggler_past_the_round_timeout_is_left_out_and_the_run_goes_on(synthetic_dir, tmp_path):
    """straggle-rate 0.15 makes partition 3 (client "4") late in round 1 only (draws computed independently)."""
    stragglers = {(r, i) for r in (1, 2) for i in range(8) if draws((r * 10_007 + i) % 2**31)[1] < 0.15}
    assert stragglers == {(1, 3)}
    summary = simulate({"strategy": "fedavg", "dataset": str(synthetic_dir), "rounds": 2, "straggle-rate": 0.15,
                        # generous margins: the others must answer within 15 s even on a loaded machine
                        "straggle-seconds": 30.0, "round-timeout": 15.0, "out-dir": str(tmp_path / "late")},
                       num_supernodes=8, echo=False)
    assert summary["failures"] == {"count": 1, "per_client": {"4": 1}, "by_round": {"1": ["4"]}}
    rows = [json.loads(line) for line in (tmp_path / "late" / "metrics.jsonl").read_text().splitlines()]
    failed = [r for r in rows if r["stage"] == "failed"]
    assert failed == [{"client": "4", "message": "train round 1", "reason": "no reply within 15 s", "round": 1,
                       "stage": "failed"}]


def test_the_failure_reason_is_the_clients_own_message():
    ray = ("<class 'ray.exceptions.RayTaskError(ClientAppException)'>:<'ray::ClientAppActor.run()\n  File x\n"
           "Exception ClientAppException occurred. Message: client '3': injected failure (fail-rate 0.2)'>")
    assert error_reason(ray) == "client '3': injected failure (fail-rate 0.2)"
    assert error_reason("connection reset\nmore") == "connection reset"


def test_many_clients_failing_for_one_reason_are_named_once():
    """A dead Ray worker fails every client with one reason: the run's error names it once, not 48 times."""
    from fedfair.strategies.nodes import Failure, failure_details

    failed = [Failure(f"s{k}", "ActorDiedError: the actor died") for k in range(48)] + [Failure("x", "boom")]
    assert failure_details(failed) == "48 clients (s0, s1, s2, ..., s47): ActorDiedError: the actor died; client x: boom"
    assert failure_details([Failure("a", "r"), Failure("b", "r")]) == "client a: r; client b: r"
