"""FairIF in its own centralised setting (seed 004, Section 5.1 and Algorithm 1), on one client or pooled clients.

ERM trains a model to convergence; stage 1 (:func:`fedfair.influence.fairif_weights`)
computes row weights from it and the validation split's groups; stage 2 restarts
from the same initial weights and trains with the weighted loss (eq. 15), as the
paper does. Both models are scored on the test split: accuracy, AD (accuracy
difference, eq. 3), AOD (eq. 4) and EOD (eq. 5) for the chosen attribute.

"Until convergence": at most ``epochs`` epochs (Appendix B: 250), stopping
earlier when the epoch's training loss has not improved by ``tol`` (relative)
for ``patience`` epochs; the epochs used are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from fedfair.data import ClientData, DatasetError, Split, load_client, read_manifest
from fedfair.influence import fairif_weights
from fedfair.metrics import fairness_report
from fedfair.models import build_model
from fedfair.training import TrainConfig, train_local


def pooled_client(root: str) -> ClientData:
    """All clients' splits concatenated (FairIF's centralised setting on a federation)."""
    manifest = read_manifest(root)
    parts = [load_client(root, name) for name in manifest.client_names]

    def join(name: str) -> Split | None:
        splits = [getattr(c, name) for c in parts if getattr(c, name) is not None]
        if not splits:
            return None
        attributes = set.intersection(*[set(s.sensitive) for s in splits])
        return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]),
                     {a: np.concatenate([s.sensitive[a] for s in splits]) for a in sorted(attributes)})

    first = parts[0]
    return ClientData(name="pooled", partition_id=0, train=join("train"), test=join("test"), val=join("val"),
                      sensitive_values=first.sensitive_values, default_model=first.default_model,
                      num_classes=first.num_classes, input_shape=first.input_shape)


def train_to_convergence(model: torch.nn.Module, split: Split, config: TrainConfig, seed: int, max_epochs: int,
                         weights: np.ndarray | None = None, tol: float = 1e-3, patience: int = 10) -> int:
    """Train up to ``max_epochs``; stop when the loss has not improved by ``tol`` (relative) for ``patience``
    epochs. Returns the epochs run."""
    best, stale, used = np.inf, 0, 0

    def on_epoch(epoch: int, loss: float) -> bool:
        nonlocal best, stale, used
        used = epoch + 1
        if loss < best * (1 - tol):
            best, stale = loss, 0
        else:
            stale += 1
        return stale >= patience

    train_local(model, split, replace(config, epochs=max_epochs), seed, sample_weight=weights, on_epoch=on_epoch)
    return used


def scores(model: torch.nn.Module, split: Split, attribute: str) -> dict[str, float]:
    """Accuracy, AD (in %, as Table 1), AOD and EOD of a binary model on one split."""
    with torch.no_grad():
        model.eval()
        logits = model(torch.as_tensor(np.ascontiguousarray(split.x, dtype=np.float32)))
        model.train()
    pred = ((logits[:, 1] > logits[:, 0]) if logits.dim() > 1 else (logits > 0)).numpy().astype(np.int64)
    report = fairness_report(split.y, pred, {attribute: split.sensitive[attribute]}, with_pairs=False)[attribute]
    return {"accuracy": float((pred == split.y).mean()), "ad": 100 * report["ad"], "aod": report["aod"],
            "eod": report["eqop"]}


@dataclass(frozen=True)
class CentralisedFairIF:
    """ERM and FairIF side by side on one dataset."""

    rows: dict[str, dict[str, float]]
    weights: dict[str, Any]


def run_centralised(data: ClientData, attribute: str = "", spec: dict[str, Any] | None = None, lr: float = 2e-4,
                    epochs: int = 250, batch_size: int = 64, lam: float = 0.1, seed: int = 0,
                    optimizer: str = "adam", damping: float = 0.01) -> CentralisedFairIF:
    """ERM vs FairIF (Algorithm 1) on ``data``'s train / val / test splits; Appendix B's defaults
    (MLP with one hidden layer of 64, lr 0.0002, lambda 0.1, 250 epochs)."""
    attribute = attribute or next(iter(data.sensitive_values), "")
    if data.val is None or len(data.val) == 0:
        raise DatasetError(f"{data.name}: FairIF needs a validation split with the sensitive attribute; build the "
                           f"dataset with --splits train,val,test")
    if attribute not in data.val.sensitive:
        raise DatasetError(f"sensitive attribute {attribute!r} not in the data; available: {list(data.val.sensitive)}")
    if data.num_classes != 2:
        raise DatasetError(f"FairIF balances TPR / TNR of a binary label; this dataset has {data.num_classes} classes")
    spec = spec or {"model": "mlp", "hidden": [64]}
    config = TrainConfig(lr=lr, batch_size=batch_size, optimizer=optimizer)
    erm = build_model(spec, data.n_features, seed=seed)
    initial = {k: v.clone() for k, v in erm.state_dict().items()}
    erm_epochs = train_to_convergence(erm, data.train, config, seed, epochs)
    started = time.perf_counter()
    stage1 = fairif_weights(erm, data.train.x, data.train.y, data.val.x, data.val.y, data.val.sensitive[attribute],
                            lam=lam, damping=damping, seed=seed)
    stage1_seconds = time.perf_counter() - started
    fair = build_model(spec, data.n_features)
    fair.load_state_dict(initial)  # stage 2 restarts from the same initial weights (centralised, as the paper)
    fair_epochs = train_to_convergence(fair, data.train, config, seed, epochs, weights=stage1.weights)
    rows = {"ERM": {**scores(erm, data.test, attribute), "epochs": erm_epochs},
            "FairIF": {**scores(fair, data.test, attribute), "epochs": fair_epochs}}
    return CentralisedFairIF(rows, {"method": stage1.method, "residual": max(stage1.residuals), "damping": stage1.damping,
                                    "clipped": stage1.clipped, "max": float(stage1.weights.max()), "seconds": stage1_seconds,
                                    "min": float(stage1.weights.min()), "val_gaps": stage1.hard_gaps})
