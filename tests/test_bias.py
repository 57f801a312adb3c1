"""Bias exacerbation: drop and flip leave exactly the recorded counts; schedules; errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedfair.data import DatasetError
from fedfair.partitioners.bias import Modification, apply_modification, apply_modifications, linear_schedule, random_schedule


def _frame(n: int = 2000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "SEX": rng.integers(1, 3, n).astype(float),  # CSV-style floats: 1.0 / 2.0
        "RAC1P": rng.integers(1, 6, n),
        "y": (rng.random(n) < 0.4).astype(np.int64),
        "row": np.arange(n),
    })


def _positives(frame: pd.DataFrame, sex=2, race=None) -> int:
    mask = (frame["SEX"] == sex) & (frame["y"] == 1)
    if race is not None:
        mask &= frame["RAC1P"] == race
    return int(mask.sum())


def test_drop_then_flip_counts_are_exact_and_recorded():
    frame = _frame()
    n_pos = _positives(frame)
    mod = Modification(client="A", attribute="SEX", value=2, drop_rate=0.3, flip_rate=0.25)
    out, rec = apply_modification(frame, mod, "y", seed=0)
    expected_drop = round(0.3 * n_pos)
    expected_flip = round(0.25 * (n_pos - expected_drop))  # the flip fraction is of what the drop left
    assert (rec["group_label_rows"], rec["dropped"], rec["flipped"]) == (n_pos, expected_drop, expected_flip)
    assert len(out) == len(frame) - expected_drop == rec["rows_after"]
    assert _positives(out) == n_pos - expected_drop - expected_flip
    # only positives of SEX=2 were touched: every other row is unchanged
    original = frame.set_index("row")
    kept = out.set_index("row")
    others = original[~((original["SEX"] == 2) & (original["y"] == 1))]
    assert others.index.isin(kept.index).all()
    pd.testing.assert_frame_equal(kept.loc[others.index], others)
    flipped = kept[(kept["y"] != original.loc[kept.index, "y"])]
    assert len(flipped) == expected_flip and (flipped["SEX"] == 2).all() and (flipped["y"] == 0).all()


def test_intersection_restricts_the_rows():
    frame = _frame()
    n_pos = _positives(frame, race=3)
    mod = Modification(client="A", attribute="SEX", value=2, extra_attribute="RAC1P", extra_value=3, drop_rate=0.5)
    out, rec = apply_modification(frame, mod, "y", seed=0)
    assert rec["group_label_rows"] == n_pos and rec["dropped"] == round(0.5 * n_pos)
    assert _positives(out, race=3) == n_pos - rec["dropped"]
    for race in (1, 2, 4, 5):
        assert _positives(out, race=race) == _positives(frame, race=race)


def test_same_seed_same_rows_other_seed_other_rows():
    frame = _frame()
    mod = Modification(client="A", attribute="SEX", value=2, drop_rate=0.4)
    a, _ = apply_modification(frame, mod, "y", seed=3)
    b, _ = apply_modification(frame, mod, "y", seed=3)
    c, _ = apply_modification(frame, mod, "y", seed=4)
    assert a["row"].tolist() == b["row"].tolist()
    assert a["row"].tolist() != c["row"].tolist()


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rate_outside_unit_interval_is_an_error(rate):
    with pytest.raises(DatasetError, match=r"drop_rate must be in \[0, 1\]"):
        Modification(client="AL", attribute="SEX", value=2, drop_rate=rate)


def test_unknown_value_attribute_and_client_are_named():
    frame = _frame()
    with pytest.raises(DatasetError, match=r"no row has SEX = 7"):
        apply_modification(frame, Modification(client="A", attribute="SEX", value=7, drop_rate=0.1), "y", 0)
    with pytest.raises(DatasetError, match=r"attribute 'AGE' is not a column"):
        apply_modification(frame, Modification(client="A", attribute="AGE", value=7, drop_rate=0.1), "y", 0)
    with pytest.raises(DatasetError, match=r"unknown client 'ZZ'"):
        apply_modifications({"A": frame}, [Modification(client="ZZ", attribute="SEX", value=2, drop_rate=0.1)], "y", 0)
    with pytest.raises(DatasetError, match=r"unknown keys \['rate'\]"):
        Modification.from_dict({"client": "A", "attribute": "SEX", "value": 2, "rate": 0.1})


def test_schedules():
    mods = linear_schedule(["a", "b", "c", "d", "e"], "SEX", 2, 0.0, 0.8)
    assert [m.drop_rate for m in mods] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    flips = linear_schedule(["a", "b"], "SEX", 2, 0.1, 0.3, kind="flip")
    assert [m.flip_rate for m in flips] == pytest.approx([0.1, 0.3]) and all(m.drop_rate == 0 for m in flips)
    rand = random_schedule(list("abcdef"), "RAC1P", 4, 0.2, 0.5, seed=1)
    assert all(0.2 <= m.drop_rate <= 0.5 for m in rand)
    assert [m.drop_rate for m in rand] == [m.drop_rate for m in random_schedule(list("abcdef"), "RAC1P", 4, 0.2, 0.5, seed=1)]
    with pytest.raises(DatasetError, match="low <= high"):
        random_schedule(["a"], "SEX", 2, 0.6, 0.2, seed=0)
