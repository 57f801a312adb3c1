"""Split one natural client (a state) into sub-clients with any flwr-datasets Partitioner.

A rule is one of

- ``"whole"``: keep the client as it is (default);
- ``"iid:N"`` or ``{"kind": "iid", "num_partitions": N}``: N IID parts (rows
  shuffled with the dataset seed, then flwr-datasets' ``IidPartitioner``);
- ``{"kind": K, ...}``: the flwr-datasets partitioner ``K`` (``dirichlet``,
  ``shard``, ``linear``, ``square``, ``exponential``, ``pathological``,
  ``continuous``, ``size``, ...; the class name without ``Partitioner``, in
  lower case) with the remaining keys as its arguments, e.g.
  ``{"kind": "dirichlet", "num_partitions": 4, "partition_by": "RAC1P", "alpha": 0.5}``
  (Dirichlet on a sensitive attribute) or ``"partition_by": "PINCP"`` (on the label);
- ``{"kind": "group-share", "group_column": ..., "shares": {...}}``: fedfair's
  :class:`fedfair.partitioners.group_share.GroupSharePartitioner`.

Sub-clients are named ``<client>_<k>``. A part that comes out empty is an
error naming the client and the rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset

from fedfair.data import DatasetError
from fedfair.partitioners.bias import client_rng

ROW = "__row__"


def partitioner_classes() -> dict[str, type]:
    """flwr-datasets (and fedfair) partitioners by short name."""
    import flwr_datasets.partitioner as fp

    from fedfair.partitioners.group_share import GroupSharePartitioner

    classes = {}
    for name in fp.__all__:
        cls = getattr(fp, name)
        if isinstance(cls, type) and name.endswith("Partitioner") and name != "Partitioner":
            classes[name[: -len("Partitioner")].lower()] = cls
    classes["group-share"] = GroupSharePartitioner
    return classes


def parse_rule(rule: Any) -> dict[str, Any]:
    """Normalise a rule to ``{"kind": ..., **arguments}``."""
    if isinstance(rule, str):
        if rule == "whole":
            return {"kind": "whole"}
        kind, _, count = rule.partition(":")
        if kind == "iid" and count.isdigit() and int(count) >= 1:
            return {"kind": "iid", "num_partitions": int(count)}
        if kind == "iid":
            raise DatasetError(f"partition rule {rule!r}: iid:N needs a whole number of parts N >= 1, e.g. iid:4")
        raise DatasetError(f"partition rule {rule!r}: use 'whole', 'iid:N' or a table with a 'kind' key")
    if isinstance(rule, Mapping) and "kind" in rule:
        return dict(rule)
    raise DatasetError(f"partition rule {rule!r}: use 'whole', 'iid:N' or a table with a 'kind' key")


def make_partitioner(rule: Mapping[str, Any], seed: int) -> Any:
    """Instantiate the partitioner of a parsed rule (seeded when it takes a seed)."""
    classes = partitioner_classes()
    kind = rule["kind"]
    if kind not in classes:
        raise DatasetError(f"unknown partitioner {kind!r}; valid: whole, {', '.join(sorted(classes))}")
    cls = classes[kind]
    kwargs = {k: v for k, v in rule.items() if k != "kind"}
    params = inspect.signature(cls.__init__).parameters
    if "seed" in params and "seed" not in kwargs:
        kwargs["seed"] = seed
    try:
        return cls(**kwargs)
    except (ValueError, KeyError) as err:  # flwr-datasets' own argument checks
        raise DatasetError(f"partitioner {kind!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    except TypeError as err:
        raise DatasetError(f"partitioner {kind!r}: {err}; its arguments: {[p for p in params if p != 'self']}") from err


def partition_client(name: str, frame: pd.DataFrame, rule: Any, seed: int) -> list[tuple[str, pd.DataFrame]]:
    """Apply ``rule`` to one natural client; returns ``[(sub_name, rows), ...]``."""
    parsed = parse_rule(rule)
    if parsed["kind"] == "whole":
        return [(name, frame)]
    rng = client_rng(seed, name, "partition")
    shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    partitioner = make_partitioner(parsed, int(rng.integers(2**31)))
    # The partitioner sees only the columns its rule names plus a row index (a wide frame, e.g. 784 pixel
    # columns, would make every datasets.select slow); the rows are then taken from the frame itself.
    named = [v for v in parsed.values() if isinstance(v, str) and v in frame.columns]
    narrow = shuffled[named].assign(**{ROW: np.arange(len(shuffled))})
    partitioner.dataset = Dataset.from_pandas(narrow, preserve_index=False)
    n_parts = getattr(partitioner, "num_partitions", 0)
    if n_parts > len(frame):
        raise DatasetError(f"client {name!r}: {n_parts} partitions of {len(frame)} rows would leave parts empty; use fewer partitions")
    try:
        loaded = [np.asarray(partitioner.load_partition(k)[ROW], dtype=np.int64) for k in range(partitioner.num_partitions)]
    except (ValueError, KeyError, IndexError) as err:
        raise DatasetError(f"client {name!r}: partitioner {parsed} failed: {err}") from err
    parts = []
    for k, rows in enumerate(loaded):
        if len(rows) == 0:
            raise DatasetError(f"client {name!r}: partitioner {parsed} leaves part {k} empty; use fewer partitions")
        parts.append((f"{name}_{k}", shuffled.iloc[rows].reset_index(drop=True)))
    total = sum(len(p) for _, p in parts)
    if total > len(frame):
        raise DatasetError(f"client {name!r}: partitioner {parsed} returned {total} rows from {len(frame)}")
    return parts

