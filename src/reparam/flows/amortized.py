r"""Flow parameters amortized over data points: the encoder's last hidden layer chooses the flow."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from reparam.checks import integer, last_dim, real
from reparam.flows.base import FlowTransform
from reparam.flows.iaf import MADE, IAFTransform
from reparam.flows.planar import PlanarTransform
from reparam.flows.radial import RadialTransform

KINDS = ("planar", "radial", "iaf")


class PosteriorFlow(nn.Module):
    r"""Maps an encoder's last hidden layer :math:`h` ``[B, context_dim]`` to the flow
    transforms of each data point's approximate posterior.

    For ``"planar"`` and ``"radial"``, one linear layer produces every step's parameters per
    data point, :math:`(u, w, b)` or :math:`(z_0, \tilde\alpha, \tilde\beta)` (Rezende &
    Mohamed 2015, §4.2); the constraints that keep the flows invertible are applied inside
    the flows. For ``"iaf"``, ``length`` MADE networks with shared parameters take :math:`h`
    as their context, alternating the variable order between consecutive steps (Kingma et al.
    2016, §4).

    The posterior is then ``TransformedDistribution(Independent(Normal(mu, sigma), 1),
    flow(h))``: its ``rsample((k,))`` gives ``[k, B, z_dim]`` and its ``log_prob`` on that
    sample ``[k, B]``, computed from the forward pass (see
    :class:`~reparam.flows.base.FlowTransform` for the caching).

    Arguments:
        kind: ``"planar"``, ``"radial"`` or ``"iaf"``.
        length: the number of flow steps K.
        z_dim: the latent dimension d.
        context_dim: the size of :math:`h`.
        hidden: the MADE hidden widths (IAF only).
        forget_bias: added to the IAF gate's logit (IAF only).

    References:
        Rezende & Mohamed (2015), Variational Inference with Normalizing Flows;
        Kingma et al. (2016), Improved Variational Inference with Inverse Autoregressive Flow.

    Example:
        >>> import torch
        >>> from torch.distributions import Independent, Normal, TransformedDistribution
        >>> flow = PosteriorFlow("planar", length=4, z_dim=2, context_dim=8)
        >>> h, mu, sigma = torch.randn(5, 8), torch.zeros(5, 2), torch.ones(5, 2)
        >>> q = TransformedDistribution(Independent(Normal(mu, sigma), 1), flow(h))
        >>> z = q.rsample((3,))
        >>> z.shape, q.log_prob(z).shape
        (torch.Size([3, 5, 2]), torch.Size([3, 5]))
    """

    def __init__(
        self,
        kind: str,
        length: int,
        z_dim: int,
        context_dim: int,
        hidden: Sequence[int] = (64, 64),
        forget_bias: float = 1.0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown flow {kind!r}; choose one of {', '.join(KINDS)}.")
        for name, value in (("length", length), ("z_dim", z_dim), ("context_dim", context_dim)):
            integer(name, value)
        real("forget_bias", forget_bias)
        if length < 1 or z_dim < 1 or context_dim < 1:
            raise ValueError(
                f"a posterior flow needs length, z_dim and context_dim >= 1; got length={length}, "
                f"z_dim={z_dim}, context_dim={context_dim}. For a flow without context, build "
                f"PlanarTransform, RadialTransform or IAFTransform(MADE(z_dim)) directly."
            )
        super().__init__()
        self.kind, self.length, self.z_dim, self.forget_bias = kind, length, z_dim, forget_bias
        self.context_dim = context_dim
        if kind == "iaf":
            self.steps = nn.ModuleList(
                MADE(z_dim, context_dim, hidden, reverse=bool(k % 2)) for k in range(length)
            )
        else:
            self.per_step = 2 * z_dim + 1 if kind == "planar" else z_dim + 2
            self.amortizer = nn.Linear(context_dim, length * self.per_step)

    def forward(self, h: Tensor) -> list[FlowTransform]:
        """The K transforms for the data points in ``h`` ``[*batch, context_dim]``."""
        last_dim("h", h, self.context_dim, "the flow's context_dim")
        if self.kind == "iaf":
            return [IAFTransform(made, h, self.forget_bias) for made in self.steps]
        d = self.z_dim
        params = self.amortizer(h).unflatten(-1, (self.length, self.per_step)).unbind(-2)
        if self.kind == "planar":
            return [PlanarTransform(p[..., :d], p[..., d : 2 * d], p[..., -1]) for p in params]
        return [RadialTransform(p[..., :d], p[..., d], p[..., d + 1]) for p in params]
