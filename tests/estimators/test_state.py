"""Stateful estimators are modules their owner checkpoints; nothing is shared behind its back."""

import copy
import io

import torch
from torch.distributions import Categorical

import reparam as rp
from reparam.estimators import MovingAverage, ScoreFunction, parse
from reparam.models import CategoricalVAE


def categorical_step(estimator: ScoreFunction, logits: torch.Tensor) -> torch.Tensor:
    """One score-function gradient of E[z²] under Categorical(logits), n = 1."""
    value = rp.expect(
        lambda z: z.double() ** 2, Categorical(logits=logits), n=1, estimator=estimator
    )
    return torch.autograd.grad(value.sum(), logits)[0]


def round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_moving_average_lives_in_float64_and_int64_buffers() -> None:
    estimator = ScoreFunction("moving-average", decay=0.8)
    assert estimator.stateful
    logits = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    for _ in range(4):
        categorical_step(estimator, logits)
    state = estimator.state_dict()
    assert list(state) == ["baseline.average", "baseline.steps"]
    assert state["baseline.average"].dtype == torch.float64
    assert state["baseline.average"].shape == ()
    assert state["baseline.steps"].dtype == torch.int64
    assert int(state["baseline.steps"]) == 4


def test_state_round_trips_through_a_weights_only_checkpoint_exactly() -> None:
    """Interrupted after 3 calls, saved, loaded into a new object: the next calls are the
    straight run's, bit for bit."""
    logits = torch.tensor([[0.3, -0.2, 1.0]] * 4, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(0)
    straight = ScoreFunction("moving-average")
    expected = [categorical_step(straight, logits) for _ in range(6)]

    torch.manual_seed(0)
    first = ScoreFunction("moving-average")
    got = [categorical_step(first, logits) for _ in range(3)]
    rng = torch.get_rng_state()
    resumed = ScoreFunction("moving-average")
    resumed.load_state_dict(round_trip(first.state_dict()))
    for name, value in first.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    torch.set_rng_state(rng)
    got += [categorical_step(resumed, logits) for _ in range(3)]
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(resumed.baseline.average, straight.baseline.average)


def test_a_model_owning_its_estimator_carries_it_in_its_state_dict() -> None:
    torch.manual_seed(0)
    model = CategoricalVAE(16, latents=2, classes=3, hidden=(8,))
    model.estimator = parse("score+moving-average")
    x = torch.ones(4, 16).bernoulli_(torch.full((4, 16), 0.5))
    for _ in range(3):
        model.bound(x, objective="elbo", k=1, estimator=model.estimator).mean().backward()
    state = round_trip(model.state_dict())
    assert int(state["estimator.baseline.steps"]) == 3
    copy_ = CategoricalVAE(16, latents=2, classes=3, hidden=(8,))
    copy_.estimator = parse("score+moving-average")
    copy_.load_state_dict(state)
    assert torch.equal(copy_.estimator.baseline.average, model.estimator.baseline.average)
    assert copy.deepcopy(model.estimator).baseline.steps == 3


def bound_gradient(model: CategoricalVAE, x: torch.Tensor, estimator) -> list[torch.Tensor]:
    torch.manual_seed(7)
    bound = model.bound(x, objective="elbo", k=1, estimator=estimator).mean()
    return torch.autograd.grad(bound, list(model.parameters()))


def test_two_models_in_one_process_share_no_baseline() -> None:
    """The old bug: expect kept one moving average per code of f, so training model A moved
    model B's baseline. Now model B's gradient is the same before and after A trains, with
    "auto" at k = 1 (stateless) and with baselines each model owns."""
    torch.manual_seed(0)
    a, b = (CategoricalVAE(16, latents=2, classes=3, hidden=(8,)) for _ in range(2))
    x = torch.ones(4, 16).bernoulli_(torch.full((4, 16), 0.5))
    a.estimator, b.estimator = parse("score+moving-average"), parse("score+moving-average")
    for spec in ("auto", None):
        estimator_b = b.estimator if spec is None else spec
        state_b = copy.deepcopy(b.estimator.state_dict())
        before = bound_gradient(b, x, estimator_b)
        b.estimator.load_state_dict(state_b)
        for _ in range(5):
            a.bound(x, objective="elbo", k=1, estimator=a.estimator if spec is None else spec)
        after = bound_gradient(b, x, estimator_b)
        for g, h in zip(before, after, strict=True):
            torch.testing.assert_close(g, h, rtol=0, atol=0)
    assert int(a.estimator.baseline.steps) == 5
    assert (
        int(b.estimator.baseline.steps) == 1
    )  # its own last call (restored before it), none of a's


def test_moving_average_needs_no_host_round_trip_to_update() -> None:
    baseline = MovingAverage(decay=0.5)
    cost = torch.tensor([[2.0, 4.0]])
    baseline(cost, cost, None)
    assert baseline.average.dtype == torch.float64 and float(baseline.average) == 1.5
