"""A flwr-datasets Partitioner that gives each client chosen shares of each group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from datasets import Dataset
from flwr_datasets.partitioner import Partitioner


class GroupSharePartitioner(Partitioner):
    """Split rows so that client k receives ``shares[g][k]`` of group g's rows.

    ``shares`` maps each value of ``group_column`` to one fraction per client
    (each list sums to at most 1; a remainder is left out). Rows of a group are
    shuffled with ``seed`` before being cut, so the split is random but
    reproducible. Used for seed 000 Section 4.3's "5 clients, each with an
    unbalanced number of samples based on race" on Adult.
    """

    def __init__(self, group_column: str, shares: Mapping[Any, Sequence[float]], seed: int = 0) -> None:
        super().__init__()
        lengths = {len(s) for s in shares.values()}
        if len(lengths) != 1:
            raise ValueError(f"every group needs one share per client, got lengths {sorted(lengths)}")
        for group, fractions in shares.items():
            if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
                raise ValueError(f"shares of group {group!r} must be >= 0 and sum to <= 1, got {list(fractions)}")
        self.group_column = group_column
        self.shares = {k: list(v) for k, v in shares.items()}
        self.seed = seed
        self._num_partitions = lengths.pop()
        self._indices: list[np.ndarray] | None = None

    @property
    def num_partitions(self) -> int:
        return self._num_partitions

    def _assign(self) -> list[np.ndarray]:
        groups = np.asarray(self.dataset[self.group_column])
        unknown = set(np.unique(groups).tolist()) - set(self.shares)
        if unknown:
            raise ValueError(f"{self.group_column}: no shares given for values {sorted(unknown)}")
        rng = np.random.default_rng(self.seed)
        parts: list[list[np.ndarray]] = [[] for _ in range(self._num_partitions)]
        for group, fractions in self.shares.items():
            rows = rng.permutation(np.flatnonzero(groups == group))
            cuts = np.floor(np.cumsum(fractions) * len(rows)).astype(int)
            for k, (lo, hi) in enumerate(zip(np.concatenate([[0], cuts[:-1]]), cuts)):
                parts[k].append(rows[lo:hi])
        return [np.sort(np.concatenate(p)) for p in parts]

    def load_partition(self, partition_id: int) -> Dataset:
        if not 0 <= partition_id < self._num_partitions:
            raise ValueError(f"partition_id {partition_id} out of range [0, {self._num_partitions})")
        if self._indices is None:
            self._indices = self._assign()
        rows = self._indices[partition_id]
        if len(rows) == 0:
            raise ValueError(f"partition {partition_id} is empty: increase its shares")
        return self.dataset.select(rows)
