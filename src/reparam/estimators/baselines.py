r"""Baselines (control variates) for score-function gradients.

A baseline :math:`b` turns the per-sample score-function gradient
:math:`W = f(z)\nabla_\theta\log q(z)` into :math:`W - b\,U` with :math:`U = \nabla_\theta\log q(z)`,
which has expectation zero. The mean is unchanged as long as :math:`b` does not depend on the
sample it multiplies, and the variance falls when :math:`b` tracks :math:`f`
(Casella & Berger, *Statistical Inference*, §7.3, control variates).

A baseline is any callable ``(cost, log_prob, q) -> b`` with ``cost`` (detached) and
``log_prob`` of shape ``[n, *batch]``; ``b`` broadcasts against ``cost``. The three here are
``nn.Module`` objects, so a score-function estimator registers them as submodules and a stateful
one (:class:`MovingAverage`) saves its state in buffers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution, Transform

from reparam.estimators.base import EstimatorModule, require

Baseline = Callable[[Tensor, Tensor, Distribution], Tensor]


def leave_one_out_mean(values: Tensor) -> Tensor:
    """For each sample i, the mean of the other n − 1 samples along dim 0."""
    n = values.shape[0]
    return (values.sum(0, keepdim=True) - values) / (n - 1)


class LeaveOneOut(EstimatorModule):
    r"""Baseline :math:`b_i = \frac{1}{n-1}\sum_{j\neq i} f(z_j)`: unbiased, needs n ≥ 2.

    References:
        Kool, van Hoof & Welling (2019), Buy 4 REINFORCE Samples, Get a Baseline for Free!
    """

    def forward(self, cost: Tensor, log_prob: Tensor, q: Distribution) -> Tensor:
        require(
            cost.shape[0] >= 2,
            "the leave-one-out baseline needs n >= 2 samples; raise n or use "
            "baseline='moving-average'.",
        )
        return leave_one_out_mean(cost)


class MovingAverage(EstimatorModule):
    r"""Baseline :math:`b_t = \hat m_{t-1}`, an exponential moving average of past mean costs.

    .. math:: m_t = \beta m_{t-1} + (1-\beta)\,\bar f_t, \qquad
              \hat m_t = m_t / (1-\beta^t)

    :math:`\bar f_t` is the mean cost of call t over its samples and batch, so the baseline
    is one number and batches of any size (a training set's last, short batch) share it. It
    uses only earlier calls, so it is independent of the current samples and leaves the
    gradient unbiased; the first call has no history and uses b = 0. A call whose mean cost
    is not finite — an empty batch (no costs), or a cost of ±inf or NaN — leaves the state
    as it was (t does not advance), so one such batch cannot poison every later baseline.

    The state is two buffers, ``average`` (:math:`m_t`, a float64 scalar) and ``steps``
    (t, an int64 scalar): a model that owns the estimator saves them in its ``state_dict``,
    and loading it restores the baseline exactly. They stay on the module's device (no host
    synchronisation when it is the costs' device).

    References:
        Williams (1992); Mnih & Gregor (2014), Neural Variational Inference and Learning in
        Belief Networks, §3.3.

    Example:
        >>> import torch
        >>> baseline = MovingAverage(decay=0.5)
        >>> cost = torch.tensor([[1.0, 3.0]])
        >>> baseline(cost, cost, None), baseline(cost, cost, None)
        (tensor(0.), tensor(2.))
        >>> dict(baseline.state_dict())
        {'average': tensor(1.5000, dtype=torch.float64), 'steps': tensor(2)}
    """

    pools_rows = True

    average: Tensor
    steps: Tensor

    def __init__(self, decay: float = 0.9) -> None:
        require(0.0 <= decay < 1.0, f"decay must lie in [0, 1); got {decay}.")
        super().__init__()
        self.decay = decay
        self.register_buffer("average", torch.zeros((), dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def forward(self, cost: Tensor, log_prob: Tensor, q: Distribution) -> Tensor:
        # average is 0 before the first call, so dividing it by 1 there gives b = 0
        decay = torch.full_like(self.average, self.decay)
        correction = torch.where(self.steps > 0, 1.0 - decay**self.steps, 1.0)
        baseline = (self.average / correction).to(cost.dtype)
        mean = cost.detach().mean().to(self.average)
        finite = torch.isfinite(mean)
        updated = self.decay * self.average + (1.0 - self.decay) * mean
        self.average.copy_(torch.where(finite, updated, self.average))
        self.steps.add_(finite.to(self.steps.dtype))
        return baseline.to(cost.device)

    def extra_repr(self) -> str:
        return f"decay={self.decay}"


class Optimal(EstimatorModule):
    r"""The variance-minimising control-variate coefficient, estimated leave-one-out.

    With :math:`W = f\,U` and :math:`U = \nabla_\phi \log q(z)`, the estimator
    :math:`W + aU` has least variance at :math:`a^* = -\operatorname{Cov}(W,U)/\operatorname{Var}(U)`
    (Casella & Berger §7.3). Summed over the coordinates of q's parameters :math:`\phi` and
    using :math:`\mathbb{E}[U] = 0`, the baseline :math:`b = -a^*` is

    .. math:: b^* = \frac{\mathbb{E}[f(z)\,\lVert U\rVert^2]}{\mathbb{E}[\lVert U\rVert^2]},

    estimated for sample i from the other n − 1 samples, which keeps it unbiased. The
    per-sample scores are taken with respect to the tensors that parameterize ``q`` (its
    ``loc``, ``logits``, ``concentration`` …, the tensors inside its transforms), by batched
    backward passes whose cost grows as n². Needs n ≥ 2.

    One scalar coefficient serves all of q's parameters and minimises their summed variance,
    so a parameter whose score is small beside the others' can see its own variance grow
    (the Gamma's concentration next to its rate, in the README's plots).

    References:
        Weaver & Tao (2001), The Optimal Reward Baseline for Gradient-Based RL;
        Ruiz, Titsias & Blei (2016), The Generalized Reparameterization Gradient, §3.
    """

    pools_rows = True

    def forward(self, cost: Tensor, log_prob: Tensor, q: Distribution) -> Tensor:
        n = cost.shape[0]
        require(
            n >= 2,
            "the optimal baseline is estimated from the other samples and needs n >= 2; "
            "raise n or use baseline='moving-average'.",
        )
        score_norm = squared_score_norm(log_prob, q)
        if score_norm is None:
            return leave_one_out_mean(cost)
        numerator = leave_one_out_mean(cost * score_norm)
        denominator = leave_one_out_mean(score_norm)
        positive = denominator > 0
        return torch.where(
            positive, numerator / denominator.where(positive, 1.0), leave_one_out_mean(cost)
        )


def parameters_of(q: Distribution | Transform) -> list[Tensor]:
    """The tensors requiring grad that ``q`` stores, its base distributions and transforms."""
    found: dict[int, Tensor] = {}

    def visit(obj: object) -> None:
        for name, value in vars(obj).items():
            if name.startswith("_"):
                continue
            if isinstance(value, Tensor) and value.requires_grad:
                found.setdefault(id(value), value)
            elif isinstance(value, Distribution | Transform):
                visit(value)
            elif isinstance(value, list | tuple):
                for item in value:
                    if isinstance(item, Distribution | Transform):
                        visit(item)

    visit(q)
    return list(found.values())


def squared_score_norm(log_prob: Tensor, q: Distribution, budget: int = 2**24) -> Tensor | None:
    r"""Per-sample :math:`\lVert\nabla_\phi \log q(z_i)\rVert^2`, shape ``[n, *batch]``.

    Batched backward passes over the samples (``is_grads_batched``), in blocks of samples
    small enough that a block's gradients hold about ``budget`` numbers. The work grows as n²
    (each sample's pass runs over the whole graph), so the optimal baseline suits the small n
    at which a leave-one-out estimate is worth having. A parameter shared across the batch
    contributes its whole norm to every batch element. Returns ``None`` when ``q`` holds no
    tensor that requires grad.
    """
    params = parameters_of(q)
    if not params or not log_prob.requires_grad:
        return None
    n, batch = log_prob.shape[0], log_prob.shape[1:]
    eye = torch.eye(n, dtype=log_prob.dtype, device=log_prob.device)
    block = max(1, budget // max(1, log_prob.numel()))
    norms = []
    for rows in eye.split(block):
        grad_outputs = rows.view(len(rows), n, *[1] * len(batch)).expand(len(rows), n, *batch)
        grads = torch.autograd.grad(
            log_prob,
            params,
            grad_outputs,
            retain_graph=True,
            allow_unused=True,
            is_grads_batched=True,
        )
        norms.append(
            sum(_per_batch_element(g.detach() ** 2, batch) for g in grads if g is not None)
        )
    return torch.cat(norms)


def _per_batch_element(squared: Tensor, batch: torch.Size) -> Tensor:
    """Sum ``[m, *param_shape]`` to ``[m, *batch]``; a parameter not laid out over the batch
    is summed whole and broadcast."""
    m = squared.shape[0]
    if squared.shape[1 : 1 + len(batch)] == batch:
        event = tuple(range(1 + len(batch), squared.dim()))
        return squared.sum(event) if event else squared
    return squared.reshape(m, -1).sum(-1).view(m, *[1] * len(batch)).expand(m, *batch)
