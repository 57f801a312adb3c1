"""The 8-client Gaussian benchmark of seed 000 (Appendix C.5, Table 2).

Each client draws a one-dimensional feature from N(mu[g][y], 1) for group g and
label y. Table 2 lists, per client, (f_1^1, f_1^0, f_0^1, f_0^0): the means for
(group 1, label 1), (group 1, label 0), (group 0, label 1), (group 0, label 0).
Group 1 is the advantaged group a of Proposition 2 (higher features for the
same label). Clients 2, 4, 5, 6, 7, 8 resemble each other, 1 and 3 differ; in
1, 3, 4, 6, 7, 8 both groups share one distribution. The ``synthetic-gaussian-8``
source draws the clients; the builder makes the builtin (:mod:`fedfair.partitioners.builtins`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


# Table 2: client -> (f_1^1, f_1^0, f_0^1, f_0^0), all with sigma = 1.
TABLE_2_MEANS: dict[str, tuple[float, float, float, float]] = {
    "1": (8.0, 6.0, 8.0, 6.0),
    "2": (12.0, 8.0, 11.0, 7.0),
    "3": (7.5, 5.5, 7.5, 5.5),
    "4": (12.0, 9.0, 12.0, 9.0),
    "5": (12.0, 8.0, 11.0, 7.0),
    "6": (11.5, 8.5, 11.5, 8.5),
    "7": (11.0, 8.0, 11.0, 8.0),
    "8": (10.5, 7.5, 10.5, 7.5),
}
SIGMA = 1.0


def sample_client(
    means: tuple[float, float, float, float],
    n: int,
    rng: np.random.Generator,
    group_share: float = 0.5,
    label_share: float = 0.5,
) -> pd.DataFrame:
    """Draw ``n`` rows (raw feature ``x``, label ``y``, group ``group``) for one client."""
    n_group1 = int(round(n * group_share))
    frames = []
    for group, n_group in ((1, n_group1), (0, n - n_group1)):
        n_pos = int(round(n_group * label_share))
        mu_pos, mu_neg = (means[0], means[1]) if group == 1 else (means[2], means[3])
        for label, count, mu in ((1, n_pos, mu_pos), (0, n_group - n_pos, mu_neg)):
            frames.append(
                pd.DataFrame(
                    {
                        "x": rng.normal(mu, SIGMA, size=count),
                        "y": np.full(count, label, dtype=np.int64),
                        "group": np.full(count, group, dtype=np.int64),
                    }
                )
            )
    frame = pd.concat(frames, ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
