"""ARM and DisARM: unbiased by enumeration on four Bernoulli latents with a non-linear cost
and on a batch of single Bernoullis; DisARM's variance below ARM's, both below the plain
score function's; a pair estimator with the wrong sign fails the same test."""

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Independent, OneHotCategorical

import reparam as rp
from reparam.estimators import ARM, DisARM, ScoreFunction, parse
from tests.estimators.discrete_cases import BERNOULLI, Z, gradients, lower_variance, zscore

REPEATS = 20_000


class Unsigned(DisARM):
    """DisARM without its (−1)^b̃: deliberately broken."""

    def pair_gradient(self, difference, u, b, antithetic, alpha) -> Tensor:
        return super().pair_gradient(difference, u, b, antithetic, alpha).abs()


@pytest.mark.parametrize("estimator", [ARM(), DisARM()], ids=repr)
@pytest.mark.parametrize("n", [2, 6])
def test_unbiased_on_four_latents(estimator, n: int) -> None:
    grads = gradients(estimator, BERNOULLI, n, REPEATS)
    assert zscore(grads, BERNOULLI.exact_gradient()) < Z


@pytest.mark.parametrize("estimator", [ARM(), DisARM()], ids=repr)
def test_unbiased_on_a_batch_of_single_bernoullis(estimator) -> None:
    point = torch.tensor([-2.0, 0.3, 1.5], dtype=torch.float64)
    logits = point.expand(REPEATS, 3).clone().requires_grad_()
    value = rp.expect(lambda z: (z - 0.2) ** 2, Bernoulli(logits=logits), n=2, estimator=estimator)
    assert value.shape == (REPEATS, 3)
    value.sum().backward()
    p = torch.sigmoid(point)
    exact = p * (1 - p) * (0.64 - 0.04)
    assert zscore(logits.grad, exact) < Z


def test_a_broken_pair_estimator_fails_the_same_test() -> None:
    assert zscore(gradients(Unsigned(), BERNOULLI, 2, REPEATS), BERNOULLI.exact_gradient()) > Z


def test_disarm_below_arm_below_the_score_function() -> None:
    arm, disarm = (gradients(e, BERNOULLI, 2, REPEATS) for e in (ARM(), DisARM()))
    assert lower_variance(disarm, arm)
    assert lower_variance(arm, gradients(ScoreFunction(), BERNOULLI, 2, REPEATS))


def test_f_gets_antithetic_codes_and_its_own_pathwise_gradient() -> None:
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    logits = torch.randn(5, 3, requires_grad=True)
    seen = []

    def cost(z: Tensor) -> Tensor:
        seen.append(z)
        return ((z * w).sum(-1) - 1) ** 2

    q = Independent(Bernoulli(logits=logits), 1)
    torch.manual_seed(4)
    value = rp.expect(cost, q, n=4, estimator=DisARM())
    (grad,) = torch.autograd.grad(value.sum(), w)
    z = seen[0]
    assert z.shape == (4, 5, 3) and set(z.unique().tolist()) <= {0.0, 1.0}
    torch.manual_seed(4)
    u = torch.rand(2, 5, 3)
    p = torch.sigmoid(logits.detach())
    assert torch.equal(z, torch.cat([(u < p).float(), (1 - u < p).float()]))
    torch.testing.assert_close(grad, torch.autograd.grad(cost(z).mean(0).sum(), w)[0])


def test_a_probs_parameterised_q_and_shapes() -> None:
    probs = torch.rand(4, 2, 3).clamp(0.05, 0.95).requires_grad_()
    q = Independent(Bernoulli(probs=probs), 2)
    value = rp.expect(lambda z: z.sum((-1, -2)) ** 2, q, n=2, estimator=ARM())
    assert value.shape == (4,)
    value.sum().backward()
    assert torch.isfinite(probs.grad).all() and probs.grad.abs().sum() > 0


def test_errors_name_n_and_the_alternatives() -> None:
    q = Bernoulli(logits=torch.zeros(3))
    with pytest.raises(ValueError, match=r"ARM draws n/2 antithetic pairs .* got n=3"):
        rp.expect(lambda z: z, q, n=3, estimator=ARM())
    with pytest.raises(ValueError, match=r"DisARM .* needs an even n; got n=1"):
        rp.expect(lambda z: z, q, estimator=DisARM())
    categorical = Independent(OneHotCategorical(logits=torch.zeros(2, 3, 4)), 1)
    with pytest.raises(ValueError, match=r"Bernoulli latents .* of OneHotCategorical.*'muprop'"
                                         r".*ARSM, is not implemented"):  # fmt: skip
        rp.expect(lambda z: z.sum((-1, -2)), categorical, n=2, estimator=DisARM())


def test_specs() -> None:
    assert repr(parse("arm")) == "ARM()" and repr(parse("disarm")) == "DisARM()"
    assert not parse("arm").stateful
    with pytest.raises(ValueError, match="does not apply to discrete latents"):
        parse("arm", latent="discrete")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_logits_give_finite_gradients(dtype: torch.dtype) -> None:
    """Logits of ±1e4 and ±30: the pair's codes always agree there, so DisARM gives 0."""
    logits = torch.tensor([[1e4, -1e4, 0.3, 30.0, -30.0]], dtype=dtype, requires_grad=True)
    q = Independent(Bernoulli(logits=logits), 1)
    for estimator in (ARM(), DisARM()):
        value = rp.expect(lambda z: ((z - 0.3) ** 2).sum(-1), q, n=4, estimator=estimator)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert (grad[0, [0, 1, 3, 4]] == 0).all()
