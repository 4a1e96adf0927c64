r"""The sentence VAE of Bowman et al. (2016): an LSTM encoder, a diagonal Gaussian
:math:`q(z \mid x)`, an LSTM decoder conditioned on z; with ``latent=0`` the LSTM language
model, by the same code.

A sentence :math:`x = w_1 \dots w_n` is read by the encoder LSTM (packed, so padding is never
read); its last state :math:`h^\text{enc}_n` gives

.. math::
    q(z \mid x) = \mathcal N\big(\mu, \operatorname{diag}\sigma^2\big), \qquad
    (\mu, \log\sigma^2) = W_q h^\text{enc}_n + b_q, \qquad p(z) = \mathcal N(0, I).

The decoder reads :math:`\langle\text{bos}\rangle\, w_1 \dots w_n` and predicts
:math:`w_1 \dots w_n\, \langle\text{eos}\rangle`, from the initial state
:math:`(h_0, c_0) = W_z z + b_z` (``condition="initial"``, the paper's) and, with
``condition="every"``, z concatenated to every input as well:

.. math::
    \log p(x \mid z) = \sum_{t=1}^{n+1} \log \operatorname{softmax}(W_o h_t + b_o)_{w_t},
    \qquad w_{n+1} = \langle\text{eos}\rangle.

Word dropout replaces each decoder input but :math:`\langle\text{bos}\rangle` by
:math:`\langle\text{unk}\rangle` with probability ``word_dropout`` while training, so the
decoder must lean on z; at rate 1 the decoder is *inputless*: it sees no word, in training
or evaluation. With ``latent=0`` there is no encoder and no z: q and p are the same
zero-dimensional Gaussian, the KL is 0 and the ELBO is :math:`\log p(x)` exactly, the LSTM
language model. The bounds go through :func:`reparam.objectives.elbo` and
:func:`reparam.objectives.iwae`, with the k samples as a leading dimension (the decoder runs
on k·B sentences at once).

The defaults, 353-dimensional embeddings, 191 LSTM units and 13 latent dimensions, are the
sizes Bowman et al. give for their Penn Treebank models (seed 002 states none).

References:
    Bowman, Vilnis, Vinyals, Dai, Jozefowicz & Bengio (2016), Generating Sentences from a
    Continuous Space, CoNLL.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Independent
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from reparam.checks import count, non_negative_int, positive_int, real
from reparam.data.vocabulary import BOS, EOS, PAD, SPECIALS, UNK
from reparam.estimators import BoundEstimator, Estimator
from reparam.models.base import OBJECTIVES, at_batch_shape
from reparam.models.networks import diagonal_normal
from reparam.objectives import analytic_kl, elbo, iwae

CONDITIONS = ("initial", "every")

State = tuple[Tensor, Tensor] | None


class Terms(NamedTuple):
    r"""A batch's bound and its KL term, each ``[B]``: ``bound`` is the ELBO
    :math:`\mathbb E_q[\log p(x \mid z)] - \beta\,\mathrm{KL}` or :math:`\mathcal L_k`, and
    ``kl`` is :math:`\mathrm{KL}(q(z \mid x) \,\|\, p(z))` (so the ELBO's reconstruction term
    is ``bound + beta * kl``)."""

    bound: Tensor
    kl: Tensor


class SentenceVAE(nn.Module):
    r"""The sentence VAE (the module docstring has the equations); ``latent=0`` is the LSTM
    language model.

    Sentences come as ``tokens [B, T]``, word indices of a :class:`~reparam.data.Vocabulary`
    without ``<bos>``/``<eos>``, right-padded, and ``lengths [B]`` (each at least 1).

    Arguments:
        vocab_size: words, the four specials included.
        embedding: the word embeddings' size (one table, shared by encoder and decoder).
        hidden: the LSTMs' units.
        latent: z's dimensions (0: the language model).
        condition: ``"initial"`` (z sets the decoder's initial state) or ``"every"`` (also
            concatenated to every decoder input).
        word_dropout: the rate at which decoder inputs become ``<unk>`` in training (1: the
            inputless decoder).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = SentenceVAE(10, embedding=8, hidden=8, latent=2)
        >>> tokens, lengths = torch.tensor([[4, 5, 6], [7, 0, 0]]), torch.tensor([3, 1])
        >>> model.bound(tokens, lengths, k=3).shape, model.log_likelihood(
        ...     tokens, lengths, torch.zeros(5, 2, 2)).shape
        (torch.Size([2]), torch.Size([5, 2]))
        >>> language_model = SentenceVAE(10, embedding=8, hidden=8, latent=0)
        >>> bound = language_model.bound(tokens, lengths, objective="iwae", k=4)
        >>> torch.allclose(bound, language_model.log_likelihood(tokens, lengths, torch.zeros(2, 0)))
        True
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        embedding: int = 353,
        hidden: int = 191,
        latent: int = 13,
        condition: str = "initial",
        word_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = count(
            "vocab_size", vocab_size, len(SPECIALS) + 1, " (4 specials and a word)"
        )
        self.embedding_size = positive_int("embedding", embedding)
        self.hidden = positive_int("hidden", hidden)
        self.latent = non_negative_int("latent", latent)
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
        self.condition = condition
        if not 0.0 <= real("word_dropout", word_dropout) <= 1.0:
            raise ValueError(f"word_dropout must lie in [0, 1], got {word_dropout!r}")
        self.word_dropout = float(word_dropout)
        self.embedding = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        if latent:
            self.encoder = nn.LSTM(embedding, hidden, batch_first=True)
            self.posterior_head = nn.Linear(hidden, 2 * latent)
            self.initial_head = nn.Linear(latent, 2 * hidden)
        inputs = embedding + (latent if condition == "every" else 0)
        self.decoder = nn.LSTM(inputs, hidden, batch_first=True)
        self.output = nn.Linear(hidden, vocab_size)
        self.register_buffer("prior_loc", torch.zeros(latent))

    @property
    def inputless(self) -> bool:
        """Whether the decoder sees no word at all (word dropout 1)."""
        return self.word_dropout == 1.0

    def prior(self) -> Independent:
        """:math:`p(z) = \\mathcal N(0, I)`, batch shape ``[]``."""
        return diagonal_normal(self.prior_loc, torch.ones_like(self.prior_loc))

    def posterior(self, tokens: Tensor, lengths: Tensor) -> Independent:
        r""":math:`q(z \mid x)` of each sentence, batch shape ``[B]`` (zero-dimensional for
        the language model)."""
        lengths = check_batch(tokens, lengths)
        if not self.latent:
            zeros = tokens.new_zeros(tokens.shape[0], 0, dtype=self.prior_loc.dtype)
            return diagonal_normal(zeros, torch.ones_like(zeros))
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (last, _) = self.encoder(packed)
        loc, log_variance = self.posterior_head(last[-1]).chunk(2, -1)
        return diagonal_normal(loc, (0.5 * log_variance).exp())

    def posterior_mean(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        r""":math:`\mathbb E_q[z] = \mu(x)`, ``[B, latent]``."""
        return self.posterior(tokens, lengths).mean

    def kl(self, q: Independent) -> Tensor:
        r""":math:`\mathrm{KL}(q(z \mid x) \,\|\, p(z))` of each sentence of the posterior
        ``q`` (batch ``[B]``), analytic: ``[B]``."""
        return analytic_kl(q, at_batch_shape(self.prior(), q.batch_shape))

    def initial_state(self, z: Tensor) -> State:
        """The decoder's initial ``(h_0, c_0)``, each ``[1, N, hidden]``, from ``z [N, latent]``
        (None, zeros, for the language model)."""
        if not self.latent:
            return None
        h, c = self.initial_head(z).chunk(2, -1)
        return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()

    def decoder_inputs(self, words: Tensor, real: Tensor) -> Tensor:
        """``words`` with word dropout applied where ``real`` (the positions of actual words,
        not ``<bos>`` or padding): always for the inputless decoder, else in training only."""
        if self.inputless:
            return words.masked_fill(real, UNK)
        if not self.training or self.word_dropout == 0.0:
            return words
        dropped = real & (torch.rand(words.shape, device=words.device) < self.word_dropout)
        return words.masked_fill(dropped, UNK)

    def embed(self, words: Tensor, z: Tensor) -> Tensor:
        """The decoder's input vectors ``[N, L, ·]`` for ``words [N, L]`` and ``z [N, latent]``."""
        x = self.embedding(words)
        if self.condition == "every" and self.latent:
            x = torch.cat([x, z.unsqueeze(1).expand(-1, x.shape[1], -1)], -1)
        return x

    def log_likelihood(self, tokens: Tensor, lengths: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x \mid z)` summed over the n + 1 targets of each sentence, for
        ``z [*samples, B, latent]``: ``[*samples, B]``. The decoder runs once on the
        samples·B sentences, packed: padding neither enters nor is scored."""
        lengths_cpu = check_batch(tokens, lengths)
        batch = tokens.shape[0]
        if z.dim() < 2 or z.shape[-2:] != (batch, self.latent):
            raise ValueError(
                f"z must be [*samples, {batch}, {self.latent}] (B sentences, latent), got shape "
                f"{tuple(z.shape)}"
            )
        samples = z.shape[:-2]
        n = samples.numel()
        flat_z = z.reshape(n * batch, self.latent)
        bos = tokens.new_full((batch, 1), BOS)
        positions = torch.arange(tokens.shape[1] + 1, device=tokens.device)
        real = (positions > 0) & (positions <= lengths.unsqueeze(1))
        inputs = self.decoder_inputs(torch.cat([bos, tokens], 1).repeat(n, 1), real.repeat(n, 1))
        padded = torch.cat([tokens, tokens.new_full((batch, 1), PAD)], 1)
        targets = padded.scatter(1, lengths.unsqueeze(1), EOS).repeat(n, 1)
        steps = (lengths_cpu + 1).repeat(n)
        packed = pack_padded_sequence(
            self.embed(inputs, flat_z), steps, batch_first=True, enforce_sorted=False
        )
        hidden, _ = self.decoder(packed, self.initial_state(flat_z))
        assert isinstance(hidden, PackedSequence)
        flat_targets = pack_like(targets, steps)
        log_p = -F.cross_entropy(self.output(hidden.data), flat_targets, reduction="none")
        rows = pack_like(
            torch.arange(n * batch, device=tokens.device).unsqueeze(1).expand_as(targets), steps
        )
        total = log_p.new_zeros(n * batch).index_add_(0, rows, log_p)
        return total.view(*samples, batch)

    def log_joint(self, tokens: Tensor, lengths: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x, z) = \log p(x \mid z) + \log p(z)`, ``[*samples, B]``."""
        return self.log_likelihood(tokens, lengths, z) + self.prior().log_prob(z)

    def forward(self, tokens: Tensor, lengths: Tensor, **options: object) -> Terms:
        """:meth:`terms`; the forward pass that DistributedDataParallel wraps."""
        return self.terms(tokens, lengths, **options)  # type: ignore[arg-type]

    def terms(
        self,
        tokens: Tensor,
        lengths: Tensor,
        *,
        objective: str = "elbo",
        k: int = 1,
        estimator: str | Estimator | BoundEstimator = "auto",
        beta: float = 1.0,
    ) -> Terms:
        r"""The bound of each sentence — the ELBO with KL weight β (k samples) or the IWAE
        bound :math:`\mathcal L_k` — and its KL term, from one encoder pass.

        ``estimator`` is an estimator object or a spec of ``reparam.estimators.names(
        objective, "continuous")`` (``pathwise``; ``dreg`` for the IWAE bound), as for
        :meth:`reparam.models.LatentModel.bound`.
        """
        q = self.posterior(tokens, lengths)
        prior = at_batch_shape(self.prior(), q.batch_shape)
        kl = self.kl(q)
        if objective == "iwae":
            bound = iwae(lambda z: self.log_joint(tokens, lengths, z), q, k, estimator)
        elif objective == "elbo":
            likelihood = lambda z: self.log_likelihood(tokens, lengths, z)  # noqa: E731
            bound = elbo(likelihood, q, prior, k=k, estimator=estimator, beta=beta)
        else:
            raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
        return Terms(bound, kl)

    def bound(self, tokens: Tensor, lengths: Tensor, **options: object) -> Tensor:
        """The bound of each sentence, ``[B]`` (:meth:`terms` without the KL term)."""
        return self.terms(tokens, lengths, **options).bound  # type: ignore[arg-type]

    def step(self, words: Tensor, state: State, z: Tensor) -> tuple[Tensor, State]:
        r"""One decoding step: the log-probabilities ``[N, vocab]`` of the next word after
        ``words [N]`` (``<bos>`` first), and the new state. The inputless decoder is fed
        ``<unk>`` for every word but ``<bos>``."""
        inputs = self.decoder_inputs(words.unsqueeze(1), (words != BOS).unsqueeze(1))
        hidden, state = self.decoder(self.embed(inputs, z), state)
        return F.log_softmax(self.output(hidden[:, 0]), -1), state


@torch.compiler.disable  # data-dependent checks: run eagerly, outside a compiled graph
def check_batch(tokens: Tensor, lengths: Tensor) -> Tensor:
    """``lengths`` on the CPU after checking that ``tokens`` is an integer ``[B, T]`` and
    ``lengths`` a ``[B]`` of values in ``[1, T]``."""
    if tokens.dim() != 2 or tokens.is_floating_point():
        raise ValueError(
            f"tokens must be word indices [B, T], got {tokens.dtype} of shape {tuple(tokens.shape)}"
        )
    if lengths.shape != tokens.shape[:1]:
        raise ValueError(
            f"lengths must be [B] = [{tokens.shape[0]}], got shape {tuple(lengths.shape)}"
        )
    lengths_cpu = lengths.cpu()
    if len(lengths_cpu) and not (
        int(lengths_cpu.min()) >= 1 and int(lengths_cpu.max()) <= tokens.shape[1]
    ):
        raise ValueError(
            f"lengths must lie in [1, {tokens.shape[1]}] (a sentence has a word, tokens has "
            f"{tokens.shape[1]} columns), got {lengths_cpu.min()} to {lengths_cpu.max()}"
        )
    return lengths_cpu


def pack_like(values: Tensor, lengths: Tensor) -> Tensor:
    """``values [N, L]`` in the order a batch-first sequence of ``lengths`` is packed:
    the ``.data`` of its PackedSequence."""
    return pack_padded_sequence(values, lengths, batch_first=True, enforce_sorted=False).data
