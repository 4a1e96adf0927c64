"""Time per gradient of each discrete-latent estimator on the VAE of Jang, Gu & Poole (2017,
Table 1), ``reparam.expect`` against the same estimator written by hand in plain PyTorch.

The model: an encoder 784–512–256–D and a decoder D–256–512–784 (ReLU MLPs, Bernoulli
pixels), batch 100, with D = 200 Bernoulli latents or 20 × 10 one-hot categorical latents;
``f(z)`` is the decoder's negative log-likelihood of the batch, one value per sample and
example. One "gradient" is: zero the gradients, the encoder's forward pass, the estimate of
E_q[f] (its forward pass and whatever extra passes the estimator makes), its mean over the
batch, and the backward pass to every parameter (the encoder, the decoder and the
estimator's own learned parts). Each estimator runs on both latent kinds where it applies.

For each estimator the reparam object is made once from its spec (``parse``; the learned
ones are owned, as a model owns them) and timed against a hand-written twin of a few lines
that computes the same gradient (the same samples, passes and learned parts: NVIL's baseline
MLP and running statistics, REBAR's η and τ, RELAX's η, τ and MLP, each trained by the same
zero-valued terms), and against the plain score function. Some twins draw their noise by
other torch calls (``F.gumbel_softmax``, ``Categorical.sample``), so the two sides' samples
differ while their distributions agree. Goal (issue 13):
each estimator within 1.2× of its hand-written form. The rounds are interleaved (see
``timing.interleaved``); times are medians, never asserted.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/discrete_estimators.py --threads 1
    python benchmarks/discrete_estimators.py --quick      # a smoke test

It writes ``DIR/discrete_estimators.json`` and ``.md`` (DIR: ``--out``, default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_info import machine
from timing import interleaved, positive, ratio, timing
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, OneHotCategorical

import reparam as rp
from reparam.estimators import parse

BATCH = 100
PIXELS = 784
BERNOULLI_LATENTS = 200
CATEGORICAL_SHAPE = (20, 10)
TEMPERATURE = 0.5

Hand = Callable[[Tensor, Callable[[Tensor], Tensor], int], Tensor]


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@dataclass
class Problem:
    """The VAE's networks and batch for one latent kind."""

    kind: str  # "bernoulli" or "categorical"
    encoder: nn.Module
    decoder: nn.Module
    x: Tensor

    @property
    def code(self) -> int:
        return BERNOULLI_LATENTS if self.kind == "bernoulli" else math.prod(CATEGORICAL_SHAPE)

    def logits(self) -> Tensor:
        out = self.encoder(self.x)
        return out if self.kind == "bernoulli" else out.view(BATCH, *CATEGORICAL_SHAPE)

    def q(self, logits: Tensor) -> Independent:
        base = (
            Bernoulli(logits=logits, validate_args=False)
            if self.kind == "bernoulli"
            else OneHotCategorical(logits=logits, validate_args=False)
        )
        return Independent(base, 1, validate_args=False)

    def f(self, z: Tensor) -> Tensor:
        """−log p(x | z), [n, BATCH], for codes (or relaxed codes) z."""
        flat = z if self.kind == "bernoulli" else z.flatten(-2)
        logits = self.decoder(flat)
        x = self.x.expand_as(logits)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def make_problem(kind: str, seed: int, device: torch.device) -> Problem:
    torch.manual_seed(seed)
    code = BERNOULLI_LATENTS if kind == "bernoulli" else math.prod(CATEGORICAL_SHAPE)
    x = torch.rand(BATCH, PIXELS).lt(0.3).float().to(device)
    encoder, decoder = mlp([PIXELS, 512, 256, code]), mlp([code, 256, 512, PIXELS])
    return Problem(kind, encoder.to(device), decoder.to(device), x)


# ---------------------------------------------------------------- the hand-written twins


def surrogate(cost: Tensor, log_prob: Tensor, baseline: Tensor | float = 0.0) -> Tensor:
    """Value mean(cost), gradient mean(∇cost + (cost − b)∇log q)."""
    score = ((cost.detach() - baseline) * log_prob).mean(0)
    return cost.mean(0) + (score - score.detach())


def codes(problem: Problem, logits: Tensor, n: int) -> Tensor:
    """Exact codes [n, BATCH, ...] (0/1 or one-hot), no gradient."""
    if problem.kind == "bernoulli":
        return torch.bernoulli(torch.sigmoid(logits.detach()).expand(n, *logits.shape))
    index = torch.distributions.Categorical(logits=logits.detach()).sample((n,))
    return F.one_hot(index, logits.shape[-1]).to(logits)


def mean_codes(problem: Problem, logits: Tensor) -> Tensor:
    return torch.sigmoid(logits) if problem.kind == "bernoulli" else logits.softmax(-1)


def log_q(problem: Problem, logits: Tensor, z: Tensor) -> Tensor:
    if problem.kind == "bernoulli":
        return -F.binary_cross_entropy_with_logits(logits.expand_as(z), z, reduction="none").sum(-1)
    return (z * logits.log_softmax(-1)).sum((-2, -1))


def score_hand(problem: Problem, logits: Tensor, n: int) -> Tensor:
    z = codes(problem, logits, n)
    return surrogate(problem.f(z), log_q(problem, logits, z))


def straight_through_hand(problem: Problem, logits: Tensor, n: int) -> Tensor:
    p = mean_codes(problem, logits)
    z = codes(problem, logits, n)
    return problem.f(z + (p - p.detach())).mean(0)


def gumbel_hand(hard: bool) -> Callable[[Problem, Tensor, int], Tensor]:
    def step(problem: Problem, logits: Tensor, n: int) -> Tensor:
        y = F.gumbel_softmax(logits.expand(n, *logits.shape), tau=TEMPERATURE, hard=hard)
        return problem.f(y).mean(0)

    return step


def taylor_hand(correct: bool) -> Callable[[Problem, Tensor, int], Tensor]:
    """MuProp (expanded at the mean, corrected) or DARN (at ½ or 1/K, uncorrected)."""

    def step(problem: Problem, logits: Tensor, n: int) -> Tensor:
        p = mean_codes(problem, logits)
        point = p.detach() if correct else torch.full_like(p, 0.5 if p.dim() == 2 else 0.1)
        at = point.unsqueeze(0).requires_grad_()
        value = problem.f(at)
        (slope,) = torch.autograd.grad(value.sum(), at)
        z = codes(problem, logits, n)
        event = (-1,) if problem.kind == "bernoulli" else (-2, -1)
        baseline = value.detach() + ((z - at.detach()) * slope).sum(event)
        estimate = surrogate(problem.f(z), log_q(problem, logits, z), baseline)
        if correct:
            term = (slope[0] * p).sum(event)
            estimate = estimate + (term - term.detach())
        return estimate

    return step


def nvil_twin(problem: Problem) -> Twin:
    """NVIL: a baseline MLP on q's probabilities, a running mean and variance normalisation."""
    network = nn.Sequential(nn.Linear(problem.code, 100), nn.Tanh(), nn.Linear(100, 1))
    network = network.to(problem.x.device)
    state = {"average": 0.0, "square": 0.0, "steps": 0}
    decay = 0.8

    def step(problem: Problem, logits: Tensor, n: int) -> Tensor:
        p = mean_codes(problem, logits).detach().reshape(BATCH, -1)
        baseline = network(p).squeeze(-1)
        z = codes(problem, logits, n)
        cost = problem.f(z)
        if state["steps"]:
            correction = 1 - decay ** state["steps"]
            centre = state["average"] / correction
            sd = max(state["square"] / correction - centre**2, 0.0) ** 0.5
            scale = 1 / max(1.0, sd)
        else:
            centre, scale = 0.0, 1.0
        residual = cost.detach() - baseline.detach()
        estimate = surrogate(cost, log_q(problem, logits, z), baseline.detach() + centre)
        estimate = cost.mean(0) + (estimate - cost.mean(0)) * scale
        error = 0.5 * scale * (cost.detach() - centre - baseline) ** 2
        estimate = estimate + (error - error.detach()).mean(0)
        state["average"] = decay * state["average"] + (1 - decay) * float(residual.mean())
        state["square"] = decay * state["square"] + (1 - decay) * float((residual**2).mean())
        state["steps"] += 1
        return estimate

    return Twin(step, list(network.parameters()))


def antithetic_hand(disarm: bool) -> Callable[[Problem, Tensor, int], Tensor]:
    """ARM (Yin & Zhou 2019) or DisARM (Dong, Mnih & Tucker 2020), n/2 antithetic pairs."""

    def step(problem: Problem, logits: Tensor, n: int) -> Tensor:
        alpha = logits.detach()
        u = torch.rand(n // 2, *alpha.shape, device=alpha.device)
        b = (u < torch.sigmoid(alpha)).float()
        flipped = (u > torch.sigmoid(-alpha)).float()
        cost = problem.f(torch.cat([b, flipped]))
        first, second = cost.detach().split(n // 2)
        difference = (first - second)[..., None]
        if disarm:
            sign = 1.0 - 2.0 * flipped
            grad = 0.5 * difference * sign * (b != flipped) * torch.sigmoid(alpha.abs())
        else:
            grad = -difference * (u - 0.5)
        through = (grad.mean(0) * logits).sum(-1)
        return cost.mean(0) + (through - through.detach())

    return step


def conditional_twin(surrogate: bool) -> Callable[[Problem], Twin]:
    """REBAR (Tucker et al. 2017) or RELAX (Grathwohl et al. 2018) with η, log τ (and an MLP
    r_ρ) learned by the gradient of ‖ĝ‖², ĝ the gradient in the logits."""

    def make(problem: Problem) -> Twin:
        device = problem.x.device
        eta = torch.tensor(1.0, device=device, requires_grad=True)
        log_tau = torch.tensor(math.log(TEMPERATURE), device=device, requires_grad=True)
        learned = [eta, log_tau]
        mlp_r = None
        if surrogate:
            mlp_r = nn.Sequential(nn.Linear(problem.code, 16), nn.Tanh(), nn.Linear(16, 1))
            mlp_r = mlp_r.to(device)
            nn.init.zeros_(mlp_r[2].weight)
            nn.init.zeros_(mlp_r[2].bias)
            learned += list(mlp_r.parameters())

        def step(problem: Problem, raw: Tensor, n: int) -> Tensor:
            categorical = problem.kind == "categorical"
            logits = raw.log_softmax(-1) if categorical else raw
            u = torch.rand(n, *logits.shape, device=logits.device).clamp(1e-30, 1 - 1e-7)
            v = torch.rand(n, *logits.shape, device=logits.device).clamp(1e-30, 1 - 1e-7)
            if categorical:
                z = logits - torch.log(-torch.log(u))
                b = F.one_hot(z.argmax(-1), logits.shape[-1]).float()
                log_e = torch.log(-torch.log(v))
                log_e_b = (log_e * b).sum(-1, keepdim=True)
                z_tilde = torch.where(b > 0, -log_e_b, -torch.logaddexp(log_e - logits, log_e_b))
                score = b - logits.softmax(-1)
            else:
                z = logits + torch.log(u) - torch.log1p(-u)
                b = (z > 0).float()
                p = torch.sigmoid(logits)
                u_tilde = torch.where(b > 0, 1 - p * (1 - v), v * (1 - p))
                z_tilde = logits + torch.log(u_tilde) - torch.log1p(-u_tilde)
                score = b - p
            tau = log_tau.exp()

            def relax(x: Tensor) -> Tensor:
                return (x / tau).softmax(-1) if categorical else torch.sigmoid(x / tau)

            def control(x: Tensor) -> Tensor:
                c = eta * problem.f(relax(x))
                if mlp_r is not None:
                    c = c + mlp_r(relax(x).reshape(n, BATCH, -1)).squeeze(-1)
                return c

            cost = problem.f(b)
            weight = cost.detach() - control(z_tilde.detach())
            shape = (*weight.shape, *[1] * (logits.dim() - 1))
            g = (weight.reshape(shape) * score.detach()).mean(0)
            difference = (control(z) - control(z_tilde)).mean(0)
            (pathwise,) = torch.autograd.grad(difference.sum(), logits, create_graph=True)
            if categorical:
                pathwise = pathwise - logits.softmax(-1) * pathwise.sum(-1, keepdim=True)
            g = g + pathwise
            variance = torch.autograd.grad((g**2).sum(), learned)
            event = (-2, -1) if categorical else (-1,)
            through = (g.detach() * logits).sum(event)
            descent = sum((d.detach() * w).sum() for d, w in zip(variance, learned, strict=True))
            return (
                cost.mean(0) + (through - through.detach()) + (descent - descent.detach()) / BATCH
            )

        return Twin(step, learned)

    return make


def stateless(step: Callable[[Problem, Tensor, int], Tensor]) -> Callable[[Problem], Twin]:
    return lambda problem: Twin(step, [])


@dataclass
class Twin:
    """A hand-written estimator: its step and the learned parameters it owns."""

    step: Callable[[Problem, Tensor, int], Tensor]
    parameters: list[Tensor]


@dataclass(frozen=True)
class Column:
    spec: str
    twin: Callable[[Problem], Twin]
    kinds: tuple[str, ...] = ("bernoulli", "categorical")
    n: int = 1


COLUMNS = (
    Column("score", stateless(score_hand)),
    Column("nvil", nvil_twin),
    Column("muprop", stateless(taylor_hand(correct=True))),
    Column("darn", stateless(taylor_hand(correct=False))),
    Column("straight-through", stateless(straight_through_hand)),
    Column("gumbel-softmax", stateless(gumbel_hand(hard=False)), kinds=("categorical",)),
    Column("st-gumbel", stateless(gumbel_hand(hard=True)), kinds=("categorical",)),
    Column("arm", stateless(antithetic_hand(disarm=False)), kinds=("bernoulli",), n=2),
    Column("disarm", stateless(antithetic_hand(disarm=True)), kinds=("bernoulli",), n=2),
    Column("rebar", conditional_twin(surrogate=False)),
    Column("relax", conditional_twin(surrogate=True)),
)


def estimator_for(spec: str) -> rp.estimators.Estimator:
    est = parse(spec)
    if spec in ("gumbel-softmax", "st-gumbel"):
        est.temperature = TEMPERATURE
    return est


def gradient_steps(
    params: list[Tensor], estimate: Callable[[], Tensor], steps: int
) -> Callable[[], None]:
    """``steps`` gradients: each zeroes the gradients, estimates, and back-propagates."""

    def run() -> None:
        for _ in range(steps):
            for p in params:
                p.grad = None
            estimate().mean().backward()

    return run


def contenders_for(problem: Problem, steps: int) -> dict[str, tuple[Callable[[], None], object]]:
    """Each applicable column's reparam and hand-written gradient, ``steps`` a call."""
    cpu = problem.x.device
    params = [*problem.encoder.parameters(), *problem.decoder.parameters()]
    contenders: dict[str, tuple[Callable[[], None], object]] = {}
    for column in COLUMNS:
        if problem.kind not in column.kinds:
            continue
        est = estimator_for(column.spec).to(problem.x.device)

        def ours(est: nn.Module = est, column: Column = column) -> Tensor:
            return rp.expect(problem.f, problem.q(problem.logits()), n=column.n, estimator=est)

        twin = column.twin(problem)

        def hand(column: Column = column, twin: Twin = twin) -> Tensor:
            return twin.step(problem, problem.logits(), column.n)

        ours_learned = [*params, *est.parameters()]
        hand_learned = [*params, *twin.parameters]
        contenders[f"{column.spec} reparam"] = (gradient_steps(ours_learned, ours, steps), cpu)
        contenders[f"{column.spec} hand"] = (gradient_steps(hand_learned, hand, steps), cpu)
    return contenders


def run(args: argparse.Namespace) -> dict[str, object]:
    torch.set_num_threads(args.threads)
    cpu = torch.device(args.device)
    records: list[dict[str, object]] = []
    for kind in ("bernoulli", "categorical"):
        problem = make_problem(kind, args.seed, cpu)
        contenders = contenders_for(problem, args.steps)
        rounds = interleaved(contenders, args.repeats, args.warmup)
        times = {name: timing(r, cpu) for name, r in rounds.items()}
        score = times["score reparam"]
        for column in COLUMNS:
            if kind not in column.kinds:
                continue
            ours, hand = times[f"{column.spec} reparam"], times[f"{column.spec} hand"]
            records.append(
                {
                    "latents": kind,
                    "estimator": column.spec,
                    "n": column.n,
                    "reparam": ours,
                    "hand": hand,
                    "reparam_over_hand": ratio(ours, hand),
                    "reparam_over_score": ratio(ours, score),
                }
            )
    return {"machine": machine(cpu), "steps_per_round": args.steps, "records": records}


def markdown(result: dict[str, object]) -> str:
    m: dict[str, object] = result["machine"]  # type: ignore[assignment]
    steps: int = result["steps_per_round"]  # type: ignore[assignment]
    lines = [
        "Time per gradient on the VAE of Jang et al. (2017) Table 1, batch 100, on "
        f"{m['device']} ({m['device_name']}), torch {m['torch']}, {m['threads']} thread(s); "
        f"medians of interleaved rounds of {steps} gradients, divided by {steps}.",
        "",
        "| latents | estimator | n | reparam ms | hand-written ms | reparam ÷ hand (goal ≤ 1.2) "
        "| reparam ÷ score |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["records"]:  # type: ignore[union-attr]
        lines.append(
            f"| {r['latents']} | {r['estimator']} | {r['n']} "
            f"| {1e3 * r['reparam']['median_s'] / steps:.2f} "
            f"| {1e3 * r['hand']['median_s'] / steps:.2f} | {r['reparam_over_hand']:.2f} "
            f"| {r['reparam_over_score']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=positive, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=positive, default=15)
    parser.add_argument("--warmup", type=positive, default=3)
    parser.add_argument("--steps", type=positive, default=10, help="gradients per timed call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke test")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup, args.steps = 3, 1, 2
    return args


def main() -> None:
    args = parse_args()
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "discrete_estimators.json").write_text(json.dumps(result, indent=2))
    text = markdown(result)
    (args.out / "discrete_estimators.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
