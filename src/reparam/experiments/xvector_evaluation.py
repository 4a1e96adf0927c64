r"""Scoring an x-vector extractor: embeddings of whole utterances, the cosine and PLDA
back-ends, trials, EER and minDCF.

The back-ends are fitted on the training speakers' x-vectors. Cosine scoring centres the
x-vectors on the training mean and compares their directions,
:math:`s = \hat x_1^\top \hat x_2` with :math:`\hat x = (x - \bar x) / \lVert x - \bar x
\rVert`. PLDA projects them by LDA to ``lda_dim`` dimensions, length-normalises them
(Garcia-Romero & Espy-Wilson 2011) and scores the log-likelihood ratio of the two-covariance
model (:class:`reparam.speech.PLDA`). A condition's trials are every pair of its utterances.

Reference:
    Garcia-Romero & Espy-Wilson (2011), Analysis of i-vector length normalization in speaker
    recognition systems, Interspeech.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reparam.experiments.asr_evaluation import padded
from reparam.speech import LDA, PLDA, length_normalize, trials
from reparam.speech.verification_metrics import Trials, evaluate

BACKENDS = ("cosine", "plda")


@torch.no_grad()
def embed(
    model: nn.Module, features: Sequence[Tensor], device: torch.device, batch_size: int = 32
) -> Tensor:
    """The x-vectors ``[N, embedding]`` (float64, CPU) of whole utterances, in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    order = sorted(range(len(features)), key=lambda i: features[i].shape[-1])
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        batch, lengths = padded([features[i] for i in chosen])
        out.append(model(batch.to(device), lengths.to(device))[1].double().cpu())
    model.train(was_training)
    embeddings = torch.cat(out)
    return embeddings[torch.argsort(torch.tensor(order))]


@dataclass(frozen=True)
class Backends:
    """The back-ends fitted on training x-vectors: their ``mean`` (for cosine), ``lda`` and
    ``plda``."""

    mean: Tensor
    lda: LDA
    plda: PLDA

    @classmethod
    def fit(cls, x: Tensor, speakers: Tensor, lda_dim: int) -> Backends:
        """Fit on training x-vectors ``x`` [N, D] of ``speakers`` [N]."""
        dim = min(lda_dim, x.shape[1], int(speakers.unique().numel()) - 1)
        lda = LDA.fit(x, speakers, dim)
        plda = PLDA.fit(length_normalize(lda.transform(x)), speakers)
        return cls(x.mean(0), lda, plda)

    def scores(self, backend: str, x: Tensor, pairs: Trials) -> Tensor:
        """The scores of the trials ``pairs`` among the x-vectors ``x`` by ``backend``."""
        if backend == "cosine":
            return cosine_trial_scores(x, self.mean, pairs)
        if backend == "plda":
            z = length_normalize(self.lda.transform(x))
            return self.plda.llr(z[pairs.enrol], z[pairs.test])
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")


def cosine_trial_scores(x: Tensor, mean: Tensor, pairs: Trials) -> Tensor:
    """The cosines of the trials ``pairs`` among the x-vectors ``x`` centred on ``mean``."""
    unit = length_normalize(x - mean)
    return (unit[pairs.enrol] * unit[pairs.test]).sum(-1)


def condition_trials(speakers: Tensor) -> Trials:
    """Every pair of the utterances of ``speakers`` [N]."""
    return trials(speakers.tolist())


def error_rates(scores: Tensor, is_target: Tensor, p_target: float) -> dict[str, float | int]:
    """EER and minDCF of trial ``scores``, target where ``is_target``, as plain values."""
    result = evaluate(scores[is_target], scores[~is_target], p_target=p_target)
    return {"eer": result.eer, "min_dcf": result.min_dcf, "targets": result.n_target,
            "nontargets": result.n_nontarget}  # fmt: skip
