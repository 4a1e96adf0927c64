r"""The settings of a text-to-speech run (``reparam train tts``), saved as ``config.json``.

The corpus is named by its recipe (``tts``: one eSpeak voice reading 1,320 sentences;
``tts-voices``: four); ``multi_speaker`` gives the model a table of the corpus's voices,
whose embedding joins every encoder output (the recipe's splits must share the voices);
``symbols`` is what the model reads: the transcript's ``characters`` or eSpeak's
``phonemes`` (:mod:`reparam.speech.phonemes`). The
model is named by :class:`~reparam.models.tacotron.Tacotron`'s sizes, the reduction factor
``r``, the ``encoder`` (``conv``: Tacotron 2's; ``cbhg``: Tacotron's) and the ``attention``;
the loss by ``mel_loss`` (L1 or MSE on normalised log-mel frames, before and after the
postnet, plus the stop token's cross-entropy) and ``guided_weight``, the weight of Tachibana
et al.'s guided-attention penalty (0: off); training by Adam with the warm-up then
inverse-square-root schedule of the other speech trainers, clipped at ``clip``.
``eval_frames`` bounds free-running synthesis in the final evaluation (frames).

Distillation (seed 000): ``teacher`` names a finished ``reparam train tts`` run on the same
recipe and ``r``; its best weights give, once for every training sentence, the attention and
the frames it predicts teacher-forced. ``distill_weight`` weighs the KL from the teacher's
attention to this model's (:func:`reparam.speech.distillation.attention_distillation`),
``soft_target_weight`` the L1 to the teacher's frames
(:func:`reparam.speech.distillation.frame_distillation`, Hinton et al.'s soft targets).

Example:
    >>> TTSConfig().r, TTSConfig(r=5).r
    (2, 5)
    >>> TTSConfig(attention="dot")
    Traceback (most recent call last):
        ...
    ValueError: unknown --attention 'dot'; choose one of location, content, gmm
    >>> TTSConfig(distill_weight=1.0)
    Traceback (most recent call last):
        ...
    ValueError: --distill-weight and --soft-target-weight need a --teacher run
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reparam.data.speech.recipe import RECIPES
from reparam.models.tacotron import ENCODERS
from reparam.models.tts_attention import ATTENTIONS
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

MEL_LOSSES = ("l1", "mse")
SYMBOLS = ("characters", "phonemes")


@dataclass(frozen=True)
class TTSConfig(RunConfig):
    """A text-to-speech run (see the module docstring)."""

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device", "compile")

    recipe: str = "tts"
    subset: int | None = None
    multi_speaker: bool = False
    symbols: str = "characters"
    r: int = 2
    encoder: str = "conv"
    attention: str = "location"
    embedding: int = 256
    encoder_units: int = 256
    attention_dim: int = 128
    prenet: int = 128
    attention_rnn: int = 256
    decoder_rnn: int = 256
    postnet_channels: int = 256
    dropout: float = 0.5
    mel_loss: str = "l1"
    guided_weight: float = 0.0
    teacher: str | None = None
    distill_weight: float = 0.0
    soft_target_weight: float = 0.0
    steps: int = 4000
    eval_every: int = 250
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 300
    clip: float = 1.0
    eval_frames: int = 1000
    seed: int = 0
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        one_of("--recipe", self.recipe, tuple(RECIPES))
        one_of("--symbols", self.symbols, SYMBOLS)
        one_of("--encoder", self.encoder, ENCODERS)
        if self.multi_speaker and not RECIPES[self.recipe].shared_speakers:
            raise ValueError(
                f"--multi-speaker needs a recipe whose splits share their voices; --recipe "
                f"{self.recipe} holds out its test speakers"
            )
        one_of("--attention", self.attention, tuple(ATTENTIONS))
        one_of("--mel-loss", self.mel_loss, MEL_LOSSES)
        for name in ("subset", "r", "embedding", "encoder_units", "attention_dim", "prenet",
                     "attention_rnn", "decoder_rnn", "postnet_channels", "steps", "eval_every",
                     "batch_size", "warmup", "eval_frames"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        if self.encoder_units % 2:
            raise ValueError(
                f"--encoder-units must be even (half each way), got {self.encoder_units}"
            )
        in_range("--dropout", self.dropout, 0.0, 0.9)
        non_negative("--guided-weight", self.guided_weight)
        non_negative("--distill-weight", self.distill_weight)
        non_negative("--soft-target-weight", self.soft_target_weight)
        taught = self.distill_weight > 0 or self.soft_target_weight > 0
        if taught and self.teacher is None:
            raise ValueError("--distill-weight and --soft-target-weight need a --teacher run")
        if self.teacher is not None and not taught:
            raise ValueError("--teacher is unused: give --distill-weight or --soft-target-weight")
        non_negative("--seed", self.seed)
        positive("--lr", self.lr)
        positive("--clip", self.clip)
        device_option(self.device)
        whole_periods(self.steps, self.eval_every)
