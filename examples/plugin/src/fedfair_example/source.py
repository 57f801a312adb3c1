"""A data-source plugin: two interleaving half-moons per natural client, with a sensitive attribute.

Build a federated dataset from it like from a builtin source::

    fedfair data build --source moons --out data/moons --sensitive group

Each client draws ``rows`` points of scikit-learn's ``make_moons``; the sensitive attribute ``group`` (0 / 1)
is drawn with a client-specific share, and group 1's points get ``shift`` more noise, so the clients differ in
both their group mix and how hard the task is for each group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_moons

from fedfair.partitioners.sources import SourceData


def load_moons(clients: int = 4, rows: int = 400, noise: float = 0.15, shift: float = 0.15, seed: int = 0,
               label: str = "y", positive: int = 1, sensitive: list[str] | None = None) -> SourceData:
    """``clients`` natural clients named ``moons-0`` ...; label ``y`` (positive 1), sensitive ``group``."""
    if label != "y" or positive != 1 or (sensitive or ["group"]) != ["group"]:
        raise ValueError("the moons source has label 'y' (positive 1) and the sensitive attribute 'group'; "
                         "drop --label / --positive / --sensitive or give those")
    rng = np.random.default_rng(seed)
    frames = {}
    for k in range(clients):
        share = 0.2 + 0.6 * k / max(1, clients - 1)  # group 1's share grows from client to client
        group = (rng.random(rows) < share).astype(int)
        x, y = make_moons(n_samples=rows, noise=noise, random_state=int(rng.integers(2**31)))
        x = x + rng.normal(0.0, shift, size=x.shape) * group[:, None]
        frames[f"moons-{k}"] = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "group": group, "y": y})
    return SourceData(frames, label="y", positive=1, sensitive=["group"],
                      value_labels={"group": {"0": "A", "1": "B"}},
                      info={"kind": "moons", "clients": clients, "rows": rows, "seed": seed}, synthetic=True)
