r"""Inverse autoregressive flow (Kingma et al. 2016) and its MADE network (Germain et al. 2015)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.checks import last_dim, non_negative_int, positive_int
from reparam.flows.base import FlowTransform


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` of shape [out, in].

    Example:
        >>> layer = MaskedLinear(torch.tensor([[1, 0], [1, 1]]))
        >>> layer(torch.randn(5, 2)).shape
        torch.Size([5, 2])
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""Masked autoencoder for distribution estimation: an autoregressive network
    :math:`(m, s) = \mathrm{MADE}(z, h)` in which :math:`m_i` and :math:`s_i` depend only on
    the variables before :math:`z_i` in the order, and on the context :math:`h`.

    Each unit carries a degree: input :math:`z_i` its position in the order (1 … d), a hidden
    unit a degree :math:`k` that sees the inputs of degree :math:`\le k` and earlier hidden
    units of degree :math:`\le k`, an output of degree :math:`i` the hidden units of degree
    :math:`< i` (Germain et al. 2015, §4). With a context, hidden degrees start at 0: those
    units see only :math:`h` and feed every output, so even :math:`m_1, s_1` depend on
    :math:`h`. The context enters the first hidden layer unmasked. Activations are ELU.

    Arguments:
        z_dim: d, the number of variables.
        context_dim: the size of :math:`h` (0 for none).
        hidden: the hidden layers' widths; a width below d leaves some degrees out.
        reverse: take the variables in the order :math:`z_d, …, z_1`.

    References:
        Germain, Gregor, Murray & Larochelle (2015), MADE: Masked Autoencoder for
        Distribution Estimation.

    Example:
        >>> made = MADE(3, context_dim=4, hidden=(16,))
        >>> m, s = made(torch.randn(10, 2, 3), torch.randn(2, 4))
        >>> m.shape, s.shape
        (torch.Size([10, 2, 3]), torch.Size([10, 2, 3]))
    """

    def __init__(
        self,
        z_dim: int,
        context_dim: int = 0,
        hidden: Sequence[int] = (64, 64),
        reverse: bool = False,
    ) -> None:
        positive_int("z_dim", z_dim)
        non_negative_int("context_dim", context_dim)
        for width in hidden:
            positive_int(f"every entry of hidden {tuple(hidden)}", width)
        if not hidden:
            raise ValueError(f"hidden must list at least one layer width, got {hidden!r}")
        super().__init__()
        self.z_dim, self.context_dim, self.reverse = z_dim, context_dim, reverse
        order = torch.arange(z_dim, 0, -1) if reverse else torch.arange(1, z_dim + 1)
        lowest = 0 if context_dim or z_dim == 1 else 1
        degrees = [order] + [lowest + torch.arange(width) % (z_dim - lowest) for width in hidden]
        self.layers = nn.ModuleList(
            MaskedLinear(out[:, None] >= inp[None, :]) for inp, out in pairwise(degrees)
        )
        self.context = nn.Linear(context_dim, hidden[0]) if context_dim else None
        self.output = MaskedLinear(order.repeat(2)[:, None] > degrees[-1][None, :])

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(m, s)``, each of the shape of ``z`` ``[*sample, *batch, d]``; ``context`` is
        ``[*batch, context_dim]``."""
        if (context is None) != (self.context is None):
            raise ValueError(
                f"this MADE was built with context_dim={self.context_dim}: pass a context "
                f"[*batch, {self.context_dim}] exactly when context_dim > 0."
            )
        last_dim("z", z, self.z_dim, "the MADE's z_dim")
        if context is not None:
            last_dim("context", context, self.context_dim, "the MADE's context_dim")
        x = self.layers[0](z)
        if self.context is not None:
            x = x + self.context(context)
        for layer in self.layers[1:]:
            x = layer(F.elu(x))
        m, s = self.output(F.elu(x)).chunk(2, -1)
        return m, s


def iaf(
    z: Tensor, made: MADE, context: Tensor | None = None, forget_bias: float = 1.0
) -> tuple[Tensor, Tensor]:
    r"""One inverse autoregressive flow step, in the numerically stable LSTM-type form.

    .. math::
        (m, s) = \mathrm{MADE}(z, h), \quad \sigma = \operatorname{sigmoid}(s + b_f), \quad
        f(z) = \sigma \odot z + (1 - \sigma) \odot m, \quad
        \log\lvert\det \partial f/\partial z\rvert = \sum_i \log\sigma_i.

    The Jacobian is triangular in MADE's order with diagonal σ. The forget bias
    :math:`b_f` (1 or 2 in the paper) starts σ near 1, the flow near an identity.

    Returns:
        ``(f(z), log|det J|)`` of shapes ``[*sample, *batch, d]`` and ``[*sample, *batch]``.

    References:
        Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling (2016), Improved Variational
        Inference with Inverse Autoregressive Flow, eq. 10–15.

    Example:
        >>> made = MADE(3, context_dim=4, hidden=(16,))
        >>> y, log_det = iaf(torch.randn(10, 2, 3), made, torch.randn(2, 4))
        >>> log_det.shape
        torch.Size([10, 2])
    """
    m, s = made(z, context)
    gate = torch.sigmoid(s + forget_bias)
    return gate * z + (1 - gate) * m, F.logsigmoid(s + forget_bias).sum(-1)


def iaf_inverse(
    y: Tensor, made: MADE, context: Tensor | None = None, forget_bias: float = 1.0
) -> Tensor:
    r"""The :math:`z` with :math:`f(z) = y` for the IAF step :func:`iaf`.

    :math:`z = y + e^{-(s + b_f)} \odot (y - m)` with :math:`(m, s) = \mathrm{MADE}(z, h)`,
    solved one variable at a time in MADE's order: d passes of the network, each fixing
    one more variable (the price of a fast forward pass).

    Example:
        >>> made, h = MADE(3, context_dim=4, hidden=(16,)), torch.randn(2, 4)
        >>> z = torch.randn(10, 2, 3)
        >>> torch.allclose(iaf_inverse(iaf(z, made, h)[0], made, h), z, atol=1e-5)
        True
    """
    z = torch.zeros_like(y)
    for _ in range(made.z_dim):
        m, s = made(z, context)
        z = y + torch.exp(-(s + forget_bias)) * (y - m)
    return z


class IAFTransform(FlowTransform):
    r"""One IAF step :func:`iaf` with a fixed context, as a ``torch.distributions`` transform.

    The parameters live in ``made`` (shared across data points); the context ``h`` makes
    the transform data-dependent. Alternate ``MADE(..., reverse=True)`` between consecutive
    steps so that every variable gets to depend on every other.

    Arguments:
        made: the autoregressive network.
        context: ``[*batch, context_dim]``, or ``None`` for a MADE without context.
        forget_bias: added to ``s`` before the sigmoid.
        cache_size: 1 (the default) lets ``log_prob`` reuse the point just sampled; see
            :class:`~reparam.flows.planar.FlowTransform`.

    Example:
        >>> from torch.distributions import Independent, Normal, TransformedDistribution
        >>> flow = IAFTransform(MADE(2, context_dim=5, hidden=(8,)), torch.randn(3, 5))
        >>> q = TransformedDistribution(Independent(Normal(torch.zeros(3, 2), 1.0), 1), [flow])
        >>> q.log_prob(q.rsample((4,))).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        made: MADE,
        context: Tensor | None = None,
        forget_bias: float = 1.0,
        cache_size: int = 1,
    ) -> None:
        super().__init__(cache_size)
        self.made, self.context, self.forget_bias = made, context, forget_bias

    def flow(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return iaf(x, self.made, self.context, self.forget_bias)

    def _inverse(self, y: Tensor) -> Tensor:
        return iaf_inverse(y, self.made, self.context, self.forget_bias)
