"""Bootstrap confidence intervals for per-client accuracy and group fairness, from the group confusion counts.

A client's metrics on its test split depend on the rows only through the cells (group, label, prediction) of
each sensitive attribute's confusion table (``GroupCounts``: tp, fp, tn, fn per value). Resampling the n test
rows with replacement is therefore a multinomial draw of n over those cells with the observed cell shares;
each resample's metrics follow from its table without the model or the rows. Accuracy is a binomial draw of
n rows with the observed accuracy. B resamples are drawn at once and the metrics computed for all of them as
one array (:func:`fedfair.metrics.pair_gaps` on a B x G x 4 stack), so an interval costs microseconds. A run's
clients are done together (:func:`intervals_many`, the same numbers as :func:`client_intervals` client by client:
each client's own generator draws its resamples, the metrics and percentiles are computed for all of them at once).

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

from fedfair.metrics import METRIC_NAMES, GroupCounts, group_rates, pair_gaps


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


def percentile_intervals(draws: np.ndarray, level: float) -> np.ndarray:
    """:func:`percentile_interval` of every row of ``draws`` (R x B) at once: R x 2, NaN rows where no draw is
    finite. The same numbers: rows whose draws are all finite go through one np.quantile along the rows, the
    others are sorted and grouped by their count m of finite draws, each group's first m columns through one
    np.quantile (a quantile depends only on the sorted values)."""
    draws = np.asarray(draws, dtype=np.float64)
    finite = np.isfinite(draws)
    count = finite.sum(axis=-1)
    alpha = 1.0 - level
    q = [alpha / 2, 1 - alpha / 2]
    out = np.full((len(draws), 2), np.nan)
    full = count == draws.shape[-1]
    if full.any() and draws.shape[-1]:
        out[full] = np.quantile(draws[full], q, axis=-1).T
    partial = np.flatnonzero((count > 0) & ~full)
    if len(partial):
        ordered = np.sort(np.where(finite[partial], draws[partial], np.inf), axis=-1)  # the finite ones first
        for size in np.unique(count[partial]).tolist():
            rows = count[partial] == size
            out[partial[rows]] = np.quantile(ordered[rows, :size], q, axis=-1).T
    return out


def stack_metric_draws(stacks: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`metric_draws` of a stack of resampled tables (... x G x 4, e.g. K clients x B resamples), without
    the multi-class rule: {metric: ... attribute-level values}, bit for bit the max over the defined pairs of
    :func:`fedfair.metrics.pair_gaps` (max and min are exact, the gaps are computed by the same operations),
    with less work: a gap |r_a - r_b| is largest for the largest and the smallest defined rate (floating-point
    subtraction is monotone), so SP, EqOp and AD are the range of the defined rates and EO the larger of the
    TPR and FPR ranges over the groups where both are defined (its pairs need both groups' TPR and FPR); only
    AOD, a sum of two gaps, takes every pair, one pair at a time. NaN where no pair is defined. The groups are
    moved to the first axis so that each reduction runs over contiguous rows."""
    r = group_rates(stacks)
    rate = {key: np.ascontiguousarray(np.moveaxis(r[key], -1, 0))
            for key in ("selection_rate", "tpr", "fpr", "tnr", "accuracy")}  # G x ...
    n_groups, shape = len(rate["tpr"]), rate["tpr"].shape[1:]
    if n_groups < 2:
        return {metric: np.full(shape, np.nan) for metric in METRIC_NAMES}

    def spread(x: np.ndarray) -> np.ndarray:
        defined = np.count_nonzero(~np.isnan(x), axis=0)
        return np.where(defined >= 2, np.abs(np.fmax.reduce(x, axis=0) - np.fmin.reduce(x, axis=0)), np.nan)

    both = ~np.isnan(rate["tpr"]) & ~np.isnan(rate["fpr"])  # TNR is defined exactly where FPR is
    tpr, tnr = rate["tpr"], rate["tnr"]
    aod = np.full(shape, np.nan)
    for a, b in zip(*np.triu_indices(n_groups, k=1)):  # fmax skips the NaN (undefined) pairs
        np.fmax(aod, (np.abs(tpr[a] - tpr[b]) + np.abs(tnr[a] - tnr[b])) / 2.0, out=aod)
    return {
        "sp": spread(rate["selection_rate"]),
        "eqop": spread(tpr),
        "eo": np.fmax(spread(np.where(both, tpr, np.nan)), spread(np.where(both, rate["fpr"], np.nan))),
        "aod": aod,
        "ad": spread(rate["accuracy"]),
    }


def intervals_many(accuracies: Sequence[float], n_tests: Sequence[int], groups: Sequence[Mapping[str, GroupCounts]],
                   level: float, resamples: int, rngs: Sequence[np.random.Generator],
                   chunk_cells: int = 1_000_000) -> list[dict[str, Any]]:
    """:func:`client_intervals` of many clients (the k-th: ``accuracies[k]``, ``n_tests[k]``, ``groups[k]``,
    ``rngs[k]``), the same numbers: each client's resamples are drawn with its own generator in the same order
    (the accuracy's binomial, then each attribute's multinomial), and the rest is done for the stack of
    clients: the metrics by :func:`stack_metric_draws` once per table shape on K x B x G x 4, the percentiles
    by :func:`percentile_intervals`. Clients are taken in chunks of about ``chunk_cells`` resampled cells."""
    out: list[dict[str, Any]] = []
    start = 0
    while start < len(groups):
        stop, cells = start, 0
        while stop < len(groups) and (stop == start or cells < chunk_cells):
            cells += resamples * sum(int(np.size(t.counts)) for t in groups[stop].values())
            stop += 1
        out += _intervals_chunk(accuracies[start:stop], n_tests[start:stop], groups[start:stop], level, resamples,
                                rngs[start:stop])
        start = stop
    return out


def _intervals_chunk(accuracies: Sequence[float], n_tests: Sequence[int], groups: Sequence[Mapping[str, GroupCounts]],
                     level: float, resamples: int, rngs: Sequence[np.random.Generator]) -> list[dict[str, Any]]:
    rows: list[np.ndarray] = []  # every draw vector (B), its percentiles taken at once at the end
    accuracy_row: list[int | None] = []
    tables: dict[tuple[int, ...], list[tuple[int, str, bool, np.ndarray]]] = {}  # shape -> (client, attribute, multiclass, B x G x 4)
    for k, (accuracy, n_test, client_groups, rng) in enumerate(zip(accuracies, n_tests, groups, rngs)):
        accuracy_row.append(None)
        if n_test > 0 and math.isfinite(accuracy):
            accuracy_row[k] = len(rows)
            rows.append(rng.binomial(n_test, min(max(accuracy, 0.0), 1.0), size=resamples) / n_test)
        for attribute, table in client_groups.items():
            stack = resample_tables(table.counts, resamples, rng)
            # a group with no row in any resample has no rate in any: its pairs are all undefined, so leaving it
            # out changes no metric (and spares the work of the absent values of a many-valued attribute)
            stack = stack[:, stack.any(axis=(0, 2))] if stack.ndim == 3 else stack
            tables.setdefault(stack.shape, []).append((k, attribute, table.multiclass, stack))
    metric_row: dict[tuple[int, str], dict[str, int]] = {}
    for members in tables.values():
        gaps = stack_metric_draws(np.stack([stack for *_, stack in members]))  # K x B per metric
        for metric in METRIC_NAMES:
            draws = gaps[metric]
            for (k, attribute, multiclass, _), row in zip(members, draws):
                metric_row.setdefault((k, attribute), {})[metric] = len(rows)
                rows.append(np.full(resamples, np.nan) if multiclass and metric != "ad" else row)
    matrix = np.stack(rows) if rows else np.empty((0, resamples))
    bounds = percentile_intervals(matrix, level).tolist()
    defined = np.isfinite(matrix).mean(axis=-1).tolist() if resamples else [math.nan] * len(rows)
    out = []
    for k, client_groups in enumerate(groups):
        ci: dict[str, Any] = {"accuracy": None, "fairness": {}, "defined": {}}
        if accuracy_row[k] is not None:
            ci["accuracy"] = _bounds(bounds[accuracy_row[k]]) or []
        for attribute in client_groups:
            where = metric_row[(k, attribute)]
            ci["fairness"][attribute] = {m: _bounds(bounds[where[m]]) for m in METRIC_NAMES}
            ci["defined"][attribute] = {m: defined[where[m]] for m in METRIC_NAMES}
        out.append(ci)
    return out


def _bounds(pair: Sequence[float]) -> list[float] | None:
    return None if math.isnan(pair[0]) else [pair[0], pair[1]]


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



def paired_differences(entry: Sequence[Mapping[str, float | None]], reference: Sequence[Mapping[str, float | None]]
                       ) -> list[list[float | None]]:
    """``entry[s][client] - reference[s][client]`` for every seed s both have and every client both define (None
    where either value is undefined): the paired differences, per seed and client, a comparison rests on."""
    out = []
    for mine, theirs in zip(entry, reference):
        out.append([None if mine.get(c) is None or theirs.get(c) is None else float(mine[c]) - float(theirs[c])
                    for c in mine if c in theirs])
    return out


def paired_interval(differences: Sequence[Sequence[float | None]], level: float, resamples: int,
                    rng: np.random.Generator) -> dict[str, Any] | None:
    """The mean paired difference, its interval (:func:`seeds_and_clients_interval` of the differences: seeds
    resampled, then each seed's clients, every draw keeping a client's two values together) and whether the
    interval excludes 0; None when fewer than two differences are defined.

    Why a bootstrap of the paired differences: it is the same two-level resampling as the entries' own
    intervals (seed-to-seed and client-to-client spread both widen it), it keeps the pairing (the client
    heterogeneity both entries share cancels), and it handles clients whose gap is undefined. A signed-rank
    test on per-seed means would lose the clients, and with 5 seeds its smallest two-sided p-value is 0.0625:
    it could never support a difference at 95 %."""
    interval = seeds_and_clients_interval(differences, level, resamples, rng)
    if interval is None:
        return None
    per_seed = [np.mean(defined) for row in differences
                if (defined := [v for v in row if v is not None and math.isfinite(v)])]
    return {"mean": float(np.mean(per_seed)), "interval": interval,
            "excludes_zero": bool(interval[0] > 0 or interval[1] < 0),
            "seeds": len(per_seed)}
