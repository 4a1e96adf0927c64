r"""Hidden Markov models: forward–backward, Viterbi and Baum–Welch in log space, batched.

A hidden Markov model with K states has an initial distribution :math:`π_k = p(z_1 = k)`,
a transition matrix :math:`A_{jk} = p(z_{t+1} = k \mid z_t = j)` (rows sum to one) and
emission densities :math:`b_k(x) = p(x_t \mid z_t = k)`. Every quantity below is kept as a
logarithm and combined with ``logsumexp`` so that nothing underflows (Rabiner 1989, §V.A;
Bishop 2006, PRML §13.2.4 on scaling).

Forward and backward recursions (Rabiner 1989, eqs. 19–25; PRML eqs. 13.36–13.39):

.. math:: \log α_1(k) = \log π_k + \log b_k(x_1), \qquad
          \log α_t(k) = \log b_k(x_t) + \operatorname{logsumexp}_j\,[\log α_{t-1}(j) + \log A_{jk}],

.. math:: \log β_T(j) = 0, \qquad
          \log β_t(j) = \operatorname{logsumexp}_k\,[\log A_{jk} + \log b_k(x_{t+1}) + \log β_{t+1}(k)],

with :math:`\log p(x_{1:T}) = \operatorname{logsumexp}_k \log α_T(k)`. The posteriors are
:math:`γ_t(k) = α_t(k) β_t(k) / p(x)` and
:math:`ξ_t(j, k) = α_{t-1}(j) A_{jk} b_k(x_t) β_t(k) / p(x)` (PRML eqs. 13.33, 13.43); the
expected transition counts :math:`\sum_t ξ_t(j,k)` are also the gradient of
:math:`\log p(x)` with respect to unnormalised :math:`\log A_{jk}`.

Viterbi (Rabiner 1989, eqs. 30–35; PRML §13.2.5) replaces the logsumexp by a max and keeps
back-pointers. Baum–Welch (Baum et al. 1970; Rabiner 1989, eqs. 40a–c; PRML eqs. 13.18–13.21)
maximises the expected complete-data log-likelihood under the sum-to-one constraints with
Lagrange multipliers, giving

.. math:: π_k = \frac1N \sum_n γ^{(n)}_1(k), \qquad
          A_{jk} = \frac{\sum_n \sum_{t=2}^{T_n} ξ^{(n)}_t(j,k)}
                        {\sum_n \sum_{t=1}^{T_n - 1} γ^{(n)}_t(j)},

categorical emissions :math:`B_{km} ∝ \sum_{n,t} γ^{(n)}_t(k)\,[x^{(n)}_t = m]` and Gaussian
ones the γ-weighted means and (floored) variances. Each iteration never lowers the
log-likelihood (Baum et al. 1970).

Sequences of unequal length share a batch through ``lengths``: steps at or beyond a
sequence's length are ignored (their values may be anything, even NaN), and the outputs there
are :math:`\log α = \log β = -∞`, γ = 0, path = −1.

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

EMISSIONS = ("categorical", "gaussian")
_LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- core recursions


def _check(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor | Sequence[int] | None
) -> tuple[Tensor, Tensor]:
    """Validate shapes and lengths; return the lengths as a long tensor and the valid-step mask
    [B, T] (True where t < length)."""
    if log_b.dim() != 3:
        raise ValueError(f"log_b must have shape [B, T, K], got {tuple(log_b.shape)}")
    B, T, K = log_b.shape
    if T < 1 or K < 1:
        raise ValueError(f"log_b needs at least one step and one state, got {tuple(log_b.shape)}")
    if log_pi.shape != (K,):
        raise ValueError(f"log_pi must have shape [{K}], got {tuple(log_pi.shape)}")
    if log_A.shape != (K, K):
        raise ValueError(f"log_A must have shape [{K}, {K}], got {tuple(log_A.shape)}")
    return _lengths_mask(lengths, B, T, log_b.device)


def _lengths_mask(
    lengths: Tensor | Sequence[int] | None, B: int, T: int, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """Check ``lengths`` (integers in [1, T], shape [B]); return them and the mask [B, T]."""
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=device)
    else:
        lengths = torch.as_tensor(lengths, device=device)
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
        lengths = lengths.long()
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape [{B}], got {tuple(lengths.shape)}")
        if B and (lengths.min() < 1 or lengths.max() > T):
            raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.tolist()}")
    mask = torch.arange(T, device=device) < lengths[:, None]
    return lengths, mask


def forward(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor | Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    r"""Forward pass: :math:`\log α` [B, T, K] (−∞ beyond each length) and the log-likelihood
    :math:`\log p(x^{(n)})` [B].

    ``log_b[n, t, k]`` is :math:`\log b_k(x^{(n)}_t)`. ``log_A`` need not be normalised (the
    recursion is differentiable in every entry).

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> alpha, ll = forward(lp, la, torch.zeros(1, 4, 2))  # uninformative emissions
    >>> ll.abs() < 1e-6
    tensor([True])
    """
    lengths, mask = _check(log_pi, log_A, log_b, lengths)
    log_b = log_b.masked_fill(~mask[..., None], 0.0)
    carry = log_pi + log_b[:, 0]
    alphas = [carry]
    for t in range(1, log_b.shape[1]):
        new = torch.logsumexp(carry[:, :, None] + log_A, dim=1) + log_b[:, t]
        carry = torch.where(mask[:, t, None], new, carry)
        alphas.append(carry)
    log_alpha = torch.stack(alphas, dim=1).masked_fill(~mask[..., None], -math.inf)
    return log_alpha, torch.logsumexp(carry, dim=-1)


def backward(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor | Sequence[int] | None = None
) -> Tensor:
    r"""Backward pass: :math:`\log β` [B, T, K], with :math:`\log β = 0` at each sequence's last
    step and −∞ beyond it.

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> backward(lp, la, torch.zeros(1, 3, 2), lengths=[2]).exp().round(decimals=4)
    tensor([[[1., 1.],
             [1., 1.],
             [0., 0.]]])
    """
    lengths, mask = _check(log_pi, log_A, log_b, lengths)
    log_b = log_b.masked_fill(~mask[..., None], 0.0)
    T = log_b.shape[1]
    carry = log_b.new_zeros(log_b.shape[0], log_b.shape[2])
    betas = [carry]
    for t in range(T - 2, -1, -1):
        new = torch.logsumexp(log_A + (log_b[:, t + 1] + carry)[:, None, :], dim=2)
        carry = torch.where(mask[:, t + 1, None], new, torch.zeros_like(new))
        betas.append(carry)
    betas.reverse()
    return torch.stack(betas, dim=1).masked_fill(~mask[..., None], -math.inf)


def posteriors(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor | Sequence[int] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Smoothed posteriors by forward–backward: γ [B, T, K] (zero beyond each length), the
    expected transition counts :math:`\sum_t ξ_t(j,k)` [B, K, K], and the log-likelihood [B].

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> gamma, xi, ll = posteriors(lp, la, torch.zeros(1, 3, 2))
    >>> xi.sum().item()  # T - 1 transitions
    2.0
    """
    lengths, mask = _check(log_pi, log_A, log_b, lengths)
    log_alpha, ll = forward(log_pi, log_A, log_b, lengths)
    log_beta = backward(log_pi, log_A, log_b, lengths)
    valid = mask[..., None]
    # normalise each step by its own sum (= p(x) exactly) so rounding in log p(x) cancels
    gamma = torch.softmax((log_alpha + log_beta).masked_fill(~valid, 0.0), dim=-1)
    gamma = gamma.masked_fill(~valid, 0.0)
    log_b = log_b.masked_fill(~valid, 0.0)
    B, T, K = log_b.shape
    xi = log_b.new_zeros(B, K, K)
    for t in range(1, T):
        step = log_alpha[:, t - 1, :, None] + log_A + (log_b[:, t] + log_beta[:, t])[:, None, :]
        step = step.masked_fill(~mask[:, t, None, None], 0.0).reshape(B, K * K)
        xi = xi + torch.softmax(step, -1).reshape(B, K, K).masked_fill(~mask[:, t, None, None], 0.0)
    return gamma, xi, ll


def viterbi(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor | Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    r"""Most probable state path [B, T] (−1 beyond each length) and its joint log-probability
    :math:`\max_z \log p(x, z)` [B].

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> lb = torch.log(torch.tensor([[[0.9, 0.1], [0.8, 0.2], [0.2, 0.8]]]))
    >>> viterbi(lp, la, lb, lengths=[3])[0]
    tensor([[0, 0, 0]])
    """
    lengths, mask = _check(log_pi, log_A, log_b, lengths)
    B, T, K = log_b.shape
    active = mask.T.contiguous()
    into = log_A.T.contiguous()  # into[k, j] = log A[j, k]
    deltas = torch.empty((T, B, K), dtype=log_b.dtype, device=log_b.device)
    deltas[0] = log_pi + log_b[:, 0]
    for t in range(1, T):
        best = (deltas[t - 1, :, None, :] + into).amax(-1) + log_b[:, t]
        torch.where(active[t, :, None], best, deltas[t - 1], out=deltas[t])
    score, state = torch.max(deltas[-1], dim=-1)
    # Back-pointers are recomputed for the chosen state only: B·K work a step, not B·K·K.
    path = torch.empty((T, B), dtype=torch.long, device=log_b.device)
    for t in range(T - 1, -1, -1):
        path[t] = state
        if t > 0:
            previous = (deltas[t - 1] + into[state]).argmax(-1)
            state = torch.where(active[t], previous, state)
    return path.T.masked_fill(~mask, -1), score


# --------------------------------------------------------------------------- the model


def _probabilities(value: Tensor | Sequence, shape: tuple[int, ...], name: str) -> Tensor:
    """Check a table of probabilities whose last axis sums to one."""
    value = torch.as_tensor(value, dtype=torch.float64)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(value.shape)}")
    if not torch.isfinite(value).all() or (value < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
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

    Inputs: categorical ``x`` is an integer tensor [B, T] (or [T]); Gaussian ``x`` is
    [B, T, D] (or [T, D]). ``lengths`` [B] marks the valid steps of padded sequences.

    >>> hmm = HMM(3, "gaussian", dim=2, dtype=torch.float64, seed=0)
    >>> states, x = hmm.sample(50, n=4, seed=1)
    >>> _ = hmm.fit(x, n_iter=5)
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
        if n_states < 1:
            raise ValueError(f"an HMM needs at least one state, got {n_states}")
        if emission not in EMISSIONS:
            raise ValueError(f"unknown emission {emission!r}; choose from {', '.join(EMISSIONS)}")
        if covariance != "diag":
            raise ValueError(f"only covariance='diag' is supported, got {covariance!r}")
        if variance_floor <= 0:
            raise ValueError(f"variance_floor must be positive, got {variance_floor}")
        dtype = dtype or torch.get_default_dtype()
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        K = n_states
        self.n_states, self.emission, self.covariance = K, emission, covariance
        self.variance_floor = variance_floor
        self.pi_logits = nn.Parameter(torch.zeros(K, dtype=dtype))
        self.A_logits = nn.Parameter(torch.rand(K, K, generator=gen, dtype=dtype) + 1.0)
        if emission == "categorical":
            if n_symbols is None or n_symbols < 1:
                raise ValueError(f"categorical emissions need n_symbols >= 1, got {n_symbols}")
            self.n_symbols = n_symbols
            self.B_logits = nn.Parameter(torch.rand(K, n_symbols, generator=gen, dtype=dtype))
        else:
            if dim is None or dim < 1:
                raise ValueError(f"gaussian emissions need dim >= 1, got {dim}")
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
                raise ValueError(f"means must be finite with shape [{K}, {self.dim}]")
            self.means.copy_(means)
        if variances is not None:
            variances = torch.as_tensor(variances, dtype=self.means.dtype)
            if variances.shape != (K, self.dim):
                raise ValueError(f"variances must have shape [{K}, {self.dim}]")
            if not torch.isfinite(variances).all() or (variances <= 0).any():
                raise ValueError("variances must be finite and positive")
            self.log_variances.copy_(variances.log())
        return self

    # ---- data

    def _prepare(self, x: Tensor, lengths: Tensor | Sequence[int] | None) -> tuple[Tensor, Tensor]:
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
            raise ValueError("x needs at least one time step")
        _, mask = _lengths_mask(lengths, B, T, x.device)
        if event == 0:
            if x.is_floating_point() or x.is_complex():
                raise ValueError(f"categorical x must hold integers, got dtype {x.dtype}")
            x = x.long().masked_fill(~mask, 0)
            if x.min() < 0 or x.max() >= self.n_symbols:
                raise ValueError(f"symbols must lie in [0, {self.n_symbols}), got values outside")
        else:
            if x.shape[-1] != self.dim:
                raise ValueError(f"x must have {self.dim} features, got {x.shape[-1]}")
            x = x.to(self.means.dtype).masked_fill(~mask[..., None], 0.0)
            if not torch.isfinite(x).all():
                raise ValueError("x must be finite at the valid steps")
        return x, mask

    def emission_log_prob(self, x: Tensor) -> Tensor:
        r"""log b_k(x_t) [B, T, K] for prepared (batched, valid) ``x``."""
        if self.emission == "categorical":
            return self.log_emission.T[x]
        var = self.variances
        diff = x[:, :, None, :] - self.means
        return -0.5 * (diff**2 / var + self.log_variances + _LOG_2PI).sum(-1)

    def _log_b(self, x: Tensor, lengths: Tensor | Sequence[int] | None) -> tuple[Tensor, Tensor]:
        x, mask = self._prepare(x, lengths)
        lengths = mask.sum(1)
        return self.emission_log_prob(x), lengths

    def log_likelihood(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        """log p(x^{(n)}) per sequence [B]; differentiable in the parameters."""
        log_b, lengths = self._log_b(x, lengths)
        return forward(self.log_pi, self.log_A, log_b, lengths)[1]

    @torch.no_grad()
    def posteriors(
        self, x: Tensor, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """γ [B, T, K], expected transition counts [B, K, K] and log-likelihood [B]."""
        log_b, lengths = self._log_b(x, lengths)
        return posteriors(self.log_pi, self.log_A, log_b, lengths)

    @torch.no_grad()
    def viterbi(
        self, x: Tensor, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Most probable paths [B, T] (−1 when padded) and their log-probabilities [B]."""
        log_b, lengths = self._log_b(x, lengths)
        return viterbi(self.log_pi, self.log_A, log_b, lengths)

    decode = viterbi

    @torch.no_grad()
    def sample(self, T: int, n: int = 1, seed: int | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` sequences of length ``T``: states [n, T] and observations ([n, T] symbols
        or [n, T, D] vectors)."""
        if T < 1 or n < 1:
            raise ValueError(f"T and n must be positive, got T={T}, n={n}")
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

    @torch.no_grad()
    def fit(
        self,
        x: Tensor,
        lengths: Tensor | Sequence[int] | None = None,
        n_iter: int = 100,
        tol: float = 1e-4,
    ) -> HMM:
        """Baum–Welch: EM until the total log-likelihood gains less than ``tol`` or ``n_iter``
        iterations. ``history_`` records the total log-likelihood before each M-step (it never
        decreases). States with no expected visits keep their previous parameters."""
        if n_iter < 1:
            raise ValueError(f"n_iter must be positive, got {n_iter}")
        x, mask = self._prepare(x, lengths)
        lengths = mask.sum(1)
        self.history_ = []
        for _ in range(n_iter):
            log_b = self.emission_log_prob(x)
            gamma, xi, ll = posteriors(self.log_pi, self.log_A, log_b, lengths)
            total = ll.sum().item()
            if not math.isfinite(total):
                raise ValueError("the data have zero probability under the current parameters")
            self.history_.append(total)
            self._m_step(x, gamma, xi)
            if len(self.history_) > 1 and self.history_[-1] - self.history_[-2] < tol:
                break
        return self

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
        lengths: Tensor | Sequence[int] | None = None,
        optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None = None,
        steps: int = 100,
    ) -> list[float]:
        """Maximise the mean per-sequence log-likelihood by gradient steps on the unconstrained
        logits (log_softmax parameterisation). ``optimizer`` is an optimizer over
        ``self.parameters()`` or a factory called with them (default Adam, lr 0.05); closures
        are used so L-BFGS works too. Returns the loss (negative mean log-likelihood) per step.
        """
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        x, mask = self._prepare(x, lengths)
        lengths = mask.sum(1)
        if optimizer is None:
            optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        elif not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer(self.parameters())
        losses: list[float] = []

        def closure() -> Tensor:
            optimizer.zero_grad()
            log_b = self.emission_log_prob(x)
            loss = -forward(self.log_pi, self.log_A, log_b, lengths)[1].mean()
            loss.backward()
            return loss

        for _ in range(steps):
            losses.append(float(optimizer.step(closure).detach()))
            if self.emission == "gaussian":
                with torch.no_grad():
                    self.log_variances.clamp_(min=math.log(self.variance_floor))
        return losses
