"""sinkhorn at small ε: the issue's silent-wrong cases now converge by default, within the
derived bound of the exact LP; a run that cannot converge warns; bad arguments raise.

The bound (module docstring of reparam.transport.sinkhorn_solver): for a plan γ of the entropic
problem with row and column marginals r, c (L1 errors δ = ‖r − a‖₁ + ‖c − b‖₁, total mass
off 1 by s) and spread = max C − min C,

    −(spread · δ/2 + max|C| · s) ≤ ⟨C, γ⟩ − OT(a, b) ≤ ε log min(n, m) + spread · δ/2 + max|C| · s,

from the dual of OT (optimal φ has range ≤ spread) and ⟨C, γ⟩ + ε KL(γ‖a⊗b) ≤ ⟨C, γ*⟩ +
ε KL(γ*‖a⊗b) with 0 ≤ KL(γ*‖r⊗c) ≤ log min(n, m).
"""

import math
import warnings

import pytest
import torch

from reparam.convergence import ConvergenceWarning
from reparam.transport import kantorovich, sinkhorn
from reparam.transport.sinkhorn_solver import default_budget, precision_floor

D = torch.float64
# The issue's cases: 30 × 30 costs uniform in [lo, hi], uniform weights.
ISSUE_CASES = [(1.0, 100.0, 1e-3), (1.0, 100.0, 1e-2), (0.0, 1.0, 1e-4)]


def uniform_cost(lo: float, hi: float, seed: int, n: int = 30) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, n, generator=g, dtype=D)


def uniform(n: int, dtype: torch.dtype = D) -> torch.Tensor:
    return torch.full((n,), 1 / n, dtype=dtype)


def no_warning(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return sinkhorn(*args, **kwargs)


def assert_within_bound(plan: torch.Tensor, C: torch.Tensor, a, b, eps: float) -> None:
    """The derived bound above, with the plan's true marginal errors (in float64)."""
    exact = float(kantorovich(a, b, C.double()).cost)  # a, b checked in their own dtype
    P, C, a, b = plan.double(), C.double(), a.double(), b.double()
    delta = float((P.sum(-1) - a).abs().sum() + (P.sum(-2) - b).abs().sum())
    s = abs(1 - float(P.sum()))
    spread, top = float(C.max() - C.min()), float(C.abs().max())
    slack = spread * delta / 2 + top * s + 1e-12 * top
    gap = float((P * C).sum()) - exact
    n, m = C.shape
    assert -slack <= gap <= eps * math.log(min(n, m)) + slack, (gap, slack)


@pytest.mark.parametrize(("lo", "hi", "eps"), ISSUE_CASES)
@pytest.mark.parametrize("seed", range(3))
def test_issue_cases_converge_by_default_within_the_bound(lo, hi, eps, seed) -> None:
    C = uniform_cost(lo, hi, seed)
    a = uniform(30)
    res = no_warning(a, a, C, eps)
    assert res.converged and res.marginal_error < 1e-9
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.f).all()
    assert_within_bound(res.plan, C, a, a, eps)
    # The old silent failure: 1000 plain iterations left the marginals off by 7 % (cost 4 %
    # below the optimum); it now says so.
    with pytest.warns(ConvergenceWarning, match=r"row-marginal L1 error is \d"):
        old = sinkhorn(a, a, C, eps, max_iter=200, eps_scaling=None)
    assert not old.converged and old.marginal_error > 1e-3


def test_explicit_eps_scaling_reports_converged() -> None:
    """The issue's eps_scaling=0.5 run came within 5e-5 of the exact cost without reporting
    converged: its final stage had the same 1000-iteration cap as every stage while needing
    ~1e5 Sinkhorn iterations (the rate near the solution is 1 − 1.4e-4); Newton steps now
    finish it."""
    C, a = uniform_cost(1, 100, 0), uniform(30)
    res = no_warning(a, a, C, 1e-2, eps_scaling=0.5)
    assert res.converged and res.iterations < 2000
    assert_within_bound(res.plan, C, a, a, 1e-2)
    plain = no_warning(a, a, C, 1e-2, eps_scaling=None)  # Newton from a cold start too
    assert plain.converged
    assert float(plain.cost) == pytest.approx(float(res.cost), rel=1e-9)


def test_batched_issue_cases() -> None:
    C = torch.stack([uniform_cost(1, 100, seed) for seed in range(3)])
    a = uniform(30)
    res = no_warning(a, a, C, 1e-2)
    assert res.converged and res.cost.shape == (3,) and res.plan.shape == (3, 30, 30)
    for k in range(3):
        assert_within_bound(res.plan[k], C[k], a, a, 1e-2)
        single = no_warning(a, a, C[k], 1e-2)
        assert float(res.cost[k]) == pytest.approx(float(single.cost), rel=1e-8)


@pytest.mark.parametrize(("lo", "hi", "eps"), ISSUE_CASES)
def test_issue_cases_in_float32(lo, hi, eps) -> None:
    """float32 reaches its precision floor (2 ε_mach (1 + (max C − min C)/ε)) and says
    converged, or warns; the plan satisfies the bound with its true marginal errors."""
    C, a = uniform_cost(lo, hi, 1).float(), uniform(30, torch.float32)
    res = no_warning(a, a, C, eps)
    assert res.converged and res.cost.dtype == torch.float32
    assert res.marginal_error < precision_floor(torch.float32, (hi - lo) / eps, 0.0)
    assert_within_bound(res.plan, C, a, a, eps)


def test_a_run_that_cannot_converge_warns_and_one_that_does_is_silent() -> None:
    C, a = uniform_cost(0, 1, 2), uniform(30)
    with pytest.warns(ConvergenceWarning, match="row-marginal L1 error") as record:
        short = sinkhorn(a, a, C, 1e-4, max_iter=5)
    message = str(record[0].message)
    assert f"{short.marginal_error:.2e}" in message and "max_iter" in message
    assert not short.converged
    assert len([w for w in record if issubclass(w.category, ConvergenceWarning)]) == 1
    # Weights normalised in float32 sum to 1 only within 1e-7: exact columns leave the rows
    # off by as much, so tol = 1e-12 is below the floor, and the warning says so.
    w = torch.rand(30, generator=torch.Generator().manual_seed(1))
    w /= w.sum()
    assert abs(float(w.double().sum()) - 1) > 1e-9
    with pytest.warns(ConvergenceWarning, match="below the torch.float64 precision floor"):
        sinkhorn(w, a, C, 1e-2, tol=1e-12)
    res = no_warning(a, a, C, 0.1)
    assert res.converged
    # Filterable like any warning, and an error when asked.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning):
            sinkhorn(a, a, C, 1e-4, max_iter=5)


def test_default_budget_follows_the_cost_scale() -> None:
    assert default_budget(10.0) == 1000
    assert default_budget(1e4) == 100_000
    assert default_budget(500.0) == 5000
    assert default_budget(1e9) == 100_000
    # Scaling C and ε together changes nothing but the units.
    C, a = uniform_cost(0, 1, 0), uniform(30)
    small = no_warning(a, a, C, 1e-3)
    large = no_warning(a, a, C * 1e6 + 3e6, 1e3)
    assert small.iterations == large.iterations
    assert float(large.cost - 3e6) / 1e6 == pytest.approx(float(small.cost), rel=1e-7)
    assert torch.allclose(large.plan, small.plan, atol=1e-9)


def test_constant_offset_and_constant_cost() -> None:
    """The cost is shifted by its minimum: C + 1e8 keeps float64's precision."""
    C, a = uniform_cost(0, 1, 3), uniform(30)
    base = no_warning(a, a, C, 0.01)
    offset = no_warning(a, a, C + 1e8, 0.01)
    assert torch.allclose(offset.plan, base.plan, atol=1e-12)
    assert float(offset.objective) == pytest.approx(float(base.objective) + 1e8, rel=1e-15)
    flat = no_warning(a, a[:7] * 30 / 7, torch.full((30, 7), 2.5, dtype=D), 0.01)
    assert torch.allclose(flat.plan, torch.full((30, 7), 1 / 210, dtype=D), atol=1e-15)
    assert float(flat.cost) == pytest.approx(2.5, rel=1e-14)


def test_gradients_at_small_eps() -> None:
    g = torch.Generator().manual_seed(4)
    X = torch.rand(12, 2, generator=g, dtype=D, requires_grad=True)
    Y = torch.rand(10, 2, generator=g, dtype=D)
    a, b = uniform(12), uniform(10)
    C = ((X[:, None] - Y[None]) ** 2).sum(-1)
    res = no_warning(a, b, C, 1e-4)  # ε-scaling and Newton, differentiated through
    (gX,) = torch.autograd.grad(res.cost, X)
    assert torch.isfinite(gX).all()
    # Through ε-scaling and the Newton steps the gradient of the cost is the derivative of
    # the fixed point: it matches central differences.
    a6 = torch.rand(6, generator=g, dtype=D) + 0.1
    a6 /= a6.sum()
    X6, Y6, b5 = X.detach()[:6].clone(), Y[:5], uniform(5)

    def cost(points: torch.Tensor) -> torch.Tensor:
        return no_warning(a6, b5, ((points[:, None] - Y6[None]) ** 2).sum(-1), 1e-3).cost

    X6.requires_grad_(True)
    (g6,) = torch.autograd.grad(cost(X6), X6)
    h = 1e-7
    with torch.no_grad():
        for i, j in [(0, 0), (3, 1), (5, 0)]:
            up, down = X6.clone(), X6.clone()
            up[i, j] += h
            down[i, j] -= h
            fd = (cost(up) - cost(down)) / (2 * h)
            assert float(g6[i, j]) == pytest.approx(float(fd), rel=1e-5, abs=1e-7)
    # Envelope theorem, unroll=False: the gradient of the objective in C is the plan.
    Cl = C.detach().requires_grad_(True)
    res = no_warning(a, b, Cl, 1e-4, unroll=False)
    (gC,) = torch.autograd.grad(res.objective, Cl)
    assert torch.allclose(gC, res.plan, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "eps must be a finite positive number, got 0.0"),
        ({"eps": -1.0}, "eps must"),
        ({"eps": float("nan")}, "eps must"),
        ({"eps": float("inf")}, "eps must"),
        ({"eps": "0.1"}, "eps must"),
        ({"eps": True}, "eps must"),
        ({"max_iter": 0}, "max_iter must be a positive integer, got 0"),
        ({"max_iter": -5}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"tol": 0.0}, "tol must be a finite positive number"),
        ({"tol": float("nan")}, "tol must"),
        ({"tol": -1e-9}, "tol must"),
        ({"eps_scaling": 1.5}, "eps_scaling must be in"),
        ({"eps_scaling": 0.0}, "eps_scaling must be in"),
        ({"eps_scaling": "fast"}, "eps_scaling must be 'auto'"),
        ({"eps_scaling": True}, "eps_scaling must be"),
    ],
)
def test_bad_arguments(kwargs, match: str) -> None:
    C, a = uniform_cost(0, 1, 0, 4), uniform(4)
    kwargs = {"eps": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        sinkhorn(a, a, C, **kwargs)


def test_bad_inputs_name_the_argument() -> None:
    C, a = uniform_cost(0, 1, 0, 4), uniform(4)
    nan_a = a.clone()
    nan_a[1] = float("nan")
    with pytest.raises(ValueError, match="a has non-finite entries \\(NaN\\)"):
        sinkhorn(nan_a, a, C, 0.1)
    inf_b = a.clone()
    inf_b[0] = float("inf")
    with pytest.raises(ValueError, match="b has non-finite entries \\(infinite\\)"):
        sinkhorn(a, inf_b, C, 0.1)
    nan_C = C.clone()
    nan_C[2, 3] = float("nan")
    with pytest.raises(ValueError, match="C has non-finite entries"):
        sinkhorn(a, a, nan_C, 0.1)
    with pytest.raises(ValueError, match="b must sum to 1"):
        sinkhorn(a, a / 2, C, 0.1)
    with pytest.raises(ValueError, match="a must be a non-empty"):
        sinkhorn(torch.zeros(0, dtype=D), a, C[:0], 0.1)
    with pytest.raises(ValueError, match=r"C must have shape \[\.\.\., n, m\]"):
        sinkhorn(a, a, torch.ones(4, dtype=D), 0.1)
    with pytest.raises(ValueError, match="batch shapes do not broadcast: a \\(2,\\), b \\(3,\\)"):
        sinkhorn(a.expand(2, 4), a.expand(3, 4), C, 0.1)
    with pytest.raises(ValueError, match="C must be real"):
        sinkhorn(a, a, C.to(torch.complex128), 0.1)
    with pytest.raises(ValueError, match="eps = 1e-300 is too small"):
        sinkhorn(a.float(), a.float(), C.float() * 1e10, 1e-300)


def test_float32_weights_normalised_in_float32_are_accepted() -> None:
    w = torch.rand(50, generator=torch.Generator().manual_seed(0))
    w /= w.sum()
    C = uniform_cost(0, 1, 5, 50)
    res = no_warning(w, uniform(50), C, 0.1)  # checked in float32 before the promotion
    assert res.converged and res.cost.dtype == D
    # The row marginals can only be as right as the masses agree (columns are exact).
    assert res.marginal_error < 2 * abs(float(w.double().sum()) - 1) + 1e-9
    with pytest.raises(ValueError, match=r"b must sum to 1 .*within 1\.0e-09 for torch\.float64"):
        sinkhorn(w, w.double(), C, 0.1)
