"""A model plugin: an MLP with tanh activations (fedfair's builtin MLP uses ReLU)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TanhMLP(nn.Module):
    """n_features -> hidden (tanh) -> one logit per row (binary label) or C logits (C classes).

    fedfair calls it with the keywords it accepts of ``n_features``, ``num_classes`` and ``input_shape``;
    ``hidden`` comes from a model spec's own key (default 16).
    """

    def __init__(self, n_features: int, num_classes: int = 2, hidden: int | Sequence[int] = 16) -> None:
        super().__init__()
        width = int(hidden[0] if isinstance(hidden, Sequence) else hidden)
        self.num_classes = num_classes
        self.net = nn.Sequential(nn.Linear(n_features, width), nn.Tanh(),
                                 nn.Linear(width, 1 if num_classes == 2 else num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return logits.squeeze(-1) if self.num_classes == 2 else logits
