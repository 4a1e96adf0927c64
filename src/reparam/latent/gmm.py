r"""Gaussian mixture models fitted by expectation–maximisation (EM).

The model is :math:`p(x) = \sum_{k=1}^K π_k\, \mathcal N(x \mid μ_k, Σ_k)`, with a discrete
latent z ∈ {1, …, K} marginalised exactly. EM alternates two steps (Dempster, Laird & Rubin
1977; Bishop 2006, PRML §9.2):

- E step — the posterior over z, in log space,

  .. math:: \log r_{nk} = \log π_k + \log \mathcal N(x_n \mid μ_k, Σ_k)
            - \operatorname{logsumexp}_j \big[\log π_j + \log \mathcal N(x_n \mid μ_j, Σ_j)\big],

  with :math:`\log \mathcal N(x \mid μ, Σ) = -\tfrac12\big(D \log 2π + 2\sum_i \log L_{ii}
  + \lVert L^{-1}(x - μ)\rVert^2\big)` for the Cholesky factor :math:`Σ = LL^\top`;
- M step — the maximiser of the expected complete-data log-likelihood, where a Lagrange
  multiplier keeps :math:`\sum_k π_k = 1` (PRML eqs. 9.24–9.26):

  .. math:: N_k = \sum_n r_{nk}, \quad μ_k = \frac{1}{N_k}\sum_n r_{nk} x_n, \quad
            Σ_k = \frac{1}{N_k}\sum_n r_{nk}(x_n - μ_k)(x_n - μ_k)^\top + ε I, \quad
            π_k = N_k / N.

The floor :math:`ε` (``reg_covar``) keeps a component that collapses onto one point from
reaching a singular covariance and an unbounded likelihood; as in scikit-learn,
:math:`10\,\mathrm{eps}` is added to every :math:`N_k` so no weight is exactly zero. A
component whose :math:`N_k` is numerically zero (below ``10·eps·N``) keeps its previous mean
and covariance, which would otherwise be 0/0; its weight still follows the M step. That is a
generalised EM step (the component's term of the expected log-likelihood is unchanged, the
others are maximised), so the log-likelihood still never decreases.

Each EM iteration cannot decrease the log-likelihood; fitting stops when the change of the
mean log-likelihood per sample falls below ``tol`` (:math:`|Δ| < \mathrm{tol}`), as
scikit-learn does, and ``lower_bound_`` is, as there, the mean log-likelihood of the
parameters *before* the last M step. ``converged_``, ``n_iter_`` and ``monitor_``
(:class:`~reparam.latent.monitor.ConvergenceMonitor`, whose ``history`` is ``history``) record
how it stopped; stopping at ``max_iter`` first warns with :class:`reparam.ConvergenceWarning`,
as scikit-learn's does.

``reg_covar`` is absolute, as in scikit-learn: on data whose spread is far below
:math:`\sqrt{ε}` every component is :math:`\mathcal N(μ_k, ε I)` and the fit cannot resolve
any structure; on data of spread s whose points span fewer than D dimensions, a floor below
the rounding of :math:`s^2` (``eps`` · s²) leaves a covariance that is not positive definite,
which is a ``ValueError`` naming the component. Scale ``reg_covar`` with the data's variance,
or standardise the data. Data whose squared distances overflow the dtype (|x| beyond about
1e19 in float32) are refused. A weight of 0 in ``weights_init`` is allowed (as in
scikit-learn): that component takes no points, keeps its mean and covariance, and its weight
stays at the 10·eps floor.

Initialisation (``init``):

- ``"k-means++"``: K means seeded by D² sampling (Arthur & Vassilvitskii 2007), every point
  hard-assigned to its nearest seed, and one M step from those one-hot responsibilities.
  (scikit-learn instead gives each component only its own seed point.) A component left
  without points keeps its seed as mean and gets the covariance of the whole data set.
- ``"random"``: random responsibilities (uniform, normalised per point), then one M step, like
  scikit-learn's ``"random"``.

Explicit ``weights_init``, ``means_init`` and ``precisions_init`` or ``covariances_init``
passed to :meth:`GaussianMixture.fit` override those.

Both steps are batched over all K components and run over blocks of rows, so the [K, rows, D]
intermediates stay in cache (three to four times faster on a CPU than one [K, N, D] tensor).
All computation is in float64 (``dtype`` can ask for float32); inputs may be NumPy arrays or
tensors of shape [N, D].

References:
    Dempster, Laird & Rubin (1977), Maximum likelihood from incomplete data via the EM
    algorithm. JRSS B 39(1).
    Bishop (2006), Pattern Recognition and Machine Learning, §9.2.
    Arthur & Vassilvitskii (2007), k-means++: the advantages of careful seeding. SODA.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from reparam.latent.monitor import ConvergenceMonitor

COVARIANCE_TYPES = ("full", "diag")
INITS = ("k-means++", "random")
LOG_2PI = math.log(2 * math.pi)


def kmeans_plusplus(X: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Indices of ``k`` seeds drawn by k-means++ D² sampling (Arthur & Vassilvitskii 2007):
    the first uniformly, each next with probability proportional to its squared distance to
    the nearest seed so far (uniformly among unchosen points once every distance is zero)."""
    n = X.shape[0]
    chosen = torch.zeros(n, dtype=torch.bool, device=X.device)
    index = torch.randint(n, (1,), generator=generator, device=X.device)
    indices = [index]
    chosen[index] = True
    nearest = ((X - X[index]) ** 2).sum(-1)
    for _ in range(1, k):
        total = nearest.sum()
        if total > 0 and torch.isfinite(total):
            probabilities = nearest / total
        else:  # every point sits on a seed already: duplicate data, pick an unchosen point
            probabilities = (~chosen).to(X.dtype)
        index = torch.multinomial(probabilities, 1, generator=generator)
        indices.append(index)
        chosen[index] = True
        nearest = torch.minimum(nearest, ((X - X[index]) ** 2).sum(-1))
    return torch.cat(indices)


def _row_blocks(n: int, width: int, elements: int = 2**18) -> list[slice]:
    """Slices of ``range(n)`` whose [K, rows, D] intermediates (``width`` = K·D values per
    row) hold about ``elements`` values: small enough to stay in cache, which on a CPU is
    several times faster than one [K, N, D] tensor."""
    rows = max(1, elements // max(width, 1))
    return [slice(start, min(start + rows, n)) for start in range(0, n, rows)]


class GaussianMixture:
    r"""A mixture of K Gaussians fitted by EM, with an interface like scikit-learn's.

    Args:
        n_components: K ≥ 1.
        covariance_type: ``"full"`` (one D×D covariance per component) or ``"diag"``.
        tol: stop when the mean log-likelihood per sample changes by less than this.
        max_iter: at most this many EM iterations.
        reg_covar: ε ≥ 0 added to the diagonal of every covariance.
        init: ``"k-means++"`` or ``"random"`` (see the module docstring).
        seed: seeds the initialisation and :meth:`sample`.
        device, dtype: where and in which float type to compute (float64 by default).

    After :meth:`fit`: ``weights_`` [K], ``means_`` [K, D], ``covariances_`` ([K, D, D] full,
    [K, D] diag), ``converged_``, ``n_iter_``, ``lower_bound_``, ``monitor_`` and ``history``
    (the mean log-likelihood per sample at the start of each iteration). A fit that reaches
    ``max_iter`` before ``tol`` warns (:class:`~reparam.ConvergenceWarning`).

    >>> _ = torch.manual_seed(0)
    >>> X = torch.cat([torch.randn(200, 2) - 5, torch.randn(200, 2) + 5])
    >>> gmm = GaussianMixture(2, seed=0).fit(X)
    >>> sorted(gmm.means_[:, 0].round().tolist())
    [-5.0, 5.0]
    >>> gmm.predict(torch.tensor([[-5.0, -5.0], [5.0, 5.0]])).unique().numel()
    2
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        tol: float = 1e-3,
        max_iter: int = 100,
        reg_covar: float = 1e-6,
        init: str = "k-means++",
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"n_components must be an integer ≥ 1, got {n_components!r}")
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"unknown covariance_type {covariance_type!r}; choose from "
                f"{', '.join(COVARIANCE_TYPES)}"
            )
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
        if not tol >= 0:
            raise ValueError(f"tol must be ≥ 0, got {tol}")
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise ValueError(f"max_iter must be an integer ≥ 1, got {max_iter!r}")
        if not (reg_covar >= 0 and math.isfinite(reg_covar)):
            raise ValueError(f"reg_covar must be finite and ≥ 0, got {reg_covar}")
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.init = init
        self.seed = seed
        self.device = torch.device(device) if device is not None else None
        self.dtype = dtype
        self.history: list[float] = []

    # ---------------------------------------------------------------- inputs and parameters
    def _as_data(self, X: Any, n_features: int | None = None) -> Tensor:
        X = torch.as_tensor(X)
        if not (X.is_floating_point() or X.dtype in (torch.int32, torch.int64, torch.bool)):
            raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
        X = X.to(dtype=self.dtype, device=self.device)
        if X.dim() != 2:
            raise ValueError(f"X must be 2-D [N, D], got shape {tuple(X.shape)}")
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must have at least one row and one column, got {tuple(X.shape)}")
        if not torch.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features, the mixture was fitted on {n_features}")
        return X

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise ValueError("this GaussianMixture is not fitted yet; call fit(X) first")

    def _cholesky(self, covariances: Tensor) -> Tensor:
        """L with Σ = LLᵀ per component (full), or the standard deviations (diag)."""
        if self.covariance_type == "diag":
            bad = ~(covariances > 0).all(-1)
        else:
            L, info = torch.linalg.cholesky_ex(covariances)
            bad = info != 0
        if bad.any():
            raise ValueError(
                f"the covariance of component {int(bad.nonzero()[0, 0])} is not positive "
                f"definite in {covariances.dtype}: increase reg_covar (now {self.reg_covar:g}; "
                "it is absolute, so scale it with the data's variance) or check for degenerate "
                "data"
            )
        return covariances.sqrt() if self.covariance_type == "diag" else L

    def _set(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        self._chol = self._cholesky(covariances)
        self.weights_, self.means_, self.covariances_ = weights, means, covariances

    # ------------------------------------------------------------------------ the two steps
    def _log_gaussians(self, X: Tensor) -> Tensor:
        """log N(x_n | μ_k, Σ_k), shape [N, K]."""
        N, D = X.shape
        maha = X.new_empty(N, self.n_components)
        for rows in _row_blocks(N, self.n_components * D):
            diff = X[rows].unsqueeze(0) - self.means_.unsqueeze(1)  # [K, n, D]
            if self.covariance_type == "diag":
                z = diff / self._chol.unsqueeze(1)
                maha[rows] = z.square_().sum(-1).T
            else:  # L⁻¹(x − μ) by forward substitution, [K, D, n]
                z = torch.linalg.solve_triangular(self._chol, diff.mT, upper=False)
                # in place unless autograd keeps z (score_samples of X that requires grad)
                maha[rows] = (z.square() if z.requires_grad else z.square_()).sum(-2).T
        if self.covariance_type == "diag":
            log_det = 2 * self._chol.log().sum(-1)
        else:
            log_det = 2 * torch.diagonal(self._chol, dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (D * LOG_2PI + log_det + maha)

    def _joint(self, X: Tensor) -> Tensor:
        """log π_k + log N(x_n | μ_k, Σ_k), shape [N, K]."""
        return self.weights_.log() + self._log_gaussians(X)

    def _e_step(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(mean log-likelihood per sample, log responsibilities [N, K])."""
        joint = self._joint(X)
        log_px = torch.logsumexp(joint, dim=1, keepdim=True)
        return log_px.mean(), joint - log_px

    def _m_step(
        self, X: Tensor, resp: Tensor, previous: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """PRML eqs. 9.24–9.26 from responsibilities ``resp`` [N, K]; components with no
        mass keep ``previous`` = (means, covariances)."""
        N, D = X.shape
        eps = torch.finfo(X.dtype).eps
        raw = resp.sum(0)
        nk = raw + 10 * eps
        means = (resp.T @ X) / nk.unsqueeze(1)
        if previous is not None:
            empty = raw < 10 * eps * N
            means = torch.where(empty.unsqueeze(1), previous[0], means)
        K = self.n_components
        shape = (K, D) if self.covariance_type == "diag" else (K, D, D)
        scatter = X.new_zeros(shape)  # Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ, or its diagonal
        for rows in _row_blocks(N, K * D):
            diff = X[rows].unsqueeze(0) - means.unsqueeze(1)  # [K, n, D]
            weighted = diff * resp[rows].T.unsqueeze(2)
            if self.covariance_type == "diag":
                scatter += (weighted * diff).sum(1)
            else:
                scatter += weighted.mT @ diff
        if self.covariance_type == "diag":
            covariances = scatter / nk.unsqueeze(1) + self.reg_covar
        else:
            covariances = scatter / nk.view(-1, 1, 1)
            covariances = 0.5 * (covariances + covariances.mT)
            covariances = covariances + self.reg_covar * torch.eye(
                D, dtype=X.dtype, device=X.device
            )
        if previous is not None:
            keep = empty.view((-1,) + (1,) * (covariances.dim() - 1))
            covariances = torch.where(keep, previous[1], covariances)
        return nk / nk.sum(), means, covariances

    # ------------------------------------------------------------------------ initialisation
    def _initial_parameters(self, X: Tensor, generator: torch.Generator) -> None:
        N, D = X.shape
        K = self.n_components
        if self.init == "k-means++":
            seeds = X[kmeans_plusplus(X, K, generator)]
            labels = torch.cdist(X, seeds).argmin(1)
            resp = torch.nn.functional.one_hot(labels, K).to(X.dtype)
            centred = X - X.mean(0)
            overall = centred.T @ centred / N
            if self.covariance_type == "diag":
                overall = overall.diagonal() + self.reg_covar
            else:
                overall = overall + self.reg_covar * torch.eye(D, dtype=X.dtype, device=X.device)
            previous = (seeds, overall.expand(K, *overall.shape))
        else:
            resp = torch.rand(N, K, generator=generator, dtype=X.dtype, device=X.device)
            resp = resp / resp.sum(1, keepdim=True)
            previous = None
        self._set(*self._m_step(X, resp, previous))

    def _override(
        self,
        D: int,
        weights_init: Any,
        means_init: Any,
        precisions_init: Any,
        covariances_init: Any,
    ) -> None:
        K = self.n_components
        kw = {"dtype": self.dtype, "device": self.device}
        weights, means, covariances = self.weights_, self.means_, self.covariances_
        if weights_init is not None:
            weights = torch.as_tensor(weights_init).to(**kw)
            if weights.shape != (K,) or not ((weights >= 0) & (weights <= 1)).all():
                raise ValueError(
                    f"weights_init must be {K} values in [0, 1], got {weights.tolist()}"
                )
            if not torch.isclose(weights.sum(), weights.new_tensor(1.0), atol=1e-6):
                raise ValueError(f"weights_init must sum to 1, got {weights.sum().item()}")
            weights = weights / weights.sum()
        if means_init is not None:
            means = torch.as_tensor(means_init).to(**kw)
            if means.shape != (K, D) or not torch.isfinite(means).all():
                raise ValueError(f"means_init must be [{K}, {D}] finite values")
        if precisions_init is not None and covariances_init is not None:
            raise ValueError("give precisions_init or covariances_init, not both")
        shape = (K, D, D) if self.covariance_type == "full" else (K, D)
        given = precisions_init if precisions_init is not None else covariances_init
        if given is not None:
            matrix = torch.as_tensor(given).to(**kw)
            name = "precisions_init" if precisions_init is not None else "covariances_init"
            if matrix.shape != shape or not torch.isfinite(matrix).all():
                raise ValueError(
                    f"{name} must be finite values of shape {list(shape)}, got shape "
                    f"{list(matrix.shape)}"
                )
            if self.covariance_type == "full":
                asymmetric = ~torch.isclose(matrix, matrix.mT, rtol=1e-5, atol=1e-8).all((-2, -1))
                if asymmetric.any():
                    k = int(asymmetric.nonzero()[0, 0])
                    raise ValueError(f"{name} must be symmetric; component {k} is not")
                L, info = torch.linalg.cholesky_ex(matrix)
                if (info != 0).any():
                    k = int(info.nonzero()[0, 0])
                    raise ValueError(f"{name} must be positive definite; component {k} is not")
                if precisions_init is not None:  # Σ = P⁻¹ through P's Cholesky factor
                    matrix = torch.cholesky_inverse(L)
            else:
                if not (matrix > 0).all():
                    k = int((matrix <= 0).any(1).nonzero()[0, 0])
                    raise ValueError(
                        f"{name} must be positive; component {k} has {matrix[k].tolist()}"
                    )
                if precisions_init is not None:
                    matrix = 1 / matrix
            covariances = matrix
        self._set(weights, means, covariances)

    # --------------------------------------------------------------------------- public API
    def fit(
        self,
        X: Any,
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        covariances_init: Any = None,
    ) -> GaussianMixture:
        """Fit by EM from the initialisation (or the given initial parameters); returns self.
        Warns (:class:`~reparam.ConvergenceWarning`) if ``max_iter`` iterations end before
        the mean log-likelihood per sample changes by less than ``tol``."""
        X = self._as_data(X)
        N, D = X.shape
        if self.n_components > N:
            raise ValueError(f"n_components={self.n_components} exceeds the {N} samples in X")
        spread = float((X - X.mean(0)).abs().max())
        if spread > math.sqrt(torch.finfo(self.dtype).max / (4 * N * D)):
            raise ValueError(
                f"X spreads too widely for {self.dtype} (max |x - mean| = {spread:.3g}): its "
                "squared distances overflow; rescale X or use dtype=torch.float64"
            )
        self._generator = torch.Generator(device=X.device)
        if self.seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(self.seed)
        self._initial_parameters(X, self._generator)
        self._override(D, weights_init, means_init, precisions_init, covariances_init)

        monitor = ConvergenceMonitor(
            self.tol, self.max_iter, quantity="the mean log-likelihood per sample", cap="max_iter"
        )
        self.history = monitor.history
        for _ in range(self.max_iter):
            mean_log_likelihood, log_resp = self._e_step(X)
            current = mean_log_likelihood.item()
            if not math.isfinite(current):
                raise ValueError(
                    f"the log-likelihood of X is {current} at EM iteration {monitor.iter + 1}: "
                    "rescale X or increase reg_covar"
                )
            converged = monitor.report(current)
            self._set(*self._m_step(X, log_resp.exp(), (self.means_, self.covariances_)))
            if converged:
                break
        self.monitor_ = monitor
        self.converged_ = monitor.converged
        self.n_iter_ = monitor.iter
        self.lower_bound_ = monitor.history[-1]
        monitor.warn("GaussianMixture.fit")
        return self

    def score_samples(self, X: Any) -> Tensor:
        """log p(x_n) per sample, [N]."""
        self._check_fitted()
        X = self._as_data(X, self.means_.shape[1])
        return torch.logsumexp(self._joint(X), dim=1)

    def score(self, X: Any) -> float:
        """The mean log-likelihood per sample."""
        return self.score_samples(X).mean().item()

    def predict_proba(self, X: Any) -> Tensor:
        """Responsibilities p(z = k | x_n), [N, K]."""
        self._check_fitted()
        X = self._as_data(X, self.means_.shape[1])
        return self._e_step(X)[1].exp()

    def predict(self, X: Any) -> Tensor:
        """The most probable component of each sample, [N] (int64)."""
        self._check_fitted()
        X = self._as_data(X, self.means_.shape[1])
        return self._joint(X).argmax(1)

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        """``n`` draws from the fitted mixture: (X [n, D], component labels [n])."""
        self._check_fitted()
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be an integer ≥ 1, got {n!r}")
        labels = torch.multinomial(self.weights_, n, replacement=True, generator=self._generator)
        noise = torch.randn(
            n,
            self.means_.shape[1],
            generator=self._generator,
            dtype=self.dtype,
            device=labels.device,
        )
        if self.covariance_type == "diag":
            X = self.means_[labels] + noise * self._chol[labels]
        else:
            X = self.means_[labels] + (self._chol[labels] @ noise.unsqueeze(-1)).squeeze(-1)
        return X, labels

    def n_parameters(self) -> int:
        """The number of free parameters: K − 1 weights, K·D means and the covariances."""
        self._check_fitted()
        K, D = self.means_.shape
        per_covariance = D * (D + 1) // 2 if self.covariance_type == "full" else D
        return K - 1 + K * D + K * per_covariance

    def bic(self, X: Any) -> float:
        """The Bayesian information criterion −2 log L + p log N (lower is better)."""
        N = torch.as_tensor(X).shape[0]
        return -2 * self.score(X) * N + self.n_parameters() * math.log(N)

    def aic(self, X: Any) -> float:
        """Akaike's information criterion −2 log L + 2p (lower is better)."""
        N = torch.as_tensor(X).shape[0]
        return -2 * self.score(X) * N + 2 * self.n_parameters()
