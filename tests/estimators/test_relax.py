"""RELAX: unbiased against enumeration with its surrogate at initialisation and after training
it (any nn.Module, with or without the relaxed f); a broken conditional relaxation fails the
same test; the variance term trains the surrogate only."""

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, OneHotCategorical

import reparam as rp
from reparam.diagnostics import gradient_variance
from reparam.estimators import RELAX, SurrogateMLP, parse
from reparam.estimators.conditional_relaxation import Latent
from tests.estimators.relaxation_cases import CASES, train_control_variate

Z = 5.0
REPEATS = 20_000
N = 4


class Quadratic(nn.Module):
    """A user's surrogate: a quadratic form of the flattened relaxed sample."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(0.1 * torch.randn(features, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x @ self.weight) * x).sum(-1)


def relaxes(case: str) -> dict[str, RELAX]:
    features = CASES[case].logits.numel()
    return {
        "default": RELAX(),
        "mlp-alone": RELAX(SurrogateMLP(features, hidden=8), with_f=False),
        "quadratic": RELAX(Quadratic(features)),
    }


def bias_z(estimators: dict[str, RELAX], case_name: str) -> dict[str, float]:
    case = CASES[case_name]
    stats = gradient_variance(
        case.f, case.q, {"logits": case.logits}, estimators, n=N, repeats=REPEATS
    )
    return {s.estimator: float(s.bias_zscore(case.exact()).max()) for s in stats}


@pytest.mark.parametrize("case", list(CASES))
def test_unbiased_at_initialisation_and_after_training(case: str) -> None:
    estimators = relaxes(case)
    assert max(bias_z(estimators, case).values()) < Z
    for relax in estimators.values():
        last = list(relax.surrogate.parameters())[-1]  # initialized, lazy MLP or not
        before = last.detach().clone()
        train_control_variate(relax, CASES[case], steps=60)
        assert not torch.equal(before, last.detach())
    assert max(bias_z(estimators, case).values()) < Z


def z_for_z_tilde(self: Latent, n: int) -> tuple:
    """Broken: the unconditional z in place of z̃ | b."""
    b, z, _ = original_sample(self, n)
    return b, z, z


def z_tilde_held_fixed(self: Latent, n: int) -> tuple:
    """Broken: z̃ cut from the logits, which drops the −∇c(z̃) correction."""
    b, z, z_tilde = original_sample(self, n)
    return b, z, z_tilde.detach()


original_sample = Latent.sample


@pytest.mark.parametrize("broken", [z_for_z_tilde, z_tilde_held_fixed])
@pytest.mark.parametrize("case", ["bernoulli-independent", "one-hot-independent"])
def test_power_a_broken_relaxation_fails(
    monkeypatch: pytest.MonkeyPatch, broken: object, case: str
) -> None:
    monkeypatch.setattr(Latent, "sample", broken)
    features = CASES[case].logits.numel()
    assert bias_z({"quadratic": RELAX(Quadratic(features))}, case)["quadratic"] > Z


def test_variance_term_trains_the_surrogate_and_leaves_theta_alone() -> None:
    """An encoder θ makes the logits, a decoder φ_f sits inside f: with the term (the
    surrogate learning) and without it (frozen), the same noise gives the same value and the
    same gradients of θ and φ_f; only with it does the surrogate get a gradient."""
    torch.manual_seed(3)
    encoder, decoder = nn.Linear(2, 3), nn.Linear(3, 1)
    x = torch.randn(5, 2)
    f = lambda b: decoder(b).squeeze(-1) ** 2  # noqa: E731
    results = []
    for learn in (True, False):
        torch.manual_seed(4)
        relax = RELAX(SurrogateMLP(3)).requires_grad_(learn)
        nn.init.normal_(relax.surrogate.net[2].weight)  # a surrogate that is not zero
        encoder.zero_grad(), decoder.zero_grad()
        q = Independent(Bernoulli(logits=encoder(x)), 1)
        value = rp.expect(f, q, n=3, estimator=relax)
        value.sum().backward()
        grads = [p.grad.clone() for p in (*encoder.parameters(), *decoder.parameters())]
        results.append((value.detach(), grads))
        trained = [p.grad for p in relax.parameters()]
        if learn:
            assert all(g is not None and g.abs().sum() > 0 for g in trained)
        else:
            assert all(g is None for g in trained)
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_stateless_rule_and_state_dict() -> None:
    relax = parse("relax")
    assert isinstance(relax, RELAX) and relax.stateful
    q = OneHotCategorical(logits=torch.zeros(3, requires_grad=True))
    with pytest.raises(ValueError, match="keeps state"):
        rp.expect(lambda y: y.sum(-1), q, n=2, estimator="relax")
    rp.expect(lambda y: y[..., 0], q, n=2, estimator=relax)  # materializes the lazy MLP
    copy = RELAX()
    rp.expect(lambda y: y[..., 0], q, n=2, estimator=copy)
    copy.load_state_dict(relax.state_dict())
    for a, b in zip(copy.state_dict().values(), relax.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_errors() -> None:
    q = Bernoulli(logits=torch.zeros(4, requires_grad=True))
    with pytest.raises(ValueError, match="surrogate must map"):
        rp.expect(lambda b: b, q, n=2, estimator=RELAX(nn.Linear(1, 2)))
    with pytest.raises(ValueError, match="surrogate must be an nn"):
        RELAX(lambda x: x.sum(-1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden"):
        SurrogateMLP(hidden=0)
