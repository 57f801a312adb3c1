"""CI-MNIST (Reddy et al., 2021, as used by seed 004 Section 5.1 / Appendix A) from the offline MNIST digits.

Label y: 1 = even digit, 0 = odd (Table 5's columns). Sensitive attribute
``color``: the background, 0 = blue, 1 = red. Each image becomes 3 x 28 x 28:
the digit's strokes white (the grey level in all three channels) on a pure
blue (0, 0, 1) or red (1, 0, 0) background, so the group is visible in the
pixels as in CI-MNIST.

One bias type per dataset (seed 004 Section 5.1), applied in every client with
a strength that varies by client around the paper's value (evenly spaced, so
the federation is reproducible and heterogeneous):

- ``size`` (group size discrepancy): a fraction r_k of each class is red,
  r_k from 0.05 to 0.25 across clients (paper: 15 %); classes balanced;
- ``shift`` (group distribution shift): a fraction p_k of class 0 is blue and
  of class 1 red, p_k from 0.75 to 0.95 (paper: 85 %); equal class sizes;
- ``class`` (class size discrepancy): class 1 has c_k times the rows of class 0,
  c_k from 0.15 to 0.35 (paper: 25 %); colours half and half within each class.

Clients draw disjoint rows. Offline the source is the 5,000-row MNIST sample
(or the full IDX files when present), so each client holds a few hundred
images: much smaller than Reddy et al.'s 60,000-image CI-MNIST (Table 5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fedfair.data import DatasetError

BIASES = {"size": (0.05, 0.25), "shift": (0.75, 0.95), "class": (0.15, 0.35)}
BLUE, RED = 0, 1


def colourise(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """n x 784 grey digits -> n x (3 x 28 x 28): strokes kept in every channel, background red or blue."""
    grey = pixels.reshape(len(pixels), 1, 28, 28).astype(np.float32)
    background = 1.0 - grey
    red = (colour == RED).astype(np.float32)[:, None, None, None]
    channels = np.concatenate([grey + background * red, grey, grey + background * (1 - red)], axis=1)
    return channels.reshape(len(pixels), -1)


def strengths(bias: str, clients: int) -> np.ndarray:
    """The per-client bias strength: evenly spaced over the bias type's range."""
    low, high = BIASES[bias]
    return np.linspace(low, high, clients) if clients > 1 else np.array([(low + high) / 2])


def client_rows(bias: str, strength: float, odd: np.ndarray, even: np.ndarray, per_class: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row indices, labels, colours) of one client drawn from the odd / even pools (consumed in order)."""
    n_odd = per_class
    n_even = max(1, int(round(strength * per_class))) if bias == "class" else per_class
    rows = np.concatenate([odd[:n_odd], even[:n_even]])
    labels = np.concatenate([np.zeros(n_odd, np.int64), np.ones(n_even, np.int64)])
    colours = np.empty(len(rows), np.int64)
    for label, n in ((0, n_odd), (1, n_even)):
        if bias == "size":
            red_share = strength
        elif bias == "shift":
            red_share = 1 - strength if label == 0 else strength  # class 0 mostly blue, class 1 mostly red
        else:
            red_share = 0.5
        colour = np.full(n, BLUE)
        colour[rng.permutation(n)[: int(round(red_share * n))]] = RED
        colours[labels == label] = colour
    return rows, labels, colours


def ci_mnist_source(bias: str = "size", clients: int = 10, data_root: str | None = None, seed: int = 0,
                    **_: Any) -> "SourceData":
    """The CI-MNIST federation as natural clients "0".."K-1" (pixels ``px*``, ``label``, ``color``)."""
    from fedfair.partitioners.images import load_images
    from fedfair.partitioners.sources import SourceData

    if bias not in BIASES:
        raise DatasetError(f"unknown CI-MNIST bias {bias!r}; use size, shift or class")
    images = load_images("mnist", data_root)
    rng = np.random.default_rng([seed, 23])
    odd = rng.permutation(np.flatnonzero(images.labels % 2 == 1))
    even = rng.permutation(np.flatnonzero(images.labels % 2 == 0))
    per_class = min(len(odd), len(even)) // clients
    if per_class < 20:
        raise DatasetError(f"CI-MNIST: {len(images.labels)} MNIST images are too few for {clients} clients")
    frames = {}
    for k, strength in enumerate(strengths(bias, clients)):
        rows, labels, colours = client_rows(bias, float(strength), odd[k * per_class:], even[k * per_class:], per_class, rng)
        pixels = colourise(images.pixels[rows], colours)
        frame = pd.DataFrame(pixels, columns=[f"px{i}" for i in range(pixels.shape[1])])
        frame["label"], frame["color"] = labels, colours
        frames[str(k)] = frame
    return SourceData(
        clients=frames, label="label", positive=1, sensitive=["color"],
        value_labels={"color": {"0": "blue", "1": "red"}},
        info={**images.source, "kind": "ci-mnist", "bias": bias, "strengths": strengths(bias, clients).round(4).tolist(),
              "note": "CI-MNIST rebuilt from the offline MNIST digits; far smaller than Reddy et al.'s (seed 004 Table 5)"},
        input_shape=(3, 28, 28),
    ).check()
