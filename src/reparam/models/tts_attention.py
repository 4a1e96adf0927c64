r"""The attention of a Tacotron-style decoder over the encoder's outputs: content-based
(Bahdanau et al. 2015), location-sensitive (Chorowski et al. 2015, Tacotron 2's) and Graves's
Gaussian mixture (Graves 2013, GST-Tacotron's).

At decoder step i, with query :math:`q_i` (the attention RNN's state), encoder outputs
:math:`h_{1:N}` and a mask of the valid ones, each mechanism returns weights
:math:`α_{i,1:N}` (a distribution over the valid positions: padded ones get 0) and the context
:math:`c_i = \sum_j α_{ij} h_j`:

.. math::
    \text{content:}\quad & e_{ij} = w^\top \tanh(W q_i + V h_j + b), \quad
        α_i = \mathrm{softmax}_j(e_i), \\
    \text{location:}\quad & f_i = F * [α_{i-1}; \textstyle\sum_{k<i} α_k], \quad
        e_{ij} = w^\top \tanh(W q_i + V h_j + U f_{ij} + b), \\
    \text{GMM:}\quad & κ_i = κ_{i-1} + \mathrm{softplus}(\hat κ_i), \quad
        φ_{ij} = \sum_k \frac{ω_{ik}}{\sqrt{2π} σ_{ik}}
        \exp\Big(-\frac{(j - κ_{ik})^2}{2σ_{ik}^2}\Big), \quad α_{ij} = φ_{ij} / \textstyle\sum_{j'} φ_{ij'},

with F a bank of 1-D convolutions over the previous and cumulative weights, and
:math:`(\hat ω_i, \hat σ_i, \hat κ_i)` a linear map of :math:`q_i` (ω = softmax(ω̂),
σ = softplus(σ̂): the "V2" parameterisation of Battenberg et al. 2020, whose means can only
move forward). The GMM's weights are renormalised over the valid positions so that every
mechanism's α is a distribution, as the distillation loss needs.

Each mechanism is used as ``state = attention.start(memory, mask)`` once per utterance batch,
then ``context, weights, state = attention(query, state)`` once per decoder step.

References:
    Bahdanau, Cho & Bengio (2015), Neural machine translation by jointly learning to align and
    translate, ICLR.
    Chorowski, Bahdanau, Serdyuk, Cho & Bengio (2015), Attention-based models for speech
    recognition, NeurIPS.
    Graves (2013), Generating sequences with recurrent neural networks, arXiv:1308.0850.
    Battenberg, Skerry-Ryan, Mariooryad, Stanton, Kao, Shannon & Bagby (2020),
    Location-relative attention mechanisms for robust long-form speech synthesis, ICASSP.

Example:
    >>> attention = LocationSensitiveAttention(query_dim=8, memory_dim=6)
    >>> memory, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    >>> state = attention.start(memory, mask)
    >>> context, weights, state = attention(torch.randn(2, 8), state)
    >>> context.shape, weights.shape, bool(weights[1, 3:].eq(0).all())
    (torch.Size([2, 6]), torch.Size([2, 5]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam import checks


@dataclass(frozen=True)
class AttentionState:
    """What a mechanism carries from one decoder step to the next: the encoder outputs and
    their projection, the mask, the last and the cumulative weights ``[B, N]``, and the GMM's
    means ``[B, K]`` (``None`` for the others)."""

    memory: Tensor
    keys: Tensor
    mask: Tensor
    weights: Tensor
    cumulative: Tensor
    means: Tensor | None = None


class Attention(nn.Module):
    """What the three mechanisms share: the memory's projection, the masked softmax and the
    context."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.query_dim = checks.positive_int("query_dim", query_dim)
        self.memory_dim = checks.positive_int("memory_dim", memory_dim)
        self.attention_dim = checks.positive_int("attention_dim", attention_dim)
        self.memory_layer = nn.Linear(memory_dim, attention_dim, bias=False)

    def start(self, memory: Tensor, mask: Tensor | None = None) -> AttentionState:
        """The state before the first decoder step: all weight on the first position.
        ``memory`` is ``[B, N, memory_dim]``; ``mask`` ``[B, N]`` (``True`` where valid, each
        row's valid positions first) defaults to all valid."""
        checks.tensor("memory", memory)
        if memory.dim() != 3 or memory.shape[-1] != self.memory_dim:
            raise ValueError(
                f"memory must be [B, N, memory_dim = {self.memory_dim}], got {tuple(memory.shape)}"
            )
        B, N, _ = memory.shape
        if mask is None:
            mask = torch.ones(B, N, dtype=torch.bool, device=memory.device)
        if mask.shape != (B, N) or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool [B, N] = {[B, N]}, got {mask.dtype} {tuple(mask.shape)}"
            )
        if not bool(mask[:, 0].all()):
            raise ValueError("mask must keep at least the first position of every utterance")
        first = torch.zeros(B, N, dtype=memory.dtype, device=memory.device)
        first[:, 0] = 1.0
        return AttentionState(memory, self.memory_layer(memory), mask, first, first.clone())

    def _check_query(self, query: Tensor) -> None:
        checks.tensor("query", query)
        if query.dim() != 2 or query.shape[-1] != self.query_dim:
            raise ValueError(
                f"query must be [B, query_dim = {self.query_dim}], got {tuple(query.shape)}"
            )

    def _advance(
        self, state: AttentionState, weights: Tensor, **changes
    ) -> tuple[Tensor, Tensor, AttentionState]:
        context = torch.bmm(weights.unsqueeze(1), state.memory).squeeze(1)
        following = replace(
            state, weights=weights, cumulative=state.cumulative + weights, **changes
        )
        return context, weights, following


def masked_softmax(energies: Tensor, mask: Tensor) -> Tensor:
    """``softmax`` over the last dimension with the ``False`` positions of ``mask`` at 0."""
    return energies.masked_fill(~mask, -math.inf).softmax(-1)


class ContentAttention(Attention):
    r"""Bahdanau's additive content-based attention, :math:`e_{ij} = w^\top \tanh(W q_i + V h_j + b)`."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int = 128) -> None:
        super().__init__(query_dim, memory_dim, attention_dim)
        self.query_layer = nn.Linear(query_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(
        self, query: Tensor, state: AttentionState
    ) -> tuple[Tensor, Tensor, AttentionState]:
        self._check_query(query)
        hidden = torch.tanh(self.query_layer(query).unsqueeze(1) + state.keys)
        return self._advance(state, masked_softmax(self.score(hidden).squeeze(-1), state.mask))


class LocationSensitiveAttention(Attention):
    r"""Chorowski et al.'s location-sensitive attention as Tacotron 2 uses it: the content
    energies plus ``filters`` convolutions (width ``kernel``) of the previous and cumulative
    weights."""

    def __init__(
        self,
        query_dim: int,
        memory_dim: int,
        attention_dim: int = 128,
        filters: int = 32,
        kernel: int = 31,
    ) -> None:
        super().__init__(query_dim, memory_dim, attention_dim)
        kernel = checks.positive_int("kernel", kernel)
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (centred on each position), got {kernel}")
        self.query_layer = nn.Linear(query_dim, attention_dim)
        self.location_conv = nn.Conv1d(2, checks.positive_int("filters", filters), kernel,
                                       padding=kernel // 2, bias=False)  # fmt: skip
        self.location_layer = nn.Linear(filters, attention_dim, bias=False)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(
        self, query: Tensor, state: AttentionState
    ) -> tuple[Tensor, Tensor, AttentionState]:
        self._check_query(query)
        history = torch.stack([state.weights, state.cumulative], dim=1)
        location = self.location_layer(self.location_conv(history).transpose(1, 2))
        hidden = torch.tanh(self.query_layer(query).unsqueeze(1) + state.keys + location)
        return self._advance(state, masked_softmax(self.score(hidden).squeeze(-1), state.mask))


class GMMAttention(Attention):
    r"""Graves's mixture of ``components`` Gaussians whose means only move forward, with
    softmax mixture weights and softplus widths and steps (Battenberg et al.'s V2)."""

    def __init__(self, query_dim: int, memory_dim: int, components: int = 5) -> None:
        super().__init__(query_dim, memory_dim, attention_dim=1)
        self.components = checks.positive_int("components", components)
        self.parameters_layer = nn.Sequential(
            nn.Linear(query_dim, 128), nn.Tanh(), nn.Linear(128, 3 * components)
        )

    def start(self, memory: Tensor, mask: Tensor | None = None) -> AttentionState:
        state = super().start(memory, mask)
        means = torch.zeros(
            memory.shape[0], self.components, dtype=memory.dtype, device=memory.device
        )
        return replace(state, means=means)

    def forward(
        self, query: Tensor, state: AttentionState
    ) -> tuple[Tensor, Tensor, AttentionState]:
        self._check_query(query)
        if state.means is None:
            raise ValueError("state must come from GMMAttention.start (it has no means)")
        mixture, width, step = self.parameters_layer(query).chunk(3, dim=-1)
        means = state.means + F.softplus(step)
        sigma = F.softplus(width) + 1e-3
        position = torch.arange(state.mask.shape[1], dtype=query.dtype, device=query.device)
        z = (position[None, None, :] - means[:, :, None]) / sigma[:, :, None]
        log_density = (mixture.log_softmax(-1) - sigma.log())[:, :, None] - 0.5 * z**2
        energies = log_density.logsumexp(dim=1)  # log φ up to the constant, renormalised next
        return self._advance(state, masked_softmax(energies, state.mask), means=means)


ATTENTIONS = {
    "location": LocationSensitiveAttention,
    "content": ContentAttention,
    "gmm": GMMAttention,
}
"""The mechanisms by the names a config uses."""
