r"""The exponential of tensors whose results mostly underflow.

torch's CPU ``exp`` takes a slow path for every result below the smallest normal number of
the dtype: on the 2-core Xeon this project measures on, 22.7 ms for a million float32
exponents that underflow against 0.28 ms for ordinary ones (32 ms against 0.6 ms in float64).
``exp2`` has no such path, so :math:`e^x = 2^{x \log_2 e}` costs 2.6–3.3 ms there whatever x
is, at a relative error of a few ulp of :math:`x \log_2 e` (1e-13 at x = −700 in float64).
Where most results underflow — a CTC lattice's occupations, a small-ε Sinkhorn's log-domain
terms — that is the faster form; where none does, plain ``exp`` is.

>>> import torch
>>> x = torch.tensor([0.0, -1.0, -800.0, float("-inf")], dtype=torch.float64)
>>> exp_underflowing_(x.clone()).tolist() == x.exp().tolist()
True
"""

from __future__ import annotations

import math

from torch import Tensor

LOG2_E = math.log2(math.e)

__all__ = ["exp_underflowing_"]


def exp_underflowing_(x: Tensor) -> Tensor:
    r""":math:`e^x` in place, as :math:`2^{x \log_2 e}` (see the module docstring)."""
    return x.mul_(LOG2_E).exp2_()
