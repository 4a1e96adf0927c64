"""Batches of sentences of unequal length: right-padded token matrices and their lengths.

A batch is ``(tokens, lengths)``: ``tokens`` int64 ``[B, T]`` with ``T`` the longest sentence
of the batch, sentence ``b`` in ``tokens[b, :lengths[b]]`` and ``pad`` after it. The tokens are
the words only; a model adds ``<bos>``/``<eos>`` itself. The mask of real tokens is
``torch.arange(T) < lengths[:, None]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from reparam import checks


def pad_batch(sequences: Sequence[Sequence[int] | Tensor], pad: int) -> tuple[Tensor, Tensor]:
    """The sentences ``sequences`` (lists of word indices) as one right-padded batch:

    .. math::
        \\text{tokens}_{b,t} = \\begin{cases} s_{b,t} & t < |s_b| \\\\
        \\text{pad} & t \\ge |s_b| \\end{cases}, \\qquad \\text{lengths}_b = |s_b|.

    Example:
        >>> tokens, lengths = pad_batch([[5, 6, 7], [8]], pad=0)
        >>> tokens.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    checks.integer("pad", pad)
    rows = [torch.as_tensor(s, dtype=torch.int64).reshape(-1) for s in sequences]
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    tokens = torch.full((len(rows), int(lengths.max()) if rows else 0), pad, dtype=torch.int64)
    for b, row in enumerate(rows):
        tokens[b, : len(row)] = row
    return tokens, lengths


class SentenceBatches:
    """A whole split encoded once, as one flat tensor and offsets, batched by tensor ops.

    ``batch(indices)`` equals ``pad_batch([encoded[i] for i in indices], pad)`` without a
    Python loop over the sentences: token ``t`` of sentence ``i`` is ``flat[offsets[i] + t]``.

    Example:
        >>> batches = SentenceBatches([[5, 6, 7], [8], [9, 10]], pad=0)
        >>> len(batches), batches.lengths.tolist()
        (3, [3, 1, 2])
        >>> tokens, lengths = batches.batch(torch.tensor([2, 1]))
        >>> tokens.tolist(), lengths.tolist()
        ([[9, 10], [8, 0]], [2, 1])
    """

    def __init__(self, encoded: Sequence[Sequence[int]], pad: int) -> None:
        self.pad = checks.integer("pad", pad)
        self.lengths = torch.tensor([len(s) for s in encoded], dtype=torch.int64)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths
        self.flat = torch.tensor([word for s in encoded for word in s], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: Tensor | Sequence[int]) -> tuple[Tensor, Tensor]:
        """The sentences ``indices`` as ``(tokens [B, T], lengths [B])``, right-padded."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        if indices.dim() != 1:
            raise ValueError(f"indices must be 1-D, got shape {tuple(indices.shape)}")
        lengths = self.lengths[indices]
        width = int(lengths.max()) if len(indices) else 0
        positions = torch.arange(width)
        real = positions < lengths[:, None]
        where = (self.offsets[indices][:, None] + positions).clamp(max=max(len(self.flat) - 1, 0))
        words = self.flat[where] if len(self.flat) else torch.zeros_like(where)
        return torch.where(real, words, torch.full_like(words, self.pad)), lengths
