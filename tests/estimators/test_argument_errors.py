"""Every bad argument of expect, the estimators, the objectives and the conjugate oracle is a
ValueError of one line that names the argument and the value received."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

import reparam as rp
from reparam.conjugate import NormalNormal
from reparam.estimators import (
    VIMCO,
    DReG,
    Enumerate,
    GumbelSoftmax,
    MovingAverage,
    Pathwise,
    PathwiseBound,
    ScoreFunction,
)
from reparam.objectives import KLAnnealing, elbo, iwae

Q = Normal(torch.zeros(3), 1.0)
CAT = Categorical(logits=torch.zeros(3, 4))
LOG_JOINT = Normal(0.0, 1.0).log_prob
NAN = math.nan


def f(z: torch.Tensor) -> torch.Tensor:
    return z.float()


def likelihood(z: torch.Tensor) -> torch.Tensor:
    return -(z**2)


BAD = [
    *[
        (lambda n=n: rp.expect(f, Q, n=n), f"n must be an integer >= 1, got {n!r}")
        for n in (True, False, 0, -1, 1.5, "3", None)
    ],
    (lambda: Pathwise()(f, Q, True), "n must be an integer >= 1, got True"),
    (lambda: ScoreFunction()(f, Q, 0), "n must be an integer >= 1, got 0"),
    *[
        (lambda k=k: iwae(LOG_JOINT, Q, k), f"k must be an integer >= 1, got {k!r}")
        for k in (0, -2, 1.5, True, "5")
    ],
    (lambda: PathwiseBound()(LOG_JOINT, Q, 0), "k must be an integer >= 1, got 0"),
    (lambda: DReG()(LOG_JOINT, Q, 2.0), r"k must be an integer >= 1, got 2\.0"),
    (lambda: VIMCO()(f, CAT, True), "k must be an integer >= 2, got True"),
    (lambda: iwae(f, CAT, 1, "vimco"), "k must be an integer >= 2, got 1: VIMCO's"),
    (lambda: iwae(lambda z: z.sum(0), Q, 5), r"log_joint must return .* \(5, 3\); got \(3,\)"),
    *[
        (
            lambda b=b: elbo(likelihood, Q, Q, beta=b),
            f"beta must be a finite number >= 0, got {b!r}",
        )
        for b in (-1, NAN, math.inf, True, "1", None)
    ],
    (lambda: elbo(likelihood, Q, Q, k=0), "k must be an integer >= 1, got 0"),
    (lambda: elbo(likelihood, Q, Q, k=True), "k must be an integer >= 1, got True"),
    (lambda: KLAnnealing(warmup=-1), "warmup must be an integer >= 0, got -1"),
    (lambda: KLAnnealing(warmup=2.5), r"warmup must be an integer >= 0, got 2\.5"),
    (lambda: KLAnnealing(warmup=True), "warmup must be an integer >= 0, got True"),
    (lambda: KLAnnealing(beta=-0.5), r"beta must be a finite number >= 0, got -0\.5"),
    (lambda: KLAnnealing(shape="cosine"), "shape must be one of linear, sigmoid, got 'cosine'"),
    (lambda: KLAnnealing(beta=NAN), "beta must be a finite number >= 0, got nan"),
    (lambda: KLAnnealing(warmup=10)(-1), "step must be an integer >= 0, got -1"),
    (lambda: KLAnnealing(warmup=10)(0.5), r"step must be an integer >= 0, got 0\.5"),
    *[
        (lambda t=t: GumbelSoftmax(t), f"temperature must be positive and finite; got {t}")
        for t in (0.0, -1.0, NAN, math.inf)
    ],
    (lambda: GumbelSoftmax(torch.tensor([1.0, 0.0])), "temperature must be positive and finite"),
    *[
        (lambda d=d: MovingAverage(decay=d), rf"decay must lie in \[0, 1\); got {d}")
        for d in (1.0, -0.1, NAN)
    ],
    (lambda: ScoreFunction("average"), "unknown baseline 'average'"),
    (lambda: Enumerate(max_support=0), "max_support must be an integer >= 1, got 0"),
    (lambda: rp.expect(f, Q, estimator="reinforce"), "unknown estimator 'reinforce'"),
    (lambda: NormalNormal(prior_std=0.0), "prior_std must be positive and finite; got 0.0"),
    (lambda: NormalNormal(prior_std=math.inf), "prior_std must be positive and finite; got inf"),
    (lambda: NormalNormal(noise_std=-1.0), r"noise_std must be positive and finite; got -1\.0"),
    (lambda: NormalNormal(noise_std=NAN), "noise_std must be positive and finite; got nan"),
    (lambda: NormalNormal(prior_mean=NAN), "prior_mean must be finite; got nan"),
    (
        lambda: NormalNormal(prior_std=torch.tensor([1.0, -2.0])),
        "prior_std must be positive and finite",
    ),
    (lambda: NormalNormal().posterior(torch.ones(3), dim=1), "dim must index a dimension of y"),
    (lambda: NormalNormal().posterior(torch.ones(3, dtype=torch.int64)), "y must be a floating"),
    (lambda: NormalNormal().log_marginal([1.0, 2.0]), "y must be a floating-point tensor"),
    (lambda: NormalNormal().shrinkage(-1), "n must be an integer >= 0, got -1"),
    (lambda: NormalNormal().shrinkage(2.5), r"n must be an integer >= 0, got 2\.5"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_a_bad_argument_is_a_value_error_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)
