r"""DRAW, the Deep Recurrent Attentive Writer: a sequential VAE that draws its image on a
canvas in T glimpses (Gregor, Danihelka, Graves, Rezende & Wierstra 2015).

For :math:`t = 1, \dots, T`, from zero states and a zero canvas :math:`c_0`:

.. math::
    \hat x_t = x - \sigma(c_{t-1}), \qquad
    r_t = \text{read}(x, \hat x_t, h^\text{dec}_{t-1}), \qquad
    h^\text{enc}_t = \text{LSTM}^\text{enc}(h^\text{enc}_{t-1}, [r_t, h^\text{dec}_{t-1}]),

    z_t \sim q(z_t \mid h^\text{enc}_t) = \mathcal N(\mu_t, \operatorname{diag}\sigma_t^2), \qquad
    h^\text{dec}_t = \text{LSTM}^\text{dec}(h^\text{dec}_{t-1}, z_t), \qquad
    c_t = c_{t-1} + \text{write}(h^\text{dec}_t),

with :math:`(\mu_t, \log\sigma_t)` a linear map of :math:`h^\text{enc}_t`, the prior
:math:`p(z_t) = \mathcal N(0, I)` and Bernoulli pixels :math:`p(x \mid z_{1:T}) =
\text{Bernoulli}(\sigma(c_T))`. Because :math:`q(z_t \mid \cdot)` depends on the decoder's
state, and so on :math:`z_{<t}`, the T latents are one sample of a path, drawn step by
step with ``rsample`` (the pathwise estimator, as :class:`~reparam.models.VAE` trains), and
the bounds are computed along one unrolling:

.. math::
    \mathcal L = \mathbb E_q\Big[\log p(x \mid z_{1:T}) - \sum_t
        \mathrm{KL}\big(q(z_t \mid z_{<t}, x) \,\|\, p(z_t)\big)\Big], \qquad
    \mathcal L_k = \log \frac1k \sum_{i=1}^k
        \frac{p(x \mid z^{(i)}_{1:T}) \prod_t p(z^{(i)}_t)}
             {\prod_t q(z^{(i)}_t \mid z^{(i)}_{<t}, x)},

the per-step KLs analytic (:func:`~reparam.objectives.analytic_kl`), :math:`\mathcal L_k`
through :func:`~reparam.objectives.iwae_bound`. With attention, read and write are
:mod:`reparam.models.draw_attention`'s Gaussian filterbanks (read N × N from the image and
the error image, write an N × N patch), their parameters linear maps of the decoder's
state whose biases start at :func:`~reparam.models.draw_attention.tiling`'s grid (the read
sees the whole image; a patch of ones writes one on the mean pixel); without, read is :math:`[x, \hat x_t]` and write a linear map of
:math:`h^\text{dec}_t` to the whole canvas. The paper's binarized-MNIST model: 256-unit
LSTMs, 100 latents, T = 64, read 2 × 2, write 5 × 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.checks import count, last_dim, positive_int
from reparam.models.draw_attention import PARAMETERS, Glimpse, read, tiling, write
from reparam.models.networks import diagonal_normal
from reparam.objectives import analytic_kl, iwae_bound, require_weight

OBJECTIVES = ("elbo", "iwae")


@dataclass(frozen=True)
class Path:
    r"""One unrolling of the T steps for a batch of ``n`` rows: the final canvas's logits
    ``[n, A·B]``, :math:`\sum_t \mathrm{KL}_t` ``[n]`` and, when asked for,
    :math:`\sum_t \log p(z_t) - \log q(z_t \mid \cdot)` ``[n]``."""

    logits: Tensor
    kl: Tensor
    log_ratio: Tensor | None


@dataclass(frozen=True)
class Drawing:
    r"""The generative pass step by step: ``canvases`` :math:`\sigma(c_t)`, ``[T, n, A·B]``,
    and, with attention, the write glimpses ``[T, n]`` of ``write_size`` × ``write_size``
    patches (None without attention)."""

    canvases: Tensor
    glimpses: Glimpse | None
    width: int
    height: int
    write_size: int

    @property
    def means(self) -> Tensor:
        r""":math:`\mathbb E[x \mid z_{1:T}] = \sigma(c_T)`, ``[n, A·B]``."""
        return self.canvases[-1]


class DRAW(nn.Module):
    r"""DRAW with or without attention on ``height`` × ``width`` binary images (the module
    docstring has the equations).

    Arguments:
        width: A, pixels a row.
        height: B, rows (default: ``width``).
        glimpses: T, the steps.
        hidden: the LSTMs' units.
        latent: the size of each :math:`z_t`.
        attention: Gaussian-filterbank read and write (else the whole image and canvas).
        read_size: N of the read grid (attention only).
        write_size: N of the write patch (attention only).

    References:
        Gregor, Danihelka, Graves, Rezende & Wierstra (2015), DRAW: A Recurrent Neural Network
        For Image Generation, ICML.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = DRAW(8, glimpses=4, hidden=16, latent=3, read_size=2, write_size=3)
        >>> x = torch.rand(5, 64).bernoulli()
        >>> model.bound(x).shape, model.bound(x, objective="iwae", k=10).shape
        (torch.Size([5]), torch.Size([5]))
        >>> model.sample(2, steps=True).canvases.shape
        torch.Size([4, 2, 64])
    """

    def __init__(
        self,
        width: int,
        height: int | None = None,
        *,
        glimpses: int = 64,
        hidden: int = 256,
        latent: int = 100,
        attention: bool = True,
        read_size: int = 2,
        write_size: int = 5,
    ) -> None:
        super().__init__()
        self.width = positive_int("width", width)
        self.height = positive_int("height", width if height is None else height)
        self.glimpses = positive_int("glimpses", glimpses)
        self.hidden = positive_int("hidden", hidden)
        self.latent = positive_int("latent", latent)
        if not isinstance(attention, bool):
            raise TypeError(f"attention must be True or False, got {attention!r}")
        self.attention = attention
        self.read_size = positive_int("read_size", read_size)
        self.write_size = positive_int("write_size", write_size)
        self.x_dim = self.width * self.height
        reads = 2 * read_size**2 if attention else 2 * self.x_dim
        self.encoder = nn.LSTMCell(reads + hidden, hidden)
        self.decoder = nn.LSTMCell(latent, hidden)
        self.posterior_head = nn.Linear(hidden, 2 * latent)
        if attention:
            self.read_head = nn.Linear(hidden, PARAMETERS)
            self.write_head = nn.Linear(hidden, PARAMETERS)
            self.patch_head = nn.Linear(hidden, write_size**2)
            with torch.no_grad():
                self.read_head.bias.copy_(tiling(self.width, self.height, read_size))
                self.write_head.bias.copy_(tiling(self.width, self.height, write_size, write=True))
        else:
            self.canvas_head = nn.Linear(hidden, self.x_dim)
        self.register_buffer("prior_loc", torch.zeros(latent))

    def forward(self, x: Tensor, **options: object) -> Tensor:
        """:meth:`bound`; the forward pass that DistributedDataParallel wraps."""
        return self.bound(x, **options)  # type: ignore[arg-type]

    def bound(self, x: Tensor, *, objective: str = "elbo", k: int = 1, beta: float = 1.0) -> Tensor:
        r"""The ELBO :math:`\mathcal L` (the mean of k one-path estimates, the KL term weighted
        by ``beta``: :class:`~reparam.objectives.KLAnnealing` schedules it) or the
        importance-weighted :math:`\mathcal L_k` (k paths) of each row of ``x`` ``[B, A·B]``,
        shape ``[B]``; :math:`-\mathcal L` is the paper's NLL bound, and
        :math:`-\mathcal L_k \ge -\log p(x)` tightens as k grows."""
        last_dim("x", x, self.x_dim, "the model's width × height")
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
        k = count("k", k)
        beta = require_weight(beta, "beta")
        if objective == "iwae" and beta != 1.0:
            raise ValueError("beta weights the ELBO's KL term: the iwae bound has none")
        if objective == "iwae":
            return iwae_bound(self.log_weights(x, k))
        rows = x.expand(k, *x.shape).reshape(-1, self.x_dim)
        path = self.unroll(rows)
        log_likelihood = bernoulli_log_likelihood(path.logits, rows)
        return (log_likelihood - beta * path.kl).view(k, -1).mean(0)

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        r""":math:`\log w_i = \log p(x \mid z^{(i)}_{1:T}) + \sum_t \log p(z^{(i)}_t) - \log
        q(z^{(i)}_t \mid z^{(i)}_{<t}, x)` of k paths for each row of ``x`` ``[B, A·B]``, shape
        ``[k, B]`` (all k unrolled at once)."""
        last_dim("x", x, self.x_dim, "the model's width × height")
        k = count("k", k)
        rows = x.expand(k, *x.shape).reshape(-1, self.x_dim)
        path = self.unroll(rows, log_ratio=True)
        assert path.log_ratio is not None
        return (bernoulli_log_likelihood(path.logits, rows) + path.log_ratio).view(k, -1)

    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`\log p(x \mid z_{1:T})` and :math:`\sum_t \mathrm{KL}_t` of one path for
        each row of ``x`` ``[B, A·B]``, each ``[B]`` (their difference is the one-path ELBO)."""
        last_dim("x", x, self.x_dim, "the model's width × height")
        path = self.unroll(x)
        return bernoulli_log_likelihood(path.logits, x), path.kl

    def unroll(self, x: Tensor, *, log_ratio: bool = False) -> Path:
        """The T steps of the inference pass for rows ``x`` ``[n, A·B]``, one path a row."""
        n = x.shape[0]
        zeros = x.new_zeros(n, self.hidden)
        encoder_state, decoder_state = (zeros, zeros), (zeros, zeros)
        canvas = x.new_zeros(n, self.x_dim)
        prior = self.prior()
        kl = x.new_zeros(n)
        ratio = x.new_zeros(n) if log_ratio else None
        for _ in range(self.glimpses):
            h_decoder = decoder_state[0]
            glance = self.read(x, x - torch.sigmoid(canvas), h_decoder)
            encoder_state = self.encoder(torch.cat([glance, h_decoder], -1), encoder_state)
            loc, log_scale = self.posterior_head(encoder_state[0]).chunk(2, -1)
            q = diagonal_normal(loc, log_scale.exp())
            z = q.rsample()
            kl = kl + analytic_kl(q, prior)
            if ratio is not None:
                ratio = ratio + prior.log_prob(z) - q.log_prob(z)
            decoder_state = self.decoder(z, decoder_state)
            canvas = canvas + self.write(decoder_state[0])[0]
        return Path(canvas, kl, ratio)

    def prior(self) -> torch.distributions.Independent:
        """:math:`p(z_t) = \\mathcal N(0, I)`, the same at every step."""
        return diagonal_normal(self.prior_loc, torch.ones_like(self.prior_loc))

    def read(self, x: Tensor, x_hat: Tensor, h_decoder: Tensor) -> Tensor:
        """``[n, 2N²]`` with attention (the glimpse of :math:`h^\\text{dec}_{t-1}`), else
        :math:`[x, \\hat x]`, ``[n, 2·A·B]``."""
        if not self.attention:
            return torch.cat([x, x_hat], -1)
        glimpse = Glimpse.from_decoder(
            self.read_head(h_decoder), self.width, self.height, self.read_size
        )
        shape = (x.shape[0], self.height, self.width)
        return read(x.view(shape), x_hat.view(shape), glimpse, self.read_size).flatten(1)

    def write(self, h_decoder: Tensor) -> tuple[Tensor, Tensor | None]:
        """What step t adds to the canvas, ``[n, A·B]``, and the write glimpse's raw
        parameters ``[n, 5]`` (None without attention)."""
        if not self.attention:
            return self.canvas_head(h_decoder), None
        raw = self.write_head(h_decoder)
        glimpse = Glimpse.from_decoder(raw, self.width, self.height, self.write_size)
        patch = self.patch_head(h_decoder).view(-1, self.write_size, self.write_size)
        return write(patch, glimpse, self.width, self.height).flatten(1), raw

    def decode(self, noise: Tensor) -> Drawing:
        r"""The generative pass from latents ``noise`` ``[T, n, latent]`` (draws of the prior
        for samples): :math:`h^\text{dec}_t = \text{LSTM}^\text{dec}(h^\text{dec}_{t-1},
        z_t)`, :math:`c_t = c_{t-1} + \text{write}(h^\text{dec}_t)`, every step kept."""
        if noise.dim() != 3 or noise.shape[0] != self.glimpses or noise.shape[2] != self.latent:
            raise ValueError(
                f"noise must be [glimpses, n, latent] = [{self.glimpses}, n, {self.latent}], "
                f"got shape {tuple(noise.shape)}"
            )
        zeros = noise.new_zeros(noise.shape[1], self.hidden)
        state, canvas = (zeros, zeros), noise.new_zeros(noise.shape[1], self.x_dim)
        canvases, raws = [], []
        for z in noise:
            state = self.decoder(z, state)
            added, raw = self.write(state[0])
            canvas = canvas + added
            canvases.append(torch.sigmoid(canvas))
            raws.append(raw)
        glimpses = None
        if self.attention:
            stacked = torch.stack(raws)  # type: ignore[arg-type]
            glimpses = Glimpse.from_decoder(stacked, self.width, self.height, self.write_size)
        return Drawing(torch.stack(canvases), glimpses, self.width, self.height, self.write_size)

    @overload
    def sample(self, n: int, *, steps: Literal[False] = False) -> Tensor: ...

    @overload
    def sample(self, n: int, *, steps: Literal[True]) -> Drawing: ...

    @torch.no_grad()
    def sample(self, n: int, *, steps: bool = False) -> Tensor | Drawing:
        r"""``n`` images :math:`\sigma(c_T)` ``[n, A·B]`` generated from the prior, or with
        ``steps`` the whole :class:`Drawing` (every step's canvas and write glimpse)."""
        n = count("n", n)
        noise = self.prior().sample((self.glimpses, n))
        drawing = self.decode(noise)
        return drawing if steps else drawing.means


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    r""":math:`\log \text{Bernoulli}(x \mid \sigma(\text{logits}))` summed over the last
    dimension."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
