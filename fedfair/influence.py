"""FairIF's maths (seed 004, Algorithm 1 stage 1): influence of training rows on group TPR / TNR gaps.

Pure torch.func / numpy, no Flower types. With theta* the converged parameters,
H the Hessian of the mean training loss (eq. 7), g_l(z_i) the loss gradient of
training row i and g_F the gradient of a differentiable group metric F on the
validation rows, up-weighting row i by eps_i changes F(D^1) - F(D^0) by
(u_1 - u_0)^T H^-1 g_l(z_i) eps_i (eqs. 9-12), u_g = mean of g_F over group g.

- :func:`loss_grad_dots`: g_l(z_i) . v for every training row and a few vectors
  v, by forward-mode JVPs of the per-row losses: never an n x p matrix;
  :func:`per_sample_grads` gives the gradients themselves (for checks);
- :func:`inverse_hvp`: (H + damping I)^-1 b by a dense solve when the model is
  small, else conjugate gradient on Hessian-vector products (residual recorded);
- :func:`soft_rates`: Gumbel-softmax surrogates of each group's TPR and TNR on
  the validation rows; :func:`rate_gaps` their gaps d_F = F(D^1) - F(D^0) and
  gradients u = grad of the gaps;
- :func:`solve_eq14`: eq. 14's epsilon in closed form;
- :func:`fairif_weights`: the whole of stage 1 -> row weights for eq. 15.

Readings (the paper leaves them open): groups. FairIF is stated for a binary
attribute; for an attribute with more values, group 1 is the validation split's
largest group and group 0 all others. Surrogate: the positive-class Gumbel-softmax
of the binary logit z is sigmoid((z + L) / tau) with L ~ Logistic(0, 1) (the
difference of two Gumbel draws); ``samples`` seeded draws are averaged. The
regulariser is lambda ||eps||_2 (not squared) as eq. 14 writes it. Weights
1/n + eps_i below zero are set to 0 (a negative weight would reward a loss) and
the rest rescaled to mean 1; how many were clipped is reported.

Device: everything runs where the model's parameters are (the rows are moved
there once); the Gumbel noise is drawn on the CPU and moved, so a seed gives the
same draws on every device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from fedfair.training import model_device, row_losses


def flat_parameters(model: nn.Module) -> tuple[torch.Tensor, Callable[[torch.Tensor], dict[str, torch.Tensor]]]:
    """The model's parameters as one detached vector, and the map back to a named-parameter dict."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def unflatten(flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: chunk.reshape(s) for n, chunk, s in zip(names, torch.split(flat, sizes), shapes)}

    return theta, unflatten


def positive_logit(logits: torch.Tensor) -> torch.Tensor:
    """z with P(y = 1) = sigmoid(z): the logit itself, or l_1 - l_0 for two-class logits."""
    if logits.dim() > 1:
        if logits.shape[1] != 2:
            raise ValueError(f"FairIF balances TPR / TNR of a binary label; the model has {logits.shape[1]} outputs")
        return logits[:, 1] - logits[:, 0]
    return logits


class LossFunction:
    """Losses of ``model`` on rows (x, y) as functions of the flat parameter vector."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.x, self.y = model, x, y
        self.theta, self.unflatten = flat_parameters(model)
        self.buffers = {n: b.detach() for n, b in model.named_buffers()}

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, ({**self.unflatten(theta), **self.buffers}), (x,))

    def row_losses(self, theta: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        return row_losses(self.logits(theta, self.x[rows]), self.y[rows])

    def mean(self, theta: torch.Tensor) -> torch.Tensor:
        return self.row_losses(theta).mean()


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """n x p matrix of per-row loss gradients g_l(z_i) (vmap of grad; for small checks)."""
    f = LossFunction(model, x, y)

    def one(theta: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return row_losses(f.logits(theta, xi[None]), yi[None])[0]

    return vmap(grad(one), in_dims=(None, 0, 0))(f.theta, x, y)


def loss_grad_dots(model: nn.Module, x: torch.Tensor, y: torch.Tensor, vectors: torch.Tensor,
                   chunk: int = 8192) -> torch.Tensor:
    """n x k matrix of g_l(z_i) . v_j: one JVP of the per-row losses per vector v_j (rows in chunks)."""
    f = LossFunction(model, x, y)
    out = torch.empty(len(y), len(vectors), device=x.device)
    for start in range(0, len(y), chunk):
        rows = slice(start, start + chunk)
        for j, v in enumerate(vectors):
            out[rows, j] = jvp(lambda t: f.row_losses(t, rows), (f.theta,), (v,))[1].detach()
    return out


@dataclass(frozen=True)
class InverseHVP:
    """Solutions x_j of (H + damping I) x_j = b_j, the method used and each relative residual."""

    solutions: torch.Tensor
    method: str
    residuals: list[float]
    iterations: int
    damping: float = 0.0


def hessian_vector_product(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> H v, H the Hessian of the mean loss over (x, y) at the model's parameters (forward over reverse)."""
    f = LossFunction(model, x, y)
    gradient = grad(f.mean)
    return lambda v: jvp(gradient, (f.theta,), (v,))[1].detach()


def dense_hessian(f: LossFunction) -> torch.Tensor:
    """The p x p Hessian of ``f.mean`` at ``f.theta``: the gradient with its graph, then one backward pass per
    row (double backward). ``torch.func.hessian`` (forward over reverse, vmapped over p directions) gives the
    same matrix to float rounding (7e-8 on the MLP below) but holds p copies of every activation: on this
    machine (torch 2.13, one thread) 0.22 / 4.0 s against 0.065 / 0.71 s for an MLP 8-32-1 (p = 321) on 1,000
    / 20,000 rows (FairIF on a FeDa4Fair client was two thirds of its run)."""
    theta = f.theta.detach().requires_grad_(True)
    gradient = torch.autograd.grad(f.mean(theta), theta, create_graph=True)[0]
    if not gradient.requires_grad:  # a loss linear in theta: no curvature
        return torch.zeros((theta.numel(), theta.numel()), dtype=theta.dtype, device=theta.device)
    rows = [torch.autograd.grad(gradient[i], theta, retain_graph=True, allow_unused=True)[0]
            for i in range(theta.numel())]
    return torch.stack([torch.zeros_like(theta) if r is None else r for r in rows]).detach()


def inverse_hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor, damping: float = 0.01,
                exact_limit: int = 1500, max_iter: int = 200, tol: float = 1e-6) -> InverseHVP:
    """(H + damping I)^-1 b_j for each row b_j of ``b`` (k x p).

    Exact (a dense solve with the full Hessian) when p <= ``exact_limit``; otherwise conjugate
    gradient with Hessian-vector products, stopped at relative residual ``tol`` or ``max_iter``.
    """
    f = LossFunction(model, x, y)
    p = f.theta.numel()
    if p <= exact_limit:
        hessian = dense_hessian(f).double()
        system = hessian + damping * torch.eye(p, dtype=torch.float64, device=hessian.device)
        solutions = torch.linalg.solve(system, b.double().T).T
        residuals = [float(torch.linalg.norm(system @ s - bj) / max(float(torch.linalg.norm(bj)), 1e-30))
                     for s, bj in zip(solutions, b.double())]
        return InverseHVP(solutions.float(), "exact", residuals, 0, damping)
    hvp = hessian_vector_product(model, x, y)
    solutions, residuals, iterations, used = [], [], 0, damping
    for bj in b:
        # a non-convex model's Hessian may be indefinite: on negative curvature CG restarts with 10x the damping
        # (H + damping I is positive definite for a large enough damping); the damping used is reported
        for attempt in range(6):
            shift = damping * 10**attempt
            s, r, it, definite = _conjugate_gradient(lambda v: hvp(v) + shift * v, bj, max_iter, tol)
            if definite:
                break
        solutions.append(s)
        residuals.append(r)
        iterations = max(iterations, it)
        used = max(used, shift)
    return InverseHVP(torch.stack(solutions), "cg", residuals, iterations, used)


def _conjugate_gradient(apply: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, max_iter: int,
                        tol: float) -> tuple[torch.Tensor, float, int, bool]:
    """Solve A x = b for symmetric A given as ``apply``; (x, relative residual, iterations, whether A stayed
    positive definite along the search directions)."""
    x = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    rr = float(r @ r)
    norm_b = math.sqrt(float(b @ b)) or 1.0
    it = 0
    for it in range(1, max_iter + 1):
        ad = apply(d)
        curvature = float(d @ ad)
        if curvature <= 0:  # not positive definite along d
            return x, float(torch.linalg.norm(apply(x) - b)) / norm_b, it, False
        step = rr / curvature
        x = x + step * d
        r = r - step * ad
        rr_new = float(r @ r)
        if math.sqrt(rr_new) / norm_b < tol:
            rr = rr_new
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    return x, float(torch.linalg.norm(apply(x) - b)) / norm_b, it, True


def binary_groups(groups: np.ndarray) -> np.ndarray:
    """s in {0, 1} per row: a two-valued attribute's sorted values; with more values, 1 = the largest group."""
    values, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if len(values) == 2:
        return codes.astype(np.int64).reshape(-1)
    return (codes.reshape(-1) == int(np.argmax(counts))).astype(np.int64)


def soft_rates(z: torch.Tensor, y: torch.Tensor, s: torch.Tensor, temperature: float,
               noise: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gumbel-softmax TPR and TNR of groups 0 / 1: ``tpr`` and ``tnr`` are length-2 tensors (NaN where the
    group has no positive / negative row). ``noise`` (samples x n) is logistic noise, averaged over samples."""
    soft_positive = torch.sigmoid((z[None, :] + noise) / temperature).mean(dim=0)
    rates = {"tpr": [], "tnr": []}
    for g in (0, 1):
        for key, label, value in (("tpr", 1, soft_positive), ("tnr", 0, 1 - soft_positive)):
            mask = (s == g) & (y == label)
            rates[key].append(value[mask].mean() if bool(mask.any()) else torch.tensor(float("nan"), device=z.device))
    return {k: torch.stack(v) for k, v in rates.items()}


@dataclass(frozen=True)
class RateGaps:
    """d_F = F(D^1) - F(D^0) for F in (TPR, TNR) (surrogates), their parameter gradients u (rows; NaN gap =
    metric undefined on this split), and the hard (thresholded) gaps for reference."""

    names: list[str]
    gaps: torch.Tensor
    gradients: torch.Tensor
    hard_gaps: list[float]


def rate_gaps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor, temperature: float = 0.5,
              samples: int = 8, seed: int = 0) -> RateGaps:
    """Eq. 14's d_TPR, d_TNR on the validation rows and u_F = grad_theta d_F (the difference of the groups'
    mean metric gradients, eq. 12)."""
    f = LossFunction(model, x, y)
    generator = torch.Generator().manual_seed(int(seed))
    uniform = torch.rand((samples, len(y)), generator=generator).clamp(1e-6, 1 - 1e-6)
    noise = (torch.log(uniform) - torch.log1p(-uniform)).to(x.device)  # Logistic(0, 1) = Gumbel - Gumbel

    def gaps_of(theta: torch.Tensor) -> torch.Tensor:
        rates = soft_rates(positive_logit(f.logits(theta, x)), y, s, temperature, noise)
        return torch.stack([rates["tpr"][1] - rates["tpr"][0], rates["tnr"][1] - rates["tnr"][0]])

    gaps = gaps_of(f.theta).detach()
    gradients = torch.func.jacrev(gaps_of)(f.theta).detach()
    with torch.no_grad():
        hard = (positive_logit(f.logits(f.theta, x)) > 0).float()
    hard_gaps = []
    for label, value in ((1, hard), (0, 1 - hard)):
        means = [value[(s == g) & (y == label)].mean() if bool(((s == g) & (y == label)).any())
                 else torch.tensor(float("nan"), device=value.device)
                 for g in (0, 1)]
        hard_gaps.append(float(means[1] - means[0]))
    return RateGaps(["tpr", "tnr"], gaps, gradients, hard_gaps)


def solve_eq14(a: np.ndarray, d: np.ndarray, lam: float) -> np.ndarray:
    """argmin_eps sum_F (d_F - a_F . eps)^2 + lam ||eps||_2 (eq. 14) for a (k x n), d (k,).

    The minimiser is eps = A^T (A A^T + mu I)^-1 d with mu > 0 solving 2 mu ||eps(mu)|| = lam (its
    stationarity condition), or eps = 0 when lam >= 2 ||A^T d|| (0 is then in the subdifferential).
    ||mu eps(mu)|| grows monotonically in mu, so mu is found by bisection on a log scale.
    """
    a = np.asarray(a, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    gram = a @ a.T
    k = len(d)

    def eps_of(mu: float) -> np.ndarray:
        return a.T @ np.linalg.solve(gram + mu * np.eye(k), d)

    if lam == 0:
        return a.T @ (np.linalg.pinv(gram) @ d)
    if lam >= 2 * np.linalg.norm(a.T @ d):
        return np.zeros(a.shape[1])
    lo, hi = 1e-14 * (np.trace(gram) + 1.0), 1.0
    while 2 * hi * np.linalg.norm(eps_of(hi)) < lam:
        hi *= 10.0
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if 2 * mid * np.linalg.norm(eps_of(mid)) < lam:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-12:
            break
    return eps_of(math.sqrt(lo * hi))


@dataclass(frozen=True)
class FairIFWeights:
    """Stage 1's outcome: row weights (mean 1) for eq. 15 and what produced them."""

    weights: np.ndarray
    epsilon: np.ndarray
    gaps: dict[str, float]
    hard_gaps: dict[str, float]
    predicted_gaps: dict[str, float]
    method: str
    residuals: list[float]
    clipped: int
    damping: float = 0.0


def fairif_weights(model: nn.Module, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                   val_groups: np.ndarray, lam: float = 0.1, damping: float = 0.01, temperature: float = 0.5,
                   samples: int = 8, seed: int = 0, exact_limit: int = 1500, max_iter: int = 200,
                   hessian_rows: int = 20000) -> FairIFWeights:
    """Algorithm 1 lines 2-4 at the model's current (converged) parameters.

    Only the validation rows' groups are read. The Hessian uses at most ``hessian_rows`` training rows
    (a seeded subsample; all of them by default on client-sized data). Raises ValueError when the
    validation split cannot define any of the two gaps (one group, or no positive / negative rows in a group).
    """
    device = model_device(model)
    x = torch.as_tensor(np.ascontiguousarray(train_x, dtype=np.float32)).to(device)
    y = torch.as_tensor(train_y.astype(np.float32)).to(device)
    s = torch.as_tensor(binary_groups(val_groups)).to(device)
    if len(torch.unique(s)) < 2:
        raise ValueError("the validation split has one sensitive group only")
    vx = torch.as_tensor(np.ascontiguousarray(val_x, dtype=np.float32)).to(device)
    vy = torch.as_tensor(val_y.astype(np.float32)).to(device)
    gaps = rate_gaps(model, vx, vy, s, temperature, samples, seed)
    usable = ~torch.isnan(gaps.gaps)
    if not bool(usable.any()):
        raise ValueError("the validation split has no group pair with positive or negative rows in both groups")
    hx, hy = x, y
    if len(y) > hessian_rows:
        pick = np.random.default_rng(seed).choice(len(y), hessian_rows, replace=False)
        pick = torch.from_numpy(pick).to(device)
        hx, hy = x[pick], y[pick]
    inverse = inverse_hvp(model, hx, hy, gaps.gradients[usable], damping, exact_limit, max_iter)
    a = loss_grad_dots(model, x, y, inverse.solutions).cpu().numpy().T  # (k, n): a_F,i = u_F^T H^-1 g_l(z_i)
    d = gaps.gaps[usable].double().cpu().numpy()
    epsilon = solve_eq14(a, d, lam)
    n = len(y)
    raw = 1.0 / n + epsilon  # eq. 2 / 15
    clipped = int((raw < 0).sum())
    raw = np.clip(raw, 0.0, None)
    weights = raw / raw.mean() if raw.sum() > 0 else np.ones(n)
    names = [name for name, ok in zip(gaps.names, usable.tolist()) if ok]
    return FairIFWeights(
        weights=weights.astype(np.float64), epsilon=epsilon,
        gaps={k: float(v) for k, v in zip(gaps.names, gaps.gaps.tolist())},
        hard_gaps=dict(zip(gaps.names, gaps.hard_gaps)),
        predicted_gaps={k: float(v) for k, v in zip(names, d - a @ epsilon)},
        method=inverse.method, residuals=inverse.residuals, clipped=clipped, damping=inverse.damping,
    )
