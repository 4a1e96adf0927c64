"""Log-weights of -inf (p(x, z) = 0) in the IWAE bound and its estimators: exact values, finite
gradients, 0 for a data point whose samples all have zero weight; NaN log-weights raise."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from reparam.estimators import VIMCO, DReG, PathwiseBound
from reparam.objectives import iwae, iwae_bound

INF = math.inf
DTYPES = [torch.float64, torch.float32]


def plain_log_mean_exp(values: list[float]) -> float:
    top = max(values)
    if top == -INF:
        return -INF
    return top + math.log(math.fsum(math.exp(v - top) for v in values) / len(values))


@pytest.mark.parametrize("dtype", DTYPES)
def test_iwae_bound_of_mixed_and_all_minus_inf_rows(dtype: torch.dtype) -> None:
    columns = [[0.5, -INF, -1.0], [-INF, -INF, -INF], [-1e4, -1e4 + 2, -INF], [1.0, 2.0, 3.0]]
    log_w = torch.tensor(columns, dtype=dtype).T.contiguous().requires_grad_()
    bound = iwae_bound(log_w)
    expected = torch.tensor([plain_log_mean_exp(c) for c in columns], dtype=dtype)
    torch.testing.assert_close(bound, expected)
    (grad,) = torch.autograd.grad(bound.sum(), log_w)  # upstream 1 on the -inf bound too
    assert torch.isfinite(grad).all()
    assert (grad[:, 1] == 0).all()
    for i in (0, 2, 3):
        alone = log_w.detach()[:, i].clone().requires_grad_()
        (expected_grad,) = torch.autograd.grad(iwae_bound(alone), alone)
        torch.testing.assert_close(grad[:, i], expected_grad)
    assert grad[1, 0] == 0 and grad[2, 2] == 0  # the zero weights


def test_iwae_bound_rejects_nan_and_bad_shapes() -> None:
    log_w = torch.zeros(4, 3)
    log_w[2, 1] = math.nan
    with pytest.raises(ValueError, match="log_w holds NaN log-weights: 1 of 3 bounds"):
        iwae_bound(log_w)
    with pytest.raises(
        ValueError, match=r"dim must index a dimension of log_w \(shape \(4, 3\)\), got dim=2"
    ):
        iwae_bound(torch.zeros(4, 3), dim=2)
    with pytest.raises(ValueError, match="dim must be an integer, got True"):
        iwae_bound(torch.zeros(4, 3), dim=True)
    with pytest.raises(ValueError, match="log_w holds no samples along dim=0"):
        iwae_bound(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="log_w must be a floating-point tensor"):
        iwae_bound(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="log_w must be a floating-point tensor"):
        iwae_bound([[0.0]])
    assert iwae_bound(torch.zeros(4, 0)).shape == (0,)  # an empty batch is fine


class FixedDraws(Categorical):
    """A Categorical whose ``sample`` returns the draws it was given (for exact references)."""

    def __init__(self, logits: torch.Tensor, draws: torch.Tensor) -> None:
        super().__init__(logits=logits)
        self.draws = draws

    def sample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        assert tuple(sample_shape) == (self.draws.shape[0],)
        return self.draws


TABLE = [[0.2, -INF, -0.7, 0.5]] * 4  # log p(x, z) per class; class 1 has p = 0
DRAWS = [
    [0, 1, 2, 3],  # one sample of zero weight
    [1, 1, 3, 1],  # every sample but one
    [1, 1, 1, 1],  # all of them: the bound is -inf
    [0, 2, 3, 3],  # none
]


def vimco_reference(logits: torch.Tensor, k: int) -> tuple[list[float], torch.Tensor]:
    """VIMCO's bound and gradient in plain float64: per data point, the learning signal
    L − L_{−i} with L_{−i} = log((Σ_{j≠i} w_j + exp(mean_{j≠i} log w_j)) / k); no baseline
    where L_{−i} = −inf; nothing (value −inf, gradient 0) where every weight is zero."""
    leaf = logits.detach().double().requires_grad_()
    surrogate, values = 0.0, []
    for b, draws in enumerate(DRAWS):
        log_q = torch.log_softmax(leaf[b], -1)[draws]
        log_w = [TABLE[b][z] - float(log_q[i].detach()) for i, z in enumerate(draws)]
        bound = plain_log_mean_exp(log_w)
        values.append(bound)
        if bound == -INF:
            continue
        for i in range(k):
            others = log_w[:i] + log_w[i + 1 :]
            geometric = sum(others) / (k - 1)
            loo = plain_log_mean_exp([*others, geometric])
            signal = bound - (0.0 if loo == -INF else loo)
            surrogate = surrogate + signal * log_q[i]
        finite = [i for i in range(k) if log_w[i] > -INF]
        live = torch.tensor([TABLE[b][draws[i]] for i in finite], dtype=torch.float64)
        surrogate = surrogate + torch.logsumexp(live - log_q[finite], 0)
    (grad,) = torch.autograd.grad(surrogate, leaf)
    return values, grad


@pytest.mark.parametrize("dtype", DTYPES)
def test_vimco_with_zero_weights_against_plain_float64(dtype: torch.dtype) -> None:
    k = 4
    logits = torch.tensor([[0.3, -0.2, 0.1, 0.0]] * 4, dtype=dtype, requires_grad=True)
    table = torch.tensor(TABLE, dtype=dtype)
    draws = torch.tensor(DRAWS).T  # [k, batch]
    q = FixedDraws(logits, draws)
    value = iwae(lambda z: table.gather(1, z.T).T, q, k, VIMCO())
    (grad,) = torch.autograd.grad(value.sum(), logits)  # upstream 1 on the -inf bound too
    expected_values, expected_grad = vimco_reference(logits, k)
    torch.testing.assert_close(
        value.detach().double(), torch.tensor(expected_values, dtype=torch.float64)
    )
    assert value[2] == -INF
    assert torch.isfinite(grad).all() and (grad[2] == 0).all()
    tolerance = (
        {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    )
    torch.testing.assert_close(grad.double(), expected_grad, **tolerance)
    # with one of k log-weights -inf, the bound is the others' log-mean-exp plus log((k-1)/k)
    log_q = torch.log_softmax(logits.detach()[0].double(), -1)
    rest = [TABLE[0][z] - float(log_q[z]) for z in (0, 2, 3)]
    assert math.isclose(
        float(value[0].detach()), plain_log_mean_exp(rest) + math.log(3 / 4), rel_tol=1e-6
    )


def zero_above(threshold: float):
    """log N(z; 0, 1), or -inf above ``threshold`` (a density with a zero region)."""

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > threshold, -INF, Normal(0.0, 1.0).log_prob(z))

    return log_joint


@pytest.mark.parametrize("estimator", [PathwiseBound(), DReG()], ids=["pathwise", "dreg"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_reparameterized_bounds_with_zero_weights(estimator, dtype: torch.dtype) -> None:
    """Rows: loc −10 (no zero weights), 0 (some), +10 (all: −inf, gradient 0)."""
    k = 6
    loc = torch.tensor([-10.0, 0.0, 10.0], dtype=dtype, requires_grad=True)
    q = Normal(loc, 1.0)
    torch.manual_seed(0)
    value = iwae(zero_above(0.0), q, k, estimator)
    (grad,) = torch.autograd.grad(value.sum(), loc)  # upstream 1 on the -inf bound too
    torch.manual_seed(0)
    z = q.rsample((k,)).detach().double()
    log_w = zero_above(0.0)(z) - Normal(loc.detach().double(), 1.0).log_prob(z)
    expected = [plain_log_mean_exp(log_w[:, b].tolist()) for b in range(3)]
    assert 0 < int(torch.isneginf(log_w[:, 1]).sum()) < k  # the middle row is mixed
    torch.testing.assert_close(value.detach().double(), torch.tensor(expected, dtype=torch.float64))
    assert value[2] == -INF and torch.isfinite(grad).all() and grad[2] == 0


@pytest.mark.parametrize("spec", ["pathwise", "dreg", "vimco"])
def test_nan_log_weights_are_a_value_error_naming_log_joint(spec: str) -> None:
    q = Normal(torch.zeros(3), 1.0)

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 1.0, math.nan, 0.0)

    with pytest.raises(ValueError, match=r"log_joint\(z\) - q.log_prob\(z\) holds NaN"):
        torch.manual_seed(0)
        iwae(log_joint, Normal(torch.full((3,), 2.0), 1.0) if spec != "vimco" else q, 8, spec)
