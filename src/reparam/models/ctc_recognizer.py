r"""A CTC speech recognizer: a convolutional front end, a bidirectional recurrent encoder and
a per-frame softmax over the characters and the blank.

Log-mel frames :math:`x_{1:T}` (``[B, n_mels, T]``) are normalised per utterance and band to
mean 0 and variance 1 over their valid frames (:func:`normalise`; padding becomes 0), then
pass an optional augmentation (SpecAugment's masks, in training), two 1-D convolutions (kernel 5; the
first of stride ``subsample``) with GELU, then ``layers`` bidirectional GRU layers over the
packed sequences (padding never reaches the backward direction), then a linear map to
:math:`\log y_t(k) = \log p(k \mid t, x)` over the C classes; the CTC loss
(:func:`reparam.latent.ctc_loss`) sums over every alignment of the transcript to the
:math:`\lceil T / \text{subsample} \rceil` output frames.

References:
    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist temporal classification, ICML.
    Amodei et al. (2016), Deep Speech 2: end-to-end speech recognition in English and
    Mandarin, ICML (the convolutional front end before bidirectional recurrent layers).

Example:
    >>> model = CTCRecognizer(n_mels=8, classes=5, channels=16, hidden=16, layers=1)
    >>> log_probs, lengths = model(torch.randn(2, 8, 30), torch.tensor([30, 21]))
    >>> tuple(log_probs.shape), lengths.tolist()
    ((15, 2, 5), [15, 11])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reparam import checks


def normalise(features: Tensor, lengths: Tensor, eps: float = 1e-5) -> Tensor:
    r"""``features`` ``[B, F, T]`` with each utterance's bands at mean 0 and variance 1 over
    its first ``lengths[b]`` frames, :math:`(x - \bar x) / \sqrt{s^2 + ε}`; the frames past
    its length are 0.

    >>> x = normalise(torch.tensor([[[1.0, 3.0, 9.0]]]), torch.tensor([2]))
    >>> [round(v, 4) for v in x.flatten().tolist()]
    [-1.0, 1.0, 0.0]
    """
    valid = torch.arange(features.shape[-1], device=features.device) < lengths[:, None, None]
    count = lengths[:, None, None].to(features.dtype)
    mean = (features * valid).sum(-1, keepdim=True) / count
    centred = (features - mean) * valid
    variance = centred.pow(2).sum(-1, keepdim=True) / count
    return centred / (variance + eps).sqrt()


class CTCRecognizer(nn.Module):
    """Conv front end, bidirectional GRU encoder, per-frame log-softmax (module docstring)."""

    def __init__(
        self,
        n_mels: int = 80,
        classes: int = 29,
        channels: int = 256,
        hidden: int = 256,
        layers: int = 3,
        subsample: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        for name, value in (("n_mels", n_mels), ("classes", classes), ("channels", channels),
                            ("hidden", hidden), ("layers", layers), ("subsample", subsample)):  # fmt: skip
            checks.positive_int(name, value)
        if classes < 2:
            raise ValueError(f"classes must be at least 2 (a blank and a label); got {classes}")
        self.subsample = subsample
        self.front = nn.Sequential(
            nn.Conv1d(n_mels, channels, 5, stride=subsample, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, 5, padding=2),
            nn.GELU(),
        )
        self.encoder = nn.GRU(
            channels, hidden, layers, bidirectional=True, dropout=dropout if layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, classes)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """The output frames of inputs of ``lengths`` frames: :math:`\\lceil T / s \\rceil`."""
        return torch.div(lengths + self.subsample - 1, self.subsample, rounding_mode="floor")

    def forward(
        self,
        features: Tensor,
        lengths: Tensor,
        augment: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-frame log-probabilities ``[T', B, C]`` of ``features`` ``[B, n_mels, T]``
        (valid up to ``lengths``), and the output lengths; ``augment(x, lengths)`` alters the
        normalised features first."""
        out_lengths = self.output_lengths(lengths)
        x = normalise(features, lengths)
        if augment is not None:
            x = augment(x, lengths)
        hidden = self.front(x).permute(2, 0, 1)  # [T', B, channels]
        packed = pack_padded_sequence(hidden, out_lengths.cpu(), enforce_sorted=False)
        encoded, _ = pad_packed_sequence(self.encoder(packed)[0], total_length=hidden.shape[0])
        return self.head(self.dropout(encoded)).log_softmax(-1), out_lengths
