"""Models: logistic regression and an MLP (torch), built from a small spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

MODEL_NAMES = ("logreg", "mlp")


class LogisticRegression(nn.Module):
    """One linear layer producing a logit."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


class MLP(nn.Module):
    """Fully connected ReLU network with the given hidden sizes, producing a logit."""

    def __init__(self, n_features: int, hidden: Sequence[int] = (32,)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            width = int(size)
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def build_model(spec: Mapping[str, Any], n_features: int, seed: int | None = None) -> nn.Module:
    """Create the model ``spec`` describes: ``{"model": "logreg"}`` or ``{"model": "mlp", "hidden": [32]}``.

    With ``seed`` the initial weights are reproducible.
    """
    name = spec.get("model", "logreg")
    if seed is not None:
        torch.manual_seed(seed)
    if name == "logreg":
        return LogisticRegression(n_features)
    if name == "mlp":
        hidden = spec.get("hidden") or [32]
        return MLP(n_features, [int(h) for h in hidden])
    raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}")
