r"""Tacotron's CBHG encoder (Wang et al. 2017): a bank of 1-D convolutions, highway layers and
a bidirectional GRU, over padded symbol sequences.

For inputs :math:`x \in \mathbb R^{B \times C \times N}` (after Tacotron's encoder prenet):

- **Bank.** Convolutions of widths :math:`k = 1, …, K`, ``channels`` filters each, batch
  norm and ReLU, concatenated (:math:`K \cdot` ``channels``), then max pooling over time
  with width 2 and stride 1 (:math:`\max(y_{t-1}, y_t)`), so that the length is kept.
- **Projections.** Two convolutions of width 3 with batch norm (ReLU after the first) back
  to C channels, plus the input (a residual connection).
- **Highway.** Four layers :math:`h \leftarrow T(h) \odot \mathrm{ReLU}(W h) + (1 - T(h))
  \odot h` with the gate :math:`T(h) = σ(W_T h + b_T)`, :math:`b_T = -1` at the start.
- **Recurrence.** A bidirectional GRU of ``units`` (half each way) over packed sequences.

Padded positions are zeroed before every convolution and pooling reads them, so in
evaluation mode a sentence's encoding does not depend on the batch it is in (in training,
batch norm's statistics are the batch's).

References:
    Wang et al. (2017), Tacotron: towards end-to-end speech synthesis, Interspeech.
    Srivastava, Greff & Schmidhuber (2015), Highway networks, arXiv:1505.00387.

Example:
    >>> encoder = CBHG(inputs=8, channels=4, units=6, bank=3).eval()
    >>> x, mask = torch.randn(2, 8, 5), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    >>> encoder(x, mask).shape
    torch.Size([2, 5, 6])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reparam import checks


class Highway(nn.Module):
    """One highway layer, its gate's bias at -1 so that it starts close to the identity."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)
        nn.init.constant_(self.gate.bias, -1.0)

    def forward(self, h: Tensor) -> Tensor:
        gate = torch.sigmoid(self.gate(h))
        return gate * F.relu(self.transform(h)) + (1 - gate) * h


class CBHG(nn.Module):
    """See the module docstring: ``inputs`` channels in, ``units`` features out."""

    def __init__(
        self, inputs: int, channels: int = 128, units: int = 256, bank: int = 16, highways: int = 4
    ) -> None:
        super().__init__()
        self.inputs = checks.positive_int("inputs", inputs)
        channels = checks.positive_int("channels", channels)
        units = checks.positive_int("units", units)
        if units % 2:
            raise ValueError(f"units must be even (half each way), got {units}")
        self.bank = nn.ModuleList(
            nn.Sequential(nn.Conv1d(inputs, channels, k, padding=k // 2), nn.BatchNorm1d(channels))
            for k in range(1, checks.positive_int("bank", bank) + 1)
        )
        self.projections = nn.ModuleList(
            [
                nn.Conv1d(bank * channels, channels, 3, padding=1),
                nn.Conv1d(channels, inputs, 3, padding=1),
            ]
        )
        self.projection_norms = nn.ModuleList([nn.BatchNorm1d(channels), nn.BatchNorm1d(inputs)])
        self.highways = nn.Sequential(
            *(Highway(inputs) for _ in range(checks.non_negative_int("highways", highways)))
        )
        self.gru = nn.GRU(inputs, units // 2, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Encodings ``[B, N, units]`` of ``x`` ``[B, inputs, N]`` whose valid positions are
        ``mask`` ``[B, N]`` (each row's first), zero at the padded ones."""
        checks.tensor("x", x)
        if x.dim() != 3 or x.shape[1] != self.inputs or mask.shape != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"x must be [B, inputs = {self.inputs}, N] with mask [B, N], got "
                f"{tuple(x.shape)} and {tuple(mask.shape)}"
            )
        N, keep = x.shape[-1], mask[:, None, :].to(x.dtype)
        x = x * keep
        y = torch.cat([F.relu(conv(x))[..., :N] for conv in self.bank], dim=1) * keep
        y = F.max_pool1d(y, 2, stride=1, padding=1)[..., :N] * keep
        y = F.relu(self.projection_norms[0](self.projections[0](y))) * keep
        y = self.projection_norms[1](self.projections[1](y)) + x
        h = self.highways(y.transpose(1, 2))
        lengths = mask.sum(-1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=N)
        return out * mask[:, :, None]
