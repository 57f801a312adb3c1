"""Round-robin client-task allocation (Bhuyan & Moharir; seed 003's baseline b).

Active clients cycle through the tasks across rounds: the client at position i
of the client list trains task (i + t) mod S in round t (the next task it
holds when it lacks that one's data), so each task gets about m / S clients
every round regardless of how well it is learnt. Aggregation per task as eq. 6.
"""

from __future__ import annotations

from collections.abc import Sequence

from fedfair.strategies.allocation import round_robin_tasks
from fedfair.strategies.base import NodeInfo
from fedfair.strategies.mmfl import FedFairMMFLStrategy
from fedfair.strategies.specs import SPECS


class MMFLRoundRobinStrategy(FedFairMMFLStrategy):
    """Active clients take the tasks in turn across rounds."""

    name = "mmfl-round-robin"
    extra_params = SPECS["mmfl-round-robin"].params

    def allocate(self, server_round: int, active: Sequence[NodeInfo]) -> dict[str, int]:
        return round_robin_tasks([n.client for n in active], self.position, self.holds, len(self.tasks), server_round)
