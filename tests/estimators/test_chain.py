"""Nested expectations over a chain of stochastic layers (reparam.estimators.chain).

A two-layer Bernoulli chain q(z1) q(z2 | z1) with costs c1(z1) + c2(z1, z2): the score function
through ``expect_chain`` must be unbiased (5 SE against the exact gradient, by summing over
all 16 joint states) and have lower variance than the flat score function of the joint, which
weights layer 2's score by the upstream c1 too. The parameters are replicated R times as a
batch, so one backward pass gives R independent gradient estimates.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.distributions import Bernoulli, Independent, OneHotCategorical

from reparam import expect
from reparam.estimators import names, parse
from reparam.estimators.base import zero_with_gradient
from reparam.estimators.chain import DiscreteChain, expect_chain

R, D, Z = 20_000, 2, 5.0
TARGET = torch.tensor([0.3, 0.8], dtype=torch.float64)


def parameters(repeats: int) -> dict[str, torch.Tensor]:
    base = {
        "a": torch.tensor([0.4, -0.7]),
        "w": torch.tensor([[1.5, -1.0], [0.5, 2.0]]),
        "b": torch.tensor([-0.5, 0.3]),
    }
    return {
        k: v.double().expand(repeats, *v.shape).clone().requires_grad_() for k, v in base.items()
    }


def root(p: dict) -> Independent:
    return Independent(Bernoulli(logits=p["a"], validate_args=False), 1)


def link(p: dict):
    def q2(z1: torch.Tensor) -> Independent:
        logits = torch.einsum("rij,...rj->...ri", p["w"], z1) + p["b"]
        return Independent(Bernoulli(logits=logits, validate_args=False), 1)

    return q2


def c1(z1: torch.Tensor) -> torch.Tensor:
    return 6.0 + 4.0 * z1.sum(-1)


def c2(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    return 2.0 * ((2.0 * z2 - z1 - TARGET) ** 2).sum(-1)


def exact() -> list[torch.Tensor]:
    """The gradient of E[c1 + c2] by enumeration of the 2^2 x 2^2 joint states."""
    p = parameters(1)
    total = torch.zeros(1, dtype=torch.float64)
    for bits in itertools.product((0.0, 1.0), repeat=2 * D):
        z1 = torch.tensor([bits[:D]], dtype=torch.float64)
        z2 = torch.tensor([bits[D:]], dtype=torch.float64)
        prob = (root(p).log_prob(z1) + link(p)(z1).log_prob(z2)).exp()
        total = total + prob * (c1(z1) + c2(z1, z2))
    return [g[0] for g in torch.autograd.grad(total.sum(), list(p.values()))]


def nested(p: dict, estimator: str = "score") -> torch.Tensor:
    return expect_chain(root(p), [link(p)], [c1, c2], estimator=estimator)


def flat(p: dict) -> torch.Tensor:
    """The score function of the joint: every layer's score times the total cost."""
    q = DiscreteChain(root(p), [link(p)], [(D,), (D,)])
    return expect(lambda z: c1(z[..., :D]) + c2(z[..., :D], z[..., D:]), q, estimator="score")


def own_cost_only(p: dict) -> torch.Tensor:
    """Broken: each layer's score weighted by its own cost, the downstream cost left out."""
    z1 = root(p).sample()
    q2 = link(p)(z1)
    z2 = q2.sample()
    first, second = c1(z1), c2(z1, z2)
    scores = first * root(p).log_prob(z1) + second * q2.log_prob(z2)
    return first + second + zero_with_gradient(scores)


def gradients(surrogate) -> torch.Tensor:
    """R gradient estimates of every parameter, ``[R, 8]``."""
    torch.manual_seed(0)
    p = parameters(R)
    grads = torch.autograd.grad(surrogate(p).sum(), list(p.values()))
    return torch.cat([g.reshape(R, -1) for g in grads], 1)


def z_scores(samples: torch.Tensor) -> torch.Tensor:
    target = torch.cat([g.reshape(-1) for g in exact()])
    se = samples.std(0) / R**0.5
    return (samples.mean(0) - target) / se


@pytest.mark.parametrize("estimator", ["score", "score+leave-one-out"])
def test_nested_score_is_unbiased(estimator: str) -> None:
    n = 1 if estimator == "score" else 2
    surrogate = lambda p: expect_chain(  # noqa: E731
        root(p), [link(p)], [c1, c2], n=n, estimator=estimator
    )
    assert z_scores(gradients(surrogate)).abs().max() < Z


def test_leaving_out_the_downstream_cost_is_caught() -> None:
    """Power: the same test fails a layer-1 score that ignores the cost below it."""
    assert z_scores(gradients(own_cost_only)).abs().max() > Z


def test_nested_score_has_lower_variance_than_flat() -> None:
    """Layer 2's score no longer multiplies c1: the total variance drops, by more than 5 SE
    of the difference of the two mean squared errors."""
    target = torch.cat([g.reshape(-1) for g in exact()])
    chained = ((gradients(nested) - target) ** 2).sum(1)
    joint = ((gradients(flat) - target) ** 2).sum(1)
    assert z_scores(gradients(flat)).abs().max() < Z  # the flat one is unbiased too
    difference = joint.mean() - chained.mean()
    se = (joint.var() / R + chained.var() / R) ** 0.5
    assert difference > Z * se
    assert chained.mean() < 0.7 * joint.mean()


def test_costs_see_each_layer_with_its_sample_dimensions() -> None:
    shapes = []

    def cost(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        shapes.append((tuple(z1.shape), tuple(z2.shape)))
        return c2(z1, z2)

    p = parameters(3)
    value = expect_chain(root(p), [link(p)], [None, cost], n=[4, 2], estimator="score")
    assert value.shape == (3,)
    assert shapes == [((4, 3, D), (2, 4, 3, D))]


CATEGORICAL = [s for s in names("elbo", "discrete") if s != "score+moving-average"]


@pytest.mark.parametrize("spec", CATEGORICAL)
def test_every_discrete_estimator_nests(spec: str) -> None:
    """Each per-sample estimator of categorical codes, at both layers with outer sample
    dimensions: the right shape, a finite gradient for every parameter."""
    torch.manual_seed(1)
    logits = torch.zeros(5, 3, 4, requires_grad=True)
    weight = torch.randn(4, 4, requires_grad=True)

    def q(logits: torch.Tensor) -> Independent:
        return Independent(OneHotCategorical(logits=logits, validate_args=False), 1)

    value = expect_chain(
        q(logits),
        [lambda z: q(z @ weight)],
        [lambda z1: z1[..., 0].sum(-1), lambda z1, z2: (z2 * z1).sum((-1, -2))],
        n=[3, 2],
        estimator=[parse(spec), parse(spec)],
    )
    assert value.shape == (5,)
    value.sum().backward()
    for g in (logits.grad, weight.grad):
        assert g is not None and torch.isfinite(g).all()


BERNOULLI = [s for s in names("elbo", "discrete") if "gumbel" not in s and "moving" not in s]
BERNOULLI += [s for s in ("arm", "disarm") if s in names("elbo")]  # Bernoulli latents only


@pytest.mark.parametrize("spec", BERNOULLI)
def test_every_bernoulli_estimator_nests(spec: str) -> None:
    """The same on the Bernoulli chain of the tests above, two samples a layer (ARM's pair)."""
    torch.manual_seed(2)
    p = parameters(3)
    value = expect_chain(root(p), [link(p)], [c1, c2], n=2, estimator=[parse(spec), parse(spec)])
    assert value.shape == (3,)
    value.sum().backward()
    assert all(torch.isfinite(v.grad).all() for v in p.values())


def test_stateful_estimators_as_objects_per_layer() -> None:
    p = parameters(3)
    layers = [parse("score+moving-average"), parse("score+moving-average")]
    value = expect_chain(root(p), [link(p)], [c1, c2], n=2, estimator=layers)
    value.sum().backward()
    assert all(e.baseline.steps > 0 for e in layers)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"costs": [c1]}, "costs must hold one entry"),
        ({"n": [1, 2, 3]}, "n names 3 layers"),
        ({"n": 0}, "n"),
        ({"estimator": "score+moving-average"}, "keeps state"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    p = parameters(2)
    arguments = {"costs": [c1, c2], **kwargs}
    with pytest.raises(ValueError, match=match):
        expect_chain(root(p), [link(p)], **arguments)


def test_the_docs_page_example_runs() -> None:
    import re
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "gumbel_table1.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    assert namespace["a"].grad is not None and namespace["w"].grad is not None
