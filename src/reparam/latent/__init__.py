"""Exact marginalisation over discrete latents: Gaussian mixtures by EM, hidden Markov models,
the CTC loss."""

from reparam.latent.ctc import (
    ctc_alpha_beta,
    ctc_loss,
    ctc_posteriors,
    greedy_decode,
    prefix_beam_search,
)
from reparam.latent.gmm import GaussianMixture, kmeans_plusplus
from reparam.latent.hmm import HMM, backward, forward, posteriors, viterbi

__all__ = [
    "HMM",
    "GaussianMixture",
    "backward",
    "ctc_alpha_beta",
    "ctc_loss",
    "ctc_posteriors",
    "forward",
    "greedy_decode",
    "kmeans_plusplus",
    "posteriors",
    "prefix_beam_search",
    "viterbi",
]
