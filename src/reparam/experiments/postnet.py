r"""The GAN postnet on the run engine: ``reparam train postnet``.

A U-Net (:class:`~reparam.models.unet.UNet`) maps an over-smoothed log-mel spectrogram, as
an image of 80 bands by T frames, to its target, trained with L1 alone, with L1 and pix2pix's
conditional patch GAN, or with L1 and a WGAN-GP critic. The inputs are a deliberately
degraded copy of the ground truth (:func:`degrade`) or a ``reparam train tts`` run's
teacher-forced predictions (``--source``; :mod:`~reparam.experiments.postnet_config` gives
the equations of the degradation and of the three losses).

**The data.** The corpus of ``recipe``'s clean utterances (:func:`reparam.experiments.tts.
split_data`), 80-band natural-log mel frames. Inputs and targets are normalised per band with
the training targets' mean and standard deviation, which :class:`Postnet` keeps in its
buffers: ``Postnet(log_mel)`` maps log-mel to log-mel. A step draws ``batch_size`` utterances
and a random crop of ``crop`` frames (the shortest drawn utterance's length if less) of each,
the same frames of input and target, from a generator seeded with ``seed``.

**A step**, with :math:`x` the input, :math:`y` the target and :math:`\hat y = G(x)`:

- ``gan``: the discriminator :math:`D` (pix2pix's 70 × 70 PatchGAN, batch norm, logits per
  patch) takes one Adam step on
  :math:`\tfrac12\,[\mathrm{BCE}(D(x, y), 1) + \mathrm{BCE}(D(x, \hat y), 0)]`, the halved
  objective of pix2pix; then the generator one on
  :math:`\|y - \hat y\|_1 + w\,\mathrm{BCE}(D(x, \hat y), 1)` (the non-saturating loss
  :math:`-\log D`, Goodfellow et al.'s, as pix2pix trains it), each BCE the mean over patches;
- ``wgan-gp``: ``critic_steps`` critic steps, each on fresh crops, on
  :math:`\mathbb E f(x, \hat y) - \mathbb E f(x, y) + \lambda\,\mathbb E(\|\nabla f(x,
  \tilde y)\|_2 - 1)^2` (:func:`~reparam.transport.wgan.critic_loss`,
  :func:`~reparam.transport.wgan.gradient_penalty`; :math:`f` the mean of the patch scores of
  a :class:`~reparam.models.unet.PatchDiscriminator` without batch norm; the interpolates
  :math:`\tilde y` between the pairs, the condition being the same in both), then the
  generator's step on :math:`\|y - \hat y\|_1 - w\,\mathbb E f(x, \hat y)`
  (:func:`~reparam.transport.wgan.generator_loss`);
- ``l1``: the generator's step on the L1 alone.

Both optimisers (Adam), the generator of crops, the critic's weights and the period's sums
are in the checkpoint, so a resumed run equals a straight one. After each period, the
validation utterances go through the postnet whole (eval mode: batch norm's running
statistics, no dropout), and their L1 in log-mel units is ``valid_l1`` (its negative picks
``best.pt``); ``valid_input_l1`` is the inputs' own.

**The evaluation** (``evaluation.json``, ``evaluation.md``), from the best weights on the
test utterances, for the inputs ("no postnet") and the outputs, against the targets, all in
natural-log mel (:func:`measures`):

- the mel L1, :math:`\frac1{BT}\sum_{b,t}|\hat y_{b,t} - y_{b,t}|` over every bin;
- the MCD (:func:`~reparam.speech.distortion.mel_cepstral_distortion`, frame against frame,
  no DTW: the frames correspond);
- the global variance: per band, :math:`\ell_b = \ln(\mathrm{GV}_b(\hat y)/\mathrm{GV}_b(y))`
  with :math:`\mathrm{GV}_b` the band's variance over the utterance's frames; ``gv_ratio`` is
  :math:`\exp(\bar\ell)` (the geometric mean over bands and utterances: below 1 is
  over-smoothed, 1 the target's), ``gv_abs_log`` the mean :math:`|\ell_b|`;
- the spurious energy, an artifact measure: over the bins where the target is quiet (at or
  below its utterance's 20th percentile: silences and empty bands), the mean excess
  :math:`\max(0, \hat y - y)` in log-mel units. A blur smears energy into them; a GAN that
  paints texture where there is none puts it there too;
- the roughness ratio, another: :math:`R(\hat y)/R(y)` with :math:`R(z)` the mean magnitude
  of the five-point Laplacian of :math:`z` over the interior bins, the spectrogram's
  fine-scale contrast. Below 1 is smoother than the target; above 1 is more texture than
  the target has (speckle, checkerboards);
- the detail error, a third: :math:`R(\hat y - y)/R(y)`, the fine-scale error over the
  target's fine-scale contrast. An output with no fine detail at all scores 1 (its error's
  Laplacian is the target's); below 1, the postnet restored some of the target's detail;
  above 1, the detail it added is in the wrong places: spurious texture, worse than none.

``triplet.png`` shows the first test utterance's input, output and target, and ``sample.wav``
is its output through Griffin-Lim.

References:
    Isola, Zhu, Zhou & Efros (2017), Image-to-image translation with conditional adversarial
    networks, CVPR.
    Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville (2017), Improved training of Wasserstein
    GANs, NeurIPS.
    Toda & Tokuda (2007), A speech parameter generation algorithm considering global variance
    for HMM-based speech synthesis, IEICE Trans. Inf. & Syst. E90-D(5).

Example:
    Twenty L1 steps on the small corpus, degraded:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/postnet"
    >>> config = PostnetConfig(recipe="tts-small", channels=8, depth=3, crop=32, steps=20,
    ...                        eval_every=10, device="cpu")
    >>> result = run(PostnetTrainer, config, RunOptions(out, progress=False, tensorboard=False))  # doctest: +SKIP
    >>> result.best["valid_l1"] < result.best["valid_input_l1"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP, N_FFT
from reparam.data.speech.wav import write_wav
from reparam.experiments.postnet_config import BETAS, DEGRADED, PostnetConfig
from reparam.experiments.stepped import SteppedTrainer
from reparam.experiments.tts import BANDS, Batch, split_data
from reparam.models.unet import PatchDiscriminator, UNet
from reparam.speech.distortion import global_variance, mel_cepstral_distortion
from reparam.speech.features import mel_filterbank
from reparam.speech.griffin_lim import griffin_lim, mel_to_magnitude
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import Ranks
from reparam.transport.wgan import critic_loss, generator_loss, gradient_penalty

SPLITS = ("train", "valid", "test")
WGAN_BETAS = (0.5, 0.9)  # Gulrajani et al. (2017), Algorithm 1
QUIET = 0.2  # the quantile of a target's bins below which they count as quiet


def gaussian_blur(x: Tensor, sigma: float, dim: int) -> Tensor:
    """``x`` convolved along ``dim`` with a normalised Gaussian of standard deviation
    ``sigma`` (samples; cut at 3σ), the edges replicated; ``sigma = 0`` returns ``x``."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).reshape(1, 1, -1)
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, 1, moved.shape[-1])
    blurred = F.conv1d(F.pad(flat, (radius, radius), mode="replicate"), kernel)
    return blurred.reshape(moved.shape).movedim(-1, dim)


def degrade(log_mel: Tensor, blur_time: float, blur_bands: float, shrink: float) -> Tensor:
    r"""The over-smoothed copy :math:`D(x)` of a log-mel spectrogram ``[bands, frames]``:
    blurred along time (σ ``blur_time`` frames) and frequency (σ ``blur_bands`` bands), then
    each band shrunk toward its mean over the frames by ``shrink``
    (:mod:`~reparam.experiments.postnet_config` has the equation). Deterministic.

    >>> x = torch.randn(80, 200)
    >>> bool((global_variance(degrade(x, 2.0, 1.5, 0.7)) < global_variance(x)).all())
    True
    """
    blurred = gaussian_blur(gaussian_blur(log_mel, blur_time, -1), blur_bands, -2)
    mean = log_mel.mean(-1, keepdim=True)
    return mean + shrink * (blurred - mean)


class Postnet(nn.Module):
    """The U-Net on log-mel spectrograms ``[B, bands, frames]`` (or ``[bands, frames]``),
    normalised per band with the buffers ``mean`` and ``std`` on the way in and back on the
    way out: log-mel to log-mel. ``net`` works on the normalised images ``[B, 1, bands,
    frames]``."""

    def __init__(self, channels: int = 32, depth: int = 4, dropout: float = 0.5) -> None:
        super().__init__()
        self.net = UNet(1, channels, depth, dropout, residual=True)
        self.register_buffer("mean", torch.zeros(BANDS))
        self.register_buffer("std", torch.ones(BANDS))

    def normalise(self, log_mel: Tensor) -> Tensor:
        return (log_mel - self.mean[:, None]) / self.std[:, None]

    def denormalise(self, normalised: Tensor) -> Tensor:
        return normalised * self.std[:, None] + self.mean[:, None]

    def forward(self, log_mel: Tensor) -> Tensor:
        single = log_mel.dim() == 2
        x = self.normalise(log_mel[None] if single else log_mel)[:, None]
        out = self.denormalise(self.net(x)[:, 0])
        return out[0] if single else out


class PairCritic(nn.Module):
    """A WGAN critic on (condition, spectrogram) pairs stacked as two channels ``[B, 2, H,
    W]``: the mean of a batch-norm-free patch discriminator's patch scores, one value an
    example, the form :mod:`reparam.transport.wgan` takes."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.patches = PatchDiscriminator(1, channels, norm=False)

    def forward(self, pair: Tensor) -> Tensor:
        return self.patches(pair[:, :1], pair[:, 1:]).flatten(1).mean(1)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``module``'s parameters without gradients for the block (the generator's step does not
    need the discriminator's)."""
    parameters = [p for p in module.parameters() if p.requires_grad]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in parameters:
            p.requires_grad_(True)


class PostnetTrainer(SteppedTrainer):
    """The postnet on the run engine (see the module docstring)."""

    name, command, Config = "postnet", "train postnet", PostnetConfig
    monitor = "valid_neg_l1"
    outputs = ("evaluation.json", "evaluation.md", "triplet.png", "sample.wav")

    def __init__(self, config: PostnetConfig, ranks: Ranks) -> None:
        if ranks.world > 1:
            raise ValueError("reparam train postnet runs in one process: start it without torchrun")
        self.config, self.ranks = config, ranks
        self.corpus = speech_corpus.load(config.recipe)
        self.inputs, self.targets = paired_data(self.corpus, config, ranks.device)
        torch.manual_seed(config.seed)
        self.model = self.build_model(config).to(ranks.device)
        every = torch.cat(self.targets["train"], dim=1)
        self.model.mean.copy_(every.mean(1).to(ranks.device))
        self.model.std.copy_(every.std(1).clamp_min(1e-3).to(ranks.device))
        with torch.no_grad():  # the training pairs once, in the model's scale
            self.train_pairs = [
                (self.model.normalise(x.to(ranks.device)).cpu(),
                 self.model.normalise(y.to(ranks.device)).cpu())
                for x, y in zip(self.inputs["train"], self.targets["train"], strict=True)
            ]  # fmt: skip
        self.valid_input_l1 = measures(self.inputs["valid"], self.targets["valid"])["l1"]
        self.critic: nn.Module | None = None
        if config.loss == "gan":
            self.critic = PatchDiscriminator(1, config.critic_channels).to(ranks.device)
        elif config.loss == "wgan-gp":
            self.critic = PairCritic(config.critic_channels).to(ranks.device)
        self.start_optimiser()
        self.sums = [0.0] * 5

    def start_optimiser(self) -> None:
        """Adam at a constant rate for the generator and the discriminator, and the seeded
        generator of crops."""
        config = self.config
        betas = WGAN_BETAS if config.loss == "wgan-gp" else BETAS
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=betas)
        self.critic_optimizer = (
            torch.optim.Adam(self.critic.parameters(), lr=config.lr, betas=betas)
            if self.critic is not None
            else None
        )
        self.generator = torch.Generator().manual_seed(config.seed)

    def crops(self) -> tuple[Tensor, Tensor]:
        """``batch_size`` random crops of (input, target) pairs, ``[B, 1, bands, L]`` each."""
        config, pairs = self.config, self.train_pairs
        chosen = torch.randint(len(pairs), (config.batch_size,), generator=self.generator)
        length = min(config.crop, *(pairs[i][0].shape[-1] for i in chosen.tolist()))
        xs, ys = [], []
        for i in chosen.tolist():
            x, y = pairs[i]
            start = int(torch.randint(x.shape[-1] - length + 1, (), generator=self.generator))
            xs.append(x[:, start : start + length])
            ys.append(y[:, start : start + length])
        device = self.ranks.device
        return torch.stack(xs)[:, None].to(device), torch.stack(ys)[:, None].to(device)

    def start_period(self, period: int) -> None:
        self.sums = [0.0] * 5
        self.model.train()
        if self.critic is not None:
            self.critic.train()

    def train_step(self, period: int, index: int) -> None:
        config, critic = self.config, self.critic
        critic_value, penalty = 0.0, 0.0
        if config.loss == "wgan-gp":
            assert critic is not None and self.critic_optimizer is not None
            for _ in range(config.critic_steps):
                x, y = self.crops()
                with torch.no_grad():
                    fake = self.model.net(x)
                real_pair, fake_pair = torch.cat([x, y], 1), torch.cat([x, fake], 1)
                t = torch.rand(x.shape[0], generator=self.generator).to(x.device)
                loss = critic_loss(critic, real_pair, fake_pair)
                gp = gradient_penalty(critic, real_pair, fake_pair, config.gp_weight, t=t)
                self.critic_optimizer.zero_grad(set_to_none=True)
                (loss + gp).backward()
                self.critic_optimizer.step()
                critic_value += -float(loss.detach()) / config.critic_steps  # the W1 estimate
                penalty += float(gp.detach()) / config.critic_steps
        x, y = self.crops()
        fake = self.model.net(x)
        l1 = (fake - y).abs().mean()
        adversarial = torch.zeros((), device=l1.device)
        if config.loss == "gan":
            assert critic is not None and self.critic_optimizer is not None
            real_logits, fake_logits = critic(x, y), critic(x, fake.detach())
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            )
            self.critic_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.critic_optimizer.step()
            critic_value = float(d_loss.detach())
            with frozen(critic):
                logits = critic(x, fake)
                adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        elif config.loss == "wgan-gp":
            assert critic is not None
            with frozen(critic):
                adversarial = generator_loss(critic, torch.cat([x, fake], 1))
        total = l1 + config.adversarial_weight * adversarial if critic is not None else l1
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        for k, value in enumerate((float(l1.detach()), float(adversarial.detach()), critic_value,
                                   penalty, 1.0)):  # fmt: skip
            self.sums[k] += value

    def end_period(self, period: int) -> dict[str, Any]:
        outputs = postnet_outputs(self.model, self.inputs["valid"], self.ranks.device)
        l1 = measures(outputs, self.targets["valid"])["l1"]
        n = max(1.0, self.sums[4])
        row: dict[str, Any] = {"train_l1": self.sums[0] / n}
        if self.config.loss == "gan":
            row |= {"train_adversarial": self.sums[1] / n, "discriminator_loss": self.sums[2] / n}
        elif self.config.loss == "wgan-gp":
            row |= {"train_adversarial": self.sums[1] / n, "critic_w1": self.sums[2] / n,
                    "critic_penalty": self.sums[3] / n}  # fmt: skip
        return {**row, "valid_l1": l1, "valid_input_l1": self.valid_input_l1, "valid_neg_l1": -l1}

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"train L1 {row['train_l1']:.3f}  valid L1 {row['valid_l1']:.3f} "
            f"(input {row['valid_input_l1']:.3f})"
        )

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "sums": list(self.sums),
        }
        if self.critic is not None and self.critic_optimizer is not None:
            state["critic"] = self.critic.state_dict()
            state["critic_optimizer"] = self.critic_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.sums = list(state["sums"])
        if self.critic is not None and self.critic_optimizer is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_optimizer.load_state_dict(state["critic_optimizer"])

    @classmethod
    def build_model(cls, config: PostnetConfig) -> Postnet:
        return Postnet(config.channels, config.depth, config.dropout)

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """evaluation.json, evaluation.md, triplet.png and sample.wav, from the best weights."""
        device = self.ranks.device
        model = self.build_model(self.config).to(device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", device)["model"])
        inputs, targets = self.inputs["test"], self.targets["test"]
        outputs = postnet_outputs(model, inputs, device)
        evaluation = {
            "input": measures(inputs, targets),
            "output": measures(outputs, targets),
            "loss": self.config.loss,
            "source": self.config.source,
            "utterances": len(targets),
            "frame_ms": 1000 * HOP / SAMPLE_RATE,
        }
        (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=1) + "\n")
        (folder / "evaluation.md").write_text(evaluation_table(evaluation))
        from reparam.plots.postnet import plot_triplet

        test = self.corpus.split("test")
        words = test.transcripts[test.select(speech_corpus.CLEAN)[0]]
        plot_triplet(inputs[0], outputs[0], targets[0], words, folder / "triplet.png",
                     names=(input_name(self.config), f"output ({LABELS[self.config.loss]})"))  # fmt: skip
        write_wav(folder / "sample.wav", to_waveform(outputs[0]), SAMPLE_RATE)


LABELS = {"l1": "L1", "gan": "L1 + GAN", "wgan-gp": "L1 + WGAN-GP"}


def input_name(config: PostnetConfig) -> str:
    return "input (degraded target)" if config.source == DEGRADED else "input (tts prediction)"


def paired_data(
    corpus: speech_corpus.SpeechCorpus, config: PostnetConfig, device: torch.device
) -> tuple[dict[str, list[Tensor]], dict[str, list[Tensor]]]:
    """The inputs and targets of every split, log-mel ``[bands, frames]`` on the CPU: the
    targets' degraded copies, or the tts run's teacher-forced predictions."""
    targets = {split: [f.T.contiguous() for f in split_data(corpus, split)[1]] for split in SPLITS}
    if config.source == DEGRADED:
        inputs = {
            split: [degrade(y, config.blur_time, config.blur_bands, config.shrink) for y in ys]
            for split, ys in targets.items()
        }
    else:
        inputs = tts_predictions(config.source, corpus, config.recipe, device)
    return inputs, targets


@torch.no_grad()
def tts_predictions(
    folder: str | Path, corpus: speech_corpus.SpeechCorpus, recipe: str, device: torch.device
) -> dict[str, list[Tensor]]:
    """The best weights of the tts run in ``folder``, teacher-forced on every clean utterance
    of ``corpus``: the frames after its postnet, in log-mel ``[bands, frames]``, each as long
    as its target. The prenet's dropout (on at inference, Tacotron 2's) draws from a generator
    seeded with 0, so the inputs are the same in every run."""
    from reparam.runs import load_run

    path = Path(folder).expanduser()
    if not (path / "config.json").is_file() or not (path / "best.pt").is_file():
        raise ValueError(
            f"--source {str(folder)!r} is neither {DEGRADED!r} nor a finished tts run folder "
            "(with config.json and best.pt)"
        )
    trained = load_run(path, device=str(device))
    if trained.trainer != "tts":
        raise ValueError(f"--source {str(folder)!r} holds a {trained.trainer} run, not a tts run")
    if trained.config.recipe != recipe:
        raise ValueError(
            f"--source {str(folder)!r} was trained on recipe {trained.config.recipe!r}; "
            f"give --recipe {trained.config.recipe}"
        )
    model, r = trained.model, trained.config.r
    predictions = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for split in SPLITS:
            texts, frames = split_data(corpus, split)
            order = sorted(range(len(frames)), key=lambda i: frames[i].shape[0])
            out: list[Tensor | None] = [None] * len(frames)
            for start in range(0, len(order), 16):
                chosen = order[start : start + 16]
                normalised = [model.normalise(frames[i].to(device)).cpu() for i in chosen]
                batch = Batch([texts[i] for i in chosen], normalised, r, device)
                after = model.denormalise(batch.forced(model).after)
                for row, i in enumerate(chosen):
                    out[i] = after[row, : frames[i].shape[0]].T.float().cpu().contiguous()
            predictions[split] = [o for o in out if o is not None]
    return predictions


@torch.no_grad()
def postnet_outputs(model: Postnet, inputs: list[Tensor], device: torch.device) -> list[Tensor]:
    """The postnet's log-mel output of each whole input ``[bands, frames]``, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = [model(x.to(device)).cpu() for x in inputs]
    model.train(was_training)
    return outputs


def laplacian(z: Tensor) -> Tensor:
    """The five-point Laplacian of ``[bands, frames]`` over its interior bins."""
    return z[2:, 1:-1] + z[:-2, 1:-1] + z[1:-1, 2:] + z[1:-1, :-2] - 4 * z[1:-1, 1:-1]


def measures(predicted: list[Tensor], targets: list[Tensor]) -> dict[str, float]:
    """The module docstring's measures of ``predicted`` against ``targets`` (log-mel
    ``[bands, frames]`` of equal shapes, pair by pair).

    >>> y = torch.randn(80, 50)
    >>> m = measures([y], [y])
    >>> m["l1"], m["mcd_db"], m["gv_ratio"], m["spurious"], m["roughness_ratio"], m["detail_error"]
    (0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    """
    sums = {"l1": 0.0, "bins": 0, "mcd_db": 0.0, "gv_log": 0.0, "gv_abs_log": 0.0,
            "spurious": 0.0, "roughness_ratio": 0.0, "detail_error": 0.0}  # fmt: skip
    for p, y in zip(predicted, targets, strict=True):
        if p.shape != y.shape:
            raise ValueError(f"a prediction {tuple(p.shape)} and its target {tuple(y.shape)}")
        p, y = p.double(), y.double()
        sums["l1"] += float((p - y).abs().sum())
        sums["bins"] += y.numel()
        sums["mcd_db"] += float(mel_cepstral_distortion(p, y, align=False))
        log_ratio = (global_variance(p).clamp_min(1e-8) / global_variance(y).clamp_min(1e-8)).log()
        sums["gv_log"] += float(log_ratio.mean())
        sums["gv_abs_log"] += float(log_ratio.abs().mean())
        quiet = y <= torch.quantile(y.flatten(), QUIET)
        sums["spurious"] += float((p - y).clamp_min(0)[quiet].mean())
        rough_y = laplacian(y).abs().mean().clamp_min(1e-12)
        sums["roughness_ratio"] += float(laplacian(p).abs().mean() / rough_y)
        sums["detail_error"] += float(laplacian(p - y).abs().mean() / rough_y)
    n = len(targets)
    return {
        "l1": sums["l1"] / sums["bins"],
        "mcd_db": sums["mcd_db"] / n,
        "gv_ratio": math.exp(sums["gv_log"] / n),
        "gv_abs_log": sums["gv_abs_log"] / n,
        "spurious": sums["spurious"] / n,
        "roughness_ratio": sums["roughness_ratio"] / n,
        "detail_error": sums["detail_error"] / n,
        "utterances": n,
    }


COLUMNS = (
    ("mel L1", "l1", "{:.3f}"),
    ("MCD (dB, frame to frame)", "mcd_db", "{:.2f}"),
    ("GV ratio", "gv_ratio", "{:.3f}"),
    ("mean abs log GV ratio", "gv_abs_log", "{:.3f}"),
    ("spurious energy", "spurious", "{:.3f}"),
    ("roughness ratio", "roughness_ratio", "{:.3f}"),
    ("detail error", "detail_error", "{:.3f}"),
)


def table_rows(rows: dict[str, dict[str, float]]) -> str:
    """Markdown rows, one a named set of :func:`measures`, under the columns' header."""
    lines = ["| | " + " | ".join(name for name, _, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]  # fmt: skip
    for name, values in rows.items():
        cells = [form.format(values[key]) for _, key, form in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluation_table(evaluation: dict[str, Any]) -> str:
    """``evaluation.json`` as Markdown."""
    rows = {"no postnet": evaluation["input"], LABELS[evaluation["loss"]]: evaluation["output"]}
    return (
        f"Test utterances: {evaluation['utterances']}; input: {evaluation['source']}.\n\n"
        + table_rows(rows)
    )


def to_waveform(log_mel: Tensor) -> Tensor:
    """A log-mel spectrogram ``[bands, frames]`` as a waveform: Griffin-Lim, 60 iterations,
    peak 0.95 (as :func:`reparam.experiments.tts.synthesize`)."""
    filters = mel_filterbank(SAMPLE_RATE, N_FFT, BANDS, dtype=torch.float64)
    magnitude = mel_to_magnitude(log_mel.double().exp(), filters)
    magnitude = F.pad(magnitude, (0, max(0, 4 - magnitude.shape[-1])))
    waveform = griffin_lim(magnitude, N_FFT, HOP, 60, pad_mode="constant")
    return 0.95 * waveform / waveform.abs().max().clamp_min(1e-9)
