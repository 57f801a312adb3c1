"""Fairness helpers of the fairness-aware strategies (Fair-FCA, Fair-FL+HC, FairFed).

- ``fairness_gap``: a fairness notion f in {SP, EqOp, EO} of one group table
  (Psi^f of seed 000 eq. 1 / eq. 2), NaN when undefined on the client;
- the parameters those strategies share (gamma, f, attribute, estimate);
- ``sensitive_attribute``: the attribute a run uses, checked against the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fedfair.config import SENSITIVE_PARAM, Param, ParamError
from fedfair.metrics import GroupCounts, pair_gaps

FAIRNESS_NOTIONS = ("sp", "eqop", "eo")

FAIRNESS_PARAMS: dict[str, Param] = {
    "gamma": Param(float, 0.5, "Fair-FCA / Fair-FL+HC: accuracy-fairness trade-off gamma (1 = IFCA / FL+HC, 0 = fairness only)",
                   "float in [0, 1]", lambda x: 0.0 <= x <= 1.0),
    "fairness": Param(str, "sp", "fairness notion f used by fair strategies: sp, eqop or eo", "sp, eqop or eo",
                      lambda x: x in FAIRNESS_NOTIONS),
    "sensitive": SENSITIVE_PARAM,
    "fairness-estimate": Param(str, "hard", "how fair strategies estimate f on a client: hard (thresholded predictions, "
                               "the paper's definition) or soft (mean predicted probabilities)", "hard or soft",
                               lambda x: x in ("hard", "soft")),
}


def fairness_gap(table: GroupCounts | None, notion: str) -> float:
    """Psi^f of one client: the max pairwise gap of ``notion`` over the attribute's values; NaN when undefined."""
    if table is None or len(table.values) < 2:
        return math.nan
    _, _, gaps = pair_gaps(table.counts)
    defined = gaps[notion][~np.isnan(gaps[notion])]
    return float(defined.max()) if len(defined) else math.nan


def sensitive_attribute(params: Mapping[str, Any], available: Sequence[str]) -> str:
    """Param ``sensitive``, default the dataset's first attribute; an error lists the available ones."""
    chosen = params.get("sensitive") or (available[0] if available else "")
    if chosen not in available:
        raise ParamError(f"sensitive attribute {chosen!r} is not in the dataset; available: {', '.join(available) or 'none'}")
    return chosen
