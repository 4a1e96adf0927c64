r"""The toy problem of the REBAR and RELAX papers: :math:`\min_\theta \mathbb{E}_{b \sim
\mathrm{Bernoulli}(\theta)}[(b - t)^2]`, trained by each estimator, with the variance and
signal-to-noise ratio of its gradient measured along the way.

With :math:`p = \sigma(\ell)` the exact gradient with respect to the logit ℓ is
:math:`p(1-p)(1 - 2t)`: for t = 0.499 it is 0.0005 at p = ½, against a score-function noise
of about 0.1, so the score function barely moves θ while estimators of low variance drive it
to 0 (Tucker et al. 2017, Fig. 1; Grathwohl et al. 2018, Fig. 1).

Example:
    >>> rows = rebar_toy([0.45], ["score", "rebar"], steps=4, every=2, repeats=50)
    >>> [(r.estimator, r.step) for r in rows if r.target == 0.45]
    [('score', 0), ('score', 2), ('score', 4), ('rebar', 0), ('rebar', 2), ('rebar', 4)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor
from torch.distributions import Bernoulli

from reparam.checks import count, positive_real, real
from reparam.diagnostics.variance import gradient_variance
from reparam.estimators import SPECS, Estimator, GumbelSoftmax, names, parse
from reparam.expectation import expect

TARGETS = (0.499, 0.49, 0.45)
SKIPPED = ("auto",)  # the plain score function at n = 1, listed under its own name


@dataclass(frozen=True)
class ToyRow:
    """One estimator on the toy problem with target ``target`` after ``step`` steps: θ = p(b=1),
    and the mean, variance and SNR (|mean| / sd) of ``repeats`` gradient estimates of the
    logit at that θ, beside the exact gradient."""

    target: float
    estimator: str
    step: int
    theta: float
    mean: float
    variance: float
    snr: float
    exact: float
    n: int
    repeats: int

    def as_dict(self) -> dict:
        return asdict(self)


def toy_cost(target: float) -> Callable[[Tensor], Tensor]:
    """:math:`f(b) = (b - t)^2`, for bits and relaxed bits alike."""
    return lambda b: (b - target) ** 2


def bernoulli(logits: Tensor) -> Bernoulli:
    return Bernoulli(logits=logits)


def exact_gradient(logit: float, target: float) -> float:
    """:math:`\\partial_\\ell\\, \\mathbb{E}[(b-t)^2] = p(1-p)(1-2t)`, :math:`p = \\sigma(\\ell)`."""
    p = torch.sigmoid(torch.tensor(logit, dtype=torch.float64))
    return float(p * (1 - p) * (1 - 2 * target))


def toy_estimators(n: int) -> tuple[str, ...]:
    """The specs of the vocabulary that run on one Bernoulli latent with ``n`` samples per
    estimate (a dry run of each decides), ``"auto"`` and the categorical-only Gumbel
    estimators left out.

    Example:
        >>> {"score", "nvil", "rebar", "relax", "enumerate"} <= set(toy_estimators(1))
        True
        >>> "score+leave-one-out" in toy_estimators(1), "score+leave-one-out" in toy_estimators(2)
        (False, True)
    """
    count("n", n)
    applicable = []
    for spec in names("elbo", "finite"):
        estimator = parse(spec)
        if spec in SKIPPED or isinstance(estimator, GumbelSoftmax):
            continue
        logit = torch.zeros((), requires_grad=True)
        try:
            expect(toy_cost(0.45), bernoulli(logit), n=n, estimator=estimator).backward()
        except ValueError:
            continue
        applicable.append(spec)
    return tuple(applicable)


def biased_specs(labels: Sequence[str]) -> set[str]:
    """The labels whose vocabulary entry says it is biased (straight-through, DARN, ...).

    Example:
        >>> sorted(biased_specs(["score", "straight-through", "rebar"]))
        ['straight-through']
    """
    flagged = {s.name for s in SPECS if re.search(r"\bbiased", s.summary)}
    return {label for label in labels if label in flagged}


def train_toy(
    target: float,
    label: str,
    *,
    steps: int,
    lr: float = 0.01,
    n: int = 1,
    every: int = 50,
    repeats: int = 1000,
) -> list[ToyRow]:
    r"""Train the logit ℓ (from 0, θ = ½) by Adam at ``lr`` on ``expect((b − t)², Bernoulli(ℓ),
    n, estimator)`` for ``steps`` steps, the estimator ``parse(label)``'s learned parts in the
    same optimizer (through its own zero-valued terms); every ``every`` steps, and at the
    start and the end, measure ``repeats`` gradient estimates at the current θ and state
    (:func:`~reparam.diagnostics.gradient_variance`, on a copy of a stateful estimator).
    """
    real("target", target)
    count("steps", steps, minimum=0)
    count("every", every)
    count("repeats", repeats, minimum=2)
    positive_real("lr", lr)
    estimator: Estimator = parse(label)  # type: ignore[assignment]
    f = toy_cost(target)
    logit = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer: torch.optim.Optimizer | None = None
    rows = []
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            rows.append(measure(f, target, label, estimator, logit, step, n, repeats))
        if step == steps:
            break
        loss = expect(f, bernoulli(logit), n=n, estimator=estimator)
        if optimizer is None:  # after the first call, which sizes lazy modules
            optimizer = torch.optim.Adam([logit, *estimator.parameters()], lr=lr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return rows


def measure(
    f: Callable[[Tensor], Tensor],
    target: float,
    label: str,
    estimator: Estimator,
    logit: Tensor,
    step: int,
    n: int,
    repeats: int,
) -> ToyRow:
    """One :class:`ToyRow`: the estimator's gradient statistics at the current logit."""
    (stats,) = gradient_variance(
        f, bernoulli, {"logits": logit.detach()}, {label: estimator}, n=n, repeats=repeats
    )
    mean, variance = float(stats.mean), float(stats.variance)
    return ToyRow(
        target=float(target),
        estimator=label,
        step=step,
        theta=float(torch.sigmoid(logit.detach())),
        mean=mean,
        variance=variance,
        snr=abs(mean) / variance**0.5 if variance > 0 else float("inf"),
        exact=exact_gradient(float(logit.detach()), target),
        n=n,
        repeats=repeats,
    )


def rebar_toy(
    targets: Sequence[float] = TARGETS,
    estimators: Sequence[str] | None = None,
    *,
    steps: int = 2000,
    lr: float = 0.01,
    n: int = 1,
    every: int = 50,
    repeats: int = 1000,
    on_step: Callable[[], None] = lambda: None,
) -> list[ToyRow]:
    """:func:`train_toy` for every target and estimator (default: :func:`toy_estimators`),
    each from the same seed state; ``on_step`` is called after each run."""
    if not len(targets):
        raise ValueError("targets must hold at least one t")
    available = toy_estimators(n)
    labels = list(available) if estimators is None else list(estimators)
    unknown = [label for label in labels if label not in available]
    if unknown:
        raise ValueError(
            f"unknown estimator(s) {unknown} for the rebar-toy problem with n={n}; choose "
            f"from {list(available)}."
        )
    seed = torch.initial_seed()
    rows = []
    for target in targets:
        for label in labels:
            torch.manual_seed(seed)
            rows += train_toy(target, label, steps=steps, lr=lr, n=n, every=every, repeats=repeats)
            on_step()
    return rows
