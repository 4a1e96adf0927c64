"""Gradient estimators for ∇θ E_q[f(z)] and for the IWAE bound, one family per file, and the
vocabulary that names them (:func:`parse`, :func:`names`).

Every estimator is an ``nn.Module``: a per-sample :class:`Estimator` is called as
``estimator(f, q, n)``, a multi-sample :class:`BoundEstimator` as ``estimator(log_joint, q, k)``
(or ``.iwae(...)``). The few that keep state (a moving-average baseline) keep it in buffers, so
the model that owns one saves it in its ``state_dict``.
"""

from __future__ import annotations

from reparam.estimators.antithetic import ARM, DisARM
from reparam.estimators.auto import Auto, AutoBound
from reparam.estimators.base import Estimator, EstimatorModule, score_surrogate
from reparam.estimators.baselines import LeaveOneOut, MovingAverage, Optimal
from reparam.estimators.bounds import VIMCO, BoundEstimator, DReG, PathwiseBound
from reparam.estimators.enumerate import Enumerate
from reparam.estimators.grep import GeneralizedReparam
from reparam.estimators.nvil import NVIL
from reparam.estimators.pathwise import Pathwise
from reparam.estimators.rebar import REBAR
from reparam.estimators.relax import RELAX, SurrogateMLP
from reparam.estimators.relaxed import (
    GumbelSoftmax,
    RelaxedOneHotCategoricalStraightThrough,
    StraightThrough,
    gumbel_max,
)
from reparam.estimators.score import ScoreFunction
from reparam.estimators.taylor import DARN, MuProp, TaylorControlVariate
from reparam.estimators.vocabulary import (
    LATENTS,
    LAYER_ESTIMATORS,
    OBJECTIVES,
    SPECS,
    Spec,
    as_estimator,
    names,
    parse,
    resolve,
)

__all__ = [
    "ARM",
    "DARN",
    "LATENTS",
    "LAYER_ESTIMATORS",
    "NVIL",
    "OBJECTIVES",
    "REBAR",
    "RELAX",
    "SPECS",
    "VIMCO",
    "Auto",
    "AutoBound",
    "BoundEstimator",
    "DReG",
    "DisARM",
    "Enumerate",
    "Estimator",
    "EstimatorModule",
    "GeneralizedReparam",
    "GumbelSoftmax",
    "LeaveOneOut",
    "MovingAverage",
    "MuProp",
    "Optimal",
    "Pathwise",
    "PathwiseBound",
    "RelaxedOneHotCategoricalStraightThrough",
    "ScoreFunction",
    "Spec",
    "StraightThrough",
    "SurrogateMLP",
    "TaylorControlVariate",
    "as_estimator",
    "gumbel_max",
    "names",
    "parse",
    "resolve",
    "score_surrogate",
]
