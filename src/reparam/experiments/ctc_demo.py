r"""``reparam fit ctc-demo``: a tiny per-frame classifier trained with the CTC loss on a toy
aligned task, as a trainer of the run engine.

A sequence is 2–5 labels from :math:`1 \dots L`; each label lasts 1–3 frames, blank gaps of
0–2 frames lie between (at least one between equal neighbours) and at both ends; a frame is
the one-hot code of its class (blank = 0) plus :math:`\mathcal N(0, \text{noise}^2)` noise
(:func:`toy_ctc_batch`). The network (a 3-frame convolution, tanh, a 1×1 convolution,
log-softmax: :class:`FrameClassifier`) is trained by Adam on

.. math:: -\log p(l \mid x) = -\log \sum_{\pi \in \mathcal B^{-1}(l)} \prod_t y_t(\pi_t),

the CTC loss of Graves et al. (2006, eq. 14) computed by
:func:`reparam.latent.ctc.ctc_loss` (the α recursion, its gradient from the β pass),
averaged over the batch per target label. A period is ``eval_every`` steps; after each one the
``valid_size`` held-out sequences are decoded greedily (best path) and scored by the label
error rate (total edit distance / total target length): ``valid_neg_ler`` = −LER is the
monitor that picks ``best.pt``. The run's picture, ``ctc-alignment.png``, is the occupation
probabilities :math:`γ_t(s)` of the longest held-out sequence (:func:`plot_ctc_alignment`).

All randomness is torch's: the initial weights come from the global generator seeded with
``seed``, the sequences from a generator of their own (seeded with ``seed`` too) whose state is
in the checkpoint, so ``--resume`` continues bit for bit.

Reference:
    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist temporal classification:
    labelling unsegmented sequence data with recurrent neural networks, ICML.

Example:
    Twenty steps in two periods, then the run read back:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> from reparam.runs import load_run
    >>> out = tempfile.mkdtemp() + "/ctc"
    >>> config = CTCDemoConfig(steps=20, eval_every=10, valid_size=20)
    >>> result = run(CTCDemoTrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [row["step"] for row in result.history]
    [10, 20]
    >>> type(load_run(out).model).__name__
    'FrameClassifier'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reparam.latent.ctc import ctc_loss, greedy_decode
from reparam.latent.edit_distance import edit_distance
from reparam.train import RunConfig, Trainer
from reparam.train.config import non_negative, positive, whole_periods
from reparam.train.distributed import Ranks


def toy_ctc_batch(
    n: int, labels: int, generator: torch.Generator, noise: float = 0.7
) -> tuple[Tensor, list[list[int]], Tensor]:
    """``n`` toy sequences (see the module docstring) drawn with ``generator``: the padded
    frames ``[T, n, labels + 1]``, the targets and the frame counts.

    >>> x, targets, lengths = toy_ctc_batch(3, 4, torch.Generator().manual_seed(0))
    >>> x.shape[1:], len(targets), bool(lengths.max() == x.shape[0])
    (torch.Size([3, 5]), 3, True)
    """
    C = labels + 1
    seqs, targets = [], []
    for _ in range(n):
        length = int(torch.randint(2, 6, (1,), generator=generator))
        target = (torch.randint(1, C, (length,), generator=generator)).tolist()
        frames: list[int] = [0] * int(torch.randint(0, 3, (1,), generator=generator))
        for i, k in enumerate(target):
            if i > 0:
                gap = int(torch.randint(0, 3, (1,), generator=generator))
                frames += [0] * max(gap, 1 if target[i - 1] == k else 0)
            frames += [k] * int(torch.randint(1, 4, (1,), generator=generator))
        frames += [0] * int(torch.randint(0, 3, (1,), generator=generator))
        seqs.append(frames)
        targets.append(target)
    lengths = torch.tensor([len(s) for s in seqs])
    T = int(lengths.max())
    x = torch.zeros(T, n, C)
    for i, frames in enumerate(seqs):
        x[torch.arange(len(frames)), i, torch.tensor(frames)] = 1.0
    x = x + noise * torch.randn(x.shape, generator=generator)
    return x, targets, lengths


def padded_targets(targets: list[list[int]]) -> Tensor:
    """The targets as a zero-padded ``[N, S]`` tensor."""
    out = torch.zeros(len(targets), max(1, max(map(len, targets))), dtype=torch.long)
    for i, t in enumerate(targets):
        out[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    return out


def label_error_rate(decoded: list[list[int]], targets: list[list[int]]) -> float:
    """Total edit distance over total target length.

    >>> label_error_rate([[1, 2, 3], [1]], [[1, 2, 3], [2, 2]])
    0.4
    """
    errors = sum(edit_distance(d, t).distance for d, t in zip(decoded, targets, strict=True))
    return errors / max(1, sum(len(t) for t in targets))


class FrameClassifier(nn.Module):
    """Frames ``[T, N, C]`` → log-probabilities ``[T, N, C]`` of the C classes (blank = 0): a
    3-frame convolution to ``hidden`` channels, tanh, a 1×1 convolution, log-softmax."""

    def __init__(self, classes: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(classes, hidden, 3, padding=1)
        self.out = nn.Conv1d(hidden, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.tanh(self.conv(x.permute(1, 2, 0)))
        return self.out(h).permute(2, 0, 1).log_softmax(-1)


@dataclass(frozen=True)
class CTCDemoConfig(RunConfig):
    """The toy CTC run: ``steps`` Adam steps in periods of ``eval_every``, on batches of
    ``batch_size`` sequences of ``labels`` classes (+ blank) with frame noise ``noise``;
    ``valid_size`` held-out sequences scored after each period."""

    ENDS = ("steps",)

    steps: int = 400
    eval_every: int = 50
    labels: int = 4
    batch_size: int = 32
    hidden: int = 32
    noise: float = 0.3
    lr: float = 0.01
    valid_size: int = 200
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "labels", "batch_size", "hidden", "valid_size"):
            positive(f"--{name.replace('_', '-')}", getattr(self, name), integer=True)
        positive("--lr", self.lr)
        non_negative("--noise", self.noise)
        whole_periods(self.steps, self.eval_every)


class CTCDemoTrainer(Trainer):
    """The toy CTC task on the run engine (see the module docstring)."""

    name = "ctc-demo"
    command = "fit ctc-demo"
    Config = CTCDemoConfig
    unit = "period"
    monitor = "valid_neg_ler"
    outputs = ("ctc-alignment.png",)

    def __init__(self, config: CTCDemoConfig, ranks: Ranks) -> None:
        self.config, self.device = config, ranks.device
        torch.manual_seed(config.seed)
        self.model = self.build_model(config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.generator = torch.Generator().manual_seed(config.seed)
        x, self.valid_targets, self.valid_lengths = toy_ctc_batch(
            config.valid_size, config.labels, self.generator, config.noise
        )
        self.valid_x = x.to(self.device)
        self.loss_sum, self.loss_count = 0.0, 0

    @classmethod
    def build_model(cls, config: CTCDemoConfig) -> nn.Module:
        return FrameClassifier(config.labels + 1, config.hidden)

    @classmethod
    def exportable(
        cls, model: nn.Module, config: CTCDemoConfig
    ) -> tuple[nn.Module, tuple[Tensor, ...]]:
        """The frame classifier, on one sequence of 20 frames ``[20, 1, labels + 1]``."""
        return model, (torch.zeros(20, 1, config.labels + 1),)

    @property
    def periods(self) -> int:
        return self.config.steps // self.config.eval_every

    def steps_in(self, period: int) -> int:
        return self.config.eval_every

    def start_period(self, period: int) -> None:
        self.loss_sum, self.loss_count = 0.0, 0

    def train_step(self, period: int, index: int) -> None:
        c = self.config
        x, targets, lengths = toy_ctc_batch(c.batch_size, c.labels, self.generator, c.noise)
        log_probs = self.model(x.to(self.device))
        loss = ctc_loss(
            log_probs, padded_targets(targets).to(self.device), lengths, list(map(len, targets))
        )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.loss_sum += float(loss.detach())
        self.loss_count += 1

    @torch.no_grad()
    def end_period(self, period: int) -> dict[str, Any]:
        log_probs = self.model(self.valid_x)
        targets = self.valid_targets
        valid_loss = ctc_loss(
            log_probs,
            padded_targets(targets).to(self.device),
            self.valid_lengths,
            list(map(len, targets)),
        )
        decoded = greedy_decode(log_probs.cpu(), self.valid_lengths)
        ler = label_error_rate(decoded, targets)
        exact = sum(d == t for d, t in zip(decoded, targets, strict=True)) / len(targets)
        return {
            "train_loss": self.loss_sum / max(1, self.loss_count),
            "valid_loss": float(valid_loss),
            "valid_ler": ler,
            "valid_exact": exact,
            "valid_neg_ler": -ler,
        }

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"loss {row['train_loss']:.3f}  valid loss {row['valid_loss']:.3f}  "
            f"LER {100 * row['valid_ler']:.1f} %"
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.loss_sum, self.loss_count = state["loss_sum"], state["loss_count"]

    @torch.no_grad()
    def example(self) -> tuple[Tensor, list[int], list[int]]:
        """The longest held-out sequence: its log-probabilities ``[T, C]``, its target and
        its greedy decoding."""
        longest = int(torch.argmax(self.valid_lengths))
        n = int(self.valid_lengths[longest])
        log_probs = self.model(self.valid_x[:n, longest : longest + 1]).cpu()
        return log_probs[:, 0], self.valid_targets[longest], greedy_decode(log_probs, [n])[0]

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        from reparam.plots.latent import plot_ctc_alignment

        log_probs, target, _ = self.example()
        plot_ctc_alignment(log_probs, target, folder / "ctc-alignment.png")
