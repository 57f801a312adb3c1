"""The builtin datasets (``--dataset NAME``, ``fedfair data create NAME``): build specs for the one builder.

- ``synthetic-gaussian-8``: seed 000 Appendix C.5 / Table 2: 8 clients "1".."8",
  1200 train + 1200 test rows each (the source's own split), the feature
  standardised with one global affine map fitted on the union of the train
  splits (identical for every client, so Table 2's clusters and gaps are
  unchanged; it only conditions SGD), logistic regression by default.
- ``adult`` / ``adult-iid``: UCI Adult (48,842 rows, log1p of capital gain /
  loss, one-hot categoricals; see :mod:`partitioners.adult`) cut into 5 clients
  "0".."4": ``race-unbalanced`` (seed 000 Section 4.3, fedfair's
  GroupSharePartitioner with :data:`partitioners.adult.RACE_SHARES`) or IID;
  80 / 20 train / test per client; the numeric columns standardised on the
  union of the train splits; an MLP with 32 hidden units by default.

``splits`` (train, val, test fractions) re-splits every client's rows instead,
e.g. ``(0.7, 0.15, 0.15)`` for a val split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fedfair.data import DatasetError
from partitioners.builder import BuildSpec, build_dataset


def gaussian_spec(seed: int, splits: Sequence[float] | None = None, n_train: int = 1200, n_test: int = 1200,
                  group_share: float = 0.5, label_share: float = 0.5, **_: Any) -> BuildSpec:
    """``synthetic-gaussian-8``."""
    return BuildSpec(
        source="synthetic-gaussian-8", name="synthetic-gaussian-8", seed=seed,
        source_options={"n_train": n_train, "n_test": n_test, "group_share": group_share, "label_share": label_share},
        splits=tuple(splits) if splits else "source", standardise="global", default_model={"model": "logreg"},
    )


def adult_spec(seed: int, partitioning: str = "race-unbalanced", splits: Sequence[float] | None = None,
               data_root: str | None = None, **_: Any) -> BuildSpec:
    """``adult`` (race-unbalanced) and ``adult-iid``."""
    from partitioners.adult import NUMERIC, RACE_SHARES

    rules = {"race-unbalanced": {"kind": "group-share", "group_column": "race", "shares": RACE_SHARES},
             "iid": "iid:5"}
    if partitioning not in rules:
        raise DatasetError(f"unknown Adult partitioning {partitioning!r}: use race-unbalanced or iid")
    return BuildSpec(
        source="adult", source_options={"data_root": data_root} if data_root else {}, seed=seed,
        name="adult" if partitioning == "race-unbalanced" else f"adult-{partitioning}",
        partitioning={"adult": rules[partitioning]}, rename_clients={f"adult_{k}": str(k) for k in range(5)},
        splits=tuple(splits) if splits else (0.8, 0.0, 0.2), standardise="global", standardise_columns=list(NUMERIC),
        default_model={"model": "mlp", "hidden": [32]},
    )


BUILTINS: dict[str, Callable[..., BuildSpec]] = {
    "synthetic-gaussian-8": gaussian_spec,
    "adult": lambda seed, **options: adult_spec(seed, "race-unbalanced", **options),
    "adult-iid": lambda seed, **options: adult_spec(seed, "iid", **options),
}


def build_builtin(name: str, out: str | os.PathLike[str], seed: int = 0, **options: Any) -> Path:
    """Write the builtin dataset ``name`` (options: ``splits``, ``data_root``, source sizes) to ``out``."""
    if name not in BUILTINS:
        raise DatasetError(f"unknown builtin dataset {name!r}; valid: {', '.join(sorted(BUILTINS))}")
    return build_dataset(BUILTINS[name](seed, **options), out)
