"""Group-fairness metrics for a binary label, pure numpy.

Definitions (../shared/DESIGN.md, "Metrics"), for one sensitive attribute whose
values are the groups g:

- SP / DD : max over value pairs of |P(yhat=1 | a) - P(yhat=1 | b)|
- EqOp    : max pairwise |TPR_a - TPR_b|
- EO      : max pairwise max(|TPR_a - TPR_b|, |FPR_a - FPR_b|)
- AOD     : max pairwise (|TPR_a - TPR_b| + |TNR_a - TNR_b|) / 2   (FairIF eq. 4)
- AD      : max pairwise |accuracy_a - accuracy_b|

Everything is computed from one (groups x 4) confusion table per attribute:
columns ``tp, fp, tn, fn``. Clients can therefore send the table (counts, not
raw data) and the server derives every metric with the same code.

Levels (FeDa4Fair): *attribute* = the max over pairs, *value* = the pair that
attains it (``<metric>_pair``), *attribute-value* = every pair (``pairs``).
A pair is undefined when one of its groups is absent (n = 0) or lacks the
labels a rate needs (no positives: TPR; no negatives: FPR / TNR). Undefined
pairs are NaN, counted and explained, never 0; the attribute-level value is
the max over the defined pairs, NaN when none is defined.

Multi-class labels (C > 2): a table with ``multiclass=True`` counts, per
group, correct predictions in the ``tp`` column and wrong ones in ``fn``
(:func:`multiclass_group_counts`); only AD (the accuracy gap) is defined for
it, the other metrics are undefined with that reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("sp", "eqop", "eo", "aod", "ad")
TP, FP, TN, FN = 0, 1, 2, 3
INTERSECTION_SEP = "|"


@dataclass(frozen=True)
class GroupCounts:
    """Confusion counts per group of one attribute.

    ``values[g]`` is the group's value and ``counts[g] = (tp, fp, tn, fn)``.
    """

    values: list[Any]
    counts: np.ndarray  # shape (len(values), 4), integer
    multiclass: bool = False  # counts are (correct, 0, 0, wrong) per group: only AD is defined

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (what a client sends to the server)."""
        out = {"values": [_plain(v) for v in self.values], "counts": self.counts.astype(int).tolist()}
        return {**out, "multiclass": True} if self.multiclass else out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GroupCounts":
        """Inverse of :meth:`to_json`."""
        counts = np.asarray(data["counts"], dtype=np.int64).reshape(-1, 4)
        return cls(values=list(data["values"]), counts=counts, multiclass=bool(data.get("multiclass", False)))

    def __add__(self, other: "GroupCounts") -> "GroupCounts":
        """Merge two tables (e.g. two clients), aligning values."""
        values = list(self.values) + [v for v in other.values if v not in self.values]
        counts = np.zeros((len(values), 4), dtype=np.int64)
        for table in (self, other):
            idx = [values.index(v) for v in table.values]
            counts[idx] += table.counts
        return GroupCounts(values, counts, self.multiclass)


def _plain(value: Any) -> Any:
    """numpy scalar -> python scalar (JSON-serialisable)."""
    return value.item() if isinstance(value, np.generic) else value


def as_binary(values: Any, positive: Any = None, name: str = "column") -> np.ndarray:
    """Turn a label / prediction column into a 0/1 int array.

    Accepts 0/1 numbers, booleans, or any values together with ``positive``
    (the value meaning 1). Raises ValueError naming ``name`` otherwise.
    """
    arr = np.asarray(values)
    if positive is not None:
        if arr.dtype.kind in "iufb":
            try:
                positive = arr.dtype.type(positive)
            except (TypeError, ValueError):
                pass
        else:
            arr, positive = arr.astype(str), str(positive)
        if not np.any(arr == positive):
            raise ValueError(f"{name}: positive value {positive!r} never occurs (values seen: {_sample(arr)})")
        return (arr == positive).astype(np.int8)
    if arr.dtype.kind == "b":
        return arr.astype(np.int8)
    if arr.dtype.kind in "iuf":
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: values must be 0/1 or booleans, got {_sample(arr)}; pass positive=VALUE")
        return arr.astype(np.int8)
    lowered = np.char.lower(arr.astype(str))
    if np.isin(lowered, ("true", "false")).all():
        return (lowered == "true").astype(np.int8)
    raise ValueError(f"{name}: non-binary values {_sample(arr)}; pass positive=VALUE (CLI: --positive VALUE)")


def _sample(arr: np.ndarray) -> list[Any]:
    return [_plain(v) for v in np.unique(arr)[:5]]


def _cells(y_true: Any, y_pred: Any) -> np.ndarray:
    """Confusion cell of every row: tp=0 (y=1,p=1), fp=1 (y=0,p=1), tn=2 (y=0,p=0), fn=3 (y=1,p=0)."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    if len(y_true) != len(y_pred):
        raise ValueError(f"length mismatch: y_true {len(y_true)}, y_pred {len(y_pred)}")
    return np.where(y_pred == 1, np.where(y_true == 1, TP, FP), np.where(y_true == 1, FN, TN))


def _table(cells: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups x 4) counts from group indices and cells in one bincount."""
    return np.bincount(inverse.ravel() * 4 + cells, minlength=n_groups * 4).reshape(-1, 4)


def _align(observed: list[Any], table: np.ndarray, values: Sequence[Any] | None) -> GroupCounts:
    """Reorder to the declared ``values`` (absent ones get zeros; undeclared observed ones are appended)."""
    if values is None:
        return GroupCounts(observed, table)
    declared = [_plain(v) for v in values]
    ordered = declared + [v for v in observed if v not in declared]
    position = {v: i for i, v in enumerate(ordered)}
    counts = np.zeros((len(ordered), 4), dtype=np.int64)
    counts[[position[v] for v in observed]] = table
    return GroupCounts(ordered, counts)


def value_index(groups: Any, values: Sequence[Any]) -> np.ndarray:
    """Each row's position in the declared ``values`` (one np.unique); a value not declared is an error."""
    observed, inverse = np.unique(np.asarray(groups), return_inverse=True)
    declared = {v: i for i, v in enumerate(_plain(v) for v in values)}
    missing = [_plain(v) for v in observed if _plain(v) not in declared]
    if missing:
        raise ValueError(f"group values {missing[:5]} are not among the declared values {list(declared)[:10]}")
    return np.array([declared[_plain(v)] for v in observed], dtype=np.int64)[inverse.ravel()]


def group_counts(
    y_true: Any, y_pred: Any, groups: Any, values: Sequence[Any] | None = None
) -> GroupCounts:
    """Confusion table (tp, fp, tn, fn) per group, one bincount (vectorised).

    ``values`` declares the groups to report, in order; declared groups absent
    from the data get zero counts (their pairs become undefined). Observed
    values that were not declared are appended.
    """
    cells, groups = _cells(y_true, y_pred), np.asarray(groups)
    if len(groups) != len(cells):
        raise ValueError(f"length mismatch: {len(cells)} labels, {len(groups)} group values")
    observed, inverse = np.unique(groups, return_inverse=True)
    return _align([_plain(v) for v in observed], _table(cells, inverse, len(observed)), values)


def multiclass_group_counts(
    y_true: Any, y_pred: Any, groups: Any, values: Sequence[Any] | None = None
) -> GroupCounts:
    """Per-group correct / wrong counts for any number of classes (``tp`` = correct, ``fn`` = wrong)."""
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not len(y_true) == len(y_pred) == len(groups):
        raise ValueError(f"length mismatch: {len(y_true)} labels, {len(y_pred)} predictions, {len(groups)} group values")
    cells = np.where(y_true == y_pred, TP, FN)
    observed, inverse = np.unique(groups, return_inverse=True)
    table = _align([_plain(v) for v in observed], _table(cells, inverse, len(observed)), values)
    return GroupCounts(table.values, table.counts, multiclass=True)


def soft_group_counts(
    y_true: Any, proba: Any, groups: Any, values: Sequence[Any] | None = None
) -> GroupCounts:
    """Expected confusion table per group under soft predictions P(yhat = 1) = ``proba``.

    tp = sum p y, fp = sum p (1 - y), tn = sum (1 - p)(1 - y), fn = sum (1 - p) y
    (float counts): the rates are the groups' mean predicted probabilities, the
    usual smooth surrogate of the hard rates. Same value order as :func:`group_counts`.
    """
    y = np.asarray(y_true).astype(np.float64)
    p = np.asarray(proba, dtype=np.float64)
    groups = np.asarray(groups)
    observed, inverse = np.unique(groups, return_inverse=True)
    cells = np.stack([p * y, p * (1 - y), (1 - p) * (1 - y), (1 - p) * y], axis=1)
    table = np.stack([np.bincount(inverse.ravel(), weights=cells[:, c], minlength=len(observed)) for c in range(4)], axis=1)
    observed_values = [_plain(v) for v in observed]
    ordered = observed_values if values is None else [_plain(v) for v in values] + [
        v for v in observed_values if v not in [_plain(x) for x in values]]
    counts = np.zeros((len(ordered), 4), dtype=np.float64)
    counts[[ordered.index(v) for v in observed_values]] = table
    return GroupCounts(ordered, counts)


def intersection_counts(
    y_true: Any, y_pred: Any, sensitive: Mapping[str, Any], attributes: Sequence[str],
    values: Mapping[str, Sequence[Any]] | None = None,
) -> GroupCounts:
    """Confusion table of the intersectional groups (labels ``"sex=1|race=2"``).

    Rows are coded with integers (mixed radix over each attribute's observed
    values), so strings are built only for the observed combinations.
    """
    cells = _cells(y_true, y_pred)
    combined = np.zeros(len(cells), dtype=np.int64)
    uniques = []
    for a in attributes:
        observed, codes = np.unique(np.asarray(sensitive[a]), return_inverse=True)
        combined = combined * len(observed) + codes.ravel()
        uniques.append(observed)
    present, inverse = np.unique(combined, return_inverse=True)
    labels = []
    for code in present.tolist():
        parts = []
        for a, observed in zip(reversed(attributes), reversed(uniques)):
            code, digit = divmod(code, len(observed))
            parts.append(f"{a}={observed[digit]}")
        labels.append(INTERSECTION_SEP.join(reversed(parts)))
    declared = intersection_values(values, attributes) if values and all(a in values for a in attributes) else None
    return _align(labels, _table(cells, inverse, len(present)), declared)


def group_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group n, positive-prediction rate, TPR, FPR, TNR, accuracy (NaN if undefined). ``counts`` is
    G x 4, or any stack ... x G x 4 of such tables (e.g. bootstrap resamples): the rates are ... x G."""
    c = np.asarray(counts, dtype=np.float64)
    tp, fp, tn, fn = c[..., TP], c[..., FP], c[..., TN], c[..., FN]
    n = tp + fp + tn + fn
    pos, neg = tp + fn, fp + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "n": n,
            "positives": pos,
            "negatives": neg,
            "selection_rate": np.where(n > 0, (tp + fp) / n, np.nan),
            "tpr": np.where(pos > 0, tp / pos, np.nan),
            "fpr": np.where(neg > 0, fp / neg, np.nan),
            "tnr": np.where(neg > 0, tn / neg, np.nan),
            "accuracy": np.where(n > 0, (tp + tn) / n, np.nan),
        }


def pair_gaps(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gaps of every metric for every value pair (i < j), vectorised.

    Returns ``(i, j, gaps)`` where ``gaps[metric][k]`` is the gap of pair
    ``(i[k], j[k])``, NaN when undefined.
    """
    r = group_rates(counts)
    i, j = np.triu_indices(np.shape(counts)[-2], k=1)
    d = {key: np.abs(r[key][..., i] - r[key][..., j]) for key in ("selection_rate", "tpr", "fpr", "tnr", "accuracy")}
    # np.maximum / + propagate NaN: EO needs both TPR and FPR, AOD both TPR and TNR.
    gaps = {
        "sp": d["selection_rate"],
        "eqop": d["tpr"],
        "eo": np.maximum(d["tpr"], d["fpr"]),
        "aod": (d["tpr"] + d["tnr"]) / 2.0,
        "ad": d["accuracy"],
    }
    return i, j, gaps


def _undefined_reason(metric: str, values: list[Any], rates: dict[str, np.ndarray], a: int, b: int) -> str:
    """Why the pair (a, b) has no value for ``metric``."""
    reasons = []
    for g in (a, b):
        name = values[g]
        if rates["n"][g] == 0:
            reasons.append(f"group {name!r} absent")
            continue
        if metric in ("eqop", "eo", "aod") and rates["positives"][g] == 0:
            reasons.append(f"group {name!r} has no positive labels (TPR undefined)")
        if metric in ("eo", "aod") and rates["negatives"][g] == 0:
            reasons.append(f"group {name!r} has no negative labels (FPR/TNR undefined)")
    return "; ".join(reasons)


def fairness_from_counts(table: GroupCounts, with_pairs: bool = True) -> dict[str, Any]:
    """All metrics of one attribute at attribute, value and attribute-value level."""
    values = list(table.values)
    rates = group_rates(table.counts)
    i, j, gaps = pair_gaps(table.counts)
    result: dict[str, Any] = {}
    undefined: dict[str, list[str]] = {}
    if table.multiclass:  # only the accuracy gap means something for C > 2 classes
        gaps = {m: (g if m == "ad" else np.full_like(g, np.nan)) for m, g in gaps.items()}
    for metric in METRIC_NAMES:
        gap = gaps[metric]
        defined = ~np.isnan(gap)
        if defined.any():
            best = int(np.flatnonzero(defined)[np.argmax(gap[defined])])
            result[metric] = float(gap[best])
            result[f"{metric}_pair"] = [values[i[best]], values[j[best]]]
        else:
            result[metric] = math.nan
            result[f"{metric}_pair"] = None
        missing = np.flatnonzero(~defined)
        if table.multiclass and metric != "ad":
            undefined[metric] = ["multi-class label: only AD (the accuracy gap) is defined"]
        elif len(missing):
            undefined[metric] = [
                f"pair ({values[i[k]]!r}, {values[j[k]]!r}): "
                + _undefined_reason(metric, values, rates, int(i[k]), int(j[k]))
                for k in missing
            ]
        if len(values) < 2:
            undefined[metric] = [f"only one group ({values[0]!r}) present: no pair to compare" if values else "no data"]
    result["n"] = {str(v): int(n) for v, n in zip(values, rates["n"])}
    result["undefined_pairs"] = {m: len(v) for m, v in undefined.items()}
    if undefined:
        result["undefined"] = undefined
    if with_pairs:
        result["pairs"] = [
            {"a": values[a], "b": values[b], **{m: _nan_to_none(float(gaps[m][k])) for m in METRIC_NAMES}}
            for k, (a, b) in enumerate(zip(i.tolist(), j.tolist()))
        ]
    return result


def _stack_key(table: GroupCounts) -> Any:
    """Tables with equal keys are computed as one stack: the same values (type and value: 1, 1.0 and True
    print differently), the same shape and kind; None: computed on its own."""
    shape = np.shape(table.counts)
    if len(shape) != 2 or shape[1] != 4 or shape[0] != len(table.values):
        return None
    try:
        key = (tuple((type(v), v) for v in table.values), table.multiclass)
        hash(key)
    except TypeError:
        return None
    return key


def fairness_many(tables: Sequence[GroupCounts], with_pairs: bool = True) -> list[dict[str, Any]]:
    """:func:`fairness_from_counts` of every table (e.g. every client's table of one attribute), the same
    dicts (keys, floats, pairs, 'undefined' texts), computed for all tables with the same values at once: one
    K x G x 4 stack through :func:`group_rates` / :func:`pair_gaps`, the worst pair of every metric by one
    argmax, and the texts of undefined pairs built once per (pair, the two groups' states)."""
    out: list[dict[str, Any] | None] = [None] * len(tables)
    stacks: dict[Any, list[int]] = {}
    for k, table in enumerate(tables):
        key = _stack_key(table)
        if key is None:
            out[k] = fairness_from_counts(table, with_pairs)
        else:
            stacks.setdefault(key, []).append(k)
    for members in stacks.values():
        counts = np.stack([np.asarray(tables[k].counts, dtype=np.float64) for k in members])
        if not (np.abs(counts) < 2.0 ** 53).all():  # NaN, inf or huge counts: the per-table path says what they give
            for k in members:
                out[k] = fairness_from_counts(tables[k], with_pairs)
            continue
        for k, result in zip(members, _fairness_stack(tables[members[0]], counts, with_pairs)):
            out[k] = result
    return out  # type: ignore[return-value]


def _fairness_stack(first: GroupCounts, counts: np.ndarray, with_pairs: bool) -> list[dict[str, Any]]:
    """fairness_from_counts of K tables with ``first``'s values and kind, ``counts`` K x G x 4 (finite)."""
    values, multiclass, n_tables = list(first.values), first.multiclass, len(counts)
    rates = group_rates(counts)
    i, j, gaps = pair_gaps(counts)
    if multiclass:
        gaps = {m: (g if m == "ad" else np.full_like(g, np.nan)) for m, g in gaps.items()}
    results: list[dict[str, Any]] = [{} for _ in range(n_tables)]
    undefined: list[dict[str, list[str]]] = [{} for _ in range(n_tables)]
    # why a pair is undefined depends only on its two groups' states (absent, no positive, no negative labels):
    # each (pair, states) text is written once, by _undefined_reason, for the first table that needs it
    state = ((rates["n"] == 0) * 4 + (rates["positives"] == 0) * 2 + (rates["negatives"] == 0)).astype(np.int64)
    code = np.arange(len(i)) * 64 + state[:, i] * 8 + state[:, j]  # K x P
    single = f"only one group ({values[0]!r}) present: no pair to compare" if values else "no data"
    multiclass_reason = "multi-class label: only AD (the accuracy gap) is defined"
    rows = range(n_tables)
    for metric in METRIC_NAMES:
        gap = gaps[metric]  # K x P
        defined = ~np.isnan(gap)
        if gap.shape[1]:
            best = np.where(defined, gap, -np.inf).argmax(axis=1)
            best_gap = gap[np.arange(n_tables), best].tolist()
            best_pair = [[values[a], values[b]] for a, b in zip(i[best].tolist(), j[best].tolist())]
        for row, is_defined in zip(rows, defined.any(axis=1).tolist()):
            if is_defined:
                results[row][metric] = best_gap[row]
                results[row][f"{metric}_pair"] = best_pair[row]
            else:
                results[row][metric] = math.nan
                results[row][f"{metric}_pair"] = None
        if len(values) < 2:
            for row in rows:
                undefined[row][metric] = [single]
        elif multiclass and metric != "ad":
            for row in rows:
                undefined[row][metric] = [multiclass_reason]
        else:
            where, pair = np.nonzero(~defined)  # row by row, pairs in order (as np.flatnonzero of each row)
            if not len(where):
                continue
            codes = code[where, pair]
            texts = {}
            for c, at in zip(*(x.tolist() for x in np.unique(codes, return_index=True))):
                row, (a, b) = int(where[at]), (int(i[c // 64]), int(j[c // 64]))
                row_rates = {r: rates[r][row] for r in ("n", "positives", "negatives")}
                texts[c] = f"pair ({values[a]!r}, {values[b]!r}): " + _undefined_reason(metric, values, row_rates, a, b)
            strings = list(map(texts.__getitem__, codes.tolist()))
            ends = np.cumsum(np.bincount(where, minlength=n_tables)).tolist()
            for row, start, stop in zip(rows, [0] + ends[:-1], ends):
                if stop > start:
                    undefined[row][metric] = strings[start:stop]
    keys = [str(v) for v in values]
    n = rates["n"].astype(np.int64).tolist()
    if with_pairs:
        i_list, j_list = i.tolist(), j.tolist()
        pair_values = {m: [[None if math.isnan(x) else x for x in row] for row in gaps[m].tolist()] for m in METRIC_NAMES}
    for row, result in enumerate(results):
        result["n"] = dict(zip(keys, n[row]))
        result["undefined_pairs"] = {m: len(v) for m, v in undefined[row].items()}
        if undefined[row]:
            result["undefined"] = undefined[row]
        if with_pairs:
            columns = [pair_values[m][row] for m in METRIC_NAMES]
            result["pairs"] = [{"a": values[a], "b": values[b], **dict(zip(METRIC_NAMES, gap_k))}
                               for a, b, *gap_k in zip(i_list, j_list, *columns)]
    return results


# ``with_pairs`` lists every value pair: n values give n (n - 1) / 2 of them (2,500 zip codes: 3 M, a report
# that never finishes); above this many pairs an attribute is refused (check_pair_count)
MAX_PAIRS = 20_000


def check_pair_count(sensitive: Mapping[str, Any], intersectional: bool = False, flag: str = "--pairs") -> None:
    """Before a report with every value pair: no attribute (nor the intersection) has more than MAX_PAIRS pairs;
    a ValueError naming the attribute, its count and the fix."""
    import pandas as pd

    frame = pd.DataFrame({a: np.asarray(g) for a, g in sensitive.items()})
    counts = {a: int(frame[a].nunique(dropna=False)) for a in frame.columns}
    if intersectional and len(counts) >= 2:
        counts[intersection_name(list(frame.columns))] = len(frame.drop_duplicates())
    for attr, n in counts.items():
        if n * (n - 1) // 2 > MAX_PAIRS:
            raise ValueError(f"{flag}: attribute {attr!r} has {n:,} values, {n * (n - 1) // 2:,} value pairs; "
                             f"{flag} lists at most {MAX_PAIRS:,} pairs per attribute: leave {flag} out (the "
                             f"attribute-level gaps and their worst pair are still reported) or group the values")


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def intersect(sensitive: Mapping[str, Any], attributes: Sequence[str]) -> np.ndarray:
    """Intersectional group labels such as ``"sex=1|race=2"`` (vectorised)."""
    parts = [np.char.add(f"{a}=", np.asarray(sensitive[a]).astype(str)) for a in attributes]
    label = parts[0]
    for part in parts[1:]:
        label = np.char.add(np.char.add(label, INTERSECTION_SEP), part)
    return label


def intersection_values(values: Mapping[str, Sequence[Any]], attributes: Sequence[str]) -> list[str]:
    """Every combination of the declared values, in the order :func:`intersect` labels them."""
    combos = [""]
    for k, a in enumerate(attributes):
        sep = INTERSECTION_SEP if k else ""
        combos = [f"{c}{sep}{a}={v}" for c in combos for v in values[a]]
    return combos


def intersection_name(attributes: Sequence[str]) -> str:
    """Key under which the intersection of ``attributes`` is reported."""
    return "+".join(attributes)


def sensitive_counts(
    y_true: Any,
    y_pred: Any,
    sensitive: Mapping[str, Any],
    values: Mapping[str, Sequence[Any]] | None = None,
    intersectional: bool = False,
    multiclass: bool = False,
) -> dict[str, GroupCounts]:
    """Confusion tables for every attribute (and their intersection when asked);
    ``multiclass``: correct / wrong counts per group (labels with more than two classes)."""
    values = values or {}
    if multiclass:
        return {a: multiclass_group_counts(y_true, y_pred, g, values.get(a)) for a, g in sensitive.items()}
    tables = {a: group_counts(y_true, y_pred, g, values.get(a)) for a, g in sensitive.items()}
    attrs = list(sensitive)
    if intersectional and len(attrs) >= 2:
        tables[intersection_name(attrs)] = intersection_counts(y_true, y_pred, sensitive, attrs, values)
    return tables


def fairness_report(
    y_true: Any,
    y_pred: Any,
    sensitive: Mapping[str, Any],
    values: Mapping[str, Sequence[Any]] | None = None,
    intersectional: bool = False,
    with_pairs: bool = True,
) -> dict[str, dict[str, Any]]:
    """SP, EqOp, EO, AOD and AD for each sensitive attribute (and intersection).

    ``y_true`` / ``y_pred``: 0/1 arrays. ``sensitive``: attribute -> group array.
    ``values``: optional declared values per attribute (absent ones are reported
    as undefined pairs).
    """
    tables = sensitive_counts(y_true, y_pred, sensitive, values, intersectional)
    return {a: fairness_from_counts(t, with_pairs) for a, t in tables.items()}


_JSON_PLAIN = frozenset({int, str, bool, type(None)})  # returned as they are by json_safe (its fast path)


def json_safe(obj: Any) -> Any:
    """Replace NaN by None and numpy scalars by python ones, recursively."""
    if type(obj) in _JSON_PLAIN:
        return obj
    if isinstance(obj, dict):
        return {str(k): v if type(v) in _JSON_PLAIN else json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [v if type(v) in _JSON_PLAIN else json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
