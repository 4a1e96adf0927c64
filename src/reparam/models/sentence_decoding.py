r"""Decoding sentences from a :class:`~reparam.models.SentenceVAE`'s z: greedy, beam and
sampled, and the homotopy between two sentences (Bowman et al. 2016, Table 7).

Each decoder starts from ``<bos>`` and the initial state of z and stops a sentence at
``<eos>`` or after ``max_length`` words. The result's ``scores`` are the sentences' log
probabilities under the model, :math:`\log p(w_1 \dots w_n\, \langle\text{eos}\rangle \mid z)
= \sum_{t=1}^{n+1} \log p(w_t \mid w_{<t}, z)` (without the ``<eos>`` term for a sentence
cut at ``max_length``).

- **greedy**: :math:`w_t = \arg\max_w p(w \mid w_{<t}, z)`.
- **beam** of width b: the b prefixes of highest :math:`\sum_t \log p(w_t \mid w_{<t}, z)`
  are kept at each step, each extended by every word; a finished sentence stays in the beam
  with its score. The answer is the finished sentence of highest score, or with
  ``length_norm`` of highest score per predicted token, :math:`\frac{1}{n+1}\sum_{t=1}^{n+1}
  \log p(w_t \mid \cdot)` (the search itself always ranks by the sum). Width 1 is greedy.
- **sampled** at temperature τ: :math:`w_t \sim \operatorname{softmax}(\log p(\cdot \mid
  w_{<t}, z) / \tau)`.
- **homotopy**: greedy decodes of :math:`z(s) = (1 - s)\,\mu(x_1) + s\,\mu(x_2)` at evenly
  spaced :math:`s \in [0, 1]`, from the posterior means of two sentences.

References:
    Bowman, Vilnis, Vinyals, Dai, Jozefowicz & Bengio (2016), Generating Sentences from a
    Continuous Space, CoNLL (greedy decoding, homotopies: Tables 3 and 7).

Example:
    >>> import torch
    >>> from reparam.models import SentenceVAE
    >>> _ = torch.manual_seed(0)
    >>> model = SentenceVAE(12, embedding=8, hidden=8, latent=2).eval()
    >>> z = model.prior().sample((3,))
    >>> decoded = greedy(model, z, max_length=6)
    >>> decoded.tokens.shape[0], bool((decoded.lengths <= 6).all())
    (3, True)
    >>> bool(torch.equal(beam(model, z, width=1, max_length=6).tokens, decoded.tokens))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from reparam.checks import count, positive_real
from reparam.data.vocabulary import BOS, EOS, PAD
from reparam.models.sentence_vae import SentenceVAE


class Decoded(NamedTuple):
    r"""Decoded sentences: ``tokens [N, L]`` (words, ``<pad>`` after; no ``<bos>``/``<eos>``),
    ``lengths [N]`` (words), ``scores [N]`` (log probabilities under the model) and
    ``finished [N]`` (whether the sentence ended with ``<eos>``)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    finished: Tensor


Pick = Callable[[Tensor], Tensor]


def check_z(model: SentenceVAE, z: Tensor) -> None:
    """A ValueError unless ``z`` is ``[N, latent]`` codes of ``model``."""
    if z.dim() != 2 or z.shape[1] != model.latent:
        raise ValueError(f"z must be [N, {model.latent}] (N codes), got shape {tuple(z.shape)}")


def choosable(log_probs: Tensor) -> Tensor:
    """``log_probs`` with ``<pad>`` and ``<bos>`` ruled out: no decoder emits them."""
    return log_probs.index_fill(-1, torch.tensor([PAD, BOS], device=log_probs.device), -torch.inf)


@torch.no_grad()
def unroll(model: SentenceVAE, z: Tensor, pick: Pick, max_length: int) -> Decoded:
    """Decode one word a step with ``pick`` (log-probabilities ``[N, vocab]``, ``<pad>`` and
    ``<bos>`` ruled out, to words ``[N]``) until every sentence has ended, at most
    ``max_length`` words and an ``<eos>``."""
    check_z(model, z)
    max_length = count("max_length", max_length)
    n = z.shape[0]
    state = model.initial_state(z)
    words = torch.full((n,), BOS, dtype=torch.long, device=z.device)
    scores = z.new_zeros(n)
    finished = torch.zeros(n, dtype=torch.bool, device=z.device)
    lengths = torch.zeros(n, dtype=torch.long, device=z.device)
    columns = [words.new_zeros(n, 0)]
    for t in range(max_length + 1):
        log_probs, state = model.step(words, state, z)
        words = pick(choosable(log_probs))
        ended = ~finished & (words == EOS)
        picked = log_probs.gather(1, words[:, None])[:, 0]
        if t == max_length:  # no room for another word: only an <eos> counts
            scores += torch.where(ended, picked, 0.0)
            finished |= ended
            break
        scores += torch.where(finished, 0.0, picked)
        finished |= ended
        lengths += (~finished).long()
        columns.append(torch.where(finished, PAD, words)[:, None])
        if bool(finished.all()):
            break
    tokens = torch.cat(columns, 1)
    return Decoded(tokens[:, : int(lengths.max()) if n else 0], lengths, scores, finished)


def greedy(model: SentenceVAE, z: Tensor, *, max_length: int = 50) -> Decoded:
    """The greedy decode of each code ``z [N, latent]`` (the module docstring)."""
    return unroll(model, z, lambda log_probs: log_probs.argmax(-1), max_length)


def sample(
    model: SentenceVAE,
    z: Tensor,
    *,
    temperature: float = 1.0,
    max_length: int = 50,
    generator: torch.Generator | None = None,
) -> Decoded:
    r"""A sentence drawn word by word from :math:`p(\cdot \mid z)` at ``temperature`` τ for
    each code ``z [N, latent]`` (τ → 0 approaches greedy), with ``generator`` if given."""
    temperature = positive_real("temperature", temperature)

    def pick(log_probs: Tensor) -> Tensor:
        probs = torch.softmax(log_probs / temperature, -1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    return unroll(model, z, pick, max_length)


@torch.no_grad()
def beam(
    model: SentenceVAE,
    z: Tensor,
    *,
    width: int = 5,
    max_length: int = 50,
    length_norm: bool = False,
) -> Decoded:
    """Beam search of ``width`` for each code ``z [N, latent]`` (the module docstring)."""
    check_z(model, z)
    b = count("width", width)
    max_length = count("max_length", max_length)
    n, vocab = z.shape[0], model.vocab_size
    codes = z.repeat_interleave(b, 0)
    state = model.initial_state(codes)
    words = torch.full((n * b,), BOS, dtype=torch.long, device=z.device)
    scores = z.new_full((n, b), -torch.inf)
    scores[:, 0] = 0.0  # one live prefix at first: the others would repeat it
    finished = torch.zeros(n, b, dtype=torch.bool, device=z.device)
    history = words.new_zeros(n, b, 0)
    carry = z.new_full((vocab,), -torch.inf)
    carry[PAD] = 0.0  # a finished sentence's one continuation, which keeps its score
    rows = torch.arange(n, device=z.device).unsqueeze(1) * b
    for t in range(max_length + 1):
        log_probs, state = model.step(words, state, codes)
        log_probs = choosable(log_probs).view(n, b, vocab)
        log_probs = torch.where(finished.unsqueeze(-1), carry, log_probs)
        top, index = (scores.unsqueeze(-1) + log_probs).view(n, b * vocab).topk(b, -1)
        parent, word = index // vocab, index % vocab
        was_finished = finished.gather(1, parent)
        if t == max_length:  # no room for another word: a prefix not ending here is cut
            cut = ~was_finished & (word != EOS)
            top = torch.where(cut, scores.gather(1, parent), top)
            word = torch.where(cut, PAD, word)
        scores, finished = top, was_finished | (word == EOS)
        history = torch.cat([history.gather(1, parent.unsqueeze(-1).expand_as(history)),
                             word.unsqueeze(-1)], -1)  # fmt: skip
        chosen = (rows + parent).view(-1)
        state = (state[0][:, chosen], state[1][:, chosen])  # type: ignore[index]
        words = word.view(-1)
        if bool(finished.all()):
            break
    lengths = ((history != PAD) & (history != EOS)).sum(-1)
    key = scores / (lengths + 1) if length_norm else scores
    key = torch.where(finished, key, -torch.inf)
    best = torch.where(finished.any(1), key.argmax(1), scores.argmax(1)).unsqueeze(1)
    tokens = history.gather(1, best.unsqueeze(-1).expand(-1, -1, history.shape[-1]))[:, 0]
    lengths = lengths.gather(1, best)[:, 0]
    tokens = tokens.masked_fill(tokens == EOS, PAD)[:, : int(lengths.max()) if n else 0]
    return Decoded(tokens, lengths, scores.gather(1, best)[:, 0], finished.gather(1, best)[:, 0])


def homotopy(
    model: SentenceVAE, tokens: Tensor, lengths: Tensor, *, points: int = 7, max_length: int = 50
) -> Decoded:
    r"""Greedy decodes of ``points`` codes evenly spaced on the line between the posterior
    means of the two sentences ``tokens [2, T]``, ``lengths [2]`` (Bowman et al.'s Table 7):
    the first and the last are the decodes of the two means."""
    if not model.latent:
        raise ValueError("homotopy needs a latent space: the language model (latent 0) has none")
    if tokens.dim() != 2 or tokens.shape[0] != 2:
        raise ValueError(f"tokens must hold two sentences [2, T], got shape {tuple(tokens.shape)}")
    points = count("points", points, 2)
    with torch.no_grad():
        means = model.posterior_mean(tokens, lengths)
    s = torch.linspace(0.0, 1.0, points, device=means.device).unsqueeze(1)
    return greedy(model, (1 - s) * means[0] + s * means[1], max_length=max_length)
