"""Fault injection for dropout and straggler studies: a client fails or is late in a round, seeded.

The server sends ``fail-rate``, ``straggle-rate`` and ``straggle-seconds`` in
train (and query-routine) messages when they are set; the client draws two
uniform numbers from its message's ``train-seed`` (distinct per run seed, round
and client, so a run is reproducible) and raises (the reply carries the error)
or sleeps before working. Off by default.

On the in-process engine (:mod:`fedfair.engine`) a straggler does not sleep:
inside :func:`virtual_straggle` its delay is added to a clock the engine
compares with the round's timeout, so the same run waits for nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedfair import protocol as p


class InjectedFailure(RuntimeError):
    """The failure ``fail-rate`` asked for."""


@dataclass
class Lateness:
    """Seconds a client was made late while :func:`virtual_straggle` was active."""

    seconds: float = 0.0


_VIRTUAL: contextvars.ContextVar[Lateness | None] = contextvars.ContextVar("fedfair_virtual_straggle", default=None)


@contextlib.contextmanager
def virtual_straggle() -> Iterator[Lateness]:
    """Within this block an injected straggle adds its seconds to the yielded :class:`Lateness` instead of
    sleeping (the in-process engine's clock)."""
    late = Lateness()
    token = _VIRTUAL.set(late)
    try:
        yield late
    finally:
        _VIRTUAL.reset(token)


def draws(train_seed: int) -> tuple[float, float]:
    """(failure draw, straggle draw) of one client in one round."""
    u = np.random.default_rng([int(train_seed), 0xFA17]).random(2)
    return float(u[0]), float(u[1])


def inject_faults(config: Mapping[str, Any], client: str) -> None:
    """Raise or sleep as the message's fault settings and seed say (nothing when they are absent)."""
    fail, straggle = float(config.get(p.FAIL_RATE, 0.0)), float(config.get(p.STRAGGLE_RATE, 0.0))
    if fail <= 0 and straggle <= 0:
        return
    u_fail, u_straggle = draws(int(config.get(p.TRAIN_SEED, 0)))
    if u_fail < fail:
        raise InjectedFailure(f"client {client!r}: injected failure (fail-rate {fail:g})")
    if u_straggle < straggle:
        seconds, late = float(config.get(p.STRAGGLE_SECONDS, 0.0)), _VIRTUAL.get()
        if late is None:
            time.sleep(seconds)
        else:
            late.seconds += seconds
