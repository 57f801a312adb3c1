"""PUFFLE's fairness regulariser (Corbucci et al., ECAI 2024; seed 002 Section 5) as a client-side plug-in.

Local loss per batch: (1 - lambda) * CE + lambda * DPL (PUFFLE's learning.py; CE
alone when DPL is 0), where DPL is the batch's demographic disparity computed from
the softmax probabilities (PUFFLE's RegularizationLoss):

    P(Y_hat = k | Z = z) = sum of p_k over the rows with Z = z predicted k / |Z = z|
    DPL = max over classes k and groups z of |P(Y_hat = k | Z = z) - P(Y_hat = k | Z != z)|

(the sum runs over the rows whose argmax is k, as PUFFLE's code does, so the
term is differentiable through p_k), over the classes among the batch's labels
and the groups present in the batch. Where one side of a pair has no row, or
none predicted k, PUFFLE compares with the server's estimate of that side's rate,
from the aggregated statistics (the sum of p_k over predicted-k rows and the row
count per group, summed over the clients' training splits after their last
training, shared as counts, never rows); without them the pair counts 0
(:func:`disparity_with_gradient` has the cases).

lambda: ``puffle-tune=true`` (default) moves lambda toward the target disparity
``puffle-target`` with PUFFLE's momentum rule after every step:
velocity <- momentum * velocity + (target - DPL), lambda <- clip(lambda -
alpha * velocity, 0, 1) (``puffle-alpha``, ``puffle-momentum``). PUFFLE measures
the updated model's DPL on the same batch with an extra forward pass; fedfair
measures it on the next batch's forward pass, which the loss needs anyway (the
same model, a different batch), so a step costs one forward and one backward
pass. A client's first round starts from lambda_0 = 0 (PUFFLE's Client/client.py:
the server tells each client whether it trained in this run before); every later
round from PUFFLE's "disparity" rule (``compute_starting_lambda_with_disparity``
+ ``rescale_lambda``): lambda_0 = 0 when the received model's disparity on the
training split is at most the target, else (DD - target) / (1 - target), the
excess rescaled from [0, 1 - target] to [0, 1]. ``puffle-tune=false`` keeps
lambda = ``puffle-lambda``.

Privacy (PUFFLE's Client/client.py and DPL/Learning/learning.py, ECAI 2024
Section 4): with DP-SGD (``dp-noise-multiplier`` > 0) the model's steps are
private, but lambda's update reads a whole batch's DPL and the shared
statistics read every training row, so PUFFLE adds Gaussian noise to both:
DPL + N(0, ``puffle-lambda-noise``^2) before each lambda update (sensitivity 1:
DPL is in [0, 1]; sample rate batch / n, one step per update) and N(0,
``puffle-statistics-noise``^2) to every shared sum and count (one row changes
one count by 1 and one sum by at most 1: L2 sensitivity sqrt(2), one release
at sample rate 1 per round; PUFFLE counts one release per value, which is
looser). fedfair also noises the start disparity DD that sets lambda_0 (PUFFLE
reads it exactly) with the lambda noise. These mechanisms join the DP-SGD
accountant (``dp-epsilon`` composes all of them). With DP-SGD on, PUFFLE needs
both noises > 0 (the lambda noise only when lambda is tuned); without DP-SGD
they must be 0 (nothing would be accounted). PUFFLE's own runs pick the noise
from target epsilons 0.5 + 0.5 of a total budget; fedfair takes the noise
multipliers, like ``dp-noise-multiplier``, and reports the epsilon.
``puffle-dd-end`` is computed from the shared (noised) statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fedfair import protocol as p
from fedfair.config import SENSITIVE_PARAM, Param
from fedfair.data import ClientData
from fedfair.local.base import LocalObjective

if TYPE_CHECKING:  # torch and pandas are imported where the plug-in trains, not where its parameters are listed
    import torch
    from torch import nn

    from fedfair.training import Batch, Penalty

SHARED_PREFIX = "puffle"


def _predictions(z: np.ndarray, multiclass: bool | None = None) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(K, the predicted class of every row, its probability m, dm/dz) for logits ``z``: binary logits
    (p(1) = sigmoid(z), predicted 1 when p > 1/2) or logits over K classes on the last axis (softmax);
    ``multiclass`` (default: z has more than one axis) says which, for stacked batches (K clients x B rows)."""
    if not (z.ndim > 1 if multiclass is None else multiclass):
        p1 = 1.0 / (1.0 + np.exp(-z))
        predicted = (p1 > 0.5).astype(np.int64)
        # m = sigmoid(z) (predicted 1) or 1 - sigmoid(z): dm/dz = +-p(1 - p)
        return 2, predicted, np.where(predicted == 1, p1, 1.0 - p1), p1 * (1.0 - p1) * (2 * predicted - 1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    predicted = probs.argmax(axis=-1)
    mass = np.take_along_axis(probs, predicted[..., None], axis=-1)[..., 0]
    onehot = np.zeros_like(probs)  # m = softmax_k: dm/dz_j = m (1[j = k] - p_j)
    np.put_along_axis(onehot, predicted[..., None], 1.0, axis=-1)
    return probs.shape[-1], predicted, mass, mass[..., None] * (onehot - probs)


def _group_sums(k: int, predicted: np.ndarray, mass: np.ndarray, g: np.ndarray,
                n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    sums = np.bincount(g * k + predicted, weights=mass, minlength=n_groups * k).reshape(n_groups, k)
    return sums, np.bincount(g, minlength=n_groups).astype(np.float64)


def group_statistics(z: np.ndarray, g: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(G x K sums of p_k over each group's rows predicted k, G row counts): what a client shares."""
    k, predicted, mass, _ = _predictions(z)
    return _group_sums(k, predicted, mass, g, n_groups)


def _estimates(shared: tuple[np.ndarray, np.ndarray] | None, n_groups: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From the server's (G x K sums, G counts): each group's rate and the rate of all other groups, clipped to
    [0, 1] (noised statistics may leave it); NaN where the statistics have no row."""
    if shared is None:
        return np.full((n_groups, k), np.nan), np.full((n_groups, k), np.nan)
    s_sums, s_counts = np.asarray(shared[0], dtype=np.float64), np.asarray(shared[1], dtype=np.float64)
    s_rest = s_counts.sum() - s_counts
    own = np.where((s_counts > 0)[:, None], np.clip(s_sums / np.maximum(s_counts, 1e-12)[:, None], 0, 1), np.nan)
    rest = np.where((s_rest > 0)[:, None],
                    np.clip((s_sums.sum(axis=0) - s_sums) / np.maximum(s_rest, 1e-12)[:, None], 0, 1), np.nan)
    return own, rest


def disparity_with_gradient(z: np.ndarray, g: np.ndarray, n_groups: int,
                            shared: tuple[np.ndarray, np.ndarray] | None = None,
                            classes: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """PUFFLE's DPL of a batch with logits ``z`` and group codes ``g``, and d DPL / d z, in numpy.

    As PUFFLE's ``RegularizationLoss.forward``: the pairs are (class k, group z) for the classes among the
    batch's labels (``classes``; None = every class) and the groups present in the batch. For a pair,
    with Y(z) = the sum of p_k over group z's rows predicted k and Y(not z) the same over the other rows:

    - Y(z) = 0 < Y(not z) (no row of z predicted k): z's rate is the server's estimate (``shared``);
    - otherwise, Y(not z) = 0 < Y(z), or no row outside z: the other side's rate is the server's estimate;
    - otherwise |Y(z) / |Z = z| - Y(not z) / |Z != z||.

    Without the estimate a pair that needs one counts 0 (PUFFLE: ``|x| - |x|``). DPL is the largest pair.
    Two deliberate differences, both where PUFFLE's code assumes a binary 0/1 attribute: the estimate of
    "the other side" is the rate of all other groups (PUFFLE reads group ``1 - z``), and the server shares
    every class's sums (PUFFLE's ``compute_probabilities`` only class 1, so its class-0 pairs fall back to 0).
    The estimates are constants; only the batch's own rates carry gradient. The gradient is formed by hand
    (tests check it against autograd of an independent reference) because the regulariser runs once per
    mini-batch, where autograd's many small nodes would cost more than a small model's own step.
    """
    k, predicted, mass, slope = _predictions(z)
    sums, counts = _group_sums(k, predicted, mass, g, n_groups)
    rest_sums, rest = sums.sum(axis=0) - sums, counts.sum() - counts
    rate = sums / np.maximum(counts, 1)[:, None]
    rest_rate = rest_sums / np.maximum(rest, 1)[:, None]
    own_estimate, rest_estimate = _estimates(shared, n_groups, k)
    none_of_z = (sums == 0) & (rest_sums > 0)  # PUFFLE's first branch
    none_outside = ~none_of_z & (((sums > 0) & (rest_sums == 0)) | (rest == 0)[:, None])  # its second branch
    rate = np.where(none_of_z, own_estimate, rate)
    rest_rate = np.where(none_outside, rest_estimate, rest_rate)
    wanted = np.zeros(k, dtype=bool)
    wanted[np.arange(k) if classes is None else np.asarray(classes, dtype=np.int64)] = True
    pairs = (counts > 0)[:, None] & wanted[None, :]
    gaps = np.where(pairs & np.isfinite(rate) & np.isfinite(rest_rate), np.abs(rate - rest_rate), 0.0)
    zb, kb = divmod(int(gaps.argmax()), k)
    value = float(gaps[zb, kb])
    coef = np.zeros(len(g))  # d DPL / d m_i, m_i = p of row i's predicted class
    if value > 0:
        sign = np.sign(rate[zb, kb] - rest_rate[zb, kb])
        hit = predicted == kb
        if not none_of_z[zb, kb]:  # z's rate is the batch's
            coef += np.where(hit & (g == zb), sign / counts[zb], 0.0)
        if not none_outside[zb, kb]:  # the other side's rate is the batch's
            coef -= np.where(hit & (g != zb), sign / rest[zb], 0.0)
    return value, (coef * slope if z.ndim == 1 else coef[:, None] * slope)


def stacked_disparity_with_gradient(z: np.ndarray, g: np.ndarray, mask: np.ndarray, n_groups: int,
                                    own_estimate: np.ndarray, rest_estimate: np.ndarray,
                                    wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`disparity_with_gradient` of K clients' batches at once (:mod:`fedfair.batched`): the same values and
    gradients, bit for bit (tests/test_batched.py), the pairs and their cases as there.

    z: (K, B) binary logits or (K, B, C); g: (K, B) group codes; mask: (K, B), the real rows (a client's batch
    may be shorter than B); own_estimate / rest_estimate: (K, G, C) each client's :func:`_estimates`;
    wanted: (K, C) the classes among each batch's labels. (K,) values and the gradient, shaped as z (0 on
    padded rows).
    """
    n_clients, width = g.shape
    k, predicted, mass, slope = _predictions(z, multiclass=z.ndim == 3)
    cell = (np.arange(n_clients)[:, None] * n_groups + g) * k + predicted
    cell = np.where(mask, cell, 0)
    size = n_clients * n_groups * k
    sums = np.bincount(cell.ravel(), weights=np.where(mask, mass, 0.0).ravel(), minlength=size).reshape(n_clients, n_groups, k)
    counts = np.bincount(np.where(mask, np.arange(n_clients)[:, None] * n_groups + g, 0).ravel(),
                         weights=mask.ravel().astype(np.float64), minlength=n_clients * n_groups).reshape(n_clients, n_groups)
    rest_sums = sums.sum(axis=1, keepdims=True) - sums
    rest = counts.sum(axis=1, keepdims=True) - counts
    rate = sums / np.maximum(counts, 1)[..., None]
    rest_rate = rest_sums / np.maximum(rest, 1)[..., None]
    none_of_z = (sums == 0) & (rest_sums > 0)
    none_outside = ~none_of_z & (((sums > 0) & (rest_sums == 0)) | (rest == 0)[..., None])
    rate = np.where(none_of_z, own_estimate, rate)
    rest_rate = np.where(none_outside, rest_estimate, rest_rate)
    pairs = (counts > 0)[..., None] & wanted[:, None, :]
    gaps = np.where(pairs & np.isfinite(rate) & np.isfinite(rest_rate), np.abs(rate - rest_rate), 0.0)
    best = gaps.reshape(n_clients, -1).argmax(axis=1)
    zb, kb = np.divmod(best, k)
    rows = np.arange(n_clients)
    values = gaps[rows, zb, kb]
    sign = np.sign(rate[rows, zb, kb] - rest_rate[rows, zb, kb])
    hit = (predicted == kb[:, None]) & mask & (values > 0)[:, None]
    in_z = g == zb[:, None]
    own_side = hit & in_z & ~none_of_z[rows, zb, kb][:, None]
    other_side = hit & ~in_z & ~none_outside[rows, zb, kb][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(own_side, (sign / counts[rows, zb])[:, None], 0.0)
        coef = coef - np.where(other_side, (sign / rest[rows, zb])[:, None], 0.0)
    return values, (coef * slope if z.ndim == 2 else coef[..., None] * slope)


def disparity_of_statistics(sums: np.ndarray, counts: np.ndarray) -> float:
    """DD from (G x K sums, G counts): max over groups z and classes k of |rate(z) - rate(not z)| over groups
    with rows on both sides, rates clipped to [0, 1] (noised statistics may leave it)."""
    sums, counts = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    rest = counts.sum() - counts
    rate = np.clip(sums / np.maximum(counts, 1)[:, None], 0, 1)
    rest_rate = np.clip((sums.sum(axis=0) - sums) / np.maximum(rest, 1)[:, None], 0, 1)
    usable = ((counts > 0) & (rest > 0))[:, None]
    return float(np.where(usable, np.abs(rate - rest_rate), 0.0).max(initial=0.0))


def start_lambda(disparity: float, target: float) -> float:
    """PUFFLE's "disparity" start (``compute_starting_lambda_with_disparity`` + ``rescale_lambda``): 0 at or
    under the target, else the excess DD - target rescaled from [0, 1 - target] to [0, 1]:
    (DD - target) / (1 - target)."""
    if disparity <= target:
        return 0.0
    return min(1.0, (disparity - target) / (1.0 - target)) if target < 1 else 0.0


class PuffleRegulariser:
    """The penalty lambda * (DPL - CE) on the batch's logits, so that CE + penalty = (1 - lambda) CE + lambda DPL;
    before each step after the first, lambda follows PUFFLE's momentum rule on the batch's DPL."""

    def __init__(self, codes: torch.Tensor | np.ndarray, n_groups: int, lam: float, tune: bool, target: float, alpha: float,
                 momentum: float, shared: tuple[np.ndarray, np.ndarray] | None, noise: float = 0.0,
                 rng: np.random.Generator | None = None) -> None:
        import torch

        # every training row's group code
        self.codes = codes.cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        self.n_groups, self.lam = n_groups, lam
        self.tune, self.target, self.alpha, self.momentum = tune, target, alpha, momentum
        self.shared = shared
        self.noise, self.rng = noise, rng or np.random.default_rng(0)  # Gaussian noise on the DPL lambda reads
        self.velocity, self.steps, self.largest_batch = 0.0, 0, 0
        self.history: list[float] = []

    @property
    def updates(self) -> int:
        """How many lambda updates read a batch's DPL."""
        return max(self.steps - 1, 0) if self.tune else 0

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        import torch

        logits = batch.logits if batch.logits is not None else model(batch.x)
        # DPL and its gradient are formed in numpy: on an accelerator one copy of the batch's logits, rows, labels
        z = logits.detach().cpu().numpy()
        value, d_dpl = disparity_with_gradient(z, self.codes[batch.index.cpu().numpy()], self.n_groups, self.shared,
                                               classes=np.unique(batch.y.cpu().numpy()))  # PUFFLE: the batch's labels
        if self.tune and self.steps > 0:  # the model after the previous step, measured on this batch
            seen = value + (self.rng.normal(0.0, self.noise) if self.noise > 0 else 0.0)
            self.velocity = self.momentum * self.velocity + (self.target - seen)
            self.lam = min(1.0, max(0.0, self.lam - self.alpha * self.velocity))
        self.steps += 1
        self.largest_batch = max(self.largest_batch, len(z))
        self.history.append(self.lam)
        if value <= 0:
            return torch.zeros((), device=logits.device)
        batch.loss_scale = 1.0 - self.lam  # the loop scales the batch's cross-entropy: (1 - lambda) CE
        # + lambda DPL as a term linear in the logits with DPL's value and gradient (native autograd)
        gradient = self.lam * d_dpl
        offset = self.lam * value - float((z * gradient).sum())
        return (logits * torch.from_numpy(gradient.astype(np.float32, copy=False)).to(logits.device)).sum() + offset


class PuffleStack:
    """K clients' :class:`PuffleRegulariser` stepping together (:mod:`fedfair.batched`): each step, for every
    client with a batch, the same lambda rule, DPL and penalty as the client's own ``__call__`` (the DPL
    through :func:`stacked_disparity_with_gradient`); :meth:`write_back` leaves each regulariser as its own
    steps would have. ``regularisers[k]`` None: client k has no PUFFLE term. Noise-free only (PUFFLE's noises
    come with DP-SGD, which trains alone)."""

    def __init__(self, regularisers: Sequence[PuffleRegulariser | None], offsets: Sequence[int], n_rows: int,
                 num_classes: int) -> None:
        if any(r is not None and r.noise > 0 for r in regularisers):
            raise ValueError("PuffleStack: noised lambda updates (DP-SGD) are trained per client")
        self.regularisers = list(regularisers)
        present = [r for r in regularisers if r is not None]
        self.on = np.array([r is not None for r in regularisers])
        self.n_groups = max((r.n_groups for r in present), default=1)
        self.classes = max(num_classes, 2)
        self.codes = np.zeros(n_rows, dtype=np.int64)  # every row's group code, in the clients' concatenated rows
        shape = (len(regularisers), self.n_groups, self.classes)
        self.own, self.rest = np.full(shape, np.nan), np.full(shape, np.nan)
        for k, (r, offset) in enumerate(zip(regularisers, offsets)):
            if r is not None:
                self.codes[offset: offset + len(r.codes)] = r.codes
                self.own[k, : r.n_groups], self.rest[k, : r.n_groups] = _estimates(r.shared, r.n_groups, self.classes)

        def values(attribute: str, default: float = 0.0) -> np.ndarray:
            return np.array([getattr(r, attribute) if r is not None else default for r in regularisers], dtype=np.float64)

        self.lam, self.velocity = values("lam"), values("velocity")
        self.target, self.alpha, self.momentum = values("target"), values("alpha"), values("momentum")
        self.tune = np.array([bool(r is not None and r.tune) for r in regularisers])
        self.steps = np.array([r.steps if r is not None else 0 for r in regularisers], dtype=np.int64)
        self.largest = np.array([r.largest_batch if r is not None else 0 for r in regularisers], dtype=np.int64)
        self.lams: list[tuple[np.ndarray, np.ndarray]] = []  # (clients, their lambda) of every step

    def __call__(self, logits: torch.Tensor, rows: torch.Tensor, real: torch.Tensor,
                 y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One step: ``logits`` (K, B[, C]) on rows ``rows`` (K, B) of the concatenated training rows, ``real``
        (K, B) the rows of each client's batch, ``y`` (K, B) their labels. (scale of each client's
        cross-entropy, each client's penalty), or None when no client with PUFFLE has a batch."""
        import torch

        real_rows = real.cpu().numpy()
        idx = np.flatnonzero(self.on & real_rows.any(axis=1))
        if len(idx) == 0:
            return None
        z = logits.detach().cpu().numpy()[idx]
        mask = real_rows[idx]
        codes = self.codes[rows.cpu().numpy()[idx]]
        wanted = np.zeros((len(idx), self.classes), dtype=bool)  # PUFFLE: the classes among the batch's labels
        hit = np.nonzero(mask)
        wanted[hit[0], y.cpu().numpy()[idx][hit].astype(np.int64)] = True
        value, d_dpl = stacked_disparity_with_gradient(z, codes, mask, self.n_groups, self.own[idx], self.rest[idx],
                                                       wanted)
        update = self.tune[idx] & (self.steps[idx] > 0)  # the model after the previous step, measured on this batch
        moved = idx[update]
        self.velocity[moved] = self.momentum[moved] * self.velocity[moved] + (self.target[moved] - value[update])
        self.lam[moved] = np.clip(self.lam[moved] - self.alpha[moved] * self.velocity[moved], 0.0, 1.0)
        self.steps[idx] += 1
        self.largest[idx] = np.maximum(self.largest[idx], mask.sum(axis=1))
        self.lams.append((idx, self.lam[idx].copy()))
        lam = np.where(value > 0, self.lam[idx], 0.0)  # no term (and the plain loss) where DPL is 0
        gradient = lam.reshape(-1, *[1] * (z.ndim - 1)) * d_dpl
        offset = lam * value - (z * gradient).reshape(len(idx), -1).sum(axis=1)
        full = np.zeros(logits.shape, dtype=np.float32)
        full[idx] = gradient
        scale, shift = np.ones(len(self.on), dtype=np.float32), np.zeros(len(self.on), dtype=np.float32)
        scale[idx], shift[idx] = 1.0 - lam, offset
        device = logits.device
        penalty = (logits * torch.from_numpy(full).to(device)).flatten(1).sum(1) + torch.from_numpy(shift).to(device)
        return torch.from_numpy(scale).to(device), penalty

    def write_back(self) -> None:
        """Each regulariser's lambda, velocity, step count, largest batch and lambda history after the steps."""
        for k, r in enumerate(self.regularisers):
            if r is None:
                continue
            r.lam, r.velocity, r.steps, r.largest_batch = float(self.lam[k]), float(self.velocity[k]), \
                int(self.steps[k]), int(self.largest[k])
        for idx, lams in self.lams:
            for k, lam in zip(idx.tolist(), lams.tolist()):
                self.regularisers[k].history.append(lam)


class Puffle(LocalObjective):
    """PUFFLE: (1 - lambda) CE + lambda DPL on the run's sensitive attribute, lambda tuned toward a target."""

    name = "puffle"
    params = {
        "sensitive": SENSITIVE_PARAM,
        "puffle-target": Param(float, 0.05, "PUFFLE: target demographic disparity DD (seed 002 uses 0.05 on SEX)",
                               "float in [0, 1]", lambda x: 0 <= x <= 1),
        "puffle-tune": Param(bool, True, "PUFFLE: tune lambda toward the target during training (else fixed)"),
        "puffle-lambda": Param(float, 0.5, "PUFFLE: the fixed lambda when puffle-tune=false", "float in [0, 1]",
                               lambda x: 0 <= x <= 1),
        "puffle-alpha": Param(float, 1.0, "PUFFLE: step size of the lambda update", "float > 0", lambda x: x > 0),
        "puffle-momentum": Param(float, 0.0, "PUFFLE: momentum of the lambda update", "float in [0, 1)",
                                 lambda x: 0 <= x < 1),
        "puffle-lambda-noise": Param(float, 0.0, "PUFFLE with DP-SGD: std of the Gaussian noise on the DPL read by "
                                     "each lambda update (and the start DD)", "float >= 0", lambda x: x >= 0),
        "puffle-statistics-noise": Param(float, 0.0, "PUFFLE with DP-SGD: std of the Gaussian noise on each shared "
                                         "group statistic (sum, count)", "float >= 0", lambda x: x >= 0),
    }
    # a client's first round starts at lambda 0: the server says whether it trained this task before
    node_facts = (p.TRAINED_BEFORE,)

    @classmethod
    def check_params(cls, params: dict) -> None:
        values = cls.server_values(params)
        noises = {k: values[k] for k in ("puffle-lambda-noise", "puffle-statistics-noise")}
        if params.get("dp-noise-multiplier", 0) > 0:
            needed = [k for k, v in noises.items() if v <= 0 and (k != "puffle-lambda-noise" or values["puffle-tune"])]
            if needed:
                raise ValueError(f"PUFFLE with DP-SGD (dp-noise-multiplier > 0) releases its lambda updates and group "
                                 f"statistics of the training rows: set {' and '.join(k + ' > 0' for k in needed)} "
                                 f"(e.g. 1.0) so that dp-epsilon covers them")
        elif any(v > 0 for v in noises.values()):
            raise ValueError("puffle-lambda-noise / puffle-statistics-noise are accounted with DP-SGD's budget: set "
                             "dp-noise-multiplier > 0 too, or the noises to 0")

    def penalties(self, model: nn.Module, data: ClientData) -> list[Penalty]:
        import pandas as pd

        attribute = self.values["sensitive"] or next(iter(data.sensitive_values), "")
        if attribute not in data.train.sensitive:
            self.fallback(f"no sensitive attribute {attribute!r} in the client's data")
            return []
        values = data.sensitive_values.get(attribute) or sorted(np.unique(data.train.sensitive[attribute]).tolist())
        shared = self.shared_statistics(attribute, len(values))
        # every training row's group code (a value outside the declared ones counts as the first)
        groups = np.maximum(pd.Index(values).get_indexer(data.train.sensitive[attribute]), 0)
        tune = bool(self.values["puffle-tune"])
        self.rng = np.random.default_rng([int(self.config.get(p.TRAIN_SEED, 0)), 0x9FF1E])
        noise = float(self.values["puffle-lambda-noise"])
        start = disparity_with_gradient(self.logits(model, data), groups, len(values), shared,
                                        classes=np.unique(data.train.y))[0]
        first = not bool(self.config.get(p.TRAINED_BEFORE, False))
        if tune and noise > 0:  # the start DD (reported) reads every training row: one more release
            start = float(np.clip(start + self.rng.normal(0.0, noise), 0.0, 1.0))
            self.ledger.append((noise, 1.0, 1))
        if not tune:
            lam = float(self.values["puffle-lambda"])
        else:  # PUFFLE (Client/client.py): lambda 0 in a client's first round, then the disparity start
            lam = 0.0 if first else start_lambda(start, self.values["puffle-target"])
        self.regulariser = PuffleRegulariser(groups, len(values), lam, tune, self.values["puffle-target"],
                                             self.values["puffle-alpha"], self.values["puffle-momentum"], shared,
                                             noise=noise, rng=self.rng)
        self.attribute, self.n_groups, self.groups = attribute, len(values), groups
        self.report["puffle-dd-start"] = start
        self.report["puffle-lambda-start"] = lam
        return [self.regulariser]

    @staticmethod
    def logits(model: nn.Module, data: ClientData) -> np.ndarray:
        """The model's logits on the training split (evaluation mode, no gradient), on the host."""
        import torch

        from fedfair.training import model_device, split_tensors

        with torch.no_grad():
            model.eval()
            z = model(split_tensors(data.train, model_device(model)).x).cpu().numpy()
            model.train()
        return z

    def shared_statistics(self, attribute: str, n_groups: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The server's aggregated (sums, counts) for this attribute, if it sent them."""
        stats = self.shared.get(f"{SHARED_PREFIX}:{attribute}")
        if not stats:
            return None
        sums, counts = np.asarray(stats["sums"], dtype=np.float64), np.asarray(stats["counts"], dtype=np.float64)
        return (sums, counts) if sums.shape[0] == n_groups else None

    def finish(self, model: nn.Module, data: ClientData) -> None:
        """After training: the final lambda and this client's statistics for the server to aggregate."""
        if not hasattr(self, "regulariser"):
            return
        regulariser, n = self.regulariser, len(data.train)
        self.report["puffle-lambda"] = regulariser.lam
        if regulariser.noise > 0 and regulariser.updates:  # one Gaussian read of a batch per lambda update
            self.ledger.append((regulariser.noise, min(1.0, regulariser.largest_batch / n), regulariser.updates))
        sums, counts = group_statistics(self.logits(model, data), self.groups, self.n_groups)
        noise = float(self.values["puffle-statistics-noise"])
        if noise > 0:  # every value noised; one row moves two of them by <= 1: multiplier noise / sqrt(2)
            sums = sums + self.rng.normal(0.0, noise, sums.shape)
            counts = counts + self.rng.normal(0.0, noise, counts.shape)
            self.ledger.append((noise / np.sqrt(2), 1.0, 1))
        self.report["puffle-dd-end"] = disparity_of_statistics(sums, counts)
        self.share[f"{SHARED_PREFIX}:{self.attribute}"] = {"sums": sums.tolist(), "counts": counts.tolist()}
