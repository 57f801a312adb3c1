"""FairIF's maths (seed 004): per-row gradients, inverse-Hessian-vector products, eq. 14, stage 1 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from fedfair.influence import (
    fairif_weights, hessian_vector_product, inverse_hvp, loss_grad_dots, per_sample_grads, rate_gaps, solve_eq14,
)
from fedfair.models import build_model


def _data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    s = (rng.random(n) < 0.3).astype(np.int64)
    logit = x[:, 0] - 0.8 * x[:, 1] + 1.2 * s
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y, s


def _model(kind, d=5, seed=0, num_classes=2):
    spec = {"model": "mlp", "hidden": [4]} if kind == "mlp" else {"model": "logreg"}
    return build_model(spec, d, seed=seed, num_classes=num_classes)


@pytest.mark.parametrize("kind", ["logreg", "mlp"])
def test_per_sample_gradients_equal_autograd_row_by_row(kind):
    x, y, _ = _data(12)
    model = _model(kind)
    grads = per_sample_grads(model, torch.from_numpy(x), torch.from_numpy(y).float())
    for i in range(len(y)):
        model.zero_grad()
        logit = model(torch.from_numpy(x[i : i + 1]))
        torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor([float(y[i])])).backward()
        expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(grads[i], expected, rtol=1e-5, atol=1e-6)
    vectors = torch.randn(3, grads.shape[1], generator=torch.Generator().manual_seed(0))
    dots = loss_grad_dots(model, torch.from_numpy(x), torch.from_numpy(y).float(), vectors, chunk=5)
    torch.testing.assert_close(dots, grads @ vectors.T, rtol=1e-4, atol=1e-5)


def test_inverse_hvp_equals_a_dense_solve():
    x, y, _ = _data(80)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).float()
    model = _model("mlp", seed=3)  # 5*4 + 4 + 4 + 1 = 29 parameters
    p = sum(q.numel() for q in model.parameters())
    hvp = hessian_vector_product(model, tx, ty)
    dense = torch.stack([hvp(e) for e in torch.eye(p)]).double()  # H column by column
    dense = 0.5 * (dense + dense.T) + 0.5 * torch.eye(p, dtype=torch.float64)
    b = torch.randn(2, p, generator=torch.Generator().manual_seed(1))
    expected = torch.linalg.solve(dense, b.double().T).T.float()
    exact = inverse_hvp(model, tx, ty, b, damping=0.5)
    cg = inverse_hvp(model, tx, ty, b, damping=0.5, exact_limit=0, tol=1e-8)
    assert exact.method == "exact" and cg.method == "cg" and max(cg.residuals) < 1e-5
    torch.testing.assert_close(exact.solutions, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cg.solutions, expected, rtol=1e-3, atol=1e-4)


def test_eq14_closed_form_is_the_minimiser_and_shrinks_the_linearised_gaps():
    rng = np.random.default_rng(0)
    a, d = rng.normal(size=(2, 15)), np.array([0.3, -0.2])
    for lam in (0.05, 0.3, 1.0):
        eps = solve_eq14(a, d, lam)

        def objective(e):
            return float(((d - a @ e) ** 2).sum() + lam * np.linalg.norm(e))

        reference = minimize(objective, np.full(15, 1e-3), method="Nelder-Mead",
                             options={"maxiter": 200000, "maxfev": 200000, "xatol": 1e-10, "fatol": 1e-14})
        assert objective(eps) <= reference.fun + 1e-9
        assert np.all(np.abs(d - a @ eps) < np.abs(d))  # both linearised gaps shrink
    big = 2 * np.linalg.norm(a.T @ d) + 1e-9
    assert np.all(solve_eq14(a, d, big) == 0)  # the regulariser wins: no reweighting
    with pytest.raises(ValueError, match="lambda must be >= 0"):
        solve_eq14(a, d, -1.0)


def test_rate_gaps_are_the_group_differences_of_the_surrogates():
    """With many Gumbel draws and a small temperature the soft prediction of a row tends to
    P(z + L > 0) = sigmoid(z): the TPR / TNR surrogates become group means of sigmoid(z) / 1 - sigmoid(z)."""
    x, y, s = _data(300, seed=2)
    model = _model("logreg", seed=1)
    gaps = rate_gaps(model, torch.from_numpy(x), torch.from_numpy(y).float(), torch.from_numpy(s), temperature=0.01,
                     samples=4000)
    assert gaps.gaps.shape == (2,) and gaps.gradients.shape == (2, 6)
    with torch.no_grad():
        z = model(torch.from_numpy(x)).numpy()
    p = 1 / (1 + np.exp(-z))
    tpr = [p[(s == g) & (y == 1)].mean() for g in (0, 1)]
    tnr = [1 - p[(s == g) & (y == 0)].mean() for g in (0, 1)]
    assert gaps.gaps[0].item() == pytest.approx(tpr[1] - tpr[0], abs=0.01)
    assert gaps.gaps[1].item() == pytest.approx(tnr[1] - tnr[0], abs=0.01)
    hard = (z > 0)
    assert gaps.hard_gaps[0] == pytest.approx(hard[(s == 1) & (y == 1)].mean() - hard[(s == 0) & (y == 1)].mean(), abs=1e-6)


def test_stage_one_weights_reduce_the_predicted_gaps_and_need_two_groups():
    x, y, s = _data(300, seed=4)
    model = _model("logreg", seed=2)
    for _ in range(200):  # ERM to (near) convergence
        model.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(torch.from_numpy(x)), torch.from_numpy(y).float()).backward()
        with torch.no_grad():
            for q in model.parameters():
                q -= 0.5 * q.grad
    val = slice(200, 300)
    result = fairif_weights(model, x[:200], y[:200], x[val], y[val], s[val], lam=0.01)
    assert result.method == "exact" and len(result.weights) == 200
    assert result.weights.mean() == pytest.approx(1.0) and result.weights.min() >= 0
    for name, predicted in result.predicted_gaps.items():
        assert abs(predicted) < abs(result.gaps[name])
    with pytest.raises(ValueError, match="one sensitive group only"):
        fairif_weights(model, x[:200], y[:200], x[val], y[val], np.zeros(100, dtype=np.int64))
