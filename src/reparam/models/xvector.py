r"""The x-vector speaker embedding extractor (Snyder et al. 2018), with ordinary or Bayesian
(Bayes by Backprop) frame layers.

Five TDNN frame layers see the normalised log-mel frames through growing contexts
(:data:`CONTEXTS`: frames t−2…t+2, then {t−2, t, t+2}, {t−3, t, t+3}, {t}, {t}); each is a
linear map of its spliced input frames, a ReLU and batch normalisation. Statistics pooling
gives the mean and standard deviation of the last frame layer over the utterance, two
segment layers follow, and a linear head scores the training speakers. The x-vector is the
first segment layer's affine output, before its nonlinearity.

With ``bayesian_layers = n`` the first n frame layers are :class:`~reparam.bayes.BayesLinear`
with a factorised Gaussian posterior :math:`w = μ + \operatorname{softplus}(ρ)\,ε`
(Blundell et al. 2015, as seed 001 writes it) under a N(0, 1) prior, trained on

.. math:: \frac1B \sum_b -\log p(s_b \mid x_b, w) + \frac{λ}{N} \mathrm{KL}(q(w) \,\|\, p(w)),

the KL of the whole training set of size N shared over its minibatches (the trainer's
choice of N and λ: :mod:`reparam.experiments.xvector`); unscaled, the KL term (a few nats a
weight) swamps the cross-entropy. Trained, a
Bayesian layer draws pre-activations by the local reparameterisation trick; in evaluation
it uses the posterior mean, so x-vectors are deterministic.

References:
    Snyder, Garcia-Romero, Sell, Povey & Khudanpur (2018), X-vectors: robust DNN embeddings
    for speaker recognition, ICASSP.
    Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural networks.

Example:
    >>> model = XVector(n_mels=8, speakers=3, channels=16, pooled=24, embedding=12,
    ...                 bayesian_layers=2)
    >>> logits, xvectors = model(torch.randn(4, 8, 40), torch.tensor([40, 40, 30, 25]))
    >>> tuple(logits.shape), tuple(xvectors.shape), model.kl().item() > 0
    ((4, 3), (4, 12), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam import checks
from reparam.bayes import BayesLinear
from reparam.bayes import kl as bayes_kl
from reparam.models.ctc_recognizer import normalise

CONTEXTS = ((-2, -1, 0, 1, 2), (-2, 0, 2), (-3, 0, 3), (0,), (0,))


class FrameLayer(nn.Module):
    """One TDNN layer: its input frames at the ``context`` offsets spliced, a linear (or
    Bayesian linear) map, ReLU, batch normalisation; ``[B, C, T] → [B, out, T − span]``."""

    def __init__(self, inputs: int, outputs: int, context: tuple[int, ...], bayesian: bool):
        super().__init__()
        self.context = context
        width = inputs * len(context)
        self.linear = BayesLinear(width, outputs) if bayesian else nn.Linear(width, outputs)
        self.norm = nn.BatchNorm1d(outputs)

    @property
    def span(self) -> int:
        """Frames lost at the two ends together."""
        return max(self.context) - min(self.context)

    def forward(self, x: Tensor) -> Tensor:
        frames = x.shape[-1] - self.span
        low = min(self.context)
        spliced = torch.cat([x[..., c - low : c - low + frames] for c in self.context], dim=1)
        flat = spliced.transpose(1, 2)  # [B, T', C·k]
        if isinstance(self.linear, BayesLinear) and not self.training:
            out = F.linear(flat, self.linear.weight_mu, self.linear.bias_mu)
        else:
            out = self.linear(flat)
        return self.norm(F.relu(out).transpose(1, 2))


class XVector(nn.Module):
    """The x-vector network (see the module docstring)."""

    def __init__(
        self,
        n_mels: int = 80,
        speakers: int = 240,
        channels: int = 256,
        pooled: int = 768,
        embedding: int = 256,
        bayesian_layers: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("n_mels", n_mels), ("speakers", speakers), ("channels", channels),
                            ("pooled", pooled), ("embedding", embedding)):  # fmt: skip
            checks.positive_int(name, value)
        if not 0 <= bayesian_layers <= len(CONTEXTS):
            raise ValueError(f"bayesian_layers must lie in [0, 5]; got {bayesian_layers}")
        widths = [n_mels, channels, channels, channels, channels, pooled]
        self.frames = nn.ModuleList(
            FrameLayer(widths[i], widths[i + 1], context, i < bayesian_layers)
            for i, context in enumerate(CONTEXTS)
        )
        self.segment6 = nn.Linear(2 * pooled, embedding)
        self.segment7 = nn.Sequential(
            nn.ReLU(), nn.BatchNorm1d(embedding), nn.Linear(embedding, embedding), nn.ReLU(),
            nn.BatchNorm1d(embedding),
        )  # fmt: skip
        self.head = nn.Linear(embedding, speakers)
        self.bayesian_layers = bayesian_layers

    @property
    def span(self) -> int:
        """Frames the frame layers consume: an utterance needs more than this many."""
        return sum(layer.span for layer in self.frames)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The speaker logits ``[B, speakers]`` and x-vectors ``[B, embedding]`` of
        ``features`` ``[B, n_mels, T]`` valid up to ``lengths`` (each > :attr:`span`)."""
        if int(lengths.min()) <= self.span:
            raise ValueError(f"every utterance needs more than {self.span} frames")
        x = normalise(features, lengths)
        for layer in self.frames:
            x = layer(x)
        valid = lengths - self.span
        mask = (torch.arange(x.shape[-1], device=x.device) < valid[:, None])[:, None]
        count = valid[:, None].to(x.dtype)
        mean = (x * mask).sum(-1) / count
        variance = ((x - mean[..., None]).pow(2) * mask).sum(-1) / count
        xvectors = self.segment6(torch.cat([mean, variance.clamp(min=1e-6).sqrt()], dim=1))
        return self.head(self.segment7(xvectors)), xvectors

    def kl(self) -> Tensor:
        """KL(q ‖ p) of the Bayesian layers (0 without any)."""
        if not self.bayesian_layers:
            return torch.zeros((), device=self.head.weight.device)
        return bayes_kl(self)
