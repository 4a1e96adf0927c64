import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Gamma, Normal, OneHotCategorical

import reparam as rp
from reparam import expectation
from reparam.estimators import (
    Auto,
    DReG,
    Enumerate,
    GeneralizedReparam,
    GumbelSoftmax,
    MovingAverage,
    Pathwise,
    ScoreFunction,
    StraightThrough,
    resolve,
)


def test_samples_lead_and_result_has_batch_shape() -> None:
    q = Normal(torch.zeros(2, 3), torch.ones(2, 3))
    shapes = []

    def f(z: torch.Tensor) -> torch.Tensor:
        shapes.append(z.shape)
        return z**2

    assert rp.expect(f, q, n=7).shape == (2, 3)
    assert shapes == [(7, 2, 3)]


def test_event_dimensions_reduced_inside_f() -> None:
    q = torch.distributions.Dirichlet(torch.ones(4, 5))
    assert rp.expect(lambda z: z.sum(-1), q, n=3).shape == (4,)


CLOSURE_CASES = [
    ("pathwise", Normal(torch.zeros(3), 1.0)),
    ("score", Normal(torch.zeros(3), 1.0)),
    (ScoreFunction("optimal"), Normal(torch.zeros(3, requires_grad=True), 1.0)),
    ("grep", Gamma(torch.full((3,), 2.0), 1.0)),
    ("gumbel-softmax", OneHotCategorical(logits=torch.zeros(3, 4))),
    ("straight-through", Bernoulli(probs=torch.full((3,), 0.3))),
    ("enumerate", Bernoulli(probs=torch.full((3,), 0.3))),
]


@pytest.mark.parametrize(("estimator", "q"), CLOSURE_CASES)
def test_gradient_reaches_what_f_closes_over(estimator, q) -> None:
    """For f = c·h(z), the value is c·mean h and ∂/∂c is mean h: exactly, on the same samples."""
    c = torch.tensor(2.0, requires_grad=True)

    def f(z: torch.Tensor) -> torch.Tensor:
        h = z.sum(-1) if z.dim() == 3 else z
        return c * (h + 1)

    value = rp.expect(f, q, n=5, estimator=estimator)
    value.sum().backward()
    torch.testing.assert_close(c.grad, (value / c).sum().detach())


def test_value_is_the_monte_carlo_estimate() -> None:
    q = Normal(torch.tensor([1.0, 2.0], requires_grad=True), 1.0)
    for name in ("pathwise", "score"):
        torch.testing.assert_close(
            rp.expect(lambda z: 0 * z + 4.0, q, n=3, estimator=name), torch.full((2,), 4.0)
        )


def test_auto_resolution() -> None:
    assert isinstance(resolve("auto", Normal(0.0, 1.0), 1), Pathwise)
    loo = resolve("auto", Categorical(logits=torch.zeros(3)), 4)
    assert isinstance(loo, ScoreFunction) and repr(loo.baseline) == "LeaveOneOut()"
    plain = resolve("auto", Categorical(logits=torch.zeros(3)), 1)
    assert isinstance(plain, ScoreFunction) and plain.baseline is None and not plain.stateful
    for name, kind in [
        ("pathwise", Pathwise),
        ("score", ScoreFunction),
        ("grep", GeneralizedReparam),
        ("gumbel-softmax", GumbelSoftmax),
        ("straight-through", StraightThrough),
        ("enumerate", Enumerate),
    ]:
        assert isinstance(resolve(name, Normal(0.0, 1.0), 1), kind)


def test_expect_holds_no_state() -> None:
    """No module-level container, and a name never builds a baseline that outlives the call."""
    containers = [
        name
        for name, value in vars(expectation).items()
        if not name.startswith("__") and isinstance(value, dict | list | set)
    ]
    assert containers == []
    logits = torch.zeros(3, requires_grad=True)
    for _ in range(3):
        rp.expect(lambda z: z.float(), Categorical(logits=logits), n=1)
    assert containers == [
        name
        for name, value in vars(expectation).items()
        if not name.startswith("__") and isinstance(value, dict | list | set)
    ]


@pytest.mark.parametrize(
    ("family", "n"), [(Normal, 1), (Normal, 3), (Categorical, 1), (Categorical, 4)]
)
def test_auto_is_what_it_resolves_to(family: type, n: int) -> None:
    """Same samples, same value and gradient as Auto().resolve(q, n): at n = 1 without rsample
    that is ScoreFunction() without a baseline."""
    param = torch.tensor([0.5, -1.0, 0.2], requires_grad=True)
    results = []
    for concrete in (False, True):
        q = Normal(param, 1.0) if family is Normal else Categorical(logits=param)
        estimator = Auto().resolve(q, n) if concrete else "auto"
        torch.manual_seed(3)
        value = rp.expect(lambda z: z.float() + 10, q, n=n, estimator=estimator)
        results.append((value.detach(), torch.autograd.grad(value.sum(), param)[0]))
    for x, y in zip(*results, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    if family is Categorical and n == 1:
        assert repr(Auto().resolve(q, n)) == "ScoreFunction()"


def test_an_owned_moving_average_learns_across_calls() -> None:
    estimator = ScoreFunction("moving-average")
    assert estimator.stateful
    logits = torch.zeros(3, requires_grad=True)
    for _ in range(3):
        rp.expect(lambda z: z.float(), Categorical(logits=logits), n=1, estimator=estimator)
    assert isinstance(estimator.baseline, MovingAverage)
    assert int(estimator.baseline.steps) == 3


MISUSE = [
    (lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=0), "integer >= 1"),
    (lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=2.0), "integer >= 1"),
    (
        lambda: rp.expect(lambda z: z, Categorical(logits=torch.zeros(3)), estimator="pathwise"),
        "has none. Use estimator='score'",
    ),
    (
        lambda: rp.expect(
            lambda z: z, Normal(0.0, 1.0), n=1, estimator=ScoreFunction("leave-one-out")
        ),
        "n >= 2",
    ),
    (
        lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=1, estimator=ScoreFunction("optimal")),
        "n >= 2",
    ),
    (lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), estimator="enumerate"), "continuous"),
    (
        lambda: rp.expect(lambda z: z.unsqueeze(-1), Normal(torch.zeros(3), 1.0), n=2),
        r"\(2, 3\).*\(2, 3, 1\)",
    ),
    (
        lambda: rp.expect(lambda z: z.mean(0), Normal(torch.zeros(3), 1.0), n=2),
        "keep the leading sample",
    ),
    (lambda: rp.expect(lambda z: 1.0, Normal(0.0, 1.0)), "returned float"),
    (
        lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), estimator="reinforce"),
        "unknown estimator 'reinforce'",
    ),
    (lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), estimator=3), "name or an Estimator"),
    (
        lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=2, estimator="score+moving-average"),
        r"keeps state from call to call.*parse\('score\+moving-average'\)",
    ),
    (
        lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=2, estimator=DReG()),
        "reparam.objectives.iwae",
    ),
    (
        lambda: rp.expect(lambda z: z, Normal(0.0, 1.0), n=2, estimator="dreg"),
        "objective='iwae'",
    ),
    (lambda: rp.expect(lambda z: z, "normal"), "torch.distributions.Distribution"),
]


@pytest.mark.parametrize(("call", "message"), MISUSE)
def test_misuse_raises_a_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
