"""The reparameterizations that keep planar and radial flows invertible hold for any input."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reparam.flows import planar, planar_u_hat, radial_parameters

finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(lambda d: st.tuples(*[st.lists(finite, min_size=d, max_size=d)] * 2))
)
def test_planar_w_dot_u_hat_at_least_minus_one(uw: tuple[list[float], list[float]]) -> None:
    u, w = (torch.tensor(x, dtype=torch.float64) for x in uw)
    assert float(w @ planar_u_hat(u, w)) >= -1 - 1e-9 * (1 + float(w.abs().max()))


@settings(max_examples=200, deadline=None)
@given(alpha_raw=finite, beta_raw=finite)
def test_radial_beta_at_least_minus_alpha(alpha_raw: float, beta_raw: float) -> None:
    alpha, beta = radial_parameters(torch.tensor(alpha_raw), torch.tensor(beta_raw))
    assert alpha > 0 or alpha_raw < -80  # softplus underflows to 0 only far out
    assert beta >= -alpha


def test_planar_log_det_finite_when_w_dot_u_is_very_negative() -> None:
    """Here w·û = −1 to working precision; the determinant t² + s(1 − t²) stays positive."""
    u, w = torch.tensor([-40.0, 0.0]), torch.tensor([1.0, 0.0])
    z = torch.tensor([[1e-3, 0.0], [0.0, 1.0]])
    _, log_det = planar(z, u, w, torch.tensor(0.0))
    assert torch.isfinite(log_det).all()
