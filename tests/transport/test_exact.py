"""exact_w1: the assignment and the transport LP agree, on clouds with known distances."""

from __future__ import annotations

import pytest
import torch

from reparam.transport import exact_w1


def test_identical_and_shifted_clouds_and_the_two_methods_agree() -> None:
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    assert exact_w1(x, x) == pytest.approx(0.0, abs=1e-12)
    shift = torch.tensor([0.3, -0.4])
    assert exact_w1(x, x + shift) == pytest.approx(0.5, abs=1e-6)  # float32 shift
    small = x[:12]
    assert exact_w1(small, small + shift, method="kantorovich") == pytest.approx(0.5, abs=1e-7)
    y = torch.randn(12, 2, generator=torch.Generator().manual_seed(2))
    assert exact_w1(small, y) == pytest.approx(exact_w1(small, y, method="kantorovich"), abs=1e-7)


def test_unequal_sizes_need_the_lp_and_bad_inputs_are_refused() -> None:
    x, y = torch.zeros(3, 2), torch.ones(5, 2)
    assert exact_w1(x, y, method="kantorovich") == pytest.approx(2**0.5, abs=1e-9)
    with pytest.raises(ValueError, match="equal size"):
        exact_w1(x, y)
    with pytest.raises(ValueError, match="unknown method"):
        exact_w1(x, x, method="sinkhorn")
    with pytest.raises(ValueError, match="point clouds"):
        exact_w1(torch.zeros(3), x)
    with pytest.raises(ValueError, match="non-empty"):
        exact_w1(torch.zeros(0, 2), torch.zeros(0, 2))
