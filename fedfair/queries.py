"""Client routines answered by ``query.<action>`` messages, registered by action name.

A routine is what a client computes for the server outside training and
evaluation (e.g. single-shot FL's synthetic dataset). The ClientApp registers
one ``query.<action>`` handler per entry of :data:`QUERY_ROUTINES` and knows
nothing else about them: it loads the client's data, calls the routine with the
message's config and replies with what the routine returns.

A routine is ``routine(data: ClientData, config: Mapping[str, Any]) -> QueryAnswer``;
adding one is a function and a line here (the server half sends
``query.<action>`` through :func:`fedfair.strategies.nodes.send_all`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedfair.data import ClientData

QUERY_ROUTINES: dict[str, str] = {
    "synthesize": "fedfair.singleshot:client_synthesis",
}


@dataclass
class QueryAnswer:
    """A routine's answer: arrays (sent as one ArrayRecord), numbers (a MetricRecord) and notes (strings)."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def query_routine(action: str) -> Callable[[ClientData, Mapping[str, Any]], QueryAnswer]:
    """The routine registered for ``query.<action>``."""
    if action not in QUERY_ROUTINES:
        raise ValueError(f"unknown query routine {action!r}; valid: {', '.join(sorted(QUERY_ROUTINES))}")
    module, attr = QUERY_ROUTINES[action].split(":")
    return getattr(importlib.import_module(module), attr)
