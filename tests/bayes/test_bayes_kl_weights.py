"""The KL weights π_i of a minibatch epoch, and reparam.bayes.kl over a model."""

from fractions import Fraction

import pytest
import torch
from torch import nn

from reparam.bayes import SCHEMES, BayesLinear, VariationalDropoutLinear, kl, kl_weights


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("batches", [1, 2, 7, 100, 2000])
def test_weights_sum_to_one(scheme: str, batches: int) -> None:
    weights = kl_weights(batches, scheme)
    assert weights.shape == (batches,) and weights.dtype == torch.float64
    assert (weights >= 0).all()
    assert abs(float(weights.sum()) - 1) < 1e-12


@pytest.mark.parametrize("batches", [1, 2, 7, 100])
def test_uniform(batches: int) -> None:
    assert torch.equal(
        kl_weights(batches), torch.full((batches,), 1 / batches, dtype=torch.float64)
    )


@pytest.mark.parametrize("batches", range(1, 31))
def test_blundell_matches_exact_fractions(batches: int) -> None:
    weights = kl_weights(batches, "blundell")
    exact = [Fraction(2 ** (batches - i), 2**batches - 1) for i in range(1, batches + 1)]
    assert sum(exact) == 1
    for got, want in zip(weights.tolist(), exact, strict=True):
        assert abs(Fraction(got) - want) <= want * Fraction(1, 2**50)


@pytest.mark.parametrize("batches", [2, 7, 100, 2000])
def test_blundell_is_decreasing(batches: int) -> None:
    weights = kl_weights(batches, "blundell")
    positive = weights[weights > 0]
    # each weight halves the previous one while it is representable, then underflows to 0
    assert (positive.diff() < 0).all()
    torch.testing.assert_close(positive[1:] / positive[:-1], torch.full_like(positive[1:], 0.5))
    assert (weights[len(positive) :] == 0).all()
    assert weights[0] >= 0.5


@pytest.mark.parametrize("batches", [0, -3])
def test_no_batches_raises(batches: int) -> None:
    with pytest.raises(ValueError, match="at least one minibatch"):
        kl_weights(batches)


def test_unknown_scheme_raises() -> None:
    with pytest.raises(ValueError, match=r"'graves'.*uniform, blundell"):
        kl_weights(4, "graves")


def test_model_kl_sums_every_bayesian_layer() -> None:
    model = nn.Sequential(
        BayesLinear(3, 4), nn.ReLU(), nn.Sequential(VariationalDropoutLinear(4, 2), nn.Linear(2, 1))
    )
    expected = model[0].kl() + model[2][0].kl()
    torch.testing.assert_close(kl(model), expected)
    assert kl(model[0]).shape == ()
    replicas = nn.Sequential(
        BayesLinear(3, 4, batch_shape=(5,)), BayesLinear(4, 1, batch_shape=(5,))
    )
    assert kl(replicas).shape == (5,)
    torch.testing.assert_close(kl(replicas), replicas[0].kl() + replicas[1].kl())


def test_model_without_bayesian_layers_raises() -> None:
    with pytest.raises(ValueError, match="no Bayesian layers"):
        kl(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no Bayesian layers"):
        kl(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
