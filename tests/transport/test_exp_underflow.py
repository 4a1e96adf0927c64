"""The log-domain Sinkhorn's exponential for underflowing exponents (2^(x log2 e)) agrees with
torch.exp, and its log-sum-exp with torch.logsumexp, down to and past the underflow."""

from __future__ import annotations

import pytest
import torch

from reparam.transport.sinkhorn_steps import exp_, neg_logsumexp_into


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exp2_form_equals_exp(dtype) -> None:
    x = torch.linspace(-2000, 0, 100_001, dtype=dtype)
    fast, plain = exp_(x.clone(), underflows=True), x.exp()
    # a few ulp of x log2 e relatively; subnormal results within the smallest normal number
    tiny = torch.finfo(dtype).tiny
    torch.testing.assert_close(fast, plain, rtol=2000 * torch.finfo(dtype).eps, atol=tiny)


@pytest.mark.parametrize("underflows", [False, True])
def test_neg_logsumexp_with_either_exponential(underflows) -> None:
    g = torch.Generator().manual_seed(0)
    M = torch.rand(3, 40, 50, generator=g, dtype=torch.float64) * 5000
    shift = torch.randn(3, 50, generator=g, dtype=torch.float64) * 100
    M_min = M.amin((-2, -1), keepdim=True)
    got = neg_logsumexp_into(shift, M, M_min, torch.empty_like(M), underflows)
    torch.testing.assert_close(
        got, -torch.logsumexp(shift[:, None, :] - M, -1), rtol=1e-12, atol=1e-9
    )
