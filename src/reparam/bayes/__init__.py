"""Bayesian neural networks: weight uncertainty as drop-in ``nn.Module`` layers.

``BayesLinear`` / ``BayesConv2d`` hold a factorized Gaussian posterior and draw their outputs
with one of four estimators (``"weight"``, ``"local"``, ``"flipout"``, ``"separate"``);
``VariationalDropoutLinear`` learns Gaussian dropout rates; ``kl(model)`` is the KL term,
``kl_weights`` its minibatch weighting, and ``predict`` averages over the posterior.
"""

from reparam.bayes.dropout import VariationalDropoutLinear, variational_dropout_kl
from reparam.bayes.kl import SCHEMES, kl, kl_weights
from reparam.bayes.layers import ESTIMATORS, BayesConv2d, Bayesian, BayesLinear
from reparam.bayes.predict import ClassPrediction, RegressionPrediction, predict
from reparam.bayes.priors import NormalPrior, Prior, ScaleMixturePrior

__all__ = [
    "ESTIMATORS",
    "SCHEMES",
    "BayesConv2d",
    "BayesLinear",
    "Bayesian",
    "ClassPrediction",
    "NormalPrior",
    "Prior",
    "RegressionPrediction",
    "ScaleMixturePrior",
    "VariationalDropoutLinear",
    "kl",
    "kl_weights",
    "predict",
    "variational_dropout_kl",
]
