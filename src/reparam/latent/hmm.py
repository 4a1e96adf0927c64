r"""Hidden Markov models with categorical or diagonal-Gaussian emissions, fitted by Baum–Welch
or by gradient steps; inference by the log-space recursions of
:mod:`reparam.latent.forward_backward` (re-exported here: ``forward``, ``backward``,
``posteriors``, ``viterbi``).

Baum–Welch (Baum et al. 1970; Rabiner 1989, eqs. 40a–c; PRML eqs. 13.18–13.21) maximises the
expected complete-data log-likelihood under the sum-to-one constraints with Lagrange
multipliers, giving

.. math:: π_k = \frac1N \sum_n γ^{(n)}_1(k), \qquad
          A_{jk} = \frac{\sum_n \sum_{t=2}^{T_n} ξ^{(n)}_t(j,k)}
                        {\sum_n \sum_{t=1}^{T_n - 1} γ^{(n)}_t(j)},

categorical emissions :math:`B_{km} ∝ \sum_{n,t} γ^{(n)}_t(k)\,[x^{(n)}_t = m]` and Gaussian
ones the γ-weighted means and (floored) variances. Each iteration never lowers the
log-likelihood (Baum et al. 1970), and a structural zero of π, A or the emissions stays zero.

Convergence, as hmmlearn: ``fit`` stops when the total log-likelihood
:math:`\ell_i = \sum_n \log p(x^{(n)})` of the parameters before the i-th M step gains less
than ``tol`` (:math:`\ell_i - \ell_{i-1} < \mathrm{tol}`), or after ``n_iter`` iterations;
``monitor_`` (:class:`~reparam.latent.monitor.ConvergenceMonitor`) keeps :math:`\ell_i`, and
``converged_``, ``n_iter_`` and ``lower_bound_`` (:math:`\ell` of the last iteration) follow
scikit-learn's names. ``converged_`` is False when the cap stopped it (hmmlearn's
``monitor_.converged`` is then True), and that fit warns with
:class:`reparam.ConvergenceWarning`; ``tol=-inf`` asks for exactly ``n_iter`` iterations and
does not warn.

References:
    Baum, Petrie, Soules & Weiss (1970), A maximization technique occurring in the statistical
    analysis of probabilistic functions of Markov chains.
    Rabiner (1989), A tutorial on hidden Markov models and selected applications in speech
    recognition.
    Bishop (2006), Pattern Recognition and Machine Learning, §13.2.

>>> import torch
>>> hmm = HMM(2, "categorical", n_symbols=3, dtype=torch.float64)
>>> _ = hmm.set_params(pi=[0.6, 0.4], A=[[0.7, 0.3], [0.4, 0.6]],
...                    emissionprob=[[0.5, 0.4, 0.1], [0.1, 0.3, 0.6]])
>>> x = torch.tensor([[0, 1, 2]])
>>> round(hmm.log_likelihood(x).exp().item(), 6)  # sum over the 8 state paths
0.03628
>>> hmm.viterbi(x)[0]
tensor([[0, 0, 1]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from reparam.checks import integer, positive_int
from reparam.latent import viterbi_compiled
from reparam.latent.emissions import (
    FAMILIES,
    KINDS,
    Categorical,
    Emissions,
    Gaussian,
    GaussianMixture,
    Multinomial,
    Poisson,
)
from reparam.latent.emissions.base import probabilities
from reparam.latent.emissions.initial import dirichlet
from reparam.latent.forward_backward import (
    Lengths,
    _posteriors,
    backward,
    forward,
    lengths_mask,
    posteriors,
    viterbi,
)
from reparam.latent.monitor import ConvergenceMonitor

__all__ = ["HMM", "backward", "forward", "posteriors", "viterbi"]

_VITERBI_BLOCK_ELEMENTS = 1 << 20  # emissions of about this many numbers a block (8 MB in float64)

EMISSIONS = FAMILIES
# which families take each emission parameter of set_params
_PARAMETERS = {
    "emissionprob": ("categorical", "multinomial"),
    "means": ("gaussian", "gmm"),
    "covars": ("gaussian", "gmm"),
    "variances": ("gaussian",),
    "lambdas": ("poisson",),
    "weights": ("gmm",),
}


def _whole(value: object, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


def _needed(value: int | None, name: str, emission: str) -> int:
    if value is None:
        raise ValueError(f"{emission} emissions need {name} (an integer ≥ 1)")
    _whole(value, name)
    return value


class HMM(nn.Module):
    r"""A hidden Markov model with categorical, multinomial, Poisson, Gaussian or
    Gaussian-mixture emissions (hmmlearn's ``CategoricalHMM``, ``MultinomialHMM``,
    ``PoissonHMM``, ``GaussianHMM``, ``GMMHMM``).

    The parameters are stored as unconstrained tensors: logits of π and of the rows of A
    (``log_softmax`` gives the log-probabilities) and the emission family's own
    (:mod:`reparam.latent.emissions`), so ``fit_gradient`` can use any torch optimizer.
    ``fit`` is Baum–Welch (Baum et al. 1970; Rabiner 1989, eqs. 40a–c). Probabilities of 0
    (``set_params``) are logits of −∞: structural zeros, kept by both fits.

    Args:
        n_states: K ≥ 1.
        emission: ``"categorical"`` (``n_symbols``), ``"multinomial"`` (``n_symbols``,
            ``n_trials``), ``"poisson"`` (``dim``), ``"gaussian"`` (``dim``,
            ``covariance``) or ``"gmm"`` (``dim``, ``covariance``, ``n_mix``).
        covariance: hmmlearn's ``covariance_type``: ``"diag"``, ``"spherical"``, ``"full"``
            or ``"tied"`` (for ``"gmm"``: tied across the components of a state).
        n_mix: mixture components a state (``"gmm"``).
        n_trials: draws a step (``"multinomial"``; ``None``: each step its own total).
        params: hmmlearn's letters of the parameters ``fit`` and ``fit_gradient`` update:
            ``"s"`` π, ``"t"`` A, and ``"e"`` (categorical, multinomial), ``"l"`` (Poisson),
            ``"m"`` and ``"c"`` (Gaussian), ``"m"``, ``"c"`` and ``"w"`` (GMM); all by
            default.
        init_params: the letters ``fit`` initialises from the data first, as hmmlearn
            (Dirichlet(1/K) draws for π and A, k-means means, the data's covariance, …);
            ``""`` by default: a reparam HMM starts from its current parameters (random
            from ``seed``, or ``set_params``), hmmlearn's ``init_params=""``.
        variance_floor: the smallest variance (Gaussian families; for full and tied
            covariances the smallest eigenvalue).

    Inputs: categorical ``x`` is an integer tensor [B, T] (or [T]); the other families
    take [B, T, D] (or [T, D]) with D = ``dim`` (``n_symbols`` counts for multinomial).
    ``lengths`` [B] marks the valid steps of padded sequences.

    hmmlearn's attribute names read the parameters (detached): ``startprob_``,
    ``transmat_``, ``emissionprob_``, ``lambdas_``, ``means_``, ``covars_`` (Gaussian: full
    matrices [K, D, D], as hmmlearn's property; GMM: its compressed shape), ``weights_``;
    ``covars`` is the compressed form for both. After ``fit``: ``converged_``, ``n_iter_``,
    ``lower_bound_`` and ``monitor_`` (whose ``history`` is ``history_``, the total
    log-likelihood before each M step).

    >>> truth = HMM(2, "gaussian", dim=1, dtype=torch.float64).set_params(
    ...     pi=[0.5, 0.5], A=[[0.9, 0.1], [0.2, 0.8]], means=[[-2.0], [2.0]], variances=[[1], [1]])
    >>> states, x = truth.sample(100, n=4, seed=1)
    >>> hmm = HMM(2, "gaussian", dim=1, dtype=torch.float64, seed=0).fit(x)
    >>> hmm.converged_, hmm.n_iter_, sorted(hmm.means.detach().ravel().round().tolist())
    (True, 14, [-2.0, 2.0])
    >>> all(b >= a - 1e-9 for a, b in zip(hmm.history_, hmm.history_[1:]))
    True
    >>> full = HMM(2, "gaussian", dim=1, covariance="full", params="mc", init_params="mc",
    ...            dtype=torch.float64, seed=0).set_params(pi=[0.5, 0.5], A=[[0.9, 0.1], [0.2, 0.8]])
    >>> sorted(full.fit(x).means_.ravel().round().tolist()), full.n_parameters()
    ([-2.0, 2.0], 7)
    """

    def __init__(
        self,
        n_states: int,
        emission: str = "categorical",
        n_symbols: int | None = None,
        dim: int | None = None,
        covariance: str = "diag",
        *,
        n_mix: int = 1,
        n_trials: int | None = None,
        params: str | None = None,
        init_params: str = "",
        variance_floor: float = 1e-6,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        _whole(n_states, "n_states")
        if emission not in EMISSIONS:
            raise ValueError(f"unknown emission {emission!r}; choose from {', '.join(EMISSIONS)}")
        if covariance not in KINDS:
            raise ValueError(f"covariance must be one of {', '.join(KINDS)}, got {covariance!r}")
        if not (variance_floor > 0 and math.isfinite(variance_floor)):
            raise ValueError(f"variance_floor must be finite and positive, got {variance_floor}")
        dtype = dtype or torch.get_default_dtype()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        K = n_states
        self.n_states, self.emission, self.covariance = K, emission, covariance
        self.variance_floor = variance_floor
        self.pi_logits = nn.Parameter(torch.zeros(K, dtype=dtype))
        self.A_logits = nn.Parameter(torch.rand(K, K, generator=gen, dtype=dtype) + 1.0)
        self.emissions = self._family(
            emission, n_symbols, dim, covariance, n_mix, n_trials, dtype, gen
        )
        self._generator = gen
        self.params = self._letters(params, "params")
        self.init_params = self._letters(init_params, "init_params")
        self.history_: list[float] = []

    def _family(
        self,
        emission: str,
        n_symbols: int | None,
        dim: int | None,
        covariance: str,
        n_mix: int,
        n_trials: int | None,
        dtype: torch.dtype,
        gen: torch.Generator | None,
    ) -> Emissions:
        K = self.n_states
        if emission in ("categorical", "multinomial"):
            self.n_symbols = _needed(n_symbols, "n_symbols", emission)
            if emission == "categorical":
                return Categorical(K, self.n_symbols, dtype, gen)
            if n_trials is not None:
                positive_int("n_trials", n_trials)
            return Multinomial(K, self.n_symbols, n_trials, dtype, gen)
        self.dim = _needed(dim, "dim", emission)
        if emission == "poisson":
            return Poisson(K, self.dim, dtype, gen)
        if emission == "gaussian":
            return Gaussian(K, self.dim, covariance, self.variance_floor, dtype, gen)
        positive_int("n_mix", n_mix)
        return GaussianMixture(
            K,
            n_mix,
            dim=self.dim,
            covariance=covariance,
            variance_floor=self.variance_floor,
            dtype=dtype,
            generator=gen,
        )

    def _letters(self, value: str | None, name: str) -> str:
        """Check hmmlearn parameter letters against this model's ("st" + the family's)."""
        allowed = "st" + self.emissions.letters
        if value is None:
            return allowed
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string of letters from {allowed!r}, got {value!r}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(
                f"{name} must hold letters from {allowed!r} for {self.emission} emissions, got "
                f"{value!r}"
            )
        return value

    def __getattr__(self, name: str) -> Any:
        """The emission family's read-only views (``means``, ``covars_``, ``lambdas_``, …)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            emissions = self.__dict__["_modules"].get("emissions")
            if emissions is not None and name in type(emissions).attributes:
                return getattr(emissions, name)
            raise

    # ---- parameters

    @property
    def log_pi(self) -> Tensor:
        return torch.log_softmax(self.pi_logits, dim=-1)

    @property
    def log_A(self) -> Tensor:
        return torch.log_softmax(self.A_logits, dim=-1)

    @property
    def startprob_(self) -> Tensor:
        """π [K] (detached), hmmlearn's attribute."""
        return self.log_pi.detach().exp()

    @property
    def transmat_(self) -> Tensor:
        """A [K, K] (detached), hmmlearn's attribute."""
        return self.log_A.detach().exp()

    @torch.no_grad()
    def set_params(
        self,
        pi: Tensor | Sequence | None = None,
        A: Tensor | Sequence | None = None,
        **emission: Tensor | Sequence | None,
    ) -> HMM:
        """Set π [K] and A [K, K] (checked: non-negative, rows summing to one) and the
        emission parameters: ``emissionprob`` [K, M] (categorical, multinomial), ``lambdas``
        [K, D] (Poisson), ``means`` and ``covars`` in hmmlearn's shapes (Gaussian: means
        [K, D], covars spherical [K], diag [K, D], full [K, D, D], tied [D, D]; GMM: means
        [K, M, D], covars [K, M], [K, M, D], [K, M, D, D], [K, D, D]), ``variances``
        (Gaussian diag or spherical) and ``weights`` [K, M] (GMM)."""
        for name in emission:
            if self.emission not in _PARAMETERS.get(name, ()):
                owners = " or ".join(_PARAMETERS.get(name, ())) or "no"
                raise ValueError(
                    f"{name} applies to {owners} emissions, not to {self.emission} ones"
                )
        K = self.n_states
        if pi is not None:
            self.pi_logits.copy_(probabilities(pi, (K,), "pi").log())
        if A is not None:
            self.A_logits.copy_(probabilities(A, (K, K), "A").log())
        self.emissions.set_params(**emission)
        return self

    def _check_parameters(self) -> None:
        """Raise if a parameter holds NaN or +∞ (logits of −∞ are structural zeros)."""
        for name, value in self.named_parameters():
            if not (value < math.inf).all():
                raise ValueError(
                    f"the HMM's {name} hold NaN or +inf; set the parameters with set_params"
                )

    def n_parameters(self) -> int:
        """The free scalars of the model, hmmlearn's count for AIC and BIC: K − 1 for π,
        K(K − 1) for A and the emissions' (e.g. K·D means and the covariances)."""
        K = self.n_states
        return K - 1 + K * (K - 1) + sum(self.emissions.n_parameters().values())

    def stationary_distribution(self) -> Tensor:
        r"""The stationary distribution [K] of the chain, :math:`π^\top A = π^\top`: the
        left eigenvector of A of the largest eigenvalue (1), normalised to sum to one, as
        hmmlearn's ``get_stationary_distribution`` (for a reducible chain, one of several).

        >>> hmm = HMM(2, "categorical", n_symbols=2, dtype=torch.float64)
        >>> _ = hmm.set_params(A=[[0.9, 0.1], [0.3, 0.7]])
        >>> hmm.stationary_distribution()
        tensor([0.7500, 0.2500], dtype=torch.float64)
        """
        A = self.transmat_
        values, vectors = torch.linalg.eig(A.T.to(torch.float64))
        vector = vectors[:, values.real.argmax()].real
        return (vector / vector.sum()).to(A.dtype)

    get_stationary_distribution = stationary_distribution

    # ---- data

    def _prepare(self, x: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
        """Batch ``x``, check it, and return it with the valid-step mask [B, T]; padded steps
        are replaced by a harmless value."""
        x = torch.as_tensor(x)
        event = self.emissions.event_dims
        if x.dim() == 1 + event:
            x = x.unsqueeze(0)
        if x.dim() != 2 + event:
            want = "[B, T]" if event == 0 else "[B, T, D]"
            raise ValueError(f"x must have shape {want}, got {tuple(x.shape)}")
        B, T = x.shape[:2]
        if T < 1:
            raise ValueError(f"x needs at least one time step, got shape {tuple(x.shape)}")
        mask = lengths_mask(lengths, B, T, x.device)
        return self.emissions.prepare(x, mask), mask

    def emission_log_prob(self, x: Tensor) -> Tensor:
        r"""log b_k(x_t) [B, T, K] for prepared (batched, valid) ``x``."""
        return self.emissions.log_prob(x)

    def _log_b(self, x: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
        x, mask = self._prepare(x, lengths)
        self._check_parameters()
        return self.emission_log_prob(x), mask.sum(1)

    def log_likelihood(self, x: Tensor, lengths: Lengths = None) -> Tensor:
        """log p(x^{(n)}) per sequence [B]; differentiable in the parameters (zero gradients,
        not NaN, for the parameters a structural zero rules out)."""
        log_b, lengths = self._log_b(x, lengths)
        return forward(self.log_pi, self.log_A, log_b, lengths)[1]

    @torch.no_grad()
    def posteriors(self, x: Tensor, lengths: Lengths = None) -> tuple[Tensor, Tensor, Tensor]:
        """γ [B, T, K], expected transition counts [B, K, K] and log-likelihood [B]."""
        log_b, lengths = self._log_b(x, lengths)
        return posteriors(self.log_pi, self.log_A, log_b, lengths)

    @torch.no_grad()
    def viterbi(self, x: Tensor, lengths: Lengths = None) -> tuple[Tensor, Tensor]:
        """Most probable paths [B, T] (−1 when padded) and their log-probabilities [B].

        With the compiled CPU kernel (:mod:`reparam.latent.viterbi_compiled`) the emissions
        are computed a block of sequences at a time, so that no [B, T, K] table is built."""
        x, mask = self._prepare(x, lengths)
        self._check_parameters()
        lengths = mask.sum(1)
        B, T = mask.shape
        log_pi, log_A = self.log_pi, self.log_A
        if B == 0 or not viterbi_compiled.applies(log_A):
            return viterbi(log_pi, log_A, self.emission_log_prob(x), lengths)
        block = max(1, _VITERBI_BLOCK_ELEMENTS // (T * self.n_states))
        paths, scores = [], []
        for start in range(0, B, block):
            rows = slice(start, start + block)
            log_b = self.emission_log_prob(x[rows])
            path, score = viterbi(log_pi, log_A, log_b, lengths[rows])
            paths.append(path)
            scores.append(score)
        return torch.cat(paths), torch.cat(scores)

    decode = viterbi

    @torch.no_grad()
    def _fit_and_steps(self, x: Tensor, lengths: Lengths) -> tuple[float, int]:
        """The total log-likelihood Σ_n log p(x⁽ⁿ⁾) and the number of valid steps."""
        x, mask = self._prepare(x, lengths)
        self._check_parameters()
        ll = forward(self.log_pi, self.log_A, self.emission_log_prob(x), mask.sum(1))[1]
        return ll.sum().item(), int(mask.sum())

    def aic(self, x: Tensor, lengths: Lengths = None) -> float:
        """Akaike's information criterion −2 log p(x) + 2p over all sequences, with p =
        :meth:`n_parameters` (hmmlearn's ``aic``; lower is better)."""
        return -2 * self._fit_and_steps(x, lengths)[0] + 2 * self.n_parameters()

    def bic(self, x: Tensor, lengths: Lengths = None) -> float:
        """The Bayesian information criterion −2 log p(x) + p log N, N the number of valid
        steps of all sequences (hmmlearn's ``bic``, whose N is ``len(X)``; lower is
        better).

        >>> hmm = HMM(2, "poisson", dim=1, dtype=torch.float64, seed=0)
        >>> x = torch.tensor([[[0], [3], [1], [4]]])
        >>> math.isclose(hmm.bic(x) - hmm.aic(x), hmm.n_parameters() * (math.log(4) - 2))
        True
        """
        total, steps = self._fit_and_steps(x, lengths)
        return -2 * total + self.n_parameters() * math.log(steps)

    def _first_states(self, currstate: int | Tensor | Sequence | None, n: int) -> Tensor | None:
        if currstate is None:
            return None
        if isinstance(currstate, (Tensor, Sequence)):
            states = torch.as_tensor(currstate)
            if states.shape != (n,) or states.is_floating_point() or states.dtype == torch.bool:
                raise ValueError(
                    f"currstate must be one state or {n} integer states, got {states.tolist()}"
                )
        else:
            states = torch.full((n,), integer("currstate", currstate))
        bad = (states < 0) | (states >= self.n_states)
        if bad.any():
            raise ValueError(
                f"currstate must lie in [0, {self.n_states}), got {states[bad][0].item()}"
            )
        return states.long()

    @torch.no_grad()
    def sample(
        self,
        T: int,
        n: int = 1,
        seed: int | None = None,
        currstate: int | Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Draw ``n`` sequences of length ``T``: states [n, T] and observations ([n, T] symbols
        or [n, T, D]). ``currstate`` (one state, or one a sequence) is the state of the
        first step, as hmmlearn's ``sample(currstate=...)``: ``sample(T, currstate=z[:, -1])``
        continues sequences ``z`` (repeating their last state, as hmmlearn does).

        >>> hmm = HMM(2, "categorical", n_symbols=2, seed=0)
        >>> z, _ = hmm.sample(5, n=3, seed=0)
        >>> z2, _ = hmm.sample(5, n=3, seed=1, currstate=z[:, -1])
        >>> bool((z2[:, 0] == z[:, -1]).all())
        True
        """
        _whole(T, "T")
        _whole(n, "n")
        first = self._first_states(currstate, n)
        self._check_parameters()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        pi, A = self.log_pi.exp(), self.log_A.exp()
        states = torch.empty(n, T, dtype=torch.long)
        if first is None:
            states[:, 0] = torch.multinomial(pi.expand(n, -1), 1, generator=gen)[:, 0]
        else:
            states[:, 0] = first
        for t in range(1, T):
            states[:, t] = torch.multinomial(A[states[:, t - 1]], 1, generator=gen)[:, 0]
        return states, self.emissions.sample(states, gen)

    # ---- fitting

    def _training_data(self, x: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
        x, mask = self._prepare(x, lengths)
        if x.shape[0] == 0:
            raise ValueError(
                f"x must hold at least one sequence to fit, got shape {tuple(x.shape)}"
            )
        self._check_parameters()
        self.emissions.check_fit(x)
        return x, mask

    @torch.no_grad()
    def _initialize(self, x: Tensor, mask: Tensor) -> None:
        """hmmlearn's initialisation of the ``init_params`` letters from the valid steps."""
        letters, K = self.init_params, self.n_states
        if "s" in letters:
            self.pi_logits.copy_(dirichlet(1 / K, (K,), self._generator).log())
        if "t" in letters:
            self.A_logits.copy_(dirichlet(1 / K, (K, K), self._generator).log())
        self.emissions.initialize(x[mask], letters, self._generator)

    def _impossible(self, ll: Tensor) -> ValueError:
        n = int((ll == -math.inf).nonzero()[0, 0])
        return ValueError(
            f"x has zero probability under the current parameters (sequence {n}): a structural "
            "zero of pi, A or the emissions rules it out"
        )

    def _finish(self, monitor: ConvergenceMonitor, what: str) -> None:
        self.monitor_ = monitor
        self.converged_ = monitor.converged
        self.n_iter_ = monitor.iter
        self.lower_bound_ = monitor.history[-1]
        monitor.warn(what, stacklevel=5)

    def fit(self, x: Tensor, lengths: Lengths = None, n_iter: int = 100, tol: float = 1e-4) -> HMM:
        """Baum–Welch: EM until the total log-likelihood gains less than ``tol`` (hmmlearn's
        rule) or ``n_iter`` iterations, warning (:class:`~reparam.ConvergenceWarning`) in the
        latter case unless ``tol`` is −∞. The letters of ``init_params`` are initialised from
        the data first (at every call, as hmmlearn); only those of ``params`` are updated.
        ``history_`` records the total log-likelihood before each M-step (it never
        decreases). States (mixture components) with no expected visits keep their previous
        parameters."""
        _whole(n_iter, "n_iter")
        if math.isnan(tol):
            raise ValueError(f"tol must be a number, got {tol}")
        x, mask = self._training_data(x, lengths)
        if self.init_params:
            self._initialize(x, mask)
        monitor = ConvergenceMonitor(tol, n_iter, absolute=False, cap="n_iter")
        self.history_ = monitor.history
        with torch.no_grad():
            for _ in range(n_iter):
                log_b = self.emission_log_prob(x)
                gamma, xi, ll = _posteriors(self.log_pi, self.log_A, log_b, mask)
                total = ll.sum().item()
                if total == -math.inf:
                    raise self._impossible(ll)
                converged = monitor.report(total)
                self._m_step(x, gamma, xi)
                if converged:
                    break
        self._finish(monitor, "HMM.fit (Baum–Welch)")
        return self

    @torch.no_grad()
    def _m_step(self, x: Tensor, gamma: Tensor, xi: Tensor) -> None:
        if "s" in self.params:
            start = gamma[:, 0].sum(0)
            self.pi_logits.copy_((start / start.sum()).log())
        if "t" in self.params:
            counts = xi.sum(0)
            rows = counts.sum(1, keepdim=True)
            new = (counts / rows.clamp_min(torch.finfo(gamma.dtype).tiny)).log()
            self.A_logits.copy_(torch.where(rows > 0, new, self.log_A))
        self.emissions.m_step(x, gamma, self.params)

    def _parameters_for(self, letters: str) -> list[nn.Parameter]:
        chosen = [self.pi_logits] if "s" in letters else []
        chosen += [self.A_logits] if "t" in letters else []
        return chosen + self.emissions.parameters_for(letters)

    def fit_gradient(
        self,
        x: Tensor,
        lengths: Lengths = None,
        optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None = None,
        steps: int = 100,
        tol: float | None = None,
    ) -> list[float]:
        """Maximise the mean per-sequence log-likelihood by gradient steps on the unconstrained
        parameters of the ``params`` letters. ``optimizer`` is an optimizer or a factory
        called with those parameters (default Adam, lr 0.05); closures are used so L-BFGS
        works too. Returns the loss (negative mean log-likelihood) per step.

        ``steps`` is a budget: without ``tol`` every step runs and nothing warns; with it, the
        fit stops once the loss changes by less than ``tol`` in a step, and warns
        (:class:`~reparam.ConvergenceWarning`) if ``steps`` ran out first. ``monitor_``,
        ``converged_``, ``n_iter_`` and ``lower_bound_`` record the mean log-likelihood
        before each step. A logit of −∞ (a structural zero) gets a zero gradient and stays.
        Variances are floored after each step.
        """
        _whole(steps, "steps")
        if tol is not None and not tol >= 0:
            raise ValueError(f"tol must be None or a number ≥ 0, got {tol}")
        x, mask = self._training_data(x, lengths)
        lengths = mask.sum(1)
        chosen = self._parameters_for(self.params)
        if not chosen:
            raise ValueError(f"params={self.params!r} selects no parameter to fit")
        if optimizer is None:
            optimizer = torch.optim.Adam(chosen, lr=0.05)
        elif not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer(chosen)
        monitor = ConvergenceMonitor(
            -math.inf if tol is None else tol,
            steps,
            quantity="the mean log-likelihood per sequence",
            cap="steps",
        )
        losses: list[float] = []

        def closure() -> Tensor:
            optimizer.zero_grad()
            log_b = self.emission_log_prob(x)
            ll = forward(self.log_pi, self.log_A, log_b, lengths)[1]
            if not losses and (ll == -math.inf).any():
                raise self._impossible(ll.detach())
            loss = -ll.mean()
            loss.backward()
            return loss

        for _ in range(steps):
            losses.append(float(optimizer.step(closure).detach()))
            self.emissions.project()
            if monitor.report(-losses[-1]):
                break
        self._finish(monitor, "HMM.fit_gradient")
        return losses
