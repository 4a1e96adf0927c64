"""NVIL: unbiased (normalisation off) or unbiased up to its known positive scale
(normalisation on) by enumeration, with the learned baseline at initialisation and after
training; below the plain score function's variance; its baseline-training term leaves the
gradient of θ and of f's own parameters untouched; its state checkpoints exactly."""

import copy
import io

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Categorical, Independent, Normal

import reparam as rp
from reparam.estimators import NVIL, ScoreFunction, parse
from tests.estimators.discrete_cases import (
    BERNOULLI,
    CATEGORICAL,
    Problem,
    Z,
    gradients,
    lower_variance,
    zscore,
)

REPEATS = 20_000
PROBLEMS = [BERNOULLI, CATEGORICAL]


def warmed(estimator: NVIL, problem: Problem, calls: int = 3) -> NVIL:
    """The estimator after a few calls: its running mean and deviation are not the defaults."""
    for _ in range(calls):
        gradients(estimator, problem, 4, 1000)
    return estimator


def trained(problem: Problem, steps: int = 150) -> NVIL:
    """NVIL whose baseline network was trained by its own zero-valued term, on posteriors
    around the problem's (so the context varies), by one optimiser step per call."""
    estimator = warmed(NVIL(hidden=16, normalise=False), problem, 1)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=3e-2)
    for _ in range(steps):
        noise = 0.5 * torch.randn(256, *problem.logits.shape, dtype=torch.float64)
        logits = (problem.logits + noise).requires_grad_()
        loss = rp.expect(problem.f, problem.q(logits), n=4, estimator=estimator).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return estimator


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_unbiased_at_initialisation(problem: Problem) -> None:
    estimator = warmed(NVIL(hidden=16, normalise=False), problem)
    assert float(estimator.centre) != 0
    assert zscore(gradients(estimator, problem, 4, REPEATS), problem.exact_gradient()) < Z


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_normalised_gradient_is_the_exact_one_times_the_known_scale(problem: Problem) -> None:
    """E[ĝ] = s_t ∇E[f] with s_t = 1/max(1, σ_t) read before the call; the unscaled
    comparison fails, so the scale is what the test measures."""
    estimator = warmed(NVIL(hidden=16), problem)
    scale = float(estimator.scale)
    assert scale < 0.6
    grads = gradients(estimator, problem, 4, REPEATS)
    assert zscore(grads / scale, problem.exact_gradient()) < Z
    assert zscore(grads, problem.exact_gradient()) > Z


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_trained_baseline_is_unbiased_and_beats_the_score_function(problem: Problem) -> None:
    estimator = trained(problem)
    grads = gradients(estimator, problem, 4, REPEATS)
    assert zscore(grads, problem.exact_gradient()) < Z
    assert lower_variance(grads, gradients(ScoreFunction(), problem, 4, REPEATS))


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_a_baseline_that_sees_its_sample_fails_the_same_test(problem: Problem) -> None:
    broken = ScoreFunction(baseline=lambda cost, log_prob, q: 0.5 * cost)
    assert zscore(gradients(broken, problem, 4, REPEATS), problem.exact_gradient()) > Z


def test_the_baseline_term_trains_the_network_and_leaks_nothing() -> None:
    """θ's gradient is s·mean((f − b_ψ − c)∇log q), f's own parameter gets the plain
    pathwise gradient, and ψ gets the gradient of ½ s mean((f − c − b_ψ)²)."""
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    logits = torch.randn(6, 3, requires_grad=True)
    q = Independent(Bernoulli(logits=logits), 1)
    estimator = NVIL(hidden=4)
    for _ in range(2):
        rp.expect(lambda z: z.sum(-1) ** 2, q, n=4, estimator=estimator)
    centre, scale = estimator.centre.float(), estimator.scale.float()
    assert scale < 1
    network = copy.deepcopy(estimator.network)

    def cost(z: torch.Tensor) -> torch.Tensor:
        return ((z * w).sum(-1) - 1) ** 2

    torch.manual_seed(3)
    value = rp.expect(cost, q, n=4, estimator=estimator).sum()
    got = torch.autograd.grad(value, [logits, w, *estimator.network.parameters()])
    torch.manual_seed(3)
    z = q.sample((4,))
    f = cost(z)
    b = network(torch.sigmoid(logits).detach()).squeeze(-1)
    signal = (f.detach() - b.detach() - centre) * scale
    want = [
        *torch.autograd.grad((signal * q.log_prob(z)).mean(0).sum(), logits),
        *torch.autograd.grad(f.mean(0).sum(), w),
        *torch.autograd.grad(
            (0.5 * scale * (f.detach() - centre - b) ** 2).mean(0).sum(), network.parameters()
        ),
    ]
    torch.testing.assert_close(value, f.mean(0).sum())
    for mine, theirs in zip(got, want, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_context_is_q_s_probabilities_or_the_callers() -> None:
    seen = []

    class Recorder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x.sum(-1)

    logits = torch.randn(5, 2, 3, requires_grad=True)
    q = Independent(OneHot(logits), 1)
    rp.expect(lambda z: z.sum((-1, -2)), q, n=2, estimator=NVIL(Recorder()))
    torch.testing.assert_close(seen[0], logits.softmax(-1).reshape(5, 6).detach())
    x = torch.rand(5, 7)
    rp.expect(lambda z: z.sum((-1, -2)), q, n=2, estimator=NVIL(Recorder(), context=x))
    rp.expect(lambda z: z.sum((-1, -2)), q, n=2, estimator=NVIL(Recorder(), context=lambda q: x))
    assert torch.equal(seen[1], x) and torch.equal(seen[2], x)
    gaussian = Normal(torch.zeros(5), 1.0)
    rp.expect(lambda z: z**2, gaussian, n=2, estimator=NVIL(context=torch.ones(5, 1)))
    with pytest.raises(ValueError, match="for a Normal pass context="):
        rp.expect(lambda z: z**2, gaussian, n=2, estimator=NVIL())
    with pytest.raises(ValueError, match=r"context must be a tensor \[\*q.batch_shape, d\]"):
        rp.expect(lambda z: z**2, gaussian, n=2, estimator=NVIL(context=torch.ones(4, 1)))


def OneHot(logits: torch.Tensor) -> torch.distributions.OneHotCategorical:
    return torch.distributions.OneHotCategorical(logits=logits)


def test_categorical_integer_samples_and_batch_shapes() -> None:
    logits = torch.randn(4, 3, 2, 5, requires_grad=True)
    q = Independent(Categorical(logits=logits), 1)
    value = rp.expect(lambda z: (z.double() - 2).pow(2).sum(-1), q, n=3, estimator=NVIL())
    assert value.shape == (4, 3)
    value.sum().backward()
    assert logits.grad.shape == logits.shape


def test_state_checkpoints_exactly_and_an_empty_batch_leaves_it() -> None:
    def run(estimator: NVIL, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        logits = torch.randn(8, 3, requires_grad=True)
        q = Independent(Bernoulli(logits=logits), 1)
        rp.expect(lambda z: (z.sum(-1) - 1) ** 2, q, n=4, estimator=estimator).sum().backward()
        return logits.grad

    first = NVIL(hidden=8)
    run(first, 0)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert {"average", "square", "steps", "network.0.weight"} <= set(state)
    resumed = NVIL(hidden=8)
    resumed.load_state_dict(state)  # the lazy network takes its size from the checkpoint
    assert torch.equal(run(first, 1), run(resumed, 1))
    before = {k: v.clone() for k, v in first.state_dict().items()}
    empty = Independent(Bernoulli(logits=torch.zeros(0, 3)), 1)
    assert rp.expect(lambda z: z.sum(-1), empty, n=2, estimator=first).shape == (0,)
    assert all(torch.equal(before[k], v) for k, v in first.state_dict().items())


def test_spec_options_and_errors() -> None:
    nvil = parse("nvil")
    assert isinstance(nvil, NVIL) and nvil.stateful and repr(nvil) == "NVIL(decay=0.8)"
    with pytest.raises(ValueError, match="keeps state from call to call"):
        rp.expect(lambda z: z, Bernoulli(torch.full((2,), 0.3)), n=2, estimator="nvil")
    plain = NVIL(input_dependent=False, running_mean=False, normalise=False)
    assert plain.network is None and float(plain.scale) == 1
    assert repr(plain) == (
        "NVIL(decay=0.8, input_dependent=False, running_mean=False, normalise=False)"
    )
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\); got 1.0"):
        NVIL(decay=1.0)
    with pytest.raises(ValueError, match="network was given with input_dependent=False"):
        NVIL(nn.Linear(3, 1), input_dependent=False)
    with pytest.raises(ValueError, match="must map"):
        q = Bernoulli(logits=torch.zeros(4))
        rp.expect(lambda z: z, q, n=2, estimator=NVIL(nn.Linear(1, 2)))
