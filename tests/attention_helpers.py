"""What the attention tests share: two utterances' valid decoder steps and text positions,
and a seeded random alignment that is a distribution over each step's valid positions."""

from __future__ import annotations

import math

import torch

F64 = torch.float64
STEPS, POSITIONS = torch.tensor([5, 3]), torch.tensor([4, 2])


def random_alignment(seed: int, B: int = 2, S: int = 5, N: int = 4) -> torch.Tensor:
    logits = torch.randn(B, S, N, dtype=F64, generator=torch.Generator().manual_seed(seed))
    mask = torch.arange(N) < POSITIONS[:, None]
    return logits.masked_fill(~mask[:, None, :], -math.inf).softmax(-1)
