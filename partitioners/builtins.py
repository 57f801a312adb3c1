"""The builtin datasets (``--dataset NAME``, ``fedfair data create NAME``): build specs for the one builder.

- ``synthetic-gaussian-8``: seed 000 Appendix C.5 / Table 2: 8 clients "1".."8",
  1200 train + 1200 test rows each (the source's own split), the feature
  standardised with one global affine map fitted on the union of the train
  splits (identical for every client, so Table 2's clusters and gaps are
  unchanged; it only conditions SGD), logistic regression by default.
- ``adult`` / ``adult-iid``: UCI Adult (48,842 rows, log1p of capital gain /
  loss, one-hot categoricals; see :mod:`fedfair.partitioners.adult`) cut into 5 clients
  "0".."4": ``race-unbalanced`` (seed 000 Section 4.3, fedfair's
  GroupSharePartitioner with :data:`fedfair.partitioners.adult.RACE_SHARES`) or IID;
  80 / 20 train / test per client; the numeric columns standardised on the
  union of the train splits; an MLP with 32 hidden units by default.

- ``law``: Law School (Kusner et al.'s file, :mod:`fedfair.partitioners.law`) as seed
  001 Table 1 splits it: a seeded sample of 20,798 rows cut into 2 IID clients
  "0", "1" of 8,319 train + 2,080 test rows; LSAT, UGPA, ZFYA standardised on
  the union of the train splits; race (White / non-White) and sex; logistic
  regression by default.

- ``dutch``: the Dutch census 2001 extract (local file only,
  :mod:`fedfair.partitioners.dutch`) as seed 001 Table 1 splits it: 4 IID clients,
  80 / 20 train / test (12,084 + 3,021 rows each of 60,420), sensitive sex,
  the ten other columns one-hot, logistic regression.
- ``adult-dutch-standin``: an OFFLINE STAND-IN for that 4-client Dutch
  experiment (the Dutch file is not available here): UCI Adult cut into 4 IID
  clients, 80 / 20, sex first among the sensitive attributes, logistic
  regression. Its numbers are Adult's, not Dutch's.

- ``mnist``, ``fashion-mnist``, ``emnist``, ``cifar10``, ``digits``: image sets from
  local files (:mod:`fedfair.partitioners.images`; ``digits`` is scikit-learn's bundled
  8 x 8 set, always available), at most ``limit`` rows (default 10,000, a seeded
  sample), 10 clients "0".."9" with 5 of the 10 classes each (seed 003's
  non-i.i.d. split; flwr-datasets' PathologicalPartitioner, first class
  deterministic so that every class is used), 80 / 20 train / test, pixels in
  [0, 1], the CNN by default (3 x 3 kernels with padding for the 8 x 8 digits).

- ``ci-mnist-size``, ``ci-mnist-shift``, ``ci-mnist-class``: CI-MNIST (seed 004
  Section 5.1; :mod:`fedfair.partitioners.ci_mnist`) rebuilt from the offline MNIST
  digits: even / odd label, background colour as the sensitive attribute, one
  bias type whose strength varies by client; 10 clients, 60 / 20 / 20
  train / val / test (the val split carries the groups FairIF needs), the MLP
  with one hidden layer of 64 (Appendix B).

``splits`` (train, val, test fractions) re-splits every client's rows instead,
e.g. ``(0.7, 0.15, 0.15)`` for a val split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fedfair.data import DatasetError
from fedfair.partitioners.builder import BuildSpec, build_dataset


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
    from fedfair.partitioners.adult import NUMERIC, RACE_SHARES

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


def law_spec(seed: int, splits: Sequence[float] | None = None, data_root: str | None = None, **_: Any) -> BuildSpec:
    """``law``: seed 001's 2-client Law School split."""
    from fedfair.partitioners.law import NUMERIC

    options: dict[str, Any] = {"rows": 20_798}
    if data_root:
        options["data_root"] = data_root
    return BuildSpec(
        source="law", source_options=options, name="law", seed=seed, partitioning={"law": "iid:2"},
        rename_clients={f"law_{k}": str(k) for k in range(2)}, splits=tuple(splits) if splits else (0.8, 0.0, 0.2),
        standardise="global", standardise_columns=list(NUMERIC), sensitive_as_features=True,
        default_model={"model": "logreg"},
    )


def dutch_spec(seed: int, splits: Sequence[float] | None = None, data_root: str | None = None, **_: Any) -> BuildSpec:
    """``dutch``: seed 001's 4-client Dutch census split."""
    from fedfair.partitioners.dutch import CATEGORICAL

    return BuildSpec(
        source="dutch", source_options={"data_root": data_root} if data_root else {}, name="dutch", seed=seed,
        partitioning={"dutch": "iid:4"}, rename_clients={f"dutch_{k}": str(k) for k in range(4)},
        splits=tuple(splits) if splits else (0.8, 0.0, 0.2), categorical=list(CATEGORICAL), sensitive_as_features=True,
        standardise="none", default_model={"model": "logreg"},
    )


def adult_dutch_standin_spec(seed: int, splits: Sequence[float] | None = None, data_root: str | None = None,
                             **_: Any) -> BuildSpec:
    """``adult-dutch-standin``: Adult in 4 IID clients with sex as the first sensitive attribute."""
    from fedfair.partitioners.adult import NUMERIC

    return BuildSpec(
        source="adult", source_options={"data_root": data_root} if data_root else {}, seed=seed,
        name="adult-dutch-standin", sensitive=["sex", "race"], partitioning={"adult": "iid:4"},
        rename_clients={f"adult_{k}": str(k) for k in range(4)}, splits=tuple(splits) if splits else (0.8, 0.0, 0.2),
        standardise="global", standardise_columns=list(NUMERIC), default_model={"model": "logreg"},
        notes={"stand-in": "offline stand-in for seed 001's 4-client Dutch census experiment: UCI Adult, not Dutch data"},
    )


IMAGE_MODELS: dict[str, dict[str, Any]] = {
    "digits": {"model": "cnn", "kernel": 3, "padding": 1, "channels": [8, 16], "fc": 32},
}


def image_spec(name: str, seed: int, splits: Sequence[float] | None = None, data_root: str | None = None,
               clients: int = 10, classes_per_client: int = 5, limit: int | None = 10_000, rotate: int = 0,
               label_noise: float = 0.0, dataset_name: str = "", **_: Any) -> BuildSpec:
    """An image builtin: ``clients`` clients holding ``classes_per_client`` classes each (a variant with
    ``rotate`` quarter turns or ``label_noise`` when given)."""
    rule = {"kind": "pathological", "num_partitions": clients, "partition_by": "label",
            "num_classes_per_partition": classes_per_client, "class_assignment_mode": "first-deterministic"}
    options: dict[str, Any] = {"limit": limit} if limit else {}
    options.update({k: v for k, v in (("rotate", rotate), ("label_noise", label_noise)) if v})
    if data_root:
        options["data_root"] = data_root
    return BuildSpec(
        source=name, source_options=options, name=dataset_name or name, seed=seed, partitioning={name: rule},
        rename_clients={f"{name}_{k}": str(k) for k in range(clients)}, splits=tuple(splits) if splits else (0.8, 0.0, 0.2),
        standardise="none", default_model=IMAGE_MODELS.get(name, {"model": "cnn"}),
    )


def ci_mnist_spec(seed: int, bias: str, splits: Sequence[float] | None = None, data_root: str | None = None,
                  clients: int = 10, **_: Any) -> BuildSpec:
    """``ci-mnist-<bias>``."""
    options: dict[str, Any] = {"bias": bias, "clients": clients}
    if data_root:
        options["data_root"] = data_root
    return BuildSpec(
        source="ci-mnist", source_options=options, name=f"ci-mnist-{bias}", seed=seed,
        splits=tuple(splits) if splits else (0.6, 0.2, 0.2), standardise="none",
        default_model={"model": "mlp", "hidden": [64]},
    )


BUILTINS: dict[str, Callable[..., BuildSpec]] = {
    "synthetic-gaussian-8": gaussian_spec,
    "adult": lambda seed, **options: adult_spec(seed, "race-unbalanced", **options),
    "adult-iid": lambda seed, **options: adult_spec(seed, "iid", **options),
    "law": law_spec,
    "dutch": dutch_spec,
    "adult-dutch-standin": adult_dutch_standin_spec,
    **{name: (lambda name: lambda seed, **options: image_spec(name, seed, **options))(name)
       for name in ("mnist", "fashion-mnist", "emnist", "cifar10", "digits")},
    **{f"ci-mnist-{bias}": (lambda bias: lambda seed, **options: ci_mnist_spec(seed, bias, **options))(bias)
       for bias in ("size", "shift", "class")},
}


def build_builtin(name: str, out: str | os.PathLike[str], seed: int = 0, **options: Any) -> Path:
    """Write the builtin dataset or task set ``name`` (options: ``splits``, ``data_root``, source sizes) to ``out``."""
    from fedfair.partitioners.task_sets import TASK_SETS, build_task_set

    if name in TASK_SETS or name == "acs-tasks":
        return build_task_set(name, out, seed, **options)
    if name not in BUILTINS:
        raise DatasetError(f"unknown builtin dataset {name!r}; valid: {', '.join(sorted([*BUILTINS, *TASK_SETS]))}")
    return build_dataset(BUILTINS[name](seed, **options), out)
