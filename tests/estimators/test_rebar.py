"""REBAR: unbiased against enumeration with η, τ at initialisation and after training them;
a broken conditional relaxation fails the same test; the variance term trains η, τ only."""

import copy

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, OneHotCategorical

import reparam as rp
from reparam.diagnostics import gradient_variance
from reparam.estimators import REBAR, parse
from reparam.estimators.conditional_relaxation import Latent
from tests.estimators.relaxation_cases import CASES, train_control_variate

Z = 5.0
REPEATS = 20_000
N = 4


def bias_z(estimator: REBAR, case_name: str) -> float:
    case = CASES[case_name]
    (stats,) = gradient_variance(
        case.f, case.q, {"logits": case.logits}, {"rebar": estimator}, n=N, repeats=REPEATS
    )
    return float(stats.bias_zscore(case.exact()).max())


@pytest.mark.parametrize("case", list(CASES))
def test_unbiased_at_initialisation(case: str) -> None:
    assert bias_z(REBAR(), case) < Z


@pytest.mark.parametrize("case", list(CASES))
def test_unbiased_after_training_eta_and_tau(case: str) -> None:
    rebar = REBAR()
    before = copy.deepcopy(rebar.state_dict())
    train_control_variate(rebar, CASES[case])
    assert not torch.equal(before["scale"], rebar.scale.detach())
    assert not torch.equal(before["log_temperature"], rebar.log_temperature.detach())
    assert bias_z(rebar, case) < Z


def z_for_z_tilde(self: Latent, n: int) -> tuple:
    """Broken: the unconditional z in place of z̃ | b."""
    b, z, _ = original_sample(self, n)
    return b, z, z


def z_tilde_held_fixed(self: Latent, n: int) -> tuple:
    """Broken: z̃ cut from the logits, which drops the −η∇f(σ(z̃)) correction."""
    b, z, z_tilde = original_sample(self, n)
    return b, z, z_tilde.detach()


original_sample = Latent.sample


@pytest.mark.parametrize("broken", [z_for_z_tilde, z_tilde_held_fixed])
@pytest.mark.parametrize("case", ["bernoulli-independent", "one-hot-independent"])
def test_power_a_broken_relaxation_fails(
    monkeypatch: pytest.MonkeyPatch, broken: object, case: str
) -> None:
    monkeypatch.setattr(Latent, "sample", broken)
    assert bias_z(REBAR(), case) > Z


def test_variance_term_trains_eta_and_tau_and_leaves_theta_alone() -> None:
    """Same noise, the term on (η, τ require grad) and off (frozen): the logits' gradient and
    the value are identical, and only then do η and τ get a gradient."""
    logits = torch.tensor([[0.3, -1.0, 1.2], [0.5, 0.1, -2.0]], requires_grad=True)
    case = CASES["bernoulli-independent"]
    results = []
    for learn in (True, False):
        rebar = REBAR().requires_grad_(learn)
        torch.manual_seed(1)
        value = rp.expect(case.f, Independent(Bernoulli(logits=logits), 1), n=3, estimator=rebar)
        (grad,) = torch.autograd.grad(value.sum(), logits, retain_graph=learn)
        results.append((value.detach(), grad))
        if learn:
            eta, tau = torch.autograd.grad(value.sum(), [rebar.scale, rebar.log_temperature])
            assert eta.abs() > 0 and tau.abs() > 0
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_eval_mode_leaves_the_control_variate_alone() -> None:
    logits = torch.zeros(4, requires_grad=True)
    rebar = REBAR().eval()
    rp.expect(
        lambda b: (b - 0.45) ** 2, Bernoulli(logits=logits), n=3, estimator=rebar
    ).sum().backward()
    assert logits.grad is not None and rebar.scale.grad is None
    assert rebar.log_temperature.grad is None


def test_eta_gradient_is_that_of_the_squared_estimate() -> None:
    """∂/∂η of the term equals a central difference of ‖ĝ‖² in η, on the same noise."""
    logits = torch.tensor([0.3, -1.0, 1.2, 0.4], dtype=torch.float64, requires_grad=True)
    q = lambda: OneHotCategorical(logits=logits)  # noqa: E731
    f = lambda y: ((y * torch.arange(4.0, dtype=y.dtype)).sum(-1) - 1.3) ** 2  # noqa: E731

    def squared_estimate(eta: float) -> float:
        rebar = REBAR(scale=eta).requires_grad_(False)
        torch.manual_seed(2)
        (g,) = torch.autograd.grad(rp.expect(f, q(), n=5, estimator=rebar).sum(), logits)
        return float((g**2).sum())

    rebar = REBAR(scale=0.7)
    torch.manual_seed(2)
    rp.expect(f, q(), n=5, estimator=rebar).sum().backward()
    h = 1e-4
    numeric = (squared_estimate(0.7 + h) - squared_estimate(0.7 - h)) / (2 * h)
    assert float(rebar.scale.grad) == pytest.approx(numeric, rel=1e-3)


def test_state_dict_round_trip_and_stateless_rule() -> None:
    rebar = REBAR(temperature=0.3, scale=0.5)
    assert set(rebar.state_dict()) == {"scale", "log_temperature"}
    other = REBAR()
    other.load_state_dict(rebar.state_dict())
    assert float(other.temperature.detach()) == pytest.approx(0.3)
    assert float(other.scale.detach()) == 0.5
    assert isinstance(parse("rebar"), REBAR) and parse("rebar").stateful
    q = Bernoulli(logits=torch.zeros(2, requires_grad=True))
    with pytest.raises(ValueError, match="keeps state"):
        rp.expect(lambda b: b, q, n=2, estimator="rebar")


def test_impossible_category_and_no_gradient_needed() -> None:
    logits = torch.tensor([0.0, -torch.inf, 1.0], requires_grad=True)
    q = OneHotCategorical(logits=logits)
    rebar = REBAR()
    value = rp.expect(lambda y: (y * torch.arange(3.0)).sum(-1), q, n=8, estimator=rebar)
    value.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1] == 0
    assert torch.isfinite(rebar.log_temperature.grad)
    with torch.no_grad():
        assert rp.expect(lambda y: y.sum(-1), q, n=3, estimator=rebar) == 1


def test_errors() -> None:
    with pytest.raises(ValueError, match="REBAR needs a Bernoulli"):
        rp.expect(lambda z: z, Normal(torch.zeros(2), 1.0), n=2, estimator=REBAR())
    with pytest.raises(ValueError, match="temperature"):
        REBAR(temperature=0.0)
