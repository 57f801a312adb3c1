"""Bootstrap confidence intervals for per-client accuracy and group fairness, from the group confusion counts.

A client's metrics on its test split depend on the rows only through the cells (group, label, prediction) of
each sensitive attribute's confusion table (``GroupCounts``: tp, fp, tn, fn per value). Resampling the n test
rows with replacement is therefore a multinomial draw of n over those cells with the observed cell shares;
each resample's metrics follow from its table without the model or the rows. Accuracy is a binomial draw of
n rows with the observed accuracy. B resamples are drawn at once and the metrics computed for all of them as
one array (:func:`fedfair.metrics.pair_gaps` on a B x G x 4 stack), so an interval costs microseconds.

The interval is the percentile bootstrap interval [q(a/2), q(1 - a/2)] of the resampled values, a = 1 -
level, over the resamples in which the metric is defined (a group may be absent from a resample); ``defined``
is that share. Loss has no interval: it needs the rows' own losses, which clients do not send.

Means over clients get an interval by resampling the clients (:func:`mean_interval`); ``fedfair compare``
resamples the seeds' means the same way. Randomness: one generator per (run seed, client, model), so the same
seed gives the same intervals.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fedfair.metrics import METRIC_NAMES, GroupCounts, pair_gaps


def generator(seed: int, *names: Any) -> np.random.Generator:
    """A generator that depends only on the run seed and the names (client, model, task)."""
    digest = hashlib.sha256(":".join(str(n) for n in names).encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float] | None:
    """[q(a/2), q(1 - a/2)] of the finite draws along the last axis (None when none is finite)."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return None
    alpha = 1.0 - level
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def resample_tables(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """B resamples (B x G x 4) of a G x 4 confusion table: the table's n rows drawn with replacement."""
    flat = np.asarray(counts, dtype=np.int64).reshape(-1)
    n = int(flat.sum())
    if n == 0:
        return np.zeros((resamples, *np.shape(counts)), dtype=np.int64)
    return rng.multinomial(n, flat / n, size=resamples).reshape(resamples, *np.shape(counts))


def metric_draws(table: GroupCounts, resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{metric: B attribute-level values} (the max over the defined value pairs; NaN when none is defined)."""
    stack = resample_tables(table.counts, resamples, rng)
    _, _, gaps = pair_gaps(stack)
    out = {}
    for metric in METRIC_NAMES:
        gap = gaps[metric]  # B x pairs
        if table.multiclass and metric != "ad" or gap.shape[-1] == 0:
            out[metric] = np.full(resamples, np.nan)
            continue
        defined = np.isfinite(gap)
        out[metric] = np.where(defined.any(axis=-1), np.max(np.where(defined, gap, -np.inf), axis=-1), np.nan)
    return out


def client_intervals(accuracy: float, n_test: int, groups: Mapping[str, GroupCounts], level: float, resamples: int,
                     rng: np.random.Generator) -> dict[str, Any]:
    """{"accuracy": [lo, hi], "fairness": {attribute: {metric: [lo, hi] or None}}, "defined": {...}} for one
    client's evaluation (its test split's accuracy and confusion tables)."""
    out: dict[str, Any] = {"accuracy": None, "fairness": {}, "defined": {}}
    if n_test > 0 and math.isfinite(accuracy):
        draws = rng.binomial(n_test, min(max(accuracy, 0.0), 1.0), size=resamples) / n_test
        out["accuracy"] = list(percentile_interval(draws, level) or ())
    for attribute, table in groups.items():
        draws = metric_draws(table, resamples, rng)
        out["fairness"][attribute] = {m: _as_list(percentile_interval(d, level)) for m, d in draws.items()}
        out["defined"][attribute] = {m: float(np.isfinite(d).mean()) for m, d in draws.items()}
    return out


def mean_interval(values: Sequence[float | None], level: float, resamples: int,
                  rng: np.random.Generator) -> list[float] | None:
    """Interval of the mean of ``values`` (clients, or seeds) by resampling them with replacement; undefined
    values are left out; None with fewer than two defined values."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if len(finite) < 2:
        return None
    picks = rng.integers(0, len(finite), size=(resamples, len(finite)))
    return _as_list(percentile_interval(finite[picks].mean(axis=1), level))


def _as_list(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


def overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    """Whether two intervals overlap (an absent interval overlaps everything: no claim can be made)."""
    if not a or not b:
        return True
    return not (a[1] < b[0] or b[1] < a[0])


def seeds_and_clients_interval(values: Sequence[Sequence[float | None]], level: float, resamples: int,
                               rng: np.random.Generator) -> list[float] | None:
    """Interval of the grand mean of per-seed, per-client values (``values[s][c]``) by a two-level bootstrap:
    seeds drawn with replacement, then each drawn seed's clients with replacement, so that both the spread
    between seeds and the spread between clients widen it. Undefined values are left out of each mean; None
    when fewer than two values are defined."""
    seeds = [np.asarray([np.nan if v is None else v for v in row], dtype=np.float64) for row in values]
    seeds = [row for row in seeds if np.isfinite(row).any()]
    if sum(int(np.isfinite(row).sum()) for row in seeds) < 2:
        return None
    per_seed = np.empty((len(seeds), resamples))
    for k, row in enumerate(seeds):  # B client resamples of each seed at once
        picks = row[rng.integers(0, len(row), size=(resamples, len(row)))]
        defined = np.isfinite(picks)
        per_seed[k] = np.where(defined.any(axis=1), np.where(defined, picks, 0).sum(axis=1) / np.maximum(defined.sum(axis=1), 1), np.nan)
    chosen = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
    grand = np.nanmean(per_seed[chosen, np.arange(resamples)[:, None]], axis=1) if len(seeds) > 1 else per_seed[0]
    return _as_list(percentile_interval(grand, level))

