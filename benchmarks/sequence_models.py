"""Training steps of the sequence models against plain PyTorch twins written here by hand.

Two models of issue 14, each timed against a hand-written implementation of the same step
that loads the same weights (the losses are checked equal first):

- ``sentence-vae``: the sentence VAE of Bowman et al. (2016) at its Penn Treebank sizes
  (embeddings 353, LSTMs 191, z 13, 10,000 words), batch 32 of random sentences of 10–40
  words (PTB's mean is 21), the ELBO with β = 1 and word dropout 0 (so the two losses can be
  compared), and the LSTM language model (``latent=0``). The reparam step is
  ``-SentenceVAE.bound(tokens, lengths).mean()``, its backward pass, clipping at 5 and Adam,
  as ``reparam train sentence-vae`` takes it; the twin packs the encoder's and the decoder's
  inputs (so neither runs the output layer on padding) and sums the cross-entropy.

- ``draw``: DRAW (Gregor et al. 2015) on 28 × 28 binary images, batch 100, with attention
  (read 2 × 2, write 5 × 5) and without, at T glimpses. The reparam step is
  ``-DRAW.bound(x).mean()``, its backward pass, gradient-norm clipping at 10 and an Adam step,
  as ``reparam train draw`` takes it. The twin writes the LSTM cells, the filterbanks
  (normalised by their sums) and the analytic KL out by hand.

A contender's time is the median of interleaved rounds (``timing.interleaved``); its memory
is what autograd saves for the backward pass (``timing.saved_bytes``, exact and
device-independent), and on CUDA also the peak allocated. The goal of the issue is reparam
within 1.1× of its twin in both; the ratios are reported, never asserted.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/sequence_models.py --threads 1
    python benchmarks/sequence_models.py --quick          # a smoke test
    python benchmarks/sequence_models.py --device cuda --out DIR

It writes ``DIR/sequence_models.json`` and ``.md`` (DIR: ``--out``, default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_info import machine
from timing import interleaved, listed, peak_cuda_bytes, positive, ratio, saved_bytes, timing
from torch import Tensor, nn

from reparam.models import DRAW, SentenceVAE

SIDE, BATCH, DRAW_CLIP = 28, 100, 10.0
HIDDEN, LATENT, READ, WRITE = 256, 100, 2, 5
VOCABULARY, EMBEDDING, LSTM_UNITS, Z = 10_000, 353, 191, 13
SENTENCES, SHORTEST, LONGEST, SENTENCE_CLIP = 32, 10, 40, 5.0

Loss = Callable[[Tensor], Tensor]


class PlainDRAW(nn.Module):
    """DRAW written out by hand, with the attribute names of ``reparam.models.DRAW`` so that
    it loads the same ``state_dict``."""

    def __init__(self, glimpses: int, attention: bool) -> None:
        super().__init__()
        self.glimpses, self.attention = glimpses, attention
        reads = 2 * READ**2 if attention else 2 * SIDE * SIDE
        self.encoder = nn.LSTMCell(reads + HIDDEN, HIDDEN)
        self.decoder = nn.LSTMCell(LATENT, HIDDEN)
        self.posterior_head = nn.Linear(HIDDEN, 2 * LATENT)
        if attention:
            self.read_head = nn.Linear(HIDDEN, 5)
            self.write_head = nn.Linear(HIDDEN, 5)
            self.patch_head = nn.Linear(HIDDEN, WRITE**2)
        else:
            self.canvas_head = nn.Linear(HIDDEN, SIDE * SIDE)
        self.register_buffer("prior_loc", torch.zeros(LATENT))

    def filterbanks(self, h: Tensor, head: nn.Linear, n: int) -> tuple[Tensor, Tensor, Tensor]:
        gx, gy, log_var, log_delta, log_gamma = head(h).unbind(-1)
        gx, gy = (SIDE + 1) / 2 * (gx + 1), (SIDE + 1) / 2 * (gy + 1)
        delta = (SIDE - 1) / (n - 1) * log_delta.exp()
        grid = torch.arange(1, n + 1, device=h.device) - n / 2 - 0.5
        pixels = torch.arange(1, SIDE + 1, device=h.device)
        banks = []
        for g in (gx, gy):
            mu = g[:, None] + grid * delta[:, None]
            f = torch.exp(-((pixels - mu[..., None]) ** 2) / (2 * log_var.exp()[:, None, None]))
            banks.append(f / f.sum(-1, keepdim=True).clamp(min=1e-8))
        return banks[0], banks[1], log_gamma.exp()

    def forward(self, x: Tensor) -> Tensor:
        """-mean ELBO of one path a row."""
        n = x.shape[0]
        zeros = x.new_zeros(n, HIDDEN)
        enc, dec, canvas, kl = (zeros, zeros), (zeros, zeros), torch.zeros_like(x), 0.0
        for _ in range(self.glimpses):
            x_hat = x - torch.sigmoid(canvas)
            if self.attention:
                fx, fy, gamma = self.filterbanks(dec[0], self.read_head, READ)
                images = torch.stack([x, x_hat], 1).view(n, 2, SIDE, SIDE)
                r = gamma[:, None, None, None] * (fy[:, None] @ images @ fx[:, None].mT)
                r = r.flatten(1)
            else:
                r = torch.cat([x, x_hat], -1)
            enc = self.encoder(torch.cat([r, dec[0]], -1), enc)
            mu, log_sigma = self.posterior_head(enc[0]).chunk(2, -1)
            z = mu + log_sigma.exp() * torch.randn_like(mu)
            kl = kl + 0.5 * (mu**2 + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(-1)
            dec = self.decoder(z, dec)
            if self.attention:
                fx, fy, gamma = self.filterbanks(dec[0], self.write_head, WRITE)
                patch = self.patch_head(dec[0]).view(n, WRITE, WRITE)
                canvas = canvas + ((fy.mT @ patch @ fx) / gamma[:, None, None]).flatten(1)
            else:
                canvas = canvas + self.canvas_head(dec[0])
        nll = F.binary_cross_entropy_with_logits(canvas, x, reduction="none").sum(-1)
        return (nll + kl).mean()


class PlainSentenceVAE(nn.Module):
    """The sentence VAE (or, with ``latent=0``, the LSTM language model) written out by hand,
    with the attribute names of ``reparam.models.SentenceVAE``."""

    def __init__(self, latent: int) -> None:
        super().__init__()
        self.latent = latent
        self.embedding = nn.Embedding(VOCABULARY, EMBEDDING, padding_idx=0)
        if latent:
            self.encoder = nn.LSTM(EMBEDDING, LSTM_UNITS, batch_first=True)
            self.posterior_head = nn.Linear(LSTM_UNITS, 2 * latent)
            self.initial_head = nn.Linear(latent, 2 * LSTM_UNITS)
        self.decoder = nn.LSTM(EMBEDDING, LSTM_UNITS, batch_first=True)
        self.output = nn.Linear(LSTM_UNITS, VOCABULARY)
        self.register_buffer("prior_loc", torch.zeros(latent))

    def forward(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """-mean ELBO (the language model: -mean log p(x))."""
        tokens, lengths = batch
        n = tokens.shape[0]
        state, kl = None, 0.0
        if self.latent:
            packed = nn.utils.rnn.pack_padded_sequence(
                self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
            )
            mu, log_var = self.posterior_head(self.encoder(packed)[1][0][-1]).chunk(2, -1)
            z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
            kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1)
            h, c = self.initial_head(z).chunk(2, -1)
            state = (h[None].contiguous(), c[None].contiguous())
        inputs = torch.cat([tokens.new_full((n, 1), 1), tokens], 1)  # <bos> = 1
        targets = torch.cat([tokens, tokens.new_zeros(n, 1)], 1)
        targets[torch.arange(n), lengths] = 2  # <eos>
        pack = partial(nn.utils.rnn.pack_padded_sequence, lengths=lengths + 1, batch_first=True,
                       enforce_sorted=False)  # fmt: skip
        hidden = self.decoder(pack(self.embedding(inputs)), state)[0].data
        nll = F.cross_entropy(self.output(hidden), pack(targets).data, reduction="sum")
        return (nll + kl.sum()) / n if self.latent else nll / n


def random_sentences(device: torch.device) -> tuple[Tensor, Tensor]:
    """``SENTENCES`` sentences of uniformly random words (ids 4 …) and lengths, right-padded."""
    lengths = torch.randint(SHORTEST, LONGEST + 1, (SENTENCES,))
    tokens = torch.randint(4, VOCABULARY, (SENTENCES, LONGEST))
    tokens = tokens.masked_fill(torch.arange(LONGEST) >= lengths[:, None], 0)
    return tokens[:, : int(lengths.max())].to(device), lengths


def adam_step(model: nn.Module, loss: Loss, x: object, clip: float) -> Callable[[], None]:
    """A closure: the loss of ``x``, its backward pass, clipping and one Adam step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss(x).backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def same_value(a: Loss, b: Loss, x: object, seed: int = 0) -> float:
    """The relative difference of two losses on ``x`` from the same noise."""
    values = []
    for loss in (a, b):
        torch.manual_seed(seed)
        with torch.no_grad():
            values.append(float(loss(x)))
    return abs(values[0] - values[1]) / abs(values[1])


def measure(
    name: str,
    pair: tuple[nn.Module, nn.Module],
    losses: tuple[Loss, Loss],
    x: object,
    clip: float,
    args: argparse.Namespace,
) -> dict[str, object]:
    """Time and memory of reparam's step and its twin's on the batch ``x``."""
    device = next(pair[0].parameters()).device
    difference = same_value(*losses, x)
    steps = {
        label: (adam_step(model, loss, x, clip), device)
        for label, model, loss in zip(("reparam", "plain"), pair, losses, strict=True)
    }
    rounds = interleaved(steps, args.repeats, warmup=1)
    record: dict[str, object] = {"model": name, "relative_loss_difference": difference}
    for label, loss in zip(("reparam", "plain"), losses, strict=True):
        record[label] = {
            **timing(rounds[label], device),
            "saved_mib": saved_bytes(lambda loss=loss: loss(x)) / 2**20,
            "peak_cuda_mib": (peak or 0) / 2**20
            if (peak := peak_cuda_bytes(steps[label][0], device))
            else None,
        }
    record["time_ratio"] = ratio(record["reparam"], record["plain"])  # type: ignore[arg-type]
    record["memory_ratio"] = record["reparam"]["saved_mib"] / record["plain"]["saved_mib"]  # type: ignore[index]
    return record


def sentence_records(args: argparse.Namespace, device: torch.device) -> list[dict[str, object]]:
    torch.manual_seed(0)
    batch = random_sentences(device)
    records = []
    for latent in (Z, 0):
        model = SentenceVAE(VOCABULARY, embedding=EMBEDDING, hidden=LSTM_UNITS, latent=latent)
        model = model.to(device)
        twin = PlainSentenceVAE(latent).to(device)
        twin.load_state_dict(model.state_dict())
        name = "sentence VAE" if latent else "LSTM language model"
        losses = (lambda b, m=model: -m.bound(*b).mean(), twin)
        records.append(measure(name, (model, twin), losses, batch, SENTENCE_CLIP, args))
        print(summary(records[-1]), flush=True)
    return records


def draw_records(
    glimpses: list[int], args: argparse.Namespace, device: torch.device
) -> list[dict[str, object]]:
    torch.manual_seed(0)
    x = torch.rand(BATCH, SIDE * SIDE, device=device).bernoulli()
    records = []
    for attention in (True, False):
        for t in glimpses:
            model = DRAW(SIDE, glimpses=t, hidden=HIDDEN, latent=LATENT, attention=attention,
                         read_size=READ, write_size=WRITE).to(device)  # fmt: skip
            twin = PlainDRAW(t, attention).to(device)
            twin.load_state_dict(model.state_dict())
            name = f"draw, {'attention' if attention else 'no attention'}, T={t}"
            losses = (lambda x, m=model: -m.bound(x).mean(), twin)
            records.append(measure(name, (model, twin), losses, x, DRAW_CLIP, args))
            print(summary(records[-1]), flush=True)
    return records


def summary(r: dict) -> str:
    return (
        f"{r['model']:32s} reparam {r['reparam']['median_s'] * 1e3:8.1f} ms  plain "
        f"{r['plain']['median_s'] * 1e3:8.1f} ms  time {r['time_ratio']:.3f}x  saved memory "
        f"{r['reparam']['saved_mib']:.1f} / {r['plain']['saved_mib']:.1f} MiB "
        f"({r['memory_ratio']:.3f}x)  loss difference {r['relative_loss_difference']:.1e}"
    )


def markdown(records: list[dict], about: dict) -> str:
    lines = [
        "**Sequence models: one training step, reparam against a hand-written PyTorch twin "
        "(median of interleaved rounds; memory: what autograd saves for the backward pass)**",
        "",
        f"Machine: {json.dumps(about)}",
        "",
        "| model | reparam, ms | plain, ms | time ratio | reparam saved, MiB | plain saved, "
        "MiB | memory ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['model']} | {r['reparam']['median_s'] * 1e3:.1f} | "
            f"{r['plain']['median_s'] * 1e3:.1f} | {r['time_ratio']:.3f}× | "
            f"{r['reparam']['saved_mib']:.1f} | {r['plain']['saved_mib']:.1f} | "
            f"{r['memory_ratio']:.3f}× |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--glimpses", type=listed(positive), default=[16, 64])
    parser.add_argument("--repeats", type=positive, default=7)
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="T = 4, 2 rounds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.glimpses, args.repeats = [4], 2
    device = torch.device(args.device)
    records = sentence_records(args, device) + draw_records(args.glimpses, args, device)
    about = machine(device)
    text = markdown(records, about)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sequence_models.json").write_text(
        json.dumps({"machine": about, "records": records}, indent=1)
    )
    (args.out / "sequence_models.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
