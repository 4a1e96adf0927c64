"""MuProp and DARN: the Taylor expansion of f as a control variate. MuProp's mean gradient
lies within 5 standard errors of the exact one (by enumeration) and its variance is below
the plain score function's; without its correction term, and as DARN (z̄ = ½ or 1/K, no
correction), the same test fails."""

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, Normal

import reparam as rp
from reparam.estimators import DARN, MuProp, ScoreFunction
from reparam.estimators.taylor import TaylorControlVariate
from tests.estimators.discrete_cases import (
    BERNOULLI,
    CATEGORICAL,
    Z,
    gradients,
    lower_variance,
    zscore,
)

REPEATS = 20_000
PROBLEMS = [BERNOULLI, CATEGORICAL]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_muprop_is_unbiased_and_beats_the_score_function(problem) -> None:
    muprop = gradients(MuProp(), problem, 4, REPEATS)
    assert zscore(muprop, problem.exact_gradient()) < Z
    assert lower_variance(muprop, gradients(ScoreFunction(), problem, 4, REPEATS))


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_without_the_correction_term_the_test_fails(problem) -> None:
    broken = TaylorControlVariate("mean", correction=False)
    assert zscore(gradients(broken, problem, 4, REPEATS), problem.exact_gradient()) > Z


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_darn_is_biased(problem) -> None:
    assert zscore(gradients(DARN(), problem, 4, REPEATS), problem.exact_gradient()) > Z


def test_darn_with_the_correction_is_unbiased() -> None:
    """The bias is the missing term alone: expanded around ½ and corrected, it is unbiased."""
    corrected = TaylorControlVariate("uniform", correction=True)
    grads = gradients(corrected, BERNOULLI, 4, REPEATS)
    assert zscore(grads, BERNOULLI.exact_gradient()) < Z


@pytest.mark.parametrize("estimator", [MuProp(), TaylorControlVariate("uniform")], ids=repr)
def test_unbiased_on_a_batch_of_single_bernoullis(estimator) -> None:
    """A Bernoulli q without event dimensions: each batch element its own expansion."""
    point = torch.tensor([-2.0, 0.3, 1.5], dtype=torch.float64)
    logits = point.expand(REPEATS, 3).clone().requires_grad_()
    value = rp.expect(lambda z: (z - 0.2) ** 2, Bernoulli(logits=logits), n=2, estimator=estimator)
    assert value.shape == (REPEATS, 3)
    value.sum().backward()
    p = torch.sigmoid(point)
    assert zscore(logits.grad, p * (1 - p) * (0.64 - 0.04)) < Z


def test_a_categorical_q_gives_f_one_hot_codes_and_is_unbiased() -> None:
    """Independent(Categorical): f gets one-hot vectors [n, *batch, 2, 3], as for OneHot."""
    problem = CATEGORICAL
    logits = problem.logits.expand(REPEATS, 2, 3).clone().requires_grad_()
    q = Independent(Categorical(logits=logits), 1)
    rp.expect(problem.f, q, n=4, estimator=MuProp()).sum().backward()
    assert zscore(logits.grad, problem.exact_gradient()) < Z


def test_f_is_expanded_at_the_probabilities_and_the_uniform_point() -> None:
    seen = []

    def cost(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach().clone())
        return (z - 0.2).pow(2).sum(-1)

    logits = torch.tensor([[0.4, -1.0, 2.0]], requires_grad=True)
    q = Independent(Bernoulli(logits=logits), 1)
    rp.expect(cost, q, n=3, estimator=MuProp())
    rp.expect(cost, q, n=3, estimator=DARN())
    assert [tuple(s.shape) for s in seen] == [(3, 1, 3), (1, 1, 3)] * 2
    torch.testing.assert_close(seen[1][0], torch.sigmoid(logits.detach()))
    torch.testing.assert_close(seen[3], torch.full((1, 1, 3), 0.5))
    with torch.no_grad():  # no gradient: no expansion, one call of f
        rp.expect(cost, q, n=3, estimator=MuProp())
    assert len(seen) == 5


def test_the_pathwise_gradient_of_f_is_the_score_functions() -> None:
    """f's own parameters get ∇ mean f(z_i): the expansion leaks nothing into them."""
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    logits = torch.zeros(5, 3, requires_grad=True)
    grads = []
    for estimator in (ScoreFunction(), MuProp(), DARN()):
        torch.manual_seed(1)
        q = Independent(Bernoulli(logits=logits), 1)
        value = rp.expect(lambda z: ((z * w).sum(-1) - 1) ** 2, q, n=4, estimator=estimator)
        (grad,) = torch.autograd.grad(value.sum(), w)
        grads.append(grad)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


def test_shapes_batched_over_data_and_a_non_differentiable_f() -> None:
    logits = torch.zeros(5, 2, 4, requires_grad=True)
    q = Independent(Bernoulli(logits=logits), 1)
    value = rp.expect(lambda z: z.sum(-1), q, n=3, estimator=MuProp())
    assert value.shape == (5, 2)
    value.sum().backward()
    # an f autograd cannot differentiate in z: slope 0, the baseline is f(z̄), still a gradient
    flat = rp.expect(lambda z: (z > 0.5).sum(-1).double(), q, n=3, estimator=MuProp())
    assert flat.shape == (5, 2)


def test_errors_name_the_alternatives() -> None:
    with pytest.raises(ValueError, match="MuProp needs a Bernoulli, Categorical or OneHot"):
        rp.expect(lambda z: z, Normal(torch.zeros(2), 1.0), n=2, estimator=MuProp())
    with pytest.raises(ValueError, match="point must be one of mean, uniform; got 'half'"):
        TaylorControlVariate("half")
    with pytest.raises(ValueError, match="f must return one cost per sample"):
        rp.expect(lambda z: z, Independent(Bernoulli(torch.zeros(2, 3)), 1), n=2, estimator=DARN())


def test_specs() -> None:
    assert repr(rp.estimators.parse("muprop")) == "MuProp()"
    assert repr(rp.estimators.parse("darn")) == "DARN()"
    assert not MuProp().stateful
