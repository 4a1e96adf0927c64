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

import torch
from torch import Tensor, nn

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

EMISSIONS = ("categorical", "gaussian")
_LOG_2PI = math.log(2 * math.pi)


def _whole(value: object, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


def _probabilities(value: Tensor | Sequence, shape: tuple[int, ...], name: str) -> Tensor:
    """Check a table of probabilities whose last axis sums to one."""
    value = torch.as_tensor(value, dtype=torch.float64)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(value.shape)}")
    if not torch.isfinite(value).all() or (value < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {value.tolist()}")
    sums = value.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-6, rtol=0):
        raise ValueError(f"{name} must sum to one along its last axis, got sums {sums.tolist()}")
    return value


class HMM(nn.Module):
    r"""A hidden Markov model with categorical or diagonal-Gaussian emissions.

    The parameters are stored as unconstrained tensors: logits of π, of the rows of A and of
    the rows of the emission matrix, so that ``log_softmax`` gives the log-probabilities (and
    ``fit_gradient`` can use any torch optimizer); Gaussian emissions keep means [K, D] and
    log-variances [K, D]. ``fit`` is Baum–Welch (Baum et al. 1970; Rabiner 1989, eqs. 40a–c).
    Probabilities of 0 (``set_params``) are logits of −∞: structural zeros, kept by both fits.

    Inputs: categorical ``x`` is an integer tensor [B, T] (or [T]); Gaussian ``x`` is
    [B, T, D] (or [T, D]). ``lengths`` [B] marks the valid steps of padded sequences.

    After ``fit``: ``converged_``, ``n_iter_``, ``lower_bound_`` and ``monitor_`` (whose
    ``history`` is ``history_``, the total log-likelihood before each M step).

    >>> truth = HMM(2, "gaussian", dim=1, dtype=torch.float64).set_params(
    ...     pi=[0.5, 0.5], A=[[0.9, 0.1], [0.2, 0.8]], means=[[-2.0], [2.0]], variances=[[1], [1]])
    >>> states, x = truth.sample(100, n=4, seed=1)
    >>> hmm = HMM(2, "gaussian", dim=1, dtype=torch.float64, seed=0).fit(x)
    >>> hmm.converged_, hmm.n_iter_, sorted(hmm.means.detach().ravel().round().tolist())
    (True, 14, [-2.0, 2.0])
    >>> all(b >= a - 1e-9 for a, b in zip(hmm.history_, hmm.history_[1:]))
    True
    """

    def __init__(
        self,
        n_states: int,
        emission: str = "categorical",
        n_symbols: int | None = None,
        dim: int | None = None,
        covariance: str = "diag",
        *,
        variance_floor: float = 1e-6,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        _whole(n_states, "n_states")
        if emission not in EMISSIONS:
            raise ValueError(f"unknown emission {emission!r}; choose from {', '.join(EMISSIONS)}")
        if covariance != "diag":
            raise ValueError(f"only covariance='diag' is supported, got {covariance!r}")
        if not (variance_floor > 0 and math.isfinite(variance_floor)):
            raise ValueError(f"variance_floor must be finite and positive, got {variance_floor}")
        dtype = dtype or torch.get_default_dtype()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        K = n_states
        self.n_states, self.emission, self.covariance = K, emission, covariance
        self.variance_floor = variance_floor
        self.pi_logits = nn.Parameter(torch.zeros(K, dtype=dtype))
        self.A_logits = nn.Parameter(torch.rand(K, K, generator=gen, dtype=dtype) + 1.0)
        if emission == "categorical":
            if n_symbols is None:
                raise ValueError("categorical emissions need n_symbols (an integer ≥ 1)")
            _whole(n_symbols, "n_symbols")
            self.n_symbols = n_symbols
            self.B_logits = nn.Parameter(torch.rand(K, n_symbols, generator=gen, dtype=dtype))
        else:
            if dim is None:
                raise ValueError("gaussian emissions need dim (an integer ≥ 1)")
            _whole(dim, "dim")
            self.dim = dim
            self.means = nn.Parameter(torch.randn(K, dim, generator=gen, dtype=dtype))
            self.log_variances = nn.Parameter(torch.zeros(K, dim, dtype=dtype))
        self.history_: list[float] = []

    # ---- parameters

    @property
    def log_pi(self) -> Tensor:
        return torch.log_softmax(self.pi_logits, dim=-1)

    @property
    def log_A(self) -> Tensor:
        return torch.log_softmax(self.A_logits, dim=-1)

    @property
    def log_emission(self) -> Tensor:
        """Categorical emissions: the log emission matrix [K, M]."""
        if self.emission != "categorical":
            raise ValueError("log_emission is defined for categorical emissions only")
        return torch.log_softmax(self.B_logits, dim=-1)

    @property
    def variances(self) -> Tensor:
        """Gaussian emissions: the diagonal variances [K, D]."""
        if self.emission != "gaussian":
            raise ValueError("variances are defined for gaussian emissions only")
        return self.log_variances.exp()

    @torch.no_grad()
    def set_params(
        self,
        pi: Tensor | Sequence | None = None,
        A: Tensor | Sequence | None = None,
        emissionprob: Tensor | Sequence | None = None,
        means: Tensor | Sequence | None = None,
        variances: Tensor | Sequence | None = None,
    ) -> HMM:
        """Set probabilities (π [K], A [K, K], emissionprob [K, M]) or Gaussian means and
        variances [K, D], after checking shapes, non-negativity and that rows sum to one."""
        K = self.n_states
        if pi is not None:
            self.pi_logits.copy_(_probabilities(pi, (K,), "pi").log())
        if A is not None:
            self.A_logits.copy_(_probabilities(A, (K, K), "A").log())
        if emissionprob is not None:
            if self.emission != "categorical":
                raise ValueError("emissionprob applies to categorical emissions only")
            shape = (K, self.n_symbols)
            self.B_logits.copy_(_probabilities(emissionprob, shape, "emissionprob").log())
        if (means is not None or variances is not None) and self.emission != "gaussian":
            raise ValueError("means and variances apply to gaussian emissions only")
        if means is not None:
            means = torch.as_tensor(means, dtype=self.means.dtype)
            if means.shape != (K, self.dim) or not torch.isfinite(means).all():
                raise ValueError(
                    f"means must be finite with shape [{K}, {self.dim}], got shape "
                    f"{list(means.shape)}"
                    + ("" if means.shape != (K, self.dim) else f" holding {means.tolist()}")
                )
            self.means.copy_(means)
        if variances is not None:
            variances = torch.as_tensor(variances, dtype=self.means.dtype)
            if variances.shape != (K, self.dim):
                raise ValueError(
                    f"variances must have shape [{K}, {self.dim}], got {list(variances.shape)}"
                )
            if not torch.isfinite(variances).all() or (variances <= 0).any():
                raise ValueError(f"variances must be finite and positive, got {variances.tolist()}")
            self.log_variances.copy_(variances.log())
        return self

    def _check_parameters(self) -> None:
        """Raise if a parameter holds NaN or +∞ (logits of −∞ are structural zeros)."""
        for name, value in self.named_parameters():
            if not (value < math.inf).all():
                raise ValueError(
                    f"the HMM's {name} hold NaN or +inf; set the parameters with set_params"
                )

    # ---- data

    def _prepare(self, x: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
        """Batch ``x``, check it, and return it with the valid-step mask [B, T]; padded steps
        are replaced by a harmless value."""
        x = torch.as_tensor(x)
        event = 0 if self.emission == "categorical" else 1
        if x.dim() == 1 + event:
            x = x.unsqueeze(0)
        if x.dim() != 2 + event:
            want = "[B, T]" if event == 0 else "[B, T, D]"
            raise ValueError(f"x must have shape {want}, got {tuple(x.shape)}")
        B, T = x.shape[:2]
        if T < 1:
            raise ValueError(f"x needs at least one time step, got shape {tuple(x.shape)}")
        mask = lengths_mask(lengths, B, T, x.device)
        if event == 0:
            if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise ValueError(f"categorical x must hold integers, got dtype {x.dtype}")
            x = x.long().masked_fill(~mask, 0)
            bad = (x < 0) | (x >= self.n_symbols)
            if bad.any():
                n, t = bad.nonzero()[0].tolist()
                raise ValueError(
                    f"x must hold symbols in [0, {self.n_symbols}), got {int(x[n, t])} at "
                    f"sequence {n}, step {t}"
                )
        else:
            if x.shape[-1] != self.dim:
                raise ValueError(f"x must have {self.dim} features, got {x.shape[-1]}")
            if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
                raise ValueError(f"gaussian x must hold real numbers, got dtype {x.dtype}")
            x = x.to(self.means.dtype).masked_fill(~mask[..., None], 0.0)
            bad = ~torch.isfinite(x).all(-1)
            if bad.any():
                n, t = bad.nonzero()[0].tolist()
                raise ValueError(
                    f"x must be finite at the valid steps, got {x[n, t].tolist()} at sequence "
                    f"{n}, step {t}"
                )
        return x, mask

    def emission_log_prob(self, x: Tensor) -> Tensor:
        r"""log b_k(x_t) [B, T, K] for prepared (batched, valid) ``x``."""
        if self.emission == "categorical":
            return self.log_emission.T[x]
        # z = (x − μ)/σ, squared last: a square that overflows float32 is −∞, with a gradient
        # of 0 rather than 0 · ∞ through a division by σ²
        z = (x[:, :, None, :] - self.means) * torch.exp(-0.5 * self.log_variances)
        return -0.5 * (z**2 + self.log_variances + _LOG_2PI).sum(-1)

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
        """Most probable paths [B, T] (−1 when padded) and their log-probabilities [B]."""
        log_b, lengths = self._log_b(x, lengths)
        return viterbi(self.log_pi, self.log_A, log_b, lengths)

    decode = viterbi

    @torch.no_grad()
    def sample(self, T: int, n: int = 1, seed: int | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` sequences of length ``T``: states [n, T] and observations ([n, T] symbols
        or [n, T, D] vectors)."""
        _whole(T, "T")
        _whole(n, "n")
        self._check_parameters()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        pi, A = self.log_pi.exp(), self.log_A.exp()
        states = torch.empty(n, T, dtype=torch.long)
        states[:, 0] = torch.multinomial(pi.expand(n, -1), 1, generator=gen)[:, 0]
        for t in range(1, T):
            states[:, t] = torch.multinomial(A[states[:, t - 1]], 1, generator=gen)[:, 0]
        if self.emission == "categorical":
            probs = self.log_emission.exp()[states.reshape(-1)]
            obs = torch.multinomial(probs, 1, generator=gen).reshape(n, T)
        else:
            noise = torch.randn(n, T, self.dim, generator=gen, dtype=self.means.dtype)
            obs = self.means[states] + noise * self.variances[states].sqrt()
        return states, obs

    # ---- fitting

    def _training_data(self, x: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
        x, mask = self._prepare(x, lengths)
        if x.shape[0] == 0:
            raise ValueError(
                f"x must hold at least one sequence to fit, got shape {tuple(x.shape)}"
            )
        self._check_parameters()
        if self.emission == "gaussian":  # the M step sums squared distances of every step
            reach = float(x.abs().max() + self.means.detach().abs().max())
            dtype = self.means.dtype
            if reach > math.sqrt(torch.finfo(dtype).max / (4 * x.shape[0] * x.shape[1] * self.dim)):
                raise ValueError(
                    f"x spreads too widely for {dtype} (max |x| = {float(x.abs().max()):.3g}): "
                    "its squared distances overflow; rescale x or use dtype=torch.float64"
                )
        return x, mask

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
        latter case unless ``tol`` is −∞. ``history_`` records the total log-likelihood
        before each M-step (it never decreases). States with no expected visits keep their
        previous parameters."""
        _whole(n_iter, "n_iter")
        if math.isnan(tol):
            raise ValueError(f"tol must be a number, got {tol}")
        x, mask = self._training_data(x, lengths)
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
        tiny = torch.finfo(gamma.dtype).tiny
        start = gamma[:, 0].sum(0)
        self.pi_logits.copy_((start / start.sum()).log())
        counts = xi.sum(0)
        rows = counts.sum(1, keepdim=True)
        new = (counts / rows.clamp_min(tiny)).log()
        self.A_logits.copy_(torch.where(rows > 0, new, self.log_A))
        weight = gamma.sum((0, 1))[:, None]  # [K, 1] expected visits
        if self.emission == "categorical":
            onehot = torch.nn.functional.one_hot(x, self.n_symbols).to(gamma.dtype)
            obs = torch.einsum("btk,btm->km", gamma, onehot)
            new = (obs / weight.clamp_min(tiny)).log()
            self.B_logits.copy_(torch.where(weight > 0, new, self.log_emission))
        else:
            mean = torch.einsum("btk,btd->kd", gamma, x) / weight.clamp_min(tiny)
            sq = torch.einsum("btk,btkd->kd", gamma, (x[:, :, None, :] - mean) ** 2)
            var = (sq / weight.clamp_min(tiny)).clamp_min(self.variance_floor)
            self.means.copy_(torch.where(weight > 0, mean, self.means))
            self.log_variances.copy_(torch.where(weight > 0, var.log(), self.log_variances))

    def fit_gradient(
        self,
        x: Tensor,
        lengths: Lengths = None,
        optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None = None,
        steps: int = 100,
        tol: float | None = None,
    ) -> list[float]:
        """Maximise the mean per-sequence log-likelihood by gradient steps on the unconstrained
        logits (log_softmax parameterisation). ``optimizer`` is an optimizer over
        ``self.parameters()`` or a factory called with them (default Adam, lr 0.05); closures
        are used so L-BFGS works too. Returns the loss (negative mean log-likelihood) per step.

        ``steps`` is a budget: without ``tol`` every step runs and nothing warns; with it, the
        fit stops once the loss changes by less than ``tol`` in a step, and warns
        (:class:`~reparam.ConvergenceWarning`) if ``steps`` ran out first. ``monitor_``,
        ``converged_``, ``n_iter_`` and ``lower_bound_`` record the mean log-likelihood
        before each step. A logit of −∞ (a structural zero) gets a zero gradient and stays.
        """
        _whole(steps, "steps")
        if tol is not None and not tol >= 0:
            raise ValueError(f"tol must be None or a number ≥ 0, got {tol}")
        x, mask = self._training_data(x, lengths)
        lengths = mask.sum(1)
        if optimizer is None:
            optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        elif not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer(self.parameters())
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
            if self.emission == "gaussian":
                with torch.no_grad():
                    self.log_variances.clamp_(min=math.log(self.variance_floor))
            if monitor.report(-losses[-1]):
                break
        self._finish(monitor, "HMM.fit_gradient")
        return losses
