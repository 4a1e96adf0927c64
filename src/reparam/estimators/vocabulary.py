r"""The estimator vocabulary: one table of names, used by ``expect``, the objectives, the
models, the Bayesian layers and the CLI.

A *spec* is a string such as ``"score+leave-one-out"``. :func:`parse` turns it into a **new**
estimator object for a context — the ELBO (any per-sample expectation, :func:`reparam.expect`
included), the IWAE bound, or the weight noise of a Bayesian layer — and :func:`names` lists
the specs that apply to a context, for help texts. The table :data:`SPECS` says which
objective and which latent families each spec applies to:

| spec | objective | latents |
|---|---|---|
| auto | elbo, iwae | all (the rules: :mod:`reparam.estimators.auto`) |
| pathwise | elbo, iwae | continuous, flow, gamma (``q.rsample``) |
| score | elbo | all |
| score+leave-one-out | elbo | all (n ≥ 2) |
| score+optimal | elbo | all (n ≥ 2) |
| score+moving-average | elbo | all (stateful: parse it once and own it) |
| nvil | elbo | discrete, finite (stateful: parse it once and own it) |
| grep | elbo | gamma |
| gumbel-softmax, st-gumbel, st-gumbel-relaxed | elbo | discrete, finite |
| straight-through | elbo | discrete, finite |
| st-annealed | elbo | discrete, finite (stateful: the slope's step count) |
| muprop, darn (biased) | elbo | discrete, finite (``f`` takes relaxed codes) |
| arm, disarm | elbo | Bernoulli codes only, n even (listed for no family: see below) |
| rebar, relax | elbo | discrete, finite (``f`` takes relaxed codes; stateful: learned η, τ, surrogate) |
| enumerate | elbo | finite |
| dreg | iwae | continuous (Gaussian q) |
| vimco | iwae | all (k ≥ 2) |
| weight, local, flipout, separate | layer | the weights of ``reparam.bayes`` layers |

Latent families (:data:`LATENTS`): ``continuous`` — a Gaussian posterior (``Normal`` or
``Independent(Normal)``); ``flow`` — a posterior with ``rsample`` that is not Gaussian (a
normalizing flow); ``gamma`` — Gamma, Beta or Dirichlet; ``discrete`` — a vector of
categorical or Bernoulli codes (an ``Independent`` wrapper, as in the categorical VAE; too
many joint values to enumerate); ``finite`` — one Categorical, OneHotCategorical or Bernoulli
per batch element, whose support torch enumerates. ``arm`` and ``disarm`` take Bernoulli codes
only, and the families do not tell Bernoulli codes from categorical ones, so :func:`names`
lists them only without a family (``latent=None``) and :func:`parse` builds them without
one: ``parse("arm")``.

**The stateless rule.** A name passed *per call* (``expect(..., estimator="score")``,
``iwae(..., estimator="dreg")``, ``model.bound(x, estimator="auto")``) is parsed anew on every
call, so no state can survive between calls, and none is kept anywhere else: the stateful
specs (``score+moving-average``, ``nvil``, ``st-annealed``: those whose object holds buffers)
are refused there (:func:`as_estimator`). Create one once with :func:`parse`, keep the object — a model holds it as a submodule, so its buffers are in the
model's ``state_dict`` and in checkpoints — and pass the object.

Example:
    >>> from reparam.estimators import names, parse
    >>> names(objective="iwae", latent="continuous")
    ('auto', 'pathwise', 'dreg', 'vimco')
    >>> parse("score+leave-one-out")
    ScoreFunction(baseline=LeaveOneOut())
    >>> parse("flipout", layer=True)
    'flipout'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch.distributions import Distribution

from reparam.estimators.antithetic import ARM, DisARM
from reparam.estimators.auto import Auto, AutoBound
from reparam.estimators.base import Estimator, EstimatorModule
from reparam.estimators.bounds import VIMCO, BoundEstimator, DReG, PathwiseBound
from reparam.estimators.enumerate import Enumerate
from reparam.estimators.grep import GeneralizedReparam
from reparam.estimators.nvil import NVIL
from reparam.estimators.pathwise import Pathwise
from reparam.estimators.rebar import REBAR
from reparam.estimators.relax import RELAX
from reparam.estimators.relaxed import GumbelSoftmax, StraightThrough
from reparam.estimators.score import ScoreFunction
from reparam.estimators.taylor import DARN, MuProp

OBJECTIVES = ("elbo", "iwae")
LATENTS = ("continuous", "flow", "gamma", "discrete", "finite")
LAYER_ESTIMATORS = ("weight", "local", "flipout", "separate")

REPARAMETERIZED = ("continuous", "flow", "gamma")
CODES = ("discrete", "finite")


@dataclass(frozen=True)
class Spec:
    """One entry of the vocabulary: ``name`` for ``objective``, applying to ``latents``,
    built by ``build`` (a new object each time)."""

    name: str
    objective: str
    latents: tuple[str, ...]
    build: Callable[[], EstimatorModule]
    summary: str


SPECS: tuple[Spec, ...] = (
    Spec("auto", "elbo", LATENTS, Auto, "pathwise if q has rsample, else score (+leave-one-out)"),
    Spec("pathwise", "elbo", REPARAMETERIZED, Pathwise, "reparameterization through q.rsample"),
    Spec("score", "elbo", LATENTS, ScoreFunction, "score function (REINFORCE), no baseline"),
    Spec(
        "score+leave-one-out",
        "elbo",
        LATENTS,
        lambda: ScoreFunction("leave-one-out"),
        "score function, mean of the other samples as baseline (n >= 2)",
    ),
    Spec(
        "score+optimal",
        "elbo",
        LATENTS,
        lambda: ScoreFunction("optimal"),
        "score function, variance-minimising baseline, leave-one-out (n >= 2)",
    ),
    Spec(
        "score+moving-average",
        "elbo",
        LATENTS,
        lambda: ScoreFunction("moving-average"),
        "score function, moving average of past costs as baseline (stateful)",
    ),
    Spec("nvil", "elbo", CODES, NVIL, "score function, learned + running-mean baseline (stateful)"),
    Spec("grep", "elbo", ("gamma",), GeneralizedReparam, "generalized reparameterization"),
    Spec("gumbel-softmax", "elbo", CODES, GumbelSoftmax, "Gumbel-softmax relaxation (biased)"),
    Spec(
        "st-gumbel",
        "elbo",
        CODES,
        lambda: GumbelSoftmax(hard=True),
        "straight-through Gumbel: one-hot forward, relaxed gradient",
    ),
    Spec(
        "st-gumbel-relaxed",
        "elbo",
        CODES,
        lambda: GumbelSoftmax(hard=True, score="relaxed"),
        "straight-through Gumbel whose ELBO scores the relaxed sample (Pyro's)",
    ),
    Spec("straight-through", "elbo", CODES, StraightThrough, "identity gradient (biased)"),
    Spec(
        "st-annealed",
        "elbo",
        CODES,
        lambda: StraightThrough(slope_annealing=1e-4),
        "straight-through, slope min(5, 1 + 1e-4 t) after t training calls (biased; stateful)",
    ),
    Spec("muprop", "elbo", CODES, MuProp, "Taylor control variate at the mean, corrected"),
    Spec("darn", "elbo", CODES, DARN, "Taylor baseline at 1/2 (1/K), uncorrected (biased)"),
    Spec("arm", "elbo", (), ARM, "antithetic pairs, Bernoulli latents only (n even)"),
    Spec("disarm", "elbo", (), DisARM, "ARM, augmentation integrated out (Bernoulli, n even)"),
    Spec("rebar", "elbo", CODES, REBAR, "concrete control variate, learned η and τ (stateful)"),
    Spec("relax", "elbo", CODES, RELAX, "learned surrogate control variate (stateful)"),
    Spec("enumerate", "elbo", ("finite",), Enumerate, "exact sum over a finite support"),
    Spec("auto", "iwae", LATENTS, AutoBound, "pathwise if q has rsample, else VIMCO"),
    Spec("pathwise", "iwae", REPARAMETERIZED, PathwiseBound, "reparameterized IWAE gradient"),
    Spec("dreg", "iwae", ("continuous",), DReG, "doubly reparameterized (Gaussian q)"),
    Spec("vimco", "iwae", LATENTS, VIMCO, "multi-sample score function (k >= 2)"),
)


BY_KEY = {(s.objective, s.name): s for s in SPECS}


def names(
    objective: str = "elbo", latent: str | None = None, *, layer: bool = False
) -> tuple[str, ...]:
    """The specs that apply to a context, in table order: the estimators of ``objective``
    (``"elbo"``, which :func:`reparam.expect` shares, or ``"iwae"``) for ``latent`` (one of
    :data:`LATENTS`; ``None``: any), or with ``layer=True`` the weight-noise estimators of the
    Bayesian layers.

    Example:
        >>> names("elbo", "discrete")
        ('auto', 'score', 'score+leave-one-out', 'score+optimal', 'score+moving-average', ..., 'straight-through', ...)
    """
    if layer:
        return LAYER_ESTIMATORS
    _check_context(objective, latent)
    return tuple(
        s.name
        for s in SPECS
        if s.objective == objective and (latent is None or latent in s.latents)
    )


def parse(
    spec: str, *, objective: str = "elbo", latent: str | None = None, layer: bool = False
) -> Estimator | BoundEstimator | str:
    """A new estimator for ``spec`` in a context (see :func:`names` for the arguments).

    Returns an :class:`~reparam.estimators.Estimator` for ``objective="elbo"``, a
    :class:`~reparam.estimators.BoundEstimator` for ``"iwae"``, and with ``layer=True`` the
    canonical name, which ``reparam.bayes`` layers take as their ``estimator``. Each call
    builds a new object, so its state (``score+moving-average``) belongs to the caller.
    Raises ``ValueError`` naming the specs valid in the context.

    Example:
        >>> parse("st-gumbel")
        GumbelSoftmax(temperature=1.0, hard=True)
        >>> parse("auto", objective="iwae")
        AutoBound()
    """
    if layer:
        if spec not in LAYER_ESTIMATORS:
            raise ValueError(
                f"unknown weight-noise estimator {spec!r}; choose one of "
                f"{', '.join(LAYER_ESTIMATORS)}."
            )
        return spec
    _check_context(objective, latent)
    entry = BY_KEY.get((objective, spec))
    if entry is not None and (latent is None or latent in entry.latents):
        return entry.build()  # type: ignore[return-value]
    valid = names(objective, latent)
    choose = f"choose one of {', '.join(valid)}"
    if entry is not None:
        raise ValueError(f"estimator {spec!r} does not apply to {latent} latents; {choose}.")
    if objective == "iwae" and spec in names("elbo"):
        raise ValueError(
            f"{spec!r} is a per-sample estimator, for the ELBO: use reparam.objectives.elbo "
            f"(objective='elbo'); the IWAE bound takes {', '.join(valid)}."
        )
    if objective == "elbo" and spec in names("iwae"):
        raise ValueError(
            f"{spec!r} estimates the gradient of the IWAE bound (objective='iwae', "
            f"reparam.objectives.iwae); for the ELBO {choose}."
        )
    if spec in LAYER_ESTIMATORS:
        raise ValueError(
            f"{spec!r} is a weight-noise estimator of the Bayesian layers (reparam.bayes); "
            f"for the {objective} {choose}."
        )
    raise ValueError(
        f"unknown estimator {spec!r}; {choose}, or pass an Estimator object such as "
        f"ScoreFunction(baseline='optimal')."
    )


def as_estimator(
    estimator: str | Estimator | BoundEstimator, *, objective: str = "elbo"
) -> Estimator | BoundEstimator:
    """The estimator object for one call of ``objective``: an object of the right kind as it
    is, or a spec parsed anew. A spec that would be stateful (``score+moving-average``, ``nvil``) is
    refused: state created per call would be lost, or, kept behind the caller's back, shared
    by every caller. Create such an estimator once with :func:`parse` and pass the object.

    Example:
        >>> as_estimator("score+moving-average")
        Traceback (most recent call last):
        ...
        ValueError: estimator 'score+moving-average' keeps state from call to call, ...
    """
    if isinstance(estimator, str):
        chosen = parse(estimator, objective=objective)
        if chosen.stateful:  # type: ignore[union-attr]
            raise ValueError(
                f"estimator {estimator!r} keeps state from call to call, which a name given "
                f"per call cannot hold: create it once, est = reparam.estimators.parse("
                f"{estimator!r}), keep it (a model holds it as a submodule, so its state_dict "
                f"carries the state) and pass est."
            )
        return chosen  # type: ignore[return-value]
    kind = BoundEstimator if objective == "iwae" else Estimator
    if isinstance(estimator, kind):
        return estimator
    if isinstance(estimator, BoundEstimator):
        raise ValueError(
            f"{estimator!r} estimates the IWAE bound's gradient: pass it to "
            f"reparam.objectives.iwae (objective='iwae')."
        )
    if isinstance(estimator, Estimator):
        raise ValueError(
            f"{estimator!r} is a per-sample estimator, for the ELBO: use "
            f"reparam.objectives.elbo (objective='elbo'); the IWAE bound takes "
            f"{', '.join(names('iwae'))} or a BoundEstimator."
        )
    raise ValueError(
        f"estimator must be a name or an Estimator object; got {type(estimator).__name__}."
    )


def resolve(spec: str, q: Distribution, n: int) -> Estimator:
    """The concrete per-sample estimator ``spec`` stands for at ``q`` and ``n`` (``"auto"``
    resolved by :meth:`Auto.resolve <reparam.estimators.auto.Auto.resolve>`); a new object.

    Example:
        >>> import torch
        >>> resolve("auto", torch.distributions.Categorical(logits=torch.zeros(3)), 8)
        ScoreFunction(baseline=LeaveOneOut())
    """
    return parse(spec).resolve(q, n)  # type: ignore[union-attr]


def _check_context(objective: str, latent: str | None) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if latent is not None and latent not in LATENTS:
        raise ValueError(
            f"unknown latent family {latent!r}; choose one of {', '.join(LATENTS)} (or None)."
        )
