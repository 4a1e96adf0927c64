r"""Speaker-verification back-ends for fixed-length embeddings (i-vectors, x-vectors): LDA,
length normalisation, the two-covariance PLDA and cosine scoring.

**LDA** projects embeddings x ∈ ℝᴰ to the d directions that best separate speakers: with the
within-speaker and between-speaker scatters

.. math:: S_w = \frac1N \sum_n (x_n - m_{s_n})(x_n - m_{s_n})^\top, \qquad
          S_b = \frac1N \sum_s N_s (m_s - m)(m_s - m)^\top

(m_s the mean of speaker s's N_s utterances, m the mean of all N), it solves
:math:`S_b v = λ S_w v` and keeps the d eigenvectors of largest λ, scaled so that
:math:`P^\top S_w P = I` (the projected within-speaker covariance is white) and
:math:`P^\top S_b P = \operatorname{diag}(λ)`. Both come from one simultaneous
diagonalisation: :math:`S_w = LL^\top` (Cholesky), :math:`L^{-1} S_b L^{-\top} = UΛU^\top`
(symmetric eigendecomposition), :math:`P = L^{-\top} U`.

**Length normalisation** (Garcia-Romero & Espy-Wilson 2011) puts each embedding on a sphere,
:math:`x / \lVert x \rVert` (times a radius; Kaldi uses :math:`\sqrt D`), which makes
embeddings more Gaussian before PLDA.

**The two-covariance PLDA** (Ioffe 2006; Brümmer & de Villiers 2010; Sizov et al. 2014) models
utterance j of speaker i as

.. math:: x_{ij} = μ + y_i + ε_{ij}, \qquad y_i \sim \mathcal N(0, B^{-1}), \qquad
          ε_{ij} \sim \mathcal N(0, W^{-1}),

a between-speaker covariance :math:`B^{-1}` and a within-speaker one :math:`W^{-1}`. With
:math:`V` diagonalising both, :math:`V^\top W^{-1} V = I` and :math:`V^\top B^{-1} V =
\operatorname{diag}(φ)`, the coordinates :math:`u = V^\top (x - μ)` are independent across
dimensions, and every computation below is per dimension k.

*E step.* Speaker i's :math:`n_i` utterances, with :math:`s_i = \sum_j u_{ij}`, give the
posterior of :math:`v_i = V^\top y_i`

.. math:: v_{ik} \mid u_{i\cdot k} \sim \mathcal N\Big(\frac{φ_k\, s_{ik}}{1 + n_i φ_k},\;
          \frac{φ_k}{1 + n_i φ_k}\Big) =: \mathcal N(\hat v_{ik}, p_{ik}),

and, by Sherman–Morrison on :math:`I + φ_k \mathbf 1\mathbf 1^\top`, the log-likelihood

.. math:: \log p(x_{i\cdot}) = -\frac{n_i}{2}\big(D \log 2π + \log\lvert W^{-1}\rvert\big)
          - \frac12 \sum_k \Big[\log(1 + n_i φ_k) + \sum_j u_{ijk}^2 - p_{ik}\, s_{ik}^2\Big].

*M step* (in u; mapped back by :math:`x - μ = V^{-\top} u`):

.. math:: μ_u = \frac1S \sum_i \hat v_i, \quad
          B_u^{-1} = \frac1S \sum_i \big[\operatorname{diag}(p_i)
          + (\hat v_i - μ_u)(\hat v_i - μ_u)^\top\big], \quad
          W_u^{-1} = \frac1N \sum_{i,j} \big[\operatorname{diag}(p_i)
          + (u_{ij} - \hat v_i)(u_{ij} - \hat v_i)^\top\big].

EM never decreases the log-likelihood; :meth:`PLDA.fit` records its mean per utterance
before each M step and stops when it changes by less than ``tol``, warning
(:class:`~reparam.ConvergenceWarning`) if ``max_iter`` comes first. It starts from moments:
:math:`S_w` for :math:`W^{-1}` and the scatter of the speaker means :math:`m_s` about their
average for :math:`B^{-1}` (the total covariance where either is singular).

*Scoring.* For a trial (x₁, x₂) the log-likelihood ratio of "same speaker" (one y) against
"different speakers" (independent y's) is, per dimension, that of
:math:`\mathcal N\big(0, \left[\begin{smallmatrix} 1+φ & φ \\ φ & 1+φ \end{smallmatrix}\right]
\big)` against :math:`\mathcal N\big(0, (1+φ) I\big)`:

.. math:: \mathrm{LLR}(x_1, x_2) = \sum_k \Big[\frac12 \log\frac{(1+φ_k)^2}{1 + 2φ_k}
          - \frac{φ_k^2\,(u_{1k}^2 + u_{2k}^2)}{2(1+φ_k)(1+2φ_k)}
          + \frac{φ_k\, u_{1k} u_{2k}}{1 + 2φ_k}\Big],

symmetric in its two arguments (the Jacobian of u cancels in the ratio).

References:
    Ioffe (2006), Probabilistic linear discriminant analysis. ECCV.
    Brümmer & de Villiers (2010), The speaker partitioning problem. Odyssey.
    Garcia-Romero & Espy-Wilson (2011), Analysis of i-vector length normalization in speaker
    recognition systems. Interspeech.
    Sizov, Lee & Kinnunen (2014), Unifying probabilistic linear discriminant analysis variants
    in biometric authentication. S+SSPR.

>>> generator = torch.Generator().manual_seed(0)
>>> speakers = torch.arange(200).repeat_interleave(4)
>>> voices = 4 * torch.randn(200, 5, generator=generator, dtype=torch.float64)
>>> x = voices[speakers] + torch.randn(800, 5, generator=generator, dtype=torch.float64)
>>> z = LDA.fit(x, speakers).transform(x)
>>> plda = PLDA.fit(z, speakers)
>>> plda.converged, all(b >= a for a, b in zip(plda.log_likelihoods, plda.log_likelihoods[1:]))
(True, True)
>>> same = plda.llr(z[0::4], z[1::4])  # utterances 0 and 1 of each speaker
>>> different = plda.llr(z[0::4], z[1::4].roll(1, 0))  # against the next speaker's
>>> from reparam.speech.verification_metrics import eer
>>> eer(same, different) < 0.05
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from reparam.checks import last_dim, positive_int, positive_real, tensor
from reparam.latent.monitor import ConvergenceMonitor
from reparam.speech.verification_metrics import Labels, speaker_index

LOG_2PI = math.log(2 * math.pi)


def _embeddings(name: str, x: object) -> Tensor:
    """``x`` if it is a finite, float [N, D] tensor with N, D ≥ 1."""
    x = tensor(name, x)
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] tensor, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return x


def _speakers(labels: Labels, n: int) -> tuple[Tensor, Tensor]:
    """(speaker index [N], utterances per speaker [S]) for at least two speakers."""
    speakers = speaker_index(labels)
    if speakers.shape != (n,):
        raise ValueError(
            f"labels must hold one speaker per embedding ({n}), got {speakers.numel()}"
        )
    counts = torch.bincount(speakers)
    if counts.numel() < 2:
        raise ValueError(f"labels must name at least 2 speakers, got {counts.numel()}")
    return speakers, counts


def _speaker_means(x: Tensor, speakers: Tensor, counts: Tensor) -> Tensor:
    sums = x.new_zeros(counts.numel(), x.shape[1]).index_add_(0, speakers, x)
    return sums / counts.unsqueeze(1).to(x.dtype)


def _scatter(x: Tensor) -> Tensor:
    """(1/N) Σ_n x_n x_nᵀ."""
    return x.T @ x / x.shape[0]


def _cholesky(matrix: Tensor) -> Tensor | None:
    """The lower Cholesky factor, or None if ``matrix`` is not numerically positive definite:
    a pivot below D·eps times the largest diagonal entry is rounding of a zero."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    floor = matrix.shape[0] * torch.finfo(matrix.dtype).eps * matrix.diagonal().max()
    return None if info.item() or factor.diagonal().min() ** 2 < floor else factor


def _diagonaliser(within: Tensor, between: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(V, V⁻¹, φ) with Vᵀ·within·V = I and Vᵀ·between·V = diag(φ), φ decreasing (a
    ``ValueError`` if ``within`` is not positive definite)."""
    factor = _cholesky(within)
    if factor is None:
        raise ValueError(
            "the within-speaker covariance is singular: the embeddings need more utterances "
            "than speakers plus dimensions, spanning all D dimensions"
        )
    half = torch.linalg.solve_triangular(factor, between, upper=False)
    whitened = torch.linalg.solve_triangular(factor, half.T, upper=False)
    phi, rotation = torch.linalg.eigh((whitened + whitened.T) / 2)
    phi, rotation = phi.flip(0), rotation.flip(1)
    transform = torch.linalg.solve_triangular(factor.T, rotation, upper=True)
    return transform, rotation.T @ factor.T, phi


@dataclass(frozen=True)
class LDA:
    """A fitted LDA: ``transform(x) = (x − mean) @ projection``, ``projection`` [D, d] with
    the projected within-speaker covariance of the training data white and the between-speaker
    one ``diag(eigenvalues)`` (decreasing)."""

    mean: Tensor
    projection: Tensor
    eigenvalues: Tensor

    @classmethod
    def fit(cls, embeddings: Tensor, labels: Labels, dim: int | None = None) -> LDA:
        """Fit on ``embeddings`` [N, D] of at least two speakers (``labels`` [N]); ``dim``
        (at most min(D, S − 1), the rank of S_b) defaults to that bound.

        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.5], [4.0, 0.0], [5.0, 1.0]])
        >>> lda = LDA.fit(x, [0, 0, 1, 1])
        >>> tuple(lda.projection.shape), round(lda.eigenvalues.item(), 6)
        ((2, 1), 137.0)
        """
        x = _embeddings("embeddings", embeddings)
        speakers, counts = _speakers(labels, x.shape[0])
        largest = min(x.shape[1], counts.numel() - 1)
        dim = largest if dim is None else positive_int("dim", dim)
        if dim > largest:
            raise ValueError(f"dim must be at most min(D, speakers - 1) = {largest}, got {dim}")
        if x.shape[0] - counts.numel() < x.shape[1]:
            raise ValueError(
                f"LDA needs at least D = {x.shape[1]} more utterances than speakers for a "
                f"non-singular within-speaker scatter, got N = {x.shape[0]}, S = {counts.numel()}"
            )
        mean = x.mean(0)
        means = _speaker_means(x, speakers, counts)
        within = _scatter(x - means[speakers])
        between = _scatter((means - mean)[speakers])
        transform, _, eigenvalues = _diagonaliser(within, between)
        return cls(mean, transform[:, :dim], eigenvalues[:dim])

    def transform(self, x: Tensor) -> Tensor:
        """The projections [..., d] of embeddings [..., D]."""
        last_dim("x", tensor("x", x), self.mean.numel(), "the LDA's input dimension")
        return (x - self.mean) @ self.projection


def length_normalize(x: Tensor, radius: float = 1.0) -> Tensor:
    """Each embedding (the last dimension of ``x``) scaled to norm ``radius``.

    >>> length_normalize(torch.tensor([[3.0, 4.0]]), radius=10.0).tolist()
    [[6.0, 8.0]]
    """
    norm = tensor("x", x).norm(dim=-1, keepdim=True)
    if (norm == 0).any():
        raise ValueError("x has an all-zero embedding, which has no direction")
    return x * (positive_real("radius", radius) / norm)


def cosine_scores(enrol: Tensor, test: Tensor) -> Tensor:
    """The cosine similarity of each pair of rows of ``enrol`` and ``test`` (broadcast over
    the leading dimensions: ``enrol[:, None]`` and ``test[None]`` score every pair).

    >>> cosine_scores(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 2.0]]))
    tensor([0.7071, 0.0000])
    """
    last_dim("test", tensor("test", test), tensor("enrol", enrol).shape[-1], "enrol's")
    return torch.nn.functional.cosine_similarity(enrol, test, dim=-1)


@dataclass(frozen=True)
class _Coordinates:
    """One pass over the training data in the diagonal coordinates u = Vᵀ(x − μ)."""

    u: Tensor  # [N, D]
    posterior_mean: Tensor  # [S, D], v̂_i
    posterior_variance: Tensor  # [S, D], p_i
    mean_log_likelihood: float


def _e_step(
    x: Tensor, speakers: Tensor, counts: Tensor, mean: Tensor, transform: Tensor, phi: Tensor
) -> _Coordinates:
    """The posteriors of the speakers and the log-likelihood, from μ and the diagonaliser
    (V, φ) of the covariances (log|W⁻¹| = −2 log|det V|)."""
    u = (x - mean) @ transform
    sums = u.new_zeros(counts.numel(), u.shape[1]).index_add_(0, speakers, u)
    n = counts.unsqueeze(1).to(u.dtype)
    posterior_variance = phi / (1 + n * phi)
    log_likelihood = -0.5 * (
        x.numel() * LOG_2PI
        - 2 * x.shape[0] * torch.linalg.slogdet(transform)[1]
        + torch.log1p(n * phi).sum()
        + (u**2).sum()
        - (posterior_variance * sums**2).sum()
    )
    return _Coordinates(
        u, posterior_variance * sums, posterior_variance, log_likelihood.item() / x.shape[0]
    )


def _m_step(
    speakers: Tensor, counts: Tensor, mean: Tensor, inverse: Tensor, e: _Coordinates
) -> tuple[Tensor, Tensor, Tensor]:
    """(μ, B⁻¹, W⁻¹) maximising the expected complete-data log-likelihood."""
    n = counts.unsqueeze(1).to(e.u.dtype)
    mean_u = e.posterior_mean.mean(0)
    between_u = torch.diag(e.posterior_variance.mean(0)) + _scatter(e.posterior_mean - mean_u)
    residual = e.u - e.posterior_mean[speakers]
    within_u = torch.diag((n * e.posterior_variance).sum(0) / e.u.shape[0]) + _scatter(residual)
    between, within = (inverse.T @ c @ inverse for c in (between_u, within_u))
    return mean + mean_u @ inverse, (between + between.T) / 2, (within + within.T) / 2


def _initial_parameters(
    x: Tensor, speakers: Tensor, counts: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The scatters of the speaker means and of the utterances about them, each replaced by
    the total covariance where it is singular."""
    mean = x.mean(0)
    means = _speaker_means(x, speakers, counts)
    total = _scatter(x - mean)
    if _cholesky(total) is None:
        raise ValueError(
            f"the embeddings' covariance is singular: PLDA needs more utterances (N = "
            f"{x.shape[0]}) than dimensions (D = {x.shape[1]}), spanning all of them"
        )
    between = _scatter(means - means.mean(0))
    within = _scatter(x - means[speakers])
    return (
        mean,
        between if _cholesky(between) is not None else total,
        within if _cholesky(within) is not None else total,
    )


@dataclass(frozen=True)
class PLDA:
    r"""A fitted two-covariance PLDA: ``mean`` μ [D], ``between_covariance`` B⁻¹ and
    ``within_covariance`` W⁻¹ [D, D]; ``log_likelihoods``, the mean log-likelihood per
    utterance before each M step of the fit (non-decreasing), and whether it ``converged``."""

    mean: Tensor
    between_covariance: Tensor
    within_covariance: Tensor
    log_likelihoods: tuple[float, ...]
    converged: bool

    @classmethod
    def fit(
        cls, embeddings: Tensor, labels: Labels, *, max_iter: int = 100, tol: float = 1e-6
    ) -> PLDA:
        """Fit by EM on ``embeddings`` [N, D] (use float64) of at least two speakers
        (``labels`` [N]; a speaker may have a single utterance), stopping when the mean
        log-likelihood per utterance changes by less than ``tol``."""
        x = _embeddings("embeddings", embeddings)
        speakers, counts = _speakers(labels, x.shape[0])
        monitor = ConvergenceMonitor(
            positive_real("tol", tol),
            positive_int("max_iter", max_iter),
            quantity="the mean log-likelihood per utterance",
            cap="max_iter",
        )
        mean, between, within = _initial_parameters(x, speakers, counts)
        for _ in range(max_iter):
            transform, inverse, phi = _diagonaliser(within, between)
            e = _e_step(x, speakers, counts, mean, transform, phi.clamp(min=0))
            converged = monitor.report(e.mean_log_likelihood)
            mean, between, within = _m_step(speakers, counts, mean, inverse, e)
            if converged:
                break
        monitor.warn("PLDA.fit")
        return cls(mean, between, within, tuple(monitor.history), monitor.converged)

    @property
    def between_precision(self) -> Tensor:
        """B, the inverse of ``between_covariance``."""
        return torch.linalg.inv(self.between_covariance)

    @property
    def within_precision(self) -> Tensor:
        """W, the inverse of ``within_covariance``."""
        return torch.linalg.inv(self.within_covariance)

    @cached_property
    def _diagonal(self) -> tuple[Tensor, Tensor]:
        """(V, φ): the transform to independent coordinates and their between variances."""
        transform, _, phi = _diagonaliser(self.within_covariance, self.between_covariance)
        return transform, phi.clamp(min=0)

    def _coordinates(self, name: str, x: Tensor) -> Tensor:
        last_dim(name, tensor(name, x), self.mean.numel(), "the PLDA's dimension")
        return (x.to(self.mean.dtype) - self.mean) @ self._diagonal[0]

    def log_likelihood(self, embeddings: Tensor, labels: Labels) -> float:
        """The mean log-likelihood per utterance of ``embeddings`` [N, D] grouped by speaker
        (``labels`` [N]) under the model."""
        x = _embeddings("embeddings", embeddings).to(self.mean.dtype)
        speakers, counts = _speakers(labels, x.shape[0])
        return _e_step(x, speakers, counts, self.mean, *self._diagonal).mean_log_likelihood

    def _llr_terms(self) -> tuple[Tensor, Tensor, Tensor]:
        """(the constant, the coefficient of u₁² + u₂², that of u₁u₂), per dimension."""
        phi = self._diagonal[1]
        constant = torch.log1p(phi) - 0.5 * torch.log1p(2 * phi)
        square = -0.5 * phi**2 / ((1 + phi) * (1 + 2 * phi))
        return constant, square, phi / (1 + 2 * phi)

    def llr(self, enrol: Tensor, test: Tensor) -> Tensor:
        """The same-versus-different-speaker log-likelihood ratio of each pair of rows of
        ``enrol`` and ``test`` [..., D] (broadcast), [...]."""
        u1, u2 = self._coordinates("enrol", enrol), self._coordinates("test", test)
        constant, square, cross = self._llr_terms()
        return constant.sum() + (square * (u1**2 + u2**2) + cross * u1 * u2).sum(-1)

    def llr_matrix(self, enrol: Tensor, test: Tensor) -> Tensor:
        """The log-likelihood ratio of every enrolment [E, D] against every test [T, D]
        embedding, [E, T], without the [E, T, D] intermediate of :meth:`llr`."""
        u1, u2 = self._coordinates("enrol", enrol), self._coordinates("test", test)
        constant, square, cross = self._llr_terms()
        own = (square * u1**2).sum(-1).unsqueeze(1) + (square * u2**2).sum(-1)
        return constant.sum() + own + (u1 * cross) @ u2.T
