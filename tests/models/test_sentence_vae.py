"""The sentence VAE: its likelihood against a hand computation, padding, the language model
as latent 0, word dropout, and the importance-sampled NLL against quadrature."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reparam.data.vocabulary import BOS, EOS, PAD, UNK
from reparam.models import SentenceVAE
from reparam.models.sentence_evaluation import evaluate, importance_bounds

SENTENCES = [[4, 5, 6, 7], [8, 9], [5, 5, 10, 11, 4]]


def batch(sentences: list[list[int]], width: int | None = None, fill: int = PAD):
    """Right-padded ``tokens`` (``fill`` after each sentence, ``width`` columns) and lengths."""
    width = width or max(map(len, sentences))
    tokens = torch.full((len(sentences), width), fill, dtype=torch.long)
    for b, s in enumerate(sentences):
        tokens[b, : len(s)] = torch.tensor(s)
    return tokens, torch.tensor([len(s) for s in sentences])


def tiny(latent: int = 3, **options) -> SentenceVAE:
    torch.manual_seed(0)
    return SentenceVAE(12, embedding=6, hidden=5, latent=latent, **options).double().eval()


def by_hand(model: SentenceVAE, sentence: list[int], z: torch.Tensor) -> float:
    r""":math:`\log p(x \mid z)` by running the decoder one word at a time on one sentence."""
    state = model.initial_state(z[None]) if model.latent else None
    total = 0.0
    for previous, target in zip([BOS, *sentence], [*sentence, EOS], strict=True):
        x = model.embedding(torch.tensor([[previous]]))
        if model.condition == "every":
            x = torch.cat([x, z.view(1, 1, -1)], -1)
        h, state = model.decoder(x, state)
        total += float(F.log_softmax(model.output(h[0, 0]), -1)[target].detach())
    return total


def encoded_by_hand(model: SentenceVAE, sentence: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior's mean and standard deviation from the encoder run on one sentence."""
    _, (h, _) = model.encoder(model.embedding(torch.tensor([sentence])))
    loc, log_variance = model.posterior_head(h[-1, 0]).chunk(2)
    return loc, (0.5 * log_variance).exp()


@pytest.mark.parametrize("condition", ["initial", "every"])
def test_elbo_with_k_samples_equals_a_hand_computation(condition: str) -> None:
    model = tiny(condition=condition)
    tokens, lengths = batch(SENTENCES)
    torch.manual_seed(3)
    bound = model.bound(tokens, lengths, k=4, estimator="pathwise", beta=0.3)
    torch.manual_seed(3)
    z = model.posterior(tokens, lengths).rsample((4,))
    for b, sentence in enumerate(SENTENCES):
        loc, scale = encoded_by_hand(model, sentence)
        torch.testing.assert_close(model.posterior(tokens, lengths).mean[b], loc)
        kl = 0.5 * float((loc**2 + scale**2 - 1 - 2 * scale.log()).sum().detach())
        reconstruction = sum(by_hand(model, sentence, z[i, b]) for i in range(4)) / 4
        assert float(bound[b].detach()) == pytest.approx(reconstruction - 0.3 * kl, abs=1e-10)


def test_padding_does_not_change_a_sentence_loss() -> None:
    model = tiny()
    alone = batch(SENTENCES[1:2])
    padded = batch(SENTENCES, width=9, fill=7)  # not even <pad>: whatever lies past the end
    z = torch.randn(2, 3, 3, dtype=torch.float64)
    single = model.log_likelihood(*alone, z[:, 1:2])
    torch.testing.assert_close(model.log_likelihood(*padded, z)[:, 1:2], single, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        model.posterior(*padded).mean[1:2], model.posterior(*alone).mean, rtol=0, atol=1e-12
    )


def test_language_model_is_latent_zero_on_the_same_code_path() -> None:
    lm, vae = tiny(latent=0), tiny(latent=3)
    assert {n for n, _ in lm.named_parameters()} < {n for n, _ in vae.named_parameters()}
    assert not hasattr(lm, "encoder")
    tokens, lengths = batch(SENTENCES)
    exact = torch.tensor([by_hand(lm, s, torch.zeros(0)) for s in SENTENCES], dtype=torch.float64)
    for objective, k in (("elbo", 1), ("elbo", 3), ("iwae", 5)):
        terms = lm.terms(tokens, lengths, objective=objective, k=k)
        torch.testing.assert_close(terms.bound, exact)
        assert terms.kl.abs().max() == 0
    nll, elbo = importance_bounds(lm, tokens, lengths, k=7, chunk=3)
    torch.testing.assert_close(-nll, -exact)
    torch.testing.assert_close(elbo, exact)


def test_inputless_decoder_sees_only_bos_and_unk() -> None:
    model = tiny(word_dropout=1.0)
    tokens, lengths = batch(SENTENCES)
    z = torch.randn(1, 3, 3, dtype=torch.float64)
    expected = by_hand_inputs(model, SENTENCES, z[0])
    for mode in (True, False):  # training and evaluation alike
        model.train(mode)
        torch.testing.assert_close(model.log_likelihood(tokens, lengths, z)[0], expected)


def by_hand_inputs(model: SentenceVAE, sentences: list[list[int]], z: torch.Tensor):
    """log p(x | z) with every input but <bos> replaced by <unk>, one word at a time."""
    totals = []
    for b, sentence in enumerate(sentences):
        state, total = model.initial_state(z[b : b + 1]), 0.0
        for t, target in enumerate([*sentence, EOS]):
            x = model.embedding(torch.tensor([[BOS if t == 0 else UNK]]))
            h, state = model.decoder(x, state)
            total += float(F.log_softmax(model.output(h[0, 0]), -1)[target].detach())
        totals.append(total)
    return torch.tensor(totals, dtype=torch.float64)


def test_word_dropout_replaces_words_at_its_rate_in_training_only() -> None:
    model = tiny(word_dropout=0.3)
    words = torch.randint(4, 12, (400, 26))
    words[:, 0] = BOS
    real = torch.ones_like(words, dtype=torch.bool)
    real[:, 0] = False
    real[:, 20:] = False
    torch.manual_seed(1)
    model.train()
    dropped = model.decoder_inputs(words, real) == UNK
    assert not dropped[~real].any()
    n = int(real.sum())
    rate, se = float(dropped.sum()) / n, math.sqrt(0.3 * 0.7 / n)
    assert abs(rate - 0.3) < 5 * se
    model.eval()
    assert torch.equal(model.decoder_inputs(words, real), words)


def quadrature_log_p(model: SentenceVAE, tokens, lengths, points: int = 4001) -> torch.Tensor:
    r""":math:`\log p(x) = \log \int p(x \mid z)\, \mathcal N(z; 0, 1)\, dz` for a one-dimensional
    z, by the trapezoid rule on [-9, 9]."""
    grid = torch.linspace(-9.0, 9.0, points, dtype=torch.float64)
    z = grid.view(-1, 1, 1).expand(-1, len(lengths), 1)
    with torch.no_grad():
        log_joint = model.log_joint(tokens, lengths, z)
    step = grid[1] - grid[0]
    weights = torch.full((points, 1), math.log(step), dtype=torch.float64)
    weights[[0, -1]] -= math.log(2)
    return torch.logsumexp(log_joint + weights, 0)


def test_importance_sampled_nll_is_an_upper_bound_that_tightens_with_k() -> None:
    torch.manual_seed(0)
    model = SentenceVAE(12, embedding=6, hidden=6, latent=1, word_dropout=1.0).double()
    tokens, lengths = batch(SENTENCES)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):  # briefly, at beta 0.1: z carries the sentence, q is not exact
        loss = -model.bound(tokens, lengths, beta=0.1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    exact = float(quadrature_log_p(model, tokens, lengths).sum())
    repeats = 200  # independent draws of each sentence's L_k, as copies of the batch
    copies = tokens.repeat(repeats, 1), lengths.repeat(repeats)
    torch.manual_seed(5)
    totals = {  # the summed L_k of the three sentences, `repeats` times
        k: importance_bounds(model, *copies, k, chunk=50)[0].view(repeats, -1).sum(1)
        for k in (1, 10, 200)
    }
    means = {k: float(bound.mean()) for k, bound in totals.items()}
    ses = {k: float(bound.std()) / math.sqrt(repeats) for k, bound in totals.items()}
    for k in totals:  # -L_k >= -log p(x): the mean gap is not 5 SE below 0
        assert exact - means[k] > -5 * ses[k], (k, exact, means[k], ses[k])
    for small, large in ((1, 10), (10, 200)):  # tighter with k, by more than 5 SE each time
        se = math.hypot(ses[small], ses[large])
        assert means[large] - means[small] > 5 * se, (small, large, means, ses)
    assert exact - means[200] < 0.5 * (exact - means[1])  # most of the gap closed


def test_evaluation_counts_tokens_with_eos_and_active_units() -> None:
    model = tiny(latent=3)
    tokens, lengths = batch(SENTENCES)
    result = evaluate(model, [(tokens[:2], lengths[:2]), (tokens[2:], lengths[2:])], k=30, chunk=7)
    words = sum(map(len, SENTENCES))
    assert (result.sentences, result.tokens) == (3, words + 3)
    total = result.nll * 3
    assert result.perplexity == pytest.approx(math.exp(total / (words + 3)))
    assert result.word_perplexity == pytest.approx(math.exp(total / words))
    means = model.posterior(tokens, lengths).mean
    assert result.active_units == int((means.var(0, correction=0) > 0.01).sum())
    assert result.kl == pytest.approx(
        float(model.kl(model.posterior(tokens, lengths)).mean().detach())
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.log_likelihood(*batch(SENTENCES), torch.zeros(2, 3, 2)), "z must be"),
        (lambda m: m.posterior(torch.zeros(3, 2), torch.tensor([1, 1, 1])), "tokens must be"),
        (lambda m: m.posterior(torch.tensor([[4, 5]]), torch.tensor([3])), "lengths must lie in"),
        (lambda m: m.posterior(torch.tensor([[4, 5]]), torch.tensor([0])), "lengths must lie in"),
        (lambda m: m.posterior(torch.tensor([[4, 5]]), torch.tensor([1, 2])), "lengths must be"),
        (lambda m: m.bound(*batch(SENTENCES), objective="map"), "unknown objective"),
        (lambda m: SentenceVAE(4), "vocab_size"),
        (lambda m: SentenceVAE(10, condition="late"), "condition must be"),
        (lambda m: SentenceVAE(10, word_dropout=1.5), "word_dropout must lie"),
        (lambda m: SentenceVAE(10, latent=-1), "latent must be"),
    ],
)
def test_bad_input_is_one_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(tiny())
