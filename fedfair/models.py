"""Models: logistic regression, an MLP and a small CNN (torch), built from a small spec.

A binary label (2 classes) gives one logit per row (``(n,)``, binary
cross-entropy); C > 2 classes give C logits (``(n, C)``, softmax
cross-entropy). The CNN reads image features (pixel columns in C-order) shaped
by the dataset's ``input_shape``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fedfair.schemas import MODEL_NAMES  # the builtin models: the one list manifests, run parameters and this module read


def _outputs(num_classes: int) -> int:
    return 1 if num_classes == 2 else num_classes


def _squeeze(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    return logits.squeeze(-1) if num_classes == 2 else logits


class LogisticRegression(nn.Module):
    """One linear layer: one logit (binary) or C logits (multinomial)."""

    def __init__(self, n_features: int, num_classes: int = 2) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.linear = nn.Linear(n_features, _outputs(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _squeeze(self.linear(x), self.num_classes)


class MLP(nn.Module):
    """Fully connected ReLU network with the given hidden sizes."""

    def __init__(self, n_features: int, hidden: Sequence[int] = (32,), num_classes: int = 2) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            width = int(size)
        layers.append(nn.Linear(width, _outputs(num_classes)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _squeeze(self.net(x), self.num_classes)


class CNN(nn.Module):
    """Seed 003's image model: 2 convolutional, 2 max-pooling and 2 fully connected layers.

    conv(k x k, ``channels[0]``) -> ReLU -> pool 2 -> conv(k x k, ``channels[1]``) -> ReLU -> pool 2
    -> fc(``hidden``) -> ReLU -> fc(outputs), zero ``padding`` around each convolution's input. Input:
    rows of ``prod(input_shape)`` pixel columns. The defaults (10 / 20 channels of 5 x 5, 50 hidden
    units) are the classic MNIST network; seed 003 does not give its sizes.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int = 10, channels: Sequence[int] = (10, 20),
                 kernel: int = 5, hidden: int = 50, padding: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.input_shape = tuple(int(d) for d in input_shape)
        depth, height, width = self.input_shape
        for _ in range(2):  # each block: valid convolution, then 2x2 pooling
            height, width = (height + 2 * padding - kernel + 1) // 2, (width + 2 * padding - kernel + 1) // 2
        if height < 1 or width < 1:
            raise ValueError(f"input_shape {list(self.input_shape)} is too small for two {kernel}x{kernel} "
                             f"convolutions (padding {padding}) with pooling: use a smaller kernel or padding")
        self.features = nn.Sequential(
            nn.Conv2d(depth, int(channels[0]), kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(int(channels[0]), int(channels[1]), kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(int(channels[1]) * height * width, int(hidden)), nn.ReLU(),
            nn.Linear(int(hidden), _outputs(num_classes)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _squeeze(self.classifier(self.features(x.reshape(-1, *self.input_shape))), self.num_classes)


def build_model(spec: Mapping[str, Any], n_features: int, seed: int | None = None, num_classes: int = 2,
                input_shape: Sequence[int] | None = None) -> nn.Module:
    """Create the model ``spec`` describes: ``{"model": "logreg"}``, ``{"model": "mlp", "hidden": [32]}``
    or ``{"model": "cnn", "channels": [10, 20], "kernel": 5, "fc": 50, "padding": 0}`` (needs ``input_shape``).

    With ``seed`` the initial weights are reproducible.
    """
    name = spec.get("model", "logreg")
    if seed is not None:
        torch.manual_seed(seed)
    if name == "logreg":
        return LogisticRegression(n_features, num_classes)
    if name == "mlp":
        hidden = spec.get("hidden") or [32]
        return MLP(n_features, [int(h) for h in hidden], num_classes)
    if name == "cnn":
        if not input_shape or len(input_shape) != 3:
            raise ValueError("model 'cnn' needs image features: the dataset's manifest has no input_shape "
                             "[channels, height, width]; use logreg or mlp for tabular data")
        return CNN(input_shape, num_classes, channels=spec.get("channels", (10, 20)), kernel=int(spec.get("kernel", 5)),
                   hidden=int(spec.get("fc", 50)), padding=int(spec.get("padding", 0)))
    return plugin_model(str(name), spec, n_features, num_classes, input_shape)


def plugin_model(name: str, spec: Mapping[str, Any], n_features: int, num_classes: int,
                 input_shape: Sequence[int] | None) -> nn.Module:
    """A model from a plugin (``package.module:Name`` or a ``fedfair.models`` entry point): a torch module
    class or factory called with the keywords it accepts of ``n_features``, ``num_classes`` (2 = binary: one
    logit per row, shape ``(n,)``; C > 2: C logits), ``input_shape`` and the spec's other keys."""
    from fedfair import plugins

    if not plugins.known("model", name, {}):
        raise plugins.UnknownNameError(plugins.unknown_message("model", name, dict.fromkeys(MODEL_NAMES)))
    factory = plugins.resolve("model", name, {})
    options = {"n_features": n_features, "num_classes": num_classes,
               "input_shape": None if input_shape is None else tuple(input_shape),
               **{k: v for k, v in spec.items() if k != "model"}}
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    if parameters and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        options = {k: v for k, v in options.items() if k in parameters}
    model = factory(**options)
    if not isinstance(model, nn.Module):
        raise plugins.PluginError(f"model plugin {name!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
