r"""Gaussian mixture models fitted by expectation–maximisation (EM).

The model is :math:`p(x) = \sum_{k=1}^K π_k\, \mathcal N(x \mid μ_k, Σ_k)`, with a discrete
latent z ∈ {1, …, K} marginalised exactly, and Σ_k full, tied (one Σ for all), diagonal or
spherical (σ_k² I): scikit-learn's ``covariance_type``, whose shapes, M steps and parameter
counts :mod:`reparam.latent.gmm_covariance` holds. EM alternates two steps (Dempster, Laird & Rubin
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
            π_k = N_k / N

  (for full covariances; the other three constrain Σ_k's maximiser).

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
as scikit-learn's does. As there, ``n_init`` fits from as many initialisations keep the one
of highest ``lower_bound_`` (its ``history``, ``converged_`` and warning); ``warm_start=True``
makes every fit after the first continue from the last parameters, one run, its first change
measured from the last ``lower_bound_`` (the initial parameters passed to :meth:`fit` are then
ignored, as scikit-learn ignores its ``*_init``); ``max_iter=0`` stops after the
initialisation with ``n_iter_`` 0, ``lower_bound_`` −∞, ``converged_`` False and no warning
(with ``n_init`` > 1 the last initialisation is kept, as scikit-learn does).

``reg_covar`` is absolute, as in scikit-learn: on data whose spread is far below
:math:`\sqrt{ε}` every component is :math:`\mathcal N(μ_k, ε I)` and the fit cannot resolve
any structure; on data of spread s whose points span fewer than D dimensions, a floor below
the rounding of :math:`s^2` (``eps`` · s²) leaves a covariance that is not positive definite,
which is a ``ValueError`` naming the component. Scale ``reg_covar`` with the data's variance,
or standardise the data. Data whose squared distances overflow the dtype (|x| beyond about
1e19 in float32) are refused by :meth:`~GaussianMixture.fit`. A point given to
:meth:`~GaussianMixture.predict` or :meth:`~GaussianMixture.predict_proba` whose squared
distance to every component overflows is compared at its own scale
(:mod:`reparam.latent.gmm_far`), so it goes to the component of highest log-density (its
``score_samples`` is −∞: the value the dtype can hold). A weight of 0 in ``weights_init`` is allowed (as in
scikit-learn): that component takes no points, keeps its mean and covariance, and its weight
stays at the 10·eps floor.

Initialisation: scikit-learn's ``init_params`` — ``"kmeans"`` (a real k-means, Lloyd's
algorithm, :func:`reparam.latent.k_means.kmeans`), ``"k-means++"``, ``"random"``,
``"random_from_data"`` — or reparam's own ``init`` — ``"k-means++"`` (the default when neither
is given: k-means++ seeds and every point given to its nearest, then one M step) and
``"random"`` (as scikit-learn's); :mod:`reparam.latent.gmm_init` says what each does.

Explicit ``weights_init``, ``means_init`` and ``precisions_init`` or ``covariances_init``
passed to :meth:`GaussianMixture.fit` override those (all three given: no initialisation
is run, as in scikit-learn).

Both steps are batched over all K components and run over blocks of rows, so the [K, rows, D]
intermediates stay in cache (three to four times faster on a CPU than one [K, N, D] tensor).
All computation is in float64 (``dtype`` can ask for float32); inputs may be NumPy arrays or
tensors of shape [N, D].

References:
    Dempster, Laird & Rubin (1977), Maximum likelihood from incomplete data via the EM
    algorithm. JRSS B 39(1).
    Bishop (2006), Pattern Recognition and Machine Learning, §9.2.
    Arthur & Vassilvitskii (2007), k-means++: the advantages of careful seeding. SODA.
    Celeux & Govaert (1995), Gaussian parsimonious clustering models. Pattern Recognition 28(5).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from reparam.checks import non_negative_int, positive_int
from reparam.latent.gmm_covariance import COVARIANCES, LOG_2PI
from reparam.latent.gmm_far import far_joint
from reparam.latent.gmm_init import (
    INIT_PARAMS,
    INITS,
    NEAREST_SEED,
    initial_responsibilities,
)
from reparam.latent.k_means import kmeans_plusplus
from reparam.latent.monitor import ConvergenceMonitor

COVARIANCE_TYPES = tuple(COVARIANCES)
_PARAMETERS = ("weights_", "means_", "covariances_")

__all__ = ["COVARIANCE_TYPES", "GaussianMixture", "kmeans_plusplus"]


class GaussianMixture:
    r"""A mixture of K Gaussians fitted by EM, with an interface like scikit-learn's.

    Args:
        n_components: K ≥ 1.
        covariance_type: ``"full"`` (one D×D covariance per component), ``"tied"`` (one D×D
            covariance for all), ``"diag"`` or ``"spherical"`` (one variance per component).
        tol: stop when the mean log-likelihood per sample changes by less than this.
        max_iter: at most this many EM iterations (0: the initialisation only).
        reg_covar: ε ≥ 0 added to the diagonal of every covariance.
        init: reparam's initialisation, ``"k-means++"`` (the default) or ``"random"``.
        seed: seeds the initialisation and :meth:`sample`.
        device, dtype: where and in which float type to compute (float64 by default).
        n_init: fit from this many initialisations and keep the highest lower bound.
        init_params: scikit-learn's initialisation, ``"kmeans"``, ``"k-means++"``,
            ``"random"`` or ``"random_from_data"`` (give it or ``init``, not both).
        warm_start: continue each fit after the first from the last parameters.

    After :meth:`fit`: ``weights_`` [K], ``means_`` [K, D], ``covariances_`` ([K, D, D] full,
    [D, D] tied, [K, D] diag, [K] spherical), ``precisions_`` (their inverses, same shapes),
    ``precisions_cholesky_`` (scikit-learn's upper-triangular factor, or 1/σ),
    ``converged_``, ``n_iter_``, ``lower_bound_``, ``monitor_`` and ``history`` (the mean
    log-likelihood per sample at the start of each iteration, scikit-learn's
    ``lower_bounds_``). A fit that reaches ``max_iter`` before ``tol`` warns
    (:class:`~reparam.ConvergenceWarning`).

    >>> _ = torch.manual_seed(0)
    >>> X = torch.cat([torch.randn(200, 2) - 5, torch.randn(200, 2) + 5])
    >>> gmm = GaussianMixture(2, seed=0).fit(X)
    >>> sorted(gmm.means_[:, 0].round().tolist())
    [-5.0, 5.0]
    >>> gmm.predict(torch.tensor([[-5.0, -5.0], [5.0, 5.0]])).unique().numel()
    2
    >>> tied = GaussianMixture(2, "tied", init_params="kmeans", n_init=2, seed=0)
    >>> tied.fit_predict(X).bincount().tolist(), tuple(tied.precisions_.shape)
    ([200, 200], (2, 2))
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        tol: float = 1e-3,
        max_iter: int = 100,
        reg_covar: float = 1e-6,
        init: str | None = None,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        n_init: int = 1,
        init_params: str | None = None,
        warm_start: bool = False,
    ) -> None:
        if not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"n_components must be an integer ≥ 1, got {n_components!r}")
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"unknown covariance_type {covariance_type!r}; choose from "
                f"{', '.join(COVARIANCE_TYPES)}"
            )
        if init is not None and init_params is not None:
            raise ValueError(
                f"give init or init_params, not both; got init={init!r}, "
                f"init_params={init_params!r}"
            )
        if init_params is not None and init_params not in INIT_PARAMS:
            raise ValueError(
                f"unknown init_params {init_params!r}; choose from {', '.join(INIT_PARAMS)}"
            )
        if init is not None and init not in INITS:
            raise ValueError(
                f"unknown init {init!r}; choose from {', '.join(INITS)} (scikit-learn's "
                f"names go to init_params: {', '.join(INIT_PARAMS)})"
            )
        if not tol >= 0:
            raise ValueError(f"tol must be ≥ 0, got {tol}")
        non_negative_int("max_iter", max_iter)
        positive_int("n_init", n_init)
        if not isinstance(warm_start, bool):
            raise TypeError(f"warm_start must be True or False, got {warm_start!r}")
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
        self.init_params = init_params
        self.seed = seed
        self.device = torch.device(device) if device is not None else None
        self.dtype = dtype
        self.n_init = n_init
        self.warm_start = warm_start
        self.history: list[float] = []
        self._kind = COVARIANCES[covariance_type]
        if init_params is not None:
            self._method = init_params
        else:
            self._method = "random" if init == "random" else NEAREST_SEED

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

    def _set(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        self._chol = self._kind.factor(covariances, self.reg_covar)
        self.weights_, self.means_, self.covariances_ = weights, means, covariances

    def _parameters(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.weights_, self.means_, self.covariances_, self._chol

    def _fitted_factor(self, name: str) -> Tensor:
        if not hasattr(self, "_chol"):
            raise AttributeError(f"{name}: this GaussianMixture is not fitted yet; call fit(X)")
        return self._chol

    @property
    def precisions_(self) -> Tensor:
        """Σ_k⁻¹ in the shape of ``covariances_`` (scikit-learn's ``precisions_``)."""
        return self._kind.precisions(self._fitted_factor("precisions_"))

    @property
    def precisions_cholesky_(self) -> Tensor:
        """scikit-learn's ``precisions_cholesky_``: the upper-triangular L⁻ᵀ with
        Σ⁻¹ = L⁻ᵀL⁻¹ (full, tied), or 1/σ (diag, spherical)."""
        return self._kind.precisions_cholesky(self._fitted_factor("precisions_cholesky_"))

    # ------------------------------------------------------------------------ the two steps
    def _log_gaussians(self, X: Tensor) -> Tensor:
        """log N(x_n | μ_k, Σ_k), shape [N, K]."""
        D = X.shape[1]
        maha = self._kind.maha(X, self.means_, self._chol)
        return -0.5 * (D * LOG_2PI + self._kind.log_det(self._chol, D) + maha)

    def _joint(self, X: Tensor) -> Tensor:
        """log π_k + log N(x_n | μ_k, Σ_k), shape [N, K]."""
        return self.weights_.log() + self._log_gaussians(X)

    def _stable_joint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(the joint [N, K], exact except for rows whose every squared distance overflows,
        which :func:`~reparam.latent.gmm_far.far_joint` gives up to a constant; those rows
        [N], bool)."""
        joint = self._joint(X)
        far = torch.isneginf(joint.amax(1))
        if far.any():
            joint = joint.clone()
            joint[far] = far_joint(self._kind, X[far], self.weights_, self.means_, self._chol)
        return joint, far

    def _e_step(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """(mean log-likelihood per sample, responsibilities [N, K]): r_nk = e^{j_nk − m_n} /
        Σ_k e^{j_nk − m_n} for the joint j and its row maxima m, one exp for both."""
        joint, far = self._stable_joint(X)
        top = joint.amax(1, keepdim=True)
        weights = (joint - top).exp_()
        total = weights.sum(1, keepdim=True)
        log_px = (top + total.log()).squeeze(1).masked_fill(far, -math.inf)
        return log_px.mean(), weights / total

    def _m_step(
        self, X: Tensor, resp: Tensor, previous: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """PRML eqs. 9.24–9.26 (constrained by the covariance type) from responsibilities
        ``resp`` [N, K]; components with no mass keep ``previous`` = (means, covariances)."""
        N = X.shape[0]
        eps = torch.finfo(X.dtype).eps
        raw = resp.sum(0)
        nk = raw + 10 * eps
        means = (resp.T @ X) / nk.unsqueeze(1)
        if previous is not None:
            empty = raw < 10 * eps * N
            means = torch.where(empty.unsqueeze(1), previous[0], means)
        covariances = self._kind.estimate(X, resp, nk, means, self.reg_covar)
        if previous is not None:
            covariances = self._kind.keep(empty, previous[1], covariances)
        return nk / nk.sum(), means, covariances

    # ------------------------------------------------------------------------ initialisation
    def _initial_parameters(self, X: Tensor, generator: torch.Generator) -> None:
        N, D = X.shape
        resp, seeds = initial_responsibilities(self._method, X, self.n_components, generator)
        previous = None
        if seeds is not None:
            centred = X - X.mean(0)
            overall = centred.T @ centred / N
            overall = overall + self.reg_covar * torch.eye(D, dtype=X.dtype, device=X.device)
            previous = (seeds, self._kind.overall(overall, self.n_components))
        self._set(*self._m_step(X, resp, previous))

    def _given(
        self,
        D: int,
        weights_init: Any,
        means_init: Any,
        precisions_init: Any,
        covariances_init: Any,
    ) -> dict[str, Tensor]:
        """The checked initial parameters given to :meth:`fit`, by attribute name."""
        K = self.n_components
        kw = {"dtype": self.dtype, "device": self.device}
        given = {}
        if weights_init is not None:
            weights = torch.as_tensor(weights_init).to(**kw)
            if weights.shape != (K,) or not ((weights >= 0) & (weights <= 1)).all():
                raise ValueError(
                    f"weights_init must be {K} values in [0, 1], got {weights.tolist()}"
                )
            if not torch.isclose(weights.sum(), weights.new_tensor(1.0), atol=1e-6):
                raise ValueError(f"weights_init must sum to 1, got {weights.sum().item()}")
            given["weights_"] = weights / weights.sum()
        if means_init is not None:
            means = torch.as_tensor(means_init).to(**kw)
            if means.shape != (K, D) or not torch.isfinite(means).all():
                raise ValueError(f"means_init must be [{K}, {D}] finite values")
            given["means_"] = means
        if precisions_init is not None and covariances_init is not None:
            raise ValueError("give precisions_init or covariances_init, not both")
        matrix = precisions_init if precisions_init is not None else covariances_init
        if matrix is not None:
            name = "precisions_init" if precisions_init is not None else "covariances_init"
            matrix = torch.as_tensor(matrix).to(**kw)
            shape = self._kind.shape(K, D)
            if matrix.shape != shape or not torch.isfinite(matrix).all():
                raise ValueError(
                    f"{name} must be finite values of shape {list(shape)}, got shape "
                    f"{list(matrix.shape)}"
                )
            given["covariances_"] = self._kind.from_init(matrix, name, precisions_init is not None)
        return given

    def _start(self, X: Tensor, given: dict[str, Tensor]) -> None:
        """The initialisation, overridden by the given parameters (none run if all three)."""
        if len(given) < 3:
            self._initial_parameters(X, self._generator)
        start = {
            name: given[name] if name in given else getattr(self, name) for name in _PARAMETERS
        }
        self._set(start["weights_"], start["means_"], start["covariances_"])

    def _em(self, X: Tensor, start: float) -> ConvergenceMonitor:
        """Up to ``max_iter`` EM iterations from the current parameters; their record."""
        monitor = ConvergenceMonitor(
            self.tol,
            self.max_iter,
            quantity="the mean log-likelihood per sample",
            cap="max_iter",
            start=start,
        )
        for _ in range(self.max_iter):
            mean_log_likelihood, resp = self._e_step(X)
            current = mean_log_likelihood.item()
            if not math.isfinite(current):
                raise ValueError(
                    f"the log-likelihood of X is {current} at EM iteration {monitor.iter + 1}: "
                    "rescale X or increase reg_covar"
                )
            converged = monitor.report(current)
            self._set(*self._m_step(X, resp, (self.means_, self.covariances_)))
            if converged:
                break
        return monitor

    # --------------------------------------------------------------------------- public API
    def fit(
        self,
        X: Any,
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        covariances_init: Any = None,
    ) -> GaussianMixture:
        """Fit by EM from the initialisation (or the given initial parameters) — ``n_init``
        times, keeping the highest lower bound, or once from the last fit with
        ``warm_start`` — and return self. Warns (:class:`~reparam.ConvergenceWarning`) if
        the kept run's ``max_iter`` iterations end before the mean log-likelihood per sample
        changes by less than ``tol``."""
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
        warm = self.warm_start and hasattr(self, "converged_")
        if warm and self.means_.shape[1] != D:
            raise ValueError(
                f"X has {D} features, the warm start was fitted on {self.means_.shape[1]}"
            )
        given = self._given(D, weights_init, means_init, precisions_init, covariances_init)
        self._generator = torch.Generator(device=X.device)
        if self.seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(self.seed)

        best: tuple[float, ConvergenceMonitor, tuple[Tensor, ...]] | None = None
        for _ in range(1 if warm else self.n_init):
            if not warm:
                self._start(X, given)
            monitor = self._em(X, self.lower_bound_ if warm else math.nan)
            bound = monitor.history[-1] if monitor.history else -math.inf
            if best is None or bound > best[0] or self.max_iter == 0:
                best = (bound, monitor, self._parameters())
        assert best is not None
        self.lower_bound_, monitor, parameters = best
        self.weights_, self.means_, self.covariances_, self._chol = parameters
        self.monitor_ = monitor
        self.history = monitor.history
        self.converged_ = monitor.converged
        self.n_iter_ = monitor.iter
        if self.max_iter > 0:  # max_iter=0 asks for the initialisation only
            monitor.warn("GaussianMixture.fit")
        return self

    def fit_predict(self, X: Any, **initial: Any) -> Tensor:
        """:meth:`fit` (``initial``: its ``weights_init``, ``means_init``,
        ``precisions_init`` or ``covariances_init``), then the labels of X under the fitted
        parameters (a final E step, so they are those of :meth:`predict`, as in
        scikit-learn)."""
        return self.fit(X, **initial).predict(X)

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
        return self._e_step(X)[1]

    def predict(self, X: Any) -> Tensor:
        """The most probable component of each sample, [N] (int64)."""
        self._check_fitted()
        X = self._as_data(X, self.means_.shape[1])
        return self._stable_joint(X)[0].argmax(1)

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
        return self.means_[labels] + self._kind.noise(noise, labels, self._chol), labels

    def n_parameters(self) -> int:
        """The number of free parameters: K − 1 weights, K·D means and the covariances'
        (K·D(D+1)/2 full, D(D+1)/2 tied, K·D diag, K spherical), as scikit-learn counts."""
        self._check_fitted()
        K, D = self.means_.shape
        return K - 1 + K * D + self._kind.n_parameters(K, D)

    def bic(self, X: Any) -> float:
        """The Bayesian information criterion −2 log L + p log N (lower is better)."""
        N = torch.as_tensor(X).shape[0]
        return -2 * self.score(X) * N + self.n_parameters() * math.log(N)

    def aic(self, X: Any) -> float:
        """Akaike's information criterion −2 log L + 2p (lower is better)."""
        N = torch.as_tensor(X).shape[0]
        return -2 * self.score(X) * N + 2 * self.n_parameters()
