"""Deep latent-variable models: VAE/IWAE (1–2 stochastic layers, optional flow), the
categorical VAE, the convolutional VAE; the sequence models DRAW (recurrent attentive writer,
Gregor et al. 2015) and the sentence VAE with its LSTM language model (Bowman et al. 2016);
Bayesian MLPs."""

from reparam.models.base import LatentModel
from reparam.models.bnn import BayesMLP
from reparam.models.categorical import CategoricalVAE
from reparam.models.chain import GaussianChain
from reparam.models.conv import ConvVAE, Unpool2d
from reparam.models.draw import DRAW
from reparam.models.sentence_vae import SentenceVAE
from reparam.models.vae import ONE_LAYER, TWO_LAYERS, VAE

__all__ = [
    "DRAW",
    "ONE_LAYER",
    "TWO_LAYERS",
    "VAE",
    "BayesMLP",
    "CategoricalVAE",
    "ConvVAE",
    "GaussianChain",
    "LatentModel",
    "SentenceVAE",
    "Unpool2d",
]
