"""Training speed of Gumbel-softmax against exact marginalisation over K classes, the
comparison of Jang, Gu & Poole (2017), Figure 5 (they report Gumbel-softmax 2x faster at
K = 10 and 9.9x at K = 100, on their semi-supervised model).

The model is reparam's categorical VAE (``reparam.models.CategoricalVAE``, ReLU MLPs
784-512-256-K and K-256-512-784, a Bernoulli decoder) with one K-way latent and the uniform
prior. One training step is the ELBO's forward pass on a batch, its backward pass and an SGD
step; the ELBO's reconstruction term is, for the two contenders,

- ``gumbel-softmax``: one relaxed sample a row, ``reparam.expect(..., estimator="gumbel-softmax")``
  (τ = 0.5): one decoder pass on B rows;
- ``marginal``: the exact sum over the K classes, ``reparam.expect(..., estimator="enumerate")``:
  the decoder on all K one-hot codes of every row, K·B rows;

the KL to the uniform prior is analytic in both. Both train the same network from the same
weights, in one process, timed in interleaved rounds (``benchmarks/timing.py``: the order
rotates each round, so load from elsewhere falls on both alike); the ratio is marginal's
median over Gumbel-softmax's.

Run from the repository root (one thread, as the table in the docs)::

    python benchmarks/gumbel_vs_marginal.py                       # K = 10, 100, 1000
    python benchmarks/gumbel_vs_marginal.py --classes 10,100 --repeats 5 --out DIR

It writes ``DIR/gumbel_vs_marginal.json`` (the machine and one record per K and contender)
and ``DIR/gumbel_vs_marginal.md`` (also printed); DIR defaults to
``docs/results/estimators``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from machine_info import machine
from timing import interleaved, listed, positive, ratio, timing
from torch.distributions import OneHotCategorical

from reparam import expect
from reparam.estimators import Enumerate, GumbelSoftmax
from reparam.models import CategoricalVAE
from reparam.objectives import analytic_kl

PIXELS = 784


def data(batch: int) -> tuple[torch.Tensor, str]:
    """A batch of binarized MNIST when ``$REPARAM_DATA`` holds it, else Bernoulli(0.5) pixels."""
    try:
        from reparam.data import load

        return load("binarized-mnist", "train")[:batch], "binarized-mnist"
    except (FileNotFoundError, ValueError, OSError):
        return torch.empty(batch, PIXELS).bernoulli_(0.5), "random Bernoulli(0.5) pixels"


def step(model: CategoricalVAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, estimator):
    """One SGD step on the negative ELBO of ``x`` with one K-way latent."""

    def log_likelihood(z: torch.Tensor) -> torch.Tensor:
        return model.log_likelihood(x, z.unsqueeze(-2))  # [*, B, K] -> the one latent

    logits = model.encoder(x)
    q = OneHotCategorical(logits=logits, validate_args=False)
    prior = OneHotCategorical(logits=torch.zeros_like(logits), validate_args=False)
    elbo = expect(log_likelihood, q, n=1, estimator=estimator) - analytic_kl(q, prior)
    optimizer.zero_grad(set_to_none=True)
    (-elbo.mean()).backward()
    optimizer.step()


def measure(
    classes: int, x: torch.Tensor, repeats: int, device: torch.device
) -> dict[str, dict[str, object]]:
    torch.manual_seed(0)
    model = CategoricalVAE(PIXELS, latents=1, classes=classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    cpu = device
    x = x.to(device)
    contenders = {
        "gumbel-softmax": (lambda: step(model, optimizer, x, GumbelSoftmax(0.5)), cpu),
        "marginal": (lambda: step(model, optimizer, x, Enumerate()), cpu),
    }
    rounds = interleaved(contenders, repeats, warmup=1)
    return {name: timing(times, cpu) for name, times in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=listed(positive), default=[10, 100, 1000])
    parser.add_argument("--batch", type=positive, default=100)
    parser.add_argument("--repeats", type=positive, default=5)
    parser.add_argument("--threads", type=positive, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("docs/results/estimators"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, source = data(args.batch)
    records = []
    for k in args.classes:
        result = measure(int(k), x, args.repeats, torch.device(args.device))
        records.append(
            {"classes": k, **result, "ratio": ratio(result["marginal"], result["gumbel-softmax"])}
        )
        print(f"K = {k}: marginal / gumbel-softmax = {records[-1]['ratio']:.2f}", flush=True)
    info = machine(torch.device("cpu"))
    lines = [
        "Training step of the categorical VAE with one K-way latent (batch "
        f"{args.batch}, {source}): exact marginalisation over the K classes against one "
        "Gumbel-softmax sample, median seconds a step "
        f"({args.repeats} interleaved rounds), on {info['device_name']}, "
        f"torch {info['torch']}, {info['threads']} thread(s).",
        "",
        "| K | Gumbel-softmax (s) | marginal (s) | marginal / Gumbel | paper (Fig. 5) |",
        "|---:|---:|---:|---:|---:|",
    ]
    paper = {10: "2.0×", 100: "9.9×"}
    for r in records:
        lines.append(
            f"| {r['classes']} | {r['gumbel-softmax']['median_s']:.4f} | "  # type: ignore[index]
            f"{r['marginal']['median_s']:.4f} | {r['ratio']:.2f}× | "  # type: ignore[index]
            f"{paper.get(int(r['classes']), '—')} |"  # type: ignore[arg-type]
        )
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "batch": args.batch, "data": source, "records": records}
    (args.out / "gumbel_vs_marginal.json").write_text(json.dumps(payload, indent=1))
    (args.out / "gumbel_vs_marginal.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
