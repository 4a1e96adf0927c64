"""Exact marginalisation over discrete latents: Gaussian mixtures by EM, hidden Markov models,
the CTC loss."""

from reparam.latent.ctc import (
    ctc_alpha_beta,
    ctc_loss,
    ctc_posteriors,
    greedy_decode,
    prefix_beam_search,
)
from reparam.latent.forward_backward import backward, forward, posteriors, viterbi
from reparam.latent.gmm import GaussianMixture
from reparam.latent.hmm import HMM
from reparam.latent.k_means import KMeansResult, kmeans, kmeans_plusplus
from reparam.latent.monitor import ConvergenceMonitor

__all__ = [
    "HMM",
    "ConvergenceMonitor",
    "GaussianMixture",
    "KMeansResult",
    "backward",
    "ctc_alpha_beta",
    "ctc_loss",
    "ctc_posteriors",
    "forward",
    "greedy_decode",
    "kmeans",
    "kmeans_plusplus",
    "posteriors",
    "prefix_beam_search",
    "viterbi",
]
