"""What large federations rely on: replies polled without Flower's fixed waits, a manifest parsed once per
process, Ray joined through RAY_ADDRESS."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from fedfair.strategies.nodes import exchange


class _SlowGrid:
    """Answers message k after k + 1 polls; counts the polls."""

    def __init__(self):
        self.polls, self.waiting = 0, []

    def push_messages(self, messages):
        self.waiting = [f"m{k}" for k, _ in enumerate(messages)]
        return list(self.waiting)

    def pull_messages(self, message_ids):
        self.polls += 1
        ready = [m for k, m in enumerate(self.waiting) if k < self.polls and m in set(message_ids)]
        return [SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=m)) for m in ready]


def test_exchange_returns_as_soon_as_the_last_reply_arrived_and_stops_at_the_timeout():
    grid = _SlowGrid()
    started = time.monotonic()
    replies = exchange(grid, [object()] * 5, timeout=30.0)
    assert sorted(r.metadata.reply_to_message_id for r in replies) == [f"m{k}" for k in range(5)]
    assert grid.polls == 5 and time.monotonic() - started < 0.5  # Flower's InMemoryGrid: 4 x 0.1 s at least
    grid = _SlowGrid()
    grid.pull_messages = lambda ids: []  # nobody answers
    started = time.monotonic()
    assert exchange(grid, [object()] * 3, timeout=0.3) == []
    assert 0.3 <= time.monotonic() - started < 0.6


def test_the_client_loader_parses_a_manifest_once_per_process(synthetic_dir, monkeypatch):
    from fedfair import data

    data._load_client_at.cache_clear()
    data._manifest_cached.cache_clear()
    calls = []
    original = data.read_manifest
    monkeypatch.setattr(data, "read_manifest", lambda root: calls.append(root) or original(root))
    clients = [data.load_client(synthetic_dir, k) for k in range(8)]
    assert len(calls) == 1 and [c.partition_id for c in clients] == list(range(8))
    assert clients[3].train.x.dtype.name == "float32" and clients[3].train.y.dtype.name == "int64"
    by_name = data.load_client(synthetic_dir, "4")  # by name: the same client, still one parse
    assert by_name.partition_id == 3 and (by_name.test.x == clients[3].test.x).all() and len(calls) == 1


@pytest.mark.parametrize("address", ["", "127.0.0.1:6379"])
def test_the_simulation_joins_the_ray_cluster_ray_address_names(monkeypatch, address):
    from fedfair.simulation import backend_config

    monkeypatch.setenv("RAY_ADDRESS", address)
    init = backend_config()["init_args"]
    if address:
        assert init["address"] == address and "num_cpus" not in init  # Ray refuses a core count when joining
    else:
        assert "address" not in init and init["num_cpus"] >= 1
