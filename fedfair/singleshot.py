"""Single-shot fair FL with synthetic data (Wu, Curtis & Robinson; seed 001, Section 3): the maths.

Pure numpy / scipy, no Flower types. A client with real rows a_i = (x_i, s_i),
labels y_i in {-1, 1} and a binary sensitive value s_i in {0, 1} learns
synthetic features x_hat (its N_s synthetic labels y_hat and groups s_hat are
chosen up front) by minimising the penalty problem of eqs. 11-12::

    P(x_hat) = l({d_i}, theta) + rho_o / (2 N^2) (sum_i (s_i - s_bar) a_i^T theta)^2
               + rho_s / (2 N_s^2) (sum_i (s_hat_i - s_hat_bar) a_hat_i^T theta)^2
               + lambda_x / (2 (N_s n)^2) sum_i ||x_hat_i||^2
    theta = theta(x_hat) = argmin_theta  l({d_hat_i}, theta) + lambda_theta / (2 n^2) ||theta||^2   (the inner problem)

with l the mean logistic loss (eq. 9) and n the length of a. The inner problem
is solved by L-BFGS (scipy's L-BFGS-B without bounds, whose line search
enforces the strong Wolfe conditions), warm-started from the previous outer
iteration's theta. The gradient of P (eq. 13) goes through theta by implicit
differentiation (eq. 14): with H the inner Hessian (n x n, exact for logistic
regression) and g = dP/dtheta, v = H^-1 g (one dense solve) and
dP/da_hat_i += -(1/N_s) (r_i v + w_i (a_hat_i^T v) theta), where
grad_theta l = (1/N_s) sum_i r_i a_hat_i, r_i = -y_hat_i sigma(-y_hat_i a_hat_i^T theta)
and w_i = sigma(m_i)(1 - sigma(m_i)). (Eq. 14 as extracted has no minus sign; the
implicit function theorem gives d theta / d x_hat = -H^-1 d^2 l_r / d theta d x_hat,
which the finite-difference test confirms.) The outer updates are Adam (Algorithm 1,
line 14) for ``kmax`` iterations.

Readings (the extracted text is garbled or silent):
- the rho_s term's sum runs over the N_s synthetic rows (the text prints N);
- fedfair's logistic regression has an intercept: a gets a constant 1 that is not
  synthesised (it leaves both covariances unchanged: sum_i (s_i - s_bar) = 0);
- the columns of a that encode s (e.g. one-hot ``race=Non-White``) and constant
  columns are not synthesised either: a column constant within each group is
  fixed to its group's value, so a_hat_i = (x_hat_i, s_hat_i) as in the paper;
- Adam's step size is not given in the paper (fedfair's default ``lr`` 0.01,
  features standardised).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from fedfair.data import ClientData
from fedfair.queries import QueryAnswer


@dataclass(frozen=True)
class SynthesisConfig:
    """The penalty problem's parameters (paper defaults; Section 4) and the solver's limits."""

    rho_o: float = 10.0
    rho_s: float = 0.0
    lambda_x: float = 1e-4
    lambda_theta: float = 1e-3
    kmax: int = 1000
    inner_iters: int = 100
    lr: float = 0.01
    inner_tol: float = 1e-6  # gradient norm below which an inner solve counts as converged

    def __post_init__(self) -> None:
        for name in ("rho_o", "rho_s", "lambda_x", "lambda_theta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)} is negative: the penalty and regularisation "
                                 f"weights of eq. 11 must be >= 0")
        if self.kmax < 0 or self.inner_iters < 1 or self.lr <= 0:
            raise ValueError("kmax must be >= 0, inner_iters >= 1 and lr > 0")


@dataclass
class Synthesis:
    """A client's synthetic dataset and how it was found."""

    a_hat: np.ndarray  # N_s x n synthetic rows (with the fixed columns), intercept column last
    s_hat: np.ndarray  # N_s groups in {0, 1}
    y_hat: np.ndarray  # N_s labels in {-1, 1}
    theta: np.ndarray  # the inner solution on the final synthetic rows
    objective: float  # P at the final x_hat
    history: list[float] = field(default_factory=list)  # P per outer iteration
    covariance_real: float = 0.0  # (1/N) sum (s_i - s_bar) a_i^T theta
    covariance_synthetic: float = 0.0
    inner_failures: int = 0  # outer iterations whose inner solve stopped above inner_tol
    worst_inner_gradient: float = 0.0
    seconds: float = 0.0


# ----- the inner problem (eq. 11, second line) -----------------------------------------
def logistic_loss(theta: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
    """Mean logistic loss (eq. 9) of labels y in {-1, 1}."""
    return float(np.logaddexp(0.0, -y * (a @ theta)).mean())


def logistic_gradient(theta: np.ndarray, a: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient of the mean logistic loss, r) with gradient = (1/N) a^T r, r_i = -y_i sigma(-y_i a_i^T theta)."""
    r = -y * expit(-y * (a @ theta))
    return a.T @ r / len(y), r


def inner_objective(theta: np.ndarray, a_hat: np.ndarray, y_hat: np.ndarray, lambda_theta: float) -> tuple[float, np.ndarray]:
    """l_r of eq. 11 and its gradient."""
    n = a_hat.shape[1]
    grad, _ = logistic_gradient(theta, a_hat, y_hat)
    reg = lambda_theta / n**2
    return logistic_loss(theta, a_hat, y_hat) + 0.5 * reg * float(theta @ theta), grad + reg * theta


def inner_hessian(theta: np.ndarray, a_hat: np.ndarray, y_hat: np.ndarray, lambda_theta: float) -> tuple[np.ndarray, np.ndarray]:
    """(the exact n x n Hessian of l_r, w) with w_i = sigma(m_i)(1 - sigma(m_i))."""
    n = a_hat.shape[1]
    p = expit(y_hat * (a_hat @ theta))
    w = p * (1.0 - p)
    return (a_hat * w[:, None]).T @ a_hat / len(y_hat) + (lambda_theta / n**2) * np.eye(n), w


def solve_inner(a_hat: np.ndarray, y_hat: np.ndarray, lambda_theta: float, theta0: np.ndarray,
                max_iters: int = 100, tol: float = 1e-7) -> tuple[np.ndarray, float]:
    """theta(d_hat) by L-BFGS with a strong Wolfe line search from ``theta0``, until every gradient component is
    below ``tol`` (or ``max_iters``); (theta, final gradient norm)."""
    result = minimize(inner_objective, theta0, args=(a_hat, y_hat, lambda_theta), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iters, "gtol": tol, "ftol": 1e-15, "maxcor": 10})
    return result.x, float(np.linalg.norm(result.jac))


# ----- the outer problem (eqs. 11-14) ------------------------------------------------------
def covariance_vector(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """u with u^T theta = (1/N) sum_i (s_i - s_bar) a_i^T theta (eq. 2 with d_theta(a) = a^T theta)."""
    return (s - s.mean()) @ a / len(s)


@dataclass
class OuterProblem:
    """P of eq. 11 for one client: the real rows are fixed, ``free`` marks the synthesised columns of a_hat."""

    a: np.ndarray
    s: np.ndarray
    y: np.ndarray
    s_hat: np.ndarray
    y_hat: np.ndarray
    free: np.ndarray
    config: SynthesisConfig

    def __post_init__(self) -> None:
        self.u_real = covariance_vector(self.a, self.s)

    def value_and_gradient(self, a_hat: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """P(x_hat) and dP/da_hat (zero on the fixed columns) at the inner solution ``theta``."""
        c = self.config
        n_s, n = a_hat.shape
        u_syn = covariance_vector(a_hat, self.s_hat)
        cov_real, cov_syn = float(self.u_real @ theta), float(u_syn @ theta)
        x_free = a_hat[:, self.free]
        value = (logistic_loss(theta, self.a, self.y) + 0.5 * c.rho_o * cov_real**2 + 0.5 * c.rho_s * cov_syn**2
                 + 0.5 * c.lambda_x / (n_s * n) ** 2 * float((x_free * x_free).sum()))
        # dP/dtheta (eq. 13's first factor)
        g = logistic_gradient(theta, self.a, self.y)[0] + c.rho_o * cov_real * self.u_real + c.rho_s * cov_syn * u_syn
        hessian, w = inner_hessian(theta, a_hat, self.y_hat, c.lambda_theta)
        v = np.linalg.solve(hessian, g)  # eq. 14: one linear solve with the exact inner Hessian
        _, r = logistic_gradient(theta, a_hat, self.y_hat)
        # implicit part: -(d/da_hat)(grad_theta l_r . v) = -(1/N_s)(r_i v + w_i (a_hat_i . v) theta)
        grad = -(np.outer(r, v) + np.outer(w * (a_hat @ v), theta)) / n_s
        # direct parts: the synthetic covariance penalty and the x_hat regulariser (eq. 13's last term)
        grad += np.outer(c.rho_s * cov_syn * (self.s_hat - self.s_hat.mean()) / n_s, theta)
        grad[:, self.free] += c.lambda_x / (n_s * n) ** 2 * x_free
        grad[:, ~self.free] = 0.0
        return value, grad

    def objective(self, a_hat: np.ndarray, theta0: np.ndarray) -> float:
        """P(x_hat) with the inner problem solved from ``theta0`` (for finite-difference checks)."""
        theta, _ = solve_inner(a_hat, self.y_hat, self.config.lambda_theta, theta0, 1000)
        return self.value_and_gradient(a_hat, theta)[0]


def synthesize(a: np.ndarray, s: np.ndarray, y: np.ndarray, a_hat0: np.ndarray, s_hat: np.ndarray, y_hat: np.ndarray,
               free: np.ndarray, config: SynthesisConfig = SynthesisConfig()) -> Synthesis:
    """Algorithm 1, client side: Adam on x_hat for ``kmax`` iterations, each solving the inner problem
    (warm-started) and taking the implicit gradient; labels in {-1, 1}, groups in {0, 1}."""
    with threadpool_limits(1, "blas"):  # small matrix products: BLAS threads only contend (10x slower on 2 cores)
        return _synthesize(a, s, y, a_hat0, s_hat, y_hat, free, config)


def _synthesize(a, s, y, a_hat0, s_hat, y_hat, free, config: SynthesisConfig) -> Synthesis:
    started = time.perf_counter()
    problem = OuterProblem(a, s, y, s_hat, y_hat, free, config)
    a_hat = np.array(a_hat0, dtype=np.float64)
    theta = np.zeros(a.shape[1])
    m, v = np.zeros_like(a_hat), np.zeros_like(a_hat)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    history, failures, worst = [], 0, 0.0
    for k in range(1, config.kmax + 1):
        theta, inner_norm = solve_inner(a_hat, y_hat, config.lambda_theta, theta, config.inner_iters,
                                        config.inner_tol / 10)
        failures += inner_norm > config.inner_tol
        worst = max(worst, inner_norm)
        value, grad = problem.value_and_gradient(a_hat, theta)
        history.append(value)
        m = beta1 * m + (1 - beta1) * grad  # Adam (Kingma & Ba), Algorithm 1 line 14
        v = beta2 * v + (1 - beta2) * grad * grad
        a_hat -= config.lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)
    theta, inner_norm = solve_inner(a_hat, y_hat, config.lambda_theta, theta, config.inner_iters)
    value = problem.value_and_gradient(a_hat, theta)[0]
    return Synthesis(a_hat=a_hat, s_hat=s_hat, y_hat=y_hat, theta=theta, objective=value, history=history,
                     covariance_real=float(problem.u_real @ theta),
                     covariance_synthetic=float(covariance_vector(a_hat, s_hat) @ theta),
                     inner_failures=int(failures), worst_inner_gradient=max(worst, inner_norm),
                     seconds=time.perf_counter() - started)


# ----- choosing (s_hat, y_hat) and x_hat_0 (Section 4) -----------------------------------------
def fixed_columns(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Columns of a constant within each group (the encoding of s, the intercept, constant features)."""
    fixed = np.ones(a.shape[1], dtype=bool)
    for group in (0, 1):
        rows = a[s == group]
        if len(rows):
            fixed &= np.all(rows == rows[0], axis=0)
    return fixed


def initial_synthetic(a: np.ndarray, s: np.ndarray, y: np.ndarray, size: str | int | float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a_hat_0, s_hat, y_hat, free) for ``size``: ``copy`` (N_s = N, (s_hat, y_hat) = (s, y), x_hat_0 = x) or
    a balanced set of N_s rows (an int, or a fraction of N in (0, 1]): 25 % in each (s, y) cell, free columns
    drawn from per-feature normals with the training data's mean and standard deviation, fixed columns set to
    their group's value."""
    free = ~fixed_columns(a, s)
    if size == "copy":
        return a.copy(), s.copy(), y.copy(), free
    n_s = int(round(float(size) * len(s))) if isinstance(size, float) and size <= 1 else int(size)
    if n_s > len(s):
        raise ValueError(f"synthetic size {n_s} exceeds the client's {len(s)} training rows; use at most N "
                         f"(or ss-size=copy)")
    if n_s < 4:
        raise ValueError(f"synthetic size {n_s}: a balanced set needs at least 4 rows (one per (s, y) cell)")
    # 25 % in each of (0, -1), (0, 1), (1, -1), (1, 1); a client lacking a group or a label: the cells it has
    present = np.unique(s.astype(int) * 2 + (y > 0), return_index=True)
    cells = present[0][np.arange(n_s) % len(present[0])]
    s_hat, y_hat = (cells // 2).astype(np.float64), np.where(cells % 2 == 1, 1.0, -1.0)
    a_hat = rng.normal(a.mean(axis=0), a.std(axis=0), size=(n_s, a.shape[1]))
    templates = a[present[1][np.searchsorted(present[0], cells)]]  # a real row of the cell: its fixed columns
    a_hat[:, ~free] = templates[:, ~free]
    return a_hat, s_hat, y_hat, free


def min_distance(a: np.ndarray, b: np.ndarray, block: int = 2048) -> float:
    """min_ij ||a_i - b_j||_2 (the paper's privacy indicator) in blocks of rows, never an N x N_s matrix."""
    b_sq = (b * b).sum(axis=1)
    best = np.inf
    for start in range(0, len(a), block):
        chunk = a[start:start + block]
        d2 = (chunk * chunk).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * chunk @ b.T
        best = min(best, float(d2.min()))
    return float(np.sqrt(max(best, 0.0)))


def train_server_model(a_hat: np.ndarray, y_hat: np.ndarray, lambda_theta: float, max_iters: int = 1000) -> tuple[np.ndarray, float]:
    """Eq. 15: the server's logistic regression on the union of the synthetic sets (same regulariser)."""
    with threadpool_limits(1, "blas"):
        return solve_inner(a_hat, y_hat, lambda_theta, np.zeros(a_hat.shape[1]), max_iters, 1e-9)


def spd(theta: np.ndarray, a: np.ndarray, s: np.ndarray) -> float:
    """The paper's signed statistical parity difference (eq. 4): P(y_theta = 1 | s = 1) - P(y_theta = 1 | s = 0)."""
    positive = (a @ theta) > 0
    return float(positive[s == 1].mean() - positive[s == 0].mean())


# ----- the client routine (query.synthesize) ------------------------------------------------
PARAM_KEYS = {"ss-rho-o": "rho_o", "ss-rho-s": "rho_s", "ss-lambda-x": "lambda_x", "ss-lambda-theta": "lambda_theta",
              "ss-kmax": "kmax", "ss-inner-iters": "inner_iters", "ss-lr": "lr"}


def parse_size(text: str | int | float) -> str | int | float:
    """``ss-size``: ``copy``, a row count (``800``) or a fraction of N in (0, 1] (``0.1``)."""
    text = str(text).strip()
    if text == "copy":
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"ss-size={text!r}: use copy, a number of rows (e.g. 800) or a fraction of N (e.g. 0.1)") from None
    if value <= 0 or (value > 1 and value != int(value)):
        raise ValueError(f"ss-size={text!r}: use copy, a positive number of rows or a fraction in (0, 1]")
    return value if value <= 1 and "." in text else int(value)


def check_binary(values: list, attribute: str) -> None:
    """Seed 001 handles a binary sensitive attribute: ValueError naming the attribute and the fix otherwise."""
    if len(values) != 2:
        raise ValueError(f"sensitive attribute {attribute!r} has {len(values)} values {values}: single-shot FL (seed 001) "
                         f"handles a binary one; map it to two values when building the dataset "
                         f"(fedfair data build ... --map {attribute}='{{\"VALUE\": 1, \"*\": 0}}') or choose another with --set sensitive=NAME")


def binary_groups(values: list, column: np.ndarray, attribute: str) -> np.ndarray:
    """s in {0, 1}: 1 for the attribute's first declared value (e.g. White, Male), 0 for the second."""
    check_binary(values, attribute)
    return (np.asarray(column) == values[0]).astype(np.float64)


def client_synthesis(data: ClientData, config: Mapping[str, Any]) -> QueryAnswer:
    """``query.synthesize``: this client's synthetic dataset (Algorithm 1, lines 1-17) and its records.

    Replies x_hat (in the model's feature space), s_hat and y_hat (0 / 1) as arrays; the numbers are the
    final outer objective, both covariances, the privacy indicator min_ij ||x_i - x_hat_j||, the synthesis
    time and the inner solves that stopped above tolerance. No real row leaves the client.
    """
    attribute = str(config.get("sensitive") or next(iter(data.sensitive_values), ""))
    if attribute not in data.train.sensitive:
        raise ValueError(f"client {data.name!r}: no sensitive attribute {attribute!r} in its data")
    s = binary_groups(list(data.sensitive_values.get(attribute, [])), data.train.sensitive[attribute], attribute)
    y = np.where(np.asarray(data.train.y) > 0, 1.0, -1.0)
    x = np.asarray(data.train.x, dtype=np.float64)
    a = np.column_stack([x, np.ones(len(x))])  # the intercept's constant column (not synthesised)
    settings = SynthesisConfig(**{name: (int if name in ("kmax", "inner_iters") else float)(config[key])
                                  for key, name in PARAM_KEYS.items() if key in config})
    rng = np.random.default_rng(int(config.get("train-seed", 0)))
    a_hat0, s_hat, y_hat, free = initial_synthetic(a, s, y, parse_size(config.get("ss-size", "copy")), rng)
    notes = {}
    if len(np.unique(s)) < 2 or len(np.unique(y)) < 2:
        notes["synthesis-note"] = (f"client {data.name!r} has one {'group' if len(np.unique(s)) < 2 else 'label'} only: "
                                   f"the covariance penalty is zero, the synthetic set covers the cells it has")
    result = synthesize(a, s, y, a_hat0, s_hat, y_hat, free, settings)
    x_hat = result.a_hat[:, :-1]
    metrics = {"objective": result.objective, "covariance-real": result.covariance_real,
               "covariance-synthetic": result.covariance_synthetic, "min-distance": min_distance(x, x_hat),
               "seconds": result.seconds, "inner-failures": result.inner_failures,
               "worst-inner-gradient": result.worst_inner_gradient, "n-synthetic": len(x_hat),
               "start-objective": result.history[0] if result.history else result.objective}
    arrays = {"x": x_hat.astype(np.float32), "s": s_hat.astype(np.int8), "y": (y_hat > 0).astype(np.int8)}
    return QueryAnswer(arrays=arrays, metrics=metrics, notes=notes)
