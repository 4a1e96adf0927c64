"""Exact marginalisation over discrete latents: Gaussian mixtures by EM, hidden Markov models,
the CTC loss, its decoders and forced alignment, an n-gram language model to fuse into them,
and the error rates that score them."""

from reparam.latent.ctc import (
    LanguageModel,
    ctc_alpha_beta,
    ctc_loss,
    ctc_posteriors,
    greedy_decode,
    prefix_beam_search,
)
from reparam.latent.ctc_align import CTCAlignment, ctc_forced_align
from reparam.latent.edit_distance import (
    EditCounts,
    ErrorRate,
    character_error_rate,
    edit_distance,
    word_error_rate,
)
from reparam.latent.forward_backward import backward, forward, posteriors, viterbi
from reparam.latent.gmm import GaussianMixture
from reparam.latent.hmm import HMM
from reparam.latent.k_means import KMeansResult, kmeans, kmeans_plusplus
from reparam.latent.monitor import ConvergenceMonitor
from reparam.latent.ngram import NGramLM

__all__ = [
    "HMM",
    "CTCAlignment",
    "ConvergenceMonitor",
    "EditCounts",
    "ErrorRate",
    "GaussianMixture",
    "KMeansResult",
    "LanguageModel",
    "NGramLM",
    "backward",
    "character_error_rate",
    "ctc_alpha_beta",
    "ctc_forced_align",
    "ctc_loss",
    "ctc_posteriors",
    "edit_distance",
    "forward",
    "greedy_decode",
    "kmeans",
    "kmeans_plusplus",
    "posteriors",
    "prefix_beam_search",
    "viterbi",
    "word_error_rate",
]
