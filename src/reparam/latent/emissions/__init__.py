"""The emission families of :class:`reparam.latent.HMM`, one module each (hmmlearn's classes in
brackets): ``categorical`` (``CategoricalHMM``), ``multinomial`` (``MultinomialHMM``),
``poisson`` (``PoissonHMM``), ``gaussian`` (``GaussianHMM``) and ``gmm`` (``GMMHMM``); the
shared Gaussian covariances (``covariance``) and hmmlearn's initialisation from data
(``initial``). :class:`~reparam.latent.emissions.base.Emissions` is the contract Baum–Welch
relies on."""

from reparam.latent.emissions.base import Emissions
from reparam.latent.emissions.categorical import Categorical
from reparam.latent.emissions.covariance import KINDS, Covariance
from reparam.latent.emissions.gaussian import Gaussian
from reparam.latent.emissions.mixture import GaussianMixture
from reparam.latent.emissions.multinomial import Multinomial
from reparam.latent.emissions.poisson import Poisson

FAMILIES = ("categorical", "gaussian", "poisson", "multinomial", "gmm")

__all__ = [
    "FAMILIES",
    "KINDS",
    "Categorical",
    "Covariance",
    "Emissions",
    "Gaussian",
    "GaussianMixture",
    "Multinomial",
    "Poisson",
]
