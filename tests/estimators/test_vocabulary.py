"""parse and names: every spec of the one vocabulary, its context and its errors."""

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Gamma,
    Independent,
    Normal,
    OneHotCategorical,
    TransformedDistribution,
)

import reparam as rp
from reparam.bayes import ESTIMATORS as BAYES_LAYER_ESTIMATORS
from reparam.estimators import (
    ARM,
    DARN,
    LATENTS,
    LAYER_ESTIMATORS,
    NVIL,
    REBAR,
    RELAX,
    SPECS,
    VIMCO,
    Auto,
    AutoBound,
    BoundEstimator,
    DisARM,
    DReG,
    Enumerate,
    Estimator,
    GeneralizedReparam,
    GumbelSoftmax,
    LeaveOneOut,
    MovingAverage,
    MuProp,
    Optimal,
    Pathwise,
    PathwiseBound,
    ScoreFunction,
    StraightThrough,
    names,
    parse,
)
from reparam.flows import PosteriorFlow

ELBO = {
    "auto": (Auto, "Auto()"),
    "pathwise": (Pathwise, "Pathwise()"),
    "score": (ScoreFunction, "ScoreFunction()"),
    "score+leave-one-out": (ScoreFunction, "ScoreFunction(baseline=LeaveOneOut())"),
    "score+optimal": (ScoreFunction, "ScoreFunction(baseline=Optimal())"),
    "score+moving-average": (ScoreFunction, "ScoreFunction(baseline=MovingAverage(decay=0.9))"),
    "nvil": (NVIL, "NVIL(decay=0.8)"),
    "grep": (GeneralizedReparam, "GeneralizedReparam()"),
    "gumbel-softmax": (GumbelSoftmax, "GumbelSoftmax(temperature=1.0, hard=False)"),
    "st-gumbel": (GumbelSoftmax, "GumbelSoftmax(temperature=1.0, hard=True)"),
    "st-gumbel-relaxed": (
        GumbelSoftmax,
        "GumbelSoftmax(temperature=1.0, hard=True, score='relaxed')",
    ),
    "straight-through": (StraightThrough, "StraightThrough()"),
    "st-annealed": (StraightThrough, "StraightThrough(slope_annealing=0.0001, max_slope=5.0)"),
    "muprop": (MuProp, "MuProp()"),
    "darn": (DARN, "DARN()"),
    "arm": (ARM, "ARM()"),
    "disarm": (DisARM, "DisARM()"),
    "rebar": (REBAR, "REBAR(temperature=0.5, scale=1)"),
    "relax": (RELAX, "RELAX(surrogate=SurrogateMLP, with_f=True)"),
    "enumerate": (Enumerate, "Enumerate(max_support=10000)"),
}
IWAE = {
    "auto": (AutoBound, "AutoBound()"),
    "pathwise": (PathwiseBound, "PathwiseBound()"),
    "dreg": (DReG, "DReG()"),
    "vimco": (VIMCO, "VIMCO()"),
}


@pytest.mark.parametrize(("spec", "expected"), ELBO.items())
def test_every_elbo_spec_parses_to_a_new_estimator(spec: str, expected: tuple) -> None:
    kind, text = expected
    first, second = parse(spec), parse(spec, objective="elbo")
    assert isinstance(first, kind) and isinstance(first, Estimator)
    assert repr(first) == text
    assert first is not second
    assert first.stateful == (
        spec in ("score+moving-average", "nvil", "st-annealed", "rebar", "relax")
    )


@pytest.mark.parametrize(("spec", "expected"), IWAE.items())
def test_every_iwae_spec_parses_to_a_bound_estimator(spec: str, expected: tuple) -> None:
    kind, text = expected
    estimator = parse(spec, objective="iwae")
    assert isinstance(estimator, kind) and isinstance(estimator, BoundEstimator)
    assert repr(estimator) == text and not estimator.stateful


def test_layer_specs_are_the_bayesian_layers_names() -> None:
    assert LAYER_ESTIMATORS == BAYES_LAYER_ESTIMATORS
    assert names(layer=True) == LAYER_ESTIMATORS
    for spec in LAYER_ESTIMATORS:
        assert parse(spec, layer=True) == spec
        layer = rp.bayes.BayesLinear(3, 2, estimator=parse(spec, layer=True))
        assert layer(torch.ones(4, 3)).shape == (4, 2)


def test_the_table_is_the_vocabulary() -> None:
    assert names("elbo") == tuple(ELBO)
    assert names("iwae") == tuple(IWAE)
    assert {s.name for s in SPECS} == set(ELBO) | set(IWAE)
    assert all(set(s.latents) <= set(LATENTS) and s.summary for s in SPECS)


NAMES = [
    ("elbo", "continuous", ["auto", "pathwise", "score", "score+leave-one-out", "score+optimal",
                            "score+moving-average"]),
    ("elbo", "flow", ["auto", "pathwise", "score", "score+leave-one-out", "score+optimal",
                      "score+moving-average"]),
    ("elbo", "gamma", ["auto", "pathwise", "score", "score+leave-one-out", "score+optimal",
                       "score+moving-average", "grep"]),
    ("elbo", "discrete", ["auto", "score", "score+leave-one-out", "score+optimal",
                          "score+moving-average", "nvil", "gumbel-softmax", "st-gumbel",
                          "st-gumbel-relaxed", "straight-through", "st-annealed", "muprop",
                          "darn", "rebar", "relax"]),
    ("elbo", "finite", ["auto", "score", "score+leave-one-out", "score+optimal",
                        "score+moving-average", "nvil", "gumbel-softmax", "st-gumbel",
                        "st-gumbel-relaxed", "straight-through", "st-annealed", "muprop",
                        "darn", "rebar", "relax",
                        "enumerate"]),
    ("iwae", "continuous", ["auto", "pathwise", "dreg", "vimco"]),
    ("iwae", "flow", ["auto", "pathwise", "vimco"]),
    ("iwae", "discrete", ["auto", "vimco"]),
    ("iwae", None, ["auto", "pathwise", "dreg", "vimco"]),
]  # fmt: skip


@pytest.mark.parametrize(("objective", "latent", "expected"), NAMES)
def test_names_per_context(objective: str, latent: str | None, expected: list[str]) -> None:
    assert names(objective, latent) == tuple(expected)


def distribution_of(latent: str):
    """A posterior of each latent family, with parameters that require grad."""
    loc = torch.zeros(2, 3, requires_grad=True)
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    if latent == "continuous":
        return Independent(Normal(loc, 1.0), 1)
    if latent == "flow":
        flow = PosteriorFlow("planar", 2, 3, 5)
        return TransformedDistribution(Independent(Normal(loc, 1.0), 1), flow(torch.ones(2, 5)))
    if latent == "gamma":
        return Independent(Gamma(loc.exp() + 1, 1.0), 1)
    if latent == "discrete":
        return Independent(OneHotCategorical(logits=logits), 1)
    return Categorical(logits=logits[:, 0])


@pytest.mark.parametrize("latent", LATENTS)
def test_every_listed_spec_runs_on_its_latent_family(latent: str) -> None:
    """names() is honest: each spec it lists for a family gives a finite bound and gradient."""
    for objective in ("elbo", "iwae"):
        for spec in names(objective, latent):
            q = distribution_of(latent)

            def cost(z: torch.Tensor, q=q) -> torch.Tensor:
                value = z.float()
                return -(value**2).reshape(*value.shape[: 1 + len(q.batch_shape)], -1).sum(-1)

            estimator = parse(spec, objective=objective, latent=latent)
            if objective == "elbo":
                value = rp.expect(cost, q, n=3, estimator=estimator)
            else:
                value = rp.objectives.iwae(cost, q, 3, estimator)
            assert value.shape == q.batch_shape and torch.isfinite(value).all(), spec
            value.sum().backward()


ERRORS = [
    (dict(spec="reinforce"), "unknown estimator 'reinforce'; choose one of auto, pathwise"),
    (dict(spec="score", objective="iwae"), r"per-sample.*reparam\.objectives\.elbo.*auto, pathw"),
    (dict(spec="dreg"), r"IWAE bound \(objective='iwae'.*choose one of auto, pathwise, score"),
    (dict(spec="dreg", objective="iwae", latent="discrete"),
     "'dreg' does not apply to discrete latents; choose one of auto, vimco"),
    (dict(spec="gumbel-softmax", latent="continuous"),
     "does not apply to continuous latents; choose one of auto, pathwise, score,"),
    (dict(spec="local"), "weight-noise estimator of the Bayesian layers"),
    (dict(spec="pathwise", layer=True), "unknown weight-noise estimator 'pathwise'; choose one "
                                        "of weight, local, flipout, separate"),
    (dict(spec="auto", objective="kl"), "unknown objective 'kl'; choose one of elbo, iwae"),
    (dict(spec="auto", latent="gaussian"), "unknown latent family 'gaussian'; choose one of"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "message"), ERRORS)
def test_parse_errors_name_the_valid_specs(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(**arguments)


def test_baselines_are_modules_and_auto_resolves_statelessly() -> None:
    for baseline in (LeaveOneOut(), Optimal(), MovingAverage()):
        assert isinstance(baseline, torch.nn.Module)
    assert isinstance(Auto().resolve(Normal(0.0, 1.0), 1), Pathwise)
    assert repr(Auto().resolve(Bernoulli(0.3), 2)) == "ScoreFunction(baseline=LeaveOneOut())"
    assert repr(Auto().resolve(Bernoulli(0.3), 1)) == "ScoreFunction()"
    assert isinstance(AutoBound().resolve(Normal(0.0, 1.0)), PathwiseBound)
    assert isinstance(AutoBound().resolve(Bernoulli(0.3)), VIMCO)


def test_gumbel_temperature_is_a_plain_attribute_a_trainer_anneals() -> None:
    estimator = parse("st-gumbel")
    estimator.temperature = 0.5
    assert repr(estimator) == "GumbelSoftmax(temperature=0.5, hard=True)"
    assert estimator.state_dict() == {}


def test_which_estimators_couple_the_rows_of_a_batch() -> None:
    """Learned parts and pooled statistics see the whole batch; everything else treats each
    row as a problem of its own (what replicas trained in one batch need)."""
    from reparam.estimators import GumbelSoftmax

    coupled = {"score+optimal", "score+moving-average", "nvil", "rebar", "relax"}
    for name in names("elbo"):
        assert parse(name).couples_rows == (name in coupled), name
    assert not parse("vimco", objective="iwae").couples_rows
    assert GumbelSoftmax(temperature=torch.nn.Parameter(torch.tensor(1.0))).couples_rows
