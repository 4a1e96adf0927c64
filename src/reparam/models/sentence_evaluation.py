r"""How well a :class:`~reparam.models.SentenceVAE` models held-out sentences: the NLL by
importance sampling, perplexity, the KL term and the active units.

For each sentence x, with k draws :math:`z_i \sim q(z \mid x)`,

.. math::
    -\log p(x) \le -\mathcal L_k(x) = -\log \frac1k \sum_{i=1}^k
        \frac{p(x \mid z_i)\, p(z_i)}{q(z_i \mid x)} \le -\mathcal L_1(x),

the bound tightening as k grows (Burda et al. 2016); the k draws are taken ``chunk`` at a time
and merged by ``logaddexp``, so memory does not grow with k. For the language model
(``latent=0``) every weight is :math:`p(x)`: the NLL is exact. Over N sentences of
:math:`n_1, \dots, n_N` words,

.. math::
    \text{NLL} = \frac1N \sum_j -\mathcal L_k(x_j), \qquad
    \text{perplexity} = \exp\Big(\frac{\sum_j -\mathcal L_k(x_j)}{\sum_j (n_j + 1)}\Big),

every predicted token counted, each sentence's ``<eos>`` included. Bowman et al.'s Table 1
pairs (NLL 100 with perplexity 116, 101 with 119, 135 with 600, 125 with 380) all imply
:math:`\approx 21.1` tokens a sentence, the Penn Treebank's mean length *without* ``<eos>``
(887,521 words in 42,068 training sentences): ``word_perplexity`` divides by the words
alone, :math:`\sum_j n_j`, for that comparison. Active units are the latent dimensions u with
:math:`\operatorname{Var}_x(\mathbb E_{q(z \mid x)}[z_u]) > 0.01` (Burda et al. 2016, §5.2).

References:
    Bowman et al. (2016), Generating Sentences from a Continuous Space; Burda, Grosse &
    Salakhutdinov (2016), Importance Weighted Autoencoders.

Example:
    >>> import torch
    >>> from reparam.models import SentenceVAE
    >>> _ = torch.manual_seed(0)
    >>> model = SentenceVAE(10, embedding=8, hidden=8, latent=2)
    >>> batches = [(torch.tensor([[4, 5, 6], [7, 0, 0]]), torch.tensor([3, 1]))]
    >>> result = evaluate(model, batches, k=20, chunk=8)
    >>> result.sentences, result.tokens, result.nll <= result.negative_elbo
    (2, 6, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from reparam.checks import count
from reparam.models.sentence_vae import SentenceVAE

ACTIVE = 0.01  # Burda et al.'s threshold on the variance of a posterior mean


@dataclass(frozen=True)
class SentenceEvaluation:
    r"""A model's figures on a set of sentences (the module docstring): per sentence, the
    ``nll`` :math:`-\mathcal L_k`, the ``negative_elbo`` (the mean of the k log-weights)
    and the ``kl`` term, all in nats; ``perplexity`` and ``word_perplexity`` from the
    summed NLL; ``active_units`` of ``latent``."""

    k: int
    sentences: int
    tokens: int
    nll: float
    negative_elbo: float
    kl: float
    perplexity: float
    word_perplexity: float
    active_units: int
    latent: int

    def summary(self) -> str:
        return (
            f"{self.sentences} sentences: NLL = -L_{self.k} {self.nll:.2f} nats, -ELBO "
            f"{self.negative_elbo:.2f}, KL {self.kl:.2f}, perplexity {self.perplexity:.1f} "
            f"(per word {self.word_perplexity:.1f}), active units {self.active_units}/{self.latent}"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@torch.no_grad()
def importance_bounds(
    model: SentenceVAE, tokens: Tensor, lengths: Tensor, k: int, chunk: int = 100
) -> tuple[Tensor, Tensor]:
    r""":math:`\mathcal L_k` and the k-sample ELBO estimate (the mean log-weight) of each
    sentence, ``[B]`` each, drawing the samples ``chunk`` at a time."""
    k, chunk = count("k", k), count("chunk", chunk)
    q = model.posterior(tokens, lengths)
    total = q.mean.new_full(tokens.shape[:1], -math.inf)
    mean = q.mean.new_zeros(tokens.shape[:1])
    for start in range(0, k, chunk):
        z = q.sample((min(chunk, k - start),))
        log_w = model.log_joint(tokens, lengths, z) - q.log_prob(z)
        total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
        mean += log_w.sum(0) / k
    return total - math.log(k), mean


@torch.no_grad()
def evaluate(
    model: SentenceVAE, batches: Iterable[tuple[Tensor, Tensor]], *, k: int = 100, chunk: int = 100
) -> SentenceEvaluation:
    r"""The figures of the module docstring over ``batches`` of ``(tokens, lengths)``, with
    :math:`\mathcal L_k` from k importance samples, ``chunk`` at a time (the model is put in
    eval mode: no word dropout but the inputless decoder's)."""
    model.eval()
    nll = negative_elbo = kl = 0.0
    sentences = words = 0
    means = []
    for tokens, lengths in batches:
        bound, elbo = importance_bounds(model, tokens, lengths, k, chunk)
        q = model.posterior(tokens, lengths)
        nll -= float(bound.sum())
        negative_elbo -= float(elbo.sum())
        kl += float(model.kl(q).sum())
        sentences += len(lengths)
        words += int(lengths.sum())
        means.append(q.mean)
    if not sentences:
        raise ValueError("batches must hold at least one sentence")
    spread = torch.cat(means).var(0, correction=0) if model.latent else torch.zeros(0)
    return SentenceEvaluation(
        k=k,
        sentences=sentences,
        tokens=words + sentences,
        nll=nll / sentences,
        negative_elbo=negative_elbo / sentences,
        kl=kl / sentences,
        perplexity=math.exp(nll / (words + sentences)),
        word_perplexity=math.exp(nll / words),
        active_units=int((spread > ACTIVE).sum()),
        latent=model.latent,
    )
