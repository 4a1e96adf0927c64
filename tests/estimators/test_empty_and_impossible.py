"""Empty batches (every estimator returns an empty result, state stays as it was) and
categories of probability 0 (logits of -inf: exactly 0, finite gradients)."""

import math

import pytest
import torch
from torch.distributions import (
    Categorical,
    Distribution,
    Gamma,
    Independent,
    Normal,
    OneHotCategorical,
)

import reparam as rp
from reparam.estimators import (
    Enumerate,
    GumbelSoftmax,
    MovingAverage,
    ScoreFunction,
    StraightThrough,
    names,
    parse,
)

INF = math.inf


def empty_batch(latent: str, leaf: torch.Tensor) -> Distribution:
    """A posterior of ``latent``'s family with batch shape (0,), its parameters from ``leaf``
    (shape [0, 3, 4]). torch's own simplex check fails on an empty batch, so the categorical
    ones are built unchecked."""
    if latent == "continuous":
        return Independent(Normal(leaf[..., 0], 1.0), 1)
    if latent == "gamma":
        return Independent(Gamma(leaf[..., 0].exp() + 1, 1.0), 1)
    if latent == "discrete":
        return Independent(OneHotCategorical(logits=leaf, validate_args=False), 1)
    return Categorical(logits=leaf[:, 0], validate_args=False)


@pytest.fixture
def unchecked():
    """torch's OneHotCategorical checks its inner Categorical whatever validate_args says."""
    default = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    yield
    Distribution.set_default_validate_args(default)


@pytest.mark.parametrize("latent", ["continuous", "gamma", "discrete", "finite"])
def test_every_estimator_on_an_empty_batch_gives_an_empty_result(latent: str, unchecked) -> None:
    for objective in ("elbo", "iwae"):
        for spec in names(objective, latent):
            leaf = torch.zeros(0, 3, 4, requires_grad=True)
            q = empty_batch(latent, leaf)

            def cost(z: torch.Tensor, q=q) -> torch.Tensor:
                leading = z.shape[: 1 + len(q.batch_shape)]
                return (
                    -(z.float() ** 2).reshape(*leading, math.prod(z.shape[len(leading) :])).sum(-1)
                )

            estimator = parse(spec, objective=objective, latent=latent)
            if objective == "elbo":
                value = rp.expect(cost, q, n=3, estimator=estimator)
            else:
                value = rp.objectives.iwae(cost, q, 3, estimator)
            assert value.shape == (0,), (objective, spec)
            value.sum().backward()
            assert leaf.grad is None or leaf.grad.shape == leaf.shape


def test_an_empty_batch_leaves_the_moving_average_as_it_was() -> None:
    """One empty batch (mean of no costs: NaN) or a cost of inf used to poison the average for
    good; now the state does not move, and the sequence continues as if the batch never came."""
    owned, fresh = ScoreFunction("moving-average"), ScoreFunction("moving-average")
    logits = torch.zeros(5, 3, requires_grad=True)

    def step(estimator: ScoreFunction, q: Distribution, f=lambda z: z.float()) -> torch.Tensor:
        return rp.expect(f, q, n=4, estimator=estimator)

    torch.manual_seed(0)
    step(owned, Categorical(logits=logits))
    torch.manual_seed(0)
    step(fresh, Categorical(logits=logits))
    before = {k: v.clone() for k, v in owned.state_dict().items()}
    empty = Categorical(logits=torch.zeros(0, 3), validate_args=False)
    assert step(owned, empty).shape == (0,)
    step(owned, Categorical(logits=logits), f=lambda z: torch.full(z.shape, INF))
    for key, value in owned.state_dict().items():
        assert torch.equal(value, before[key]), key
    torch.manual_seed(1)
    a = step(owned, Categorical(logits=logits))
    torch.manual_seed(1)
    b = step(fresh, Categorical(logits=logits))
    assert torch.equal(a, b)
    assert torch.equal(owned.baseline.average, fresh.baseline.average)
    assert isinstance(owned.baseline, MovingAverage) and int(owned.baseline.steps) == 2


def test_the_optimal_baseline_on_an_empty_batch() -> None:
    logits = torch.zeros(0, 3, requires_grad=True)
    q = Categorical(logits=logits, validate_args=False)
    value = rp.expect(lambda z: z.float(), q, n=4, estimator=ScoreFunction("optimal"))
    assert value.shape == (0,)
    value.sum().backward()


def gumbel_run(
    logit: float, temperature: float, dtype: torch.dtype, hard: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Value, relaxed samples and the gradients in (logits, τ) of a Gumbel-softmax expectation
    with a learned τ, category 1 of 4 at ``logit``."""
    logits = torch.tensor([[0.5, logit, -1.0, 2.0]] * 3, dtype=dtype, requires_grad=True)
    tau = torch.nn.Parameter(torch.tensor(temperature, dtype=dtype))
    seen = []

    def f(y: torch.Tensor) -> torch.Tensor:
        seen.append(y)
        return (y * torch.arange(4.0, dtype=dtype)).sum(-1) ** 2

    torch.manual_seed(0)
    q = OneHotCategorical(logits=logits)
    value = rp.expect(f, q, n=5, estimator=GumbelSoftmax(tau, hard=hard))
    logits_grad, tau_grad = torch.autograd.grad(value.sum(), [logits, tau])
    return value.detach(), seen[0].detach(), logits_grad, tau_grad


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 1e-3, 1e-6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gumbel_softmax_with_a_category_of_probability_zero(
    hard: bool, temperature: float, dtype: torch.dtype
) -> None:
    """Exactly 0 on the category, finite gradients in the logits and a learned temperature,
    equal to those of a logit so low (−1e4) that its relaxed weight underflows to 0."""
    value, y, logits_grad, tau_grad = gumbel_run(-INF, temperature, dtype, hard)
    assert (y[..., 1] == 0).all()
    assert torch.isfinite(logits_grad).all() and torch.isfinite(tau_grad)
    assert (logits_grad[:, 1] == 0).all()
    low = gumbel_run(-1e4, temperature, dtype, hard)
    torch.testing.assert_close(value, low[0])
    torch.testing.assert_close(y, low[1])
    torch.testing.assert_close(tau_grad, low[3])
    torch.testing.assert_close(logits_grad[:, [0, 2, 3]], low[2][:, [0, 2, 3]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_straight_through_and_score_never_draw_an_impossible_category(dtype: torch.dtype) -> None:
    logits = torch.tensor([[0.5, -INF, -1.0]] * 200, dtype=dtype, requires_grad=True)
    for estimator in (StraightThrough(), ScoreFunction("leave-one-out")):
        q = OneHotCategorical(logits=logits)
        seen = []

        def f(z: torch.Tensor, seen=seen) -> torch.Tensor:
            seen.append(z)
            return (z * torch.tensor([1.0, 5.0, -2.0], dtype=dtype)).sum(-1)

        value = rp.expect(f, q, n=4, estimator=estimator)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert (seen[0][..., 1] == 0).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("at_zero", [INF, -INF, 1e30])
def test_enumerate_ignores_the_cost_at_points_of_probability_zero(at_zero: float) -> None:
    """0 · f(z) = 0 where q(z) = 0, even for f(z) = ±inf: the exact sum over the rest."""
    logits = torch.tensor([0.5, -INF, -1.0], dtype=torch.float64, requires_grad=True)
    costs = torch.tensor([2.0, at_zero, -3.0], dtype=torch.float64)
    value = rp.expect(lambda z: costs[z], Categorical(logits=logits), estimator=Enumerate())
    (grad,) = torch.autograd.grad(value, logits)
    probs = torch.softmax(torch.tensor([0.5, -1.0], dtype=torch.float64), 0)
    torch.testing.assert_close(
        value.detach(), probs @ torch.tensor([2.0, -3.0], dtype=torch.float64)
    )
    assert torch.isfinite(grad).all() and grad[1] == 0
