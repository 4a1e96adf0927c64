"""Exact expectation by enumerating a finite support."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.checks import count
from reparam.estimators.base import (
    CostFn,
    Estimator,
    evaluate,
    log_prob,
    require,
)


class Enumerate(Estimator):
    r"""Exact :math:`\mathbb{E}_q[f(z)] = \sum_{z \in \mathcal{Z}} q(z) f(z)` and its exact gradient.

    For distributions with a finite support that torch can enumerate: Bernoulli, Categorical,
    OneHotCategorical, Binomial. ``f`` is called once on the whole support, a leading
    dimension of size :math:`|\mathcal{Z}|` in place of the n samples (``n`` is ignored), and
    receives what ``q.sample()`` would return (integers for Categorical, one-hot vectors for
    OneHotCategorical). The cost is :math:`|\mathcal{Z}|` evaluations of ``f``, so supports
    beyond ``max_support`` values are refused. A support point of probability 0 adds 0 (and
    gradient 0), whatever ``f`` is there, ±inf included; ``f``'s own gradient there must be
    finite.

    Arguments:
        max_support: the largest support to enumerate.

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.Bernoulli(probs=torch.tensor(0.3))
        >>> rp.expect(lambda z: 2 * z + 1, q, estimator=Enumerate())
        tensor(1.6000)
    """

    def __init__(self, max_support: int = 10_000) -> None:
        super().__init__()
        self.max_support = count("max_support", max_support)

    def extra_repr(self) -> str:
        return f"max_support={self.max_support}"

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        if not q.has_enumerate_support:
            alternative = (
                "its support is infinite or not enumerable by torch: use 'score'"
                if q.support.is_discrete
                else "it is continuous: use 'pathwise' (with rsample) or 'score'"
            )
            raise ValueError(f"enumerate cannot sum over {type(q).__name__}: {alternative}.")
        support = q.enumerate_support(expand=True)
        size = support.shape[0]
        require(
            size <= self.max_support,
            f"enumerate would evaluate f on {size} support points, more than max_support="
            f"{self.max_support}; raise max_support or use 'score' with a baseline.",
        )
        prob = log_prob(q, support).exp()
        cost = evaluate(f, support, q, size)
        # 0 * f(z) is 0 at a point of probability 0, even where f(z) is infinite
        return (prob * cost.masked_fill(prob == 0, 0)).sum(0)
