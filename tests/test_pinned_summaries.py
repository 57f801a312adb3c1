"""Pinned summaries: one run per strategy family gives the summary.json recorded before the core was reshaped.

The federation is written here from fixed draws (not a builtin, so a change of
a builtin's preprocessing cannot move it): six clients in two label-swapped
clusters, two sensitive attributes (binary ``sex``, three-valued ``race``),
different sizes, one client with a val split. Every strategy runs 4 rounds in
one simulation with settings that exercise its paths (FL+HC clusters after
round 2, CFL splits, fraction-train < 1, an MLP).

Regenerate (only when a change of numbers is intended and explained):
``FEDFAIR_UPDATE_PINNED=1 python -m pytest tests/test_pinned_summaries.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fedfair.simulation import simulate_many
from fedfair.partitioners.writer import write_federated_dataset

pytestmark = pytest.mark.slow

PINNED = Path(__file__).parent / "pinned" / "summaries.json"
COMMON = {"rounds": 4, "seed": 1, "lr": 0.1}
RUNS: dict[str, dict[str, Any]] = {
    "fedavg": {"strategy": "fedavg"},
    "fedavg-mlp-sampled": {"strategy": "fedavg", "model": "mlp", "hidden": "8,4", "fraction-train": 0.5},
    "standalone": {"strategy": "standalone"},
    "fedprox": {"strategy": "fedprox", "proximal-mu": 0.1},
    "maml": {"strategy": "maml", "maml-finetune-steps": 3},
    "fairfed": {"strategy": "fairfed", "sensitive": "race"},
    "fairfed-af": {"strategy": "fairfed-af", "fairness": "eqop"},
    "ifca": {"strategy": "ifca"},
    "fair-fca": {"strategy": "fair-fca", "gamma": 0.5, "fairness-estimate": "soft"},
    "flhc": {"strategy": "flhc", "hc-k1": 2, "num-clusters": 2},
    "fair-flhc": {"strategy": "fair-flhc", "hc-k1": 2, "num-clusters": 2, "gamma": 0.5},
    "cfl-cosine": {"strategy": "cfl-cosine", "cfl-warmup": 1, "cfl-eps1": 10.0, "cfl-eps2": 0.0, "cfl-min-size": 4},
}


def pinned_federation(out: Path) -> Path:
    """Six clients A1..A3 / B1..B3 (B: labels flipped), features depending on the groups."""
    rng = np.random.default_rng(20261125)
    clients = []
    for prefix, flip in (("A", False), ("B", True)):
        for k, n in enumerate((240, 160, 320), start=1):
            splits = {}
            for split, rows in (("train", n), ("test", n // 2), ("val", n // 4)):
                if split == "val" and k != 2:
                    continue
                sex = rng.integers(1, 3, rows)
                race = rng.choice([1, 2, 3], size=rows, p=[0.6, 0.3, 0.1])
                x = rng.normal(size=(rows, 3))
                x[:, 2] += 0.5 * (sex == 2) - 0.3 * (race == 3)
                logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * (sex == 1)
                y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
                if flip:
                    y = 1 - y
                frame = pd.DataFrame(x.astype(np.float32), columns=["f0", "f1", "f2"])
                splits[split] = frame.assign(y=y, sex=sex, race=race)
            clients.append((f"{prefix}{k}", splits))
    return write_federated_dataset(
        out, name="pinned", clients=clients, features=["f0", "f1", "f2"], label="y", positive_label=1,
        sensitive={"sex": {"values": [1, 2]}, "race": {"values": [1, 2, 3]}}, default_model={"model": "logreg"},
        source={"kind": "tests/test_pinned_summaries.py"}, seed=0,
    )


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what legitimately differs between runs (time, the dataset's temporary path, the
    message sizes, whose configs carry that path)."""
    return {k: v for k, v in summary.items() if k not in ("wall_seconds", "dataset", "communication")}


def assert_same(actual: Any, expected: Any, where: str = "summary", rel: float = 1e-9) -> None:
    """Equal structure and values; floats to ``rel`` relative (CPU kernels may differ in the last bits)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: length differs"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]", rel)
    elif isinstance(expected, float) and not isinstance(actual, bool) and isinstance(actual, (int, float)):
        if math.isnan(expected):
            assert math.isnan(actual), f"{where}: {actual} != nan"
        else:
            assert actual == pytest.approx(expected, rel=rel, abs=rel * 1e-3), f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_every_strategy_family_gives_its_pinned_summary(tmp_path):
    """Clients trained one after the other (the pinned numbers' way) give them to 1e-9; batched clients (the
    in-process default) to float rounding (fedfair/batched.py: weights within ~2e-6 relative)."""
    root = pinned_federation(tmp_path / "federation")
    configs = [{**COMMON, **run, "dataset": str(root), "out-dir": str(tmp_path / "runs" / name), "batch-clients": False}
               for name, run in RUNS.items()]
    summaries = simulate_many(configs, num_supernodes=6, echo=False, keep_going=False)
    actual = {name: comparable(json.loads(json.dumps(s))) for name, s in zip(RUNS, summaries)}
    batched = simulate_many([{**c, "batch-clients": True, "out-dir": c["out-dir"] + "-batched"} for c in configs],
                            num_supernodes=6, echo=False, keep_going=False)
    if os.environ.get("FEDFAIR_UPDATE_PINNED"):
        PINNED.parent.mkdir(exist_ok=True)
        PINNED.write_text(json.dumps(actual, indent=1, sort_keys=True))
    expected = json.loads(PINNED.read_text())
    assert sorted(actual) == sorted(expected)
    for name, summary in zip(RUNS, batched):
        assert_same(actual[name], expected[name], name)
        assert_same(comparable(json.loads(json.dumps(summary))), expected[name], f"{name} (batched)", rel=1e-5)
    # every family's checkpoint (no pickle) reads back to the state it was written from
    from fedfair.strategies.checkpoint import CHECKPOINT, _count_references, _Encoder, load_checkpoint

    for name in RUNS:
        run_dir = tmp_path / "runs" / name
        written = json.loads((run_dir / CHECKPOINT).read_text())
        loaded, shared = load_checkpoint(run_dir), {}
        _count_references(loaded, shared)  # objects shared when written are shared again
        again = _Encoder(shared).encode(loaded)
        assert again == written["state"], f"{name}: the checkpoint does not read back to its state"

