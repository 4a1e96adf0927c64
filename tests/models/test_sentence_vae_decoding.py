"""Decoding a sentence VAE: greedy, beam, sampled and the homotopy, against the model's own
likelihood and each other."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.data.vocabulary import BOS, EOS, PAD
from reparam.models import SentenceVAE
from reparam.models.sentence_decoding import beam, greedy, homotopy, sample


def random_model(seed: int, latent: int = 2) -> SentenceVAE:
    """An untrained model whose next-word distributions are peaked (output weights × 3) and
    whose sentences end (``<eos>`` one nat likelier): a few words each."""
    torch.manual_seed(seed)
    model = SentenceVAE(9, embedding=5, hidden=7, latent=latent).double().eval()
    with torch.no_grad():
        model.output.weight *= 3.0
        model.output.bias[EOS] += 1.0
    return model


def likelihood_of(model: SentenceVAE, decoded, z: torch.Tensor) -> torch.Tensor:
    """log p(sentence, <eos> | z) of finished decodes by the training code path, and of an
    empty one by the first step's probability of <eos>."""
    tokens = decoded.tokens
    if tokens.shape[1] == 0:
        tokens = tokens.new_full((len(tokens), 1), PAD)
    lengths = decoded.lengths.clamp(min=1)
    words = model.log_likelihood(tokens, lengths, z.unsqueeze(0))[0]
    first, _ = model.step(torch.full((len(z),), BOS), model.initial_state(z), z)
    return torch.where(decoded.lengths > 0, words, first[:, EOS])


@pytest.mark.parametrize("decoder", ["greedy", "beam", "sample"])
def test_scores_are_the_model_log_likelihood_of_the_decodes(decoder: str) -> None:
    model = random_model(1)
    z = torch.randn(40, 2, dtype=torch.float64)
    decode = {"greedy": greedy, "beam": beam, "sample": sample}[decoder]
    decoded = decode(model, z, max_length=12)
    kept = decoded.finished
    assert kept.sum() > 10
    assert not (
        (decoded.tokens == PAD) & (torch.arange(decoded.tokens.shape[1]) < decoded.lengths[:, None])
    ).any()
    assert not (decoded.tokens == BOS).any()
    expected = likelihood_of(model, decoded, z)
    torch.testing.assert_close(decoded.scores[kept], expected[kept])


def test_beam_of_width_one_is_greedy() -> None:
    for seed in range(3):
        model = random_model(seed)
        z = torch.randn(30, 2, dtype=torch.float64)
        ours, theirs = beam(model, z, width=1, max_length=10), greedy(model, z, max_length=10)
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b)


def test_beam_finds_sentences_at_least_as_likely_as_greedy() -> None:
    better = 0
    for seed in range(3):
        model = random_model(seed, latent=0)  # the language model: one z, many seeds
        z = torch.zeros(1, 0, dtype=torch.float64)
        found, plain = beam(model, z, width=6, max_length=15), greedy(model, z, max_length=15)
        assert found.finished.all()
        assert float(found.scores) >= float(plain.scores) - 1e-12
        better += float(found.scores) > float(plain.scores) + 1e-9
    model = random_model(7)
    z = torch.randn(50, 2, dtype=torch.float64)
    found, plain = beam(model, z, width=6, max_length=15), greedy(model, z, max_length=15)
    both = found.finished & plain.finished
    assert (found.scores[both] >= plain.scores[both] - 1e-12).all()
    assert better + int((found.scores[both] > plain.scores[both] + 1e-9).sum()) > 0


def test_length_normalised_beam_prefers_the_best_score_per_token() -> None:
    model = random_model(4)
    z = torch.randn(30, 2, dtype=torch.float64)
    plain = beam(model, z, width=5, max_length=12)
    normed = beam(model, z, width=5, max_length=12, length_norm=True)
    per_token = lambda d: d.scores / (d.lengths + 1)  # noqa: E731
    both = plain.finished & normed.finished
    assert (per_token(normed)[both] >= per_token(plain)[both] - 1e-12).all()
    assert (plain.scores[both] >= normed.scores[both] - 1e-12).all()


def test_greedy_decodes_a_memorised_sentence() -> None:
    torch.manual_seed(0)
    model = SentenceVAE(9, embedding=8, hidden=16, latent=2)
    sentence = torch.tensor([[4, 7, 5, 8, 6, 4]])
    lengths = torch.tensor([6])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        loss = -model.bound(sentence, lengths).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    decoded = greedy(model, model.posterior_mean(sentence, lengths).detach(), max_length=20)
    assert decoded.tokens.tolist() == sentence.tolist() and bool(decoded.finished)


def test_sampling_draws_the_first_word_from_the_tempered_softmax() -> None:
    model = random_model(2)
    z = torch.randn(1, 2, dtype=torch.float64).expand(4000, 2)
    temperature = 0.7
    log_probs, _ = model.step(torch.full((1,), BOS), model.initial_state(z[:1]), z[:1])
    allowed = torch.ones(9, dtype=torch.bool)
    allowed[[PAD, BOS]] = False
    tempered = torch.where(allowed, log_probs[0] / temperature, -torch.inf).softmax(-1)
    generator = torch.Generator().manual_seed(0)
    decoded = sample(model, z, temperature=temperature, max_length=1, generator=generator)
    first = torch.where(decoded.lengths > 0, decoded.tokens[:, 0], EOS)  # an empty one: <eos>
    counts = torch.bincount(first, minlength=9).double() / len(first)
    se = (tempered * (1 - tempered) / len(first)).sqrt()
    assert ((counts - tempered).abs() <= 5 * se + 1e-12).all()
    assert counts[[PAD, BOS]].sum() == 0


def test_sampling_at_a_low_temperature_is_greedy() -> None:
    model = random_model(3)
    z = torch.randn(20, 2, dtype=torch.float64)
    cold = sample(model, z, temperature=1e-4, max_length=10)
    torch.testing.assert_close(cold.tokens, greedy(model, z, max_length=10).tokens)


def test_homotopy_ends_at_the_decodes_of_the_two_means() -> None:
    model = random_model(5)
    tokens, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    path = homotopy(model, tokens, lengths, points=5, max_length=10)
    ends = greedy(model, model.posterior_mean(tokens, lengths), max_length=10)
    assert path.tokens.shape[0] == 5
    width = max(path.tokens.shape[1], ends.tokens.shape[1])
    pad = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[1]))  # noqa: E731
    assert torch.equal(pad(path.tokens)[[0, -1]], pad(ends.tokens))
    torch.testing.assert_close(path.scores[[0, -1]], ends.scores)


def test_the_cut_at_max_length_scores_only_an_eos() -> None:
    model = random_model(6)
    z = torch.randn(25, 2, dtype=torch.float64)
    short = greedy(model, z, max_length=2)
    assert (short.lengths <= 2).all()
    torch.testing.assert_close(
        short.scores[short.finished], likelihood_of(model, short, z)[short.finished]
    )
    assert math.isfinite(float(short.scores.sum()))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: greedy(m, torch.zeros(3, 5)), "z must be"),
        (lambda m: greedy(m, torch.zeros(3, 2), max_length=0), "max_length"),
        (lambda m: beam(m, torch.zeros(3, 2), width=0), "width"),
        (lambda m: sample(m, torch.zeros(3, 2), temperature=0.0), "temperature"),
        (lambda m: homotopy(m, torch.ones(3, 2, dtype=torch.long), torch.ones(3)), "two"),
        (
            lambda m: homotopy(
                random_model(0, latent=0),
                torch.ones(2, 2, dtype=torch.long),
                torch.ones(2, dtype=torch.long),
            ),
            "latent space",
        ),
    ],
)
def test_bad_decoding_input_is_one_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(random_model(0).float())
