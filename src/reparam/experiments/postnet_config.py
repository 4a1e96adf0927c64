r"""The settings of a GAN-postnet run (``reparam train postnet``), saved as ``config.json``.

**The inputs.** ``source`` says what the postnet sharpens: ``degraded``, a deliberately
over-smoothed copy of the ground truth (:func:`reparam.experiments.postnet.degrade`), or the
folder of a finished ``reparam train tts`` run, whose best weights' teacher-forced predictions
(after the Tacotron's own postnet, in log-mel) are the inputs. The degradation of a log-mel
spectrogram :math:`x_{b,t}` (band b, frame t) is

.. math:: D(x)_{b,t} = \mu_b + \alpha\,\big((g_{\sigma_f} \ast_b g_{\sigma_t} \ast_t x)_{b,t}
          - \mu_b\big), \qquad \mu_b = \frac1T \sum_t x_{b,t},

a Gaussian blur of standard deviation :math:`\sigma_t` = ``blur_time`` frames along time and
:math:`\sigma_f` = ``blur_bands`` bands along frequency (edges replicated), then each band
shrunk toward its mean over the utterance by :math:`\alpha` = ``shrink``. Both lower every
band's variance over time (the global variance): a blur is a low-pass filter, and the shrink
multiplies the variance by :math:`\alpha^2`. That is what a TTS model's L1 or L2 regression
does to its output (it predicts the conditional mean). The degradation is deterministic: no
noise, the same copy in every run.

**The networks.** The U-Net generator (:class:`~reparam.models.unet.UNet`, residual: it
predicts a correction added to its input) has ``channels`` at its first level and ``depth``
levels, with pix2pix's dropout ``dropout`` in its deepest half; the discriminator
(:class:`~reparam.models.unet.PatchDiscriminator`) has ``critic_channels``.

**The loss** (``loss``), with the generator :math:`G`, the input :math:`x`, the target
:math:`y`, both normalised per band:

- ``l1``: :math:`\mathbb E\,\|y - G(x)\|_1` alone (the mean over bins);
- ``gan``: pix2pix's conditional GAN (Isola et al. 2017, eq. 4),
  :math:`\mathbb E\,\|y - G(x)\|_1 + w\,\mathcal L_\text{cGAN}`, the patch discriminator's
  binary cross-entropy on (input, target) and (input, output) pairs;
- ``wgan-gp``: the same with the WGAN-GP critic of :mod:`reparam.transport.wgan` (Gulrajani
  et al. 2017): ``critic_steps`` critic steps a generator step, penalty weight ``gp_weight``.

``adversarial_weight`` is :math:`w`, with the L1's weight 1. pix2pix minimises
:math:`\mathcal L_\text{cGAN} + \lambda\,\mathcal L_{L1}` with :math:`\lambda = 100`, the same
balance as L1 plus :math:`w = 1/\lambda = 0.01` times the adversarial loss, the default here.
The scales agree too: pix2pix's pixels lie in [-1, 1], and the normalised log-mel bins here
have standard deviation 1 per band. For the WGAN critic, with the gradient penalty, the
gradient norm of its score w.r.t. a spectrogram is held near 1, while that of the mean L1
over :math:`N = 80 \times \text{crop}` bins is :math:`1/\sqrt N \approx 0.01`: with
:math:`w = 0.01` the two pulls are about the same size.

**Training.** Each step is ``batch_size`` random crops of ``crop`` frames (fewer when an
utterance is shorter) drawn from a generator seeded with ``seed``. Adam is used at a constant
``lr`` with betas (0.5, 0.999), pix2pix's, for the generator and the discriminator alike. A
period is ``eval_every`` steps.

Example:
    >>> PostnetConfig().loss, PostnetConfig(loss="gan").adversarial_weight
    ('l1', 0.01)
    >>> sorted(set(PostnetConfig(loss="wgan-gp").to_dict()) - set(PostnetConfig().to_dict()))
    ['adversarial_weight', 'critic_channels', 'critic_steps', 'gp_weight']
    >>> PostnetConfig(loss="hinge")
    Traceback (most recent call last):
        ...
    ValueError: unknown --loss 'hinge'; choose one of l1, gan, wgan-gp
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reparam.data.speech.recipe import RECIPES
from reparam.train.config import (
    RunConfig,
    device_option,
    flag,
    in_range,
    non_negative,
    one_of,
    positive,
    whole_periods,
)

LOSSES = ("l1", "gan", "wgan-gp")
DEGRADED = "degraded"
BETAS = (0.5, 0.999)
ADVERSARIAL = ("adversarial_weight", "critic_channels")
WGAN_GP = ("critic_steps", "gp_weight")
DEGRADATION = ("blur_time", "blur_bands", "shrink")


@dataclass(frozen=True)
class PostnetConfig(RunConfig):
    """A GAN-postnet run (see the module docstring)."""

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device",)

    recipe: str = "tts"
    source: str = DEGRADED
    blur_time: float = 2.0
    blur_bands: float = 1.5
    shrink: float = 0.8
    loss: str = "l1"
    adversarial_weight: float = 0.01
    channels: int = 32
    depth: int = 4
    dropout: float = 0.5
    critic_channels: int = 32
    critic_steps: int = 5
    gp_weight: float = 10.0
    crop: int = 128
    batch_size: int = 8
    steps: int = 2000
    eval_every: int = 250
    lr: float = 2e-4
    seed: int = 0
    device: str = "auto"

    def applies(self, name: str) -> bool:
        if name in ADVERSARIAL:
            return self.loss != "l1"
        if name in WGAN_GP:
            return self.loss == "wgan-gp"
        if name in DEGRADATION:
            return self.source == DEGRADED
        return True

    def __post_init__(self) -> None:
        one_of("--recipe", self.recipe, tuple(RECIPES))
        one_of("--loss", self.loss, LOSSES)
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(
                f"--source must be {DEGRADED!r} or a tts run folder; got {self.source!r}"
            )
        for name in ("channels", "depth", "critic_channels", "critic_steps", "crop",
                     "batch_size", "steps", "eval_every"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        if self.depth > 6:
            raise ValueError(f"--depth must be at most 6 (80 bands); got {self.depth}")
        if self.crop < 2**self.depth:
            raise ValueError(
                f"--crop must be at least 2^depth = {2**self.depth} frames; got {self.crop}"
            )
        for name in ("blur_time", "blur_bands", "adversarial_weight", "gp_weight", "seed"):
            non_negative(flag(name), getattr(self, name))
        in_range("--shrink", self.shrink, 0.0, 1.0)
        in_range("--dropout", self.dropout, 0.0, 0.9)
        positive("--lr", self.lr)
        device_option(self.device)
        whole_periods(self.steps, self.eval_every)
