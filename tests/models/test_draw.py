"""The DRAW model: its ELBO against a hand computation, the importance-weighted bound against
the ELBO and tightening with k on a trained model, generation, and its argument checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reparam.data import load
from reparam.models.draw import DRAW
from tests.error_tables import raises_test


def lstm_from_zero(cell: torch.nn.LSTMCell, u: torch.Tensor) -> torch.Tensor:
    """h' of an LSTM cell from h = c = 0, gate by gate: i, f, g, o = W u + b (f unused)."""
    gates = u @ cell.weight_ih.T + cell.bias_ih + cell.bias_hh
    i, _, g, o = gates.chunk(4, -1)
    return torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))


def test_elbo_of_one_glimpse_without_attention_by_hand() -> None:
    """T = 1: x_hat = x - 1/2, h_enc = LSTM([x, x_hat, 0]), z = mu + sigma eps,
    c_1 = W LSTM(z) + b; ELBO = log Bernoulli(x | sigmoid(c_1)) - KL(N(mu, sigma) || N(0, I))."""
    torch.manual_seed(0)
    model = DRAW(3, 2, glimpses=1, hidden=4, latent=2, attention=False).double()
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.manual_seed(5)
    bound = model.bound(x)
    torch.manual_seed(5)
    eps = torch.empty(1, 2, dtype=torch.float64).normal_()  # what Normal.rsample draws
    h_enc = lstm_from_zero(model.encoder, torch.cat([x, x - 0.5, torch.zeros(1, 4)], -1))
    loc, log_scale = (h_enc @ model.posterior_head.weight.T + model.posterior_head.bias).chunk(
        2, -1
    )
    z = loc + log_scale.exp() * eps
    c = lstm_from_zero(model.decoder, z) @ model.canvas_head.weight.T + model.canvas_head.bias
    p = torch.sigmoid(c)
    log_likelihood = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    kl = 0.5 * (loc**2 + (2 * log_scale).exp() - 2 * log_scale - 1).sum()
    assert torch.allclose(bound, (log_likelihood - kl).view(1), atol=1e-12, rtol=0)
    torch.manual_seed(5)
    weighted = model.bound(x, beta=0.25)
    assert torch.allclose(weighted, (log_likelihood - 0.25 * kl).view(1), atol=1e-12, rtol=0)
    torch.manual_seed(5)
    terms = model.elbo_terms(x)
    assert torch.allclose(torch.stack(terms), torch.stack([log_likelihood, kl]).view(2, 1))


def test_one_sample_bound_and_elbo_agree_in_expectation() -> None:
    """E[L_1] = E[log p(x|z) + sum log p(z_t) - log q(z_t)] = ELBO, within 4 standard errors
    (2000 paths of one image, with attention)."""
    torch.manual_seed(1)
    model = DRAW(6, 5, glimpses=3, hidden=8, latent=3, read_size=2, write_size=3)
    x = torch.rand(1, 30).bernoulli().expand(2000, 30)
    with torch.no_grad():
        elbo, one = model.bound(x), model.bound(x, objective="iwae", k=1)
    difference = one - elbo
    standard_error = difference.std() / math.sqrt(len(difference))
    assert abs(float(difference.mean())) < 4 * float(standard_error)


def trained_model() -> tuple[DRAW, torch.Tensor]:
    """A small DRAW without attention after 200 Adam steps on the 8 x 8 digits (on data this
    small the attention model's posterior collapses early: its L_k barely moves), and the 180
    test digits."""
    torch.manual_seed(0)
    train, test = load("digits", "train"), load("digits", "test")
    model = DRAW(8, glimpses=2, hidden=64, latent=8, attention=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss = -model.bound(train[torch.randint(len(train), (50,))]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, test


def test_the_importance_weighted_bound_tightens_with_k() -> None:
    """On a trained model the mean over test digits of L_100 - L_1 exceeds 5 standard errors
    (E[L_1] is the ELBO, estimated per digit from 20 paths to shrink the error); seeds 0-3
    of the training give 12-18 of them."""
    model, test = trained_model()
    torch.manual_seed(2)
    with torch.no_grad():
        one = model.bound(test, k=20)
        hundred = model.bound(test, objective="iwae", k=100)
    gain = hundred - one
    standard_error = float(gain.std()) / math.sqrt(len(gain))
    assert float(gain.mean()) > 5 * standard_error
    assert -float(hundred.mean()) < 25.0  # trained: below the independent-pixel model's 26


def test_every_parameter_gets_a_finite_gradient() -> None:
    torch.manual_seed(3)
    for attention in (True, False):
        model = DRAW(5, 4, glimpses=2, hidden=6, latent=2, attention=attention, write_size=2)
        loss = -model.bound(torch.rand(3, 20).bernoulli(), objective="iwae", k=2).mean()
        loss.backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_generation_step_by_step() -> None:
    torch.manual_seed(4)
    model = DRAW(7, 5, glimpses=3, hidden=6, latent=2, write_size=2)
    drawing = model.sample(4, steps=True)
    assert drawing.canvases.shape == (3, 4, 35)
    assert drawing.glimpses is not None and drawing.glimpses.centre_x.shape == (3, 4)
    assert ((drawing.means >= 0) & (drawing.means <= 1)).all()
    noise = torch.randn(3, 2, 2)
    assert torch.equal(model.decode(noise).means, model.decode(noise).means)
    plain = DRAW(7, 5, glimpses=3, hidden=6, latent=2, attention=False)
    assert plain.sample(2, steps=True).glimpses is None and plain.sample(2).shape == (2, 35)
    # the final canvas is the sum of the steps' writes: each step changes it
    steps = drawing.canvases
    assert all(not torch.equal(steps[t], steps[t + 1]) for t in range(2))


MODEL = DRAW(4, glimpses=2, hidden=5, latent=2, read_size=2, write_size=2)
BAD = {
    "x of the wrong width": (lambda: MODEL.bound(torch.zeros(2, 15)), "x must have 16 entries"),
    "objective": (lambda: MODEL.bound(torch.zeros(2, 16), objective="vi"), "unknown objective"),
    "k = 0": (lambda: MODEL.bound(torch.zeros(2, 16), k=0), "k must be an integer >= 1"),
    "beta < 0": (lambda: MODEL.bound(torch.zeros(2, 16), beta=-1.0), "beta must be a finite"),
    "beta with iwae": (
        lambda: MODEL.bound(torch.zeros(2, 16), objective="iwae", beta=0.5),
        "beta weights the ELBO's KL term",
    ),
    "noise": (lambda: MODEL.decode(torch.zeros(3, 2, 2)), r"noise must be \[glimpses, n, latent\]"),
    "n = 0": (lambda: MODEL.sample(0), "n must be an integer >= 1"),
    "width 0": (lambda: DRAW(0), "width must be a positive integer"),
    "glimpses 0": (lambda: DRAW(8, glimpses=0), "glimpses must be a positive integer"),
    "read size 0": (lambda: DRAW(8, read_size=0), "read_size must be a positive integer"),
}
test_bad_arguments_raise = raises_test(BAD, ValueError)


def test_attention_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="attention must be True or False"):
        DRAW(8, attention="filterbank")  # type: ignore[arg-type]


def test_the_docs_example_runs() -> None:
    """The Python example of docs/draw.md."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "draw.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/draw.md", "exec"), namespace)
    assert namespace["drawing"].canvases.shape == (4, 4, 64)
    assert namespace["nll"].shape == (5,) and torch.isfinite(namespace["nll"]).all()
