r"""The settings of a CTC recognizer run (``reparam train asr``), saved as ``config.json``.

The corpus is named by its recipe (``reparam data speech --recipe``); the architecture by the
front end's channels, the GRU's units and layers and the frame subsampling; the loss by
``ctc`` (``reparam``: :func:`reparam.latent.ctc_loss`, ``torch``: torch's, to show that they
train alike); training by Adam with a linear warm-up then an inverse-square-root decay,

.. math:: η_s = η \min\big(s / w,\ \sqrt{w / s}\big),

which does not depend on the run's length, so a resumed run with more ``--steps`` equals a
straight one. ``decode_*`` set the decoders of the final evaluation: the beam width, the
character n-gram language model's order, its weight α and the insertion bonus β of shallow
fusion, and how many utterances of each test condition the beam decoders see.

Example:
    >>> ASRConfig().ctc, ASRConfig(recipe="asr-small").recipe
    ('reparam', 'asr-small')
    >>> ASRConfig(ctc="cudnn")
    Traceback (most recent call last):
        ...
    ValueError: unknown --ctc 'cudnn'; choose one of reparam, torch
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

CTC_LOSSES = ("reparam", "torch")


@dataclass(frozen=True)
class ASRConfig(RunConfig):
    """A CTC recognizer run (see the module docstring)."""

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device", "compile")

    recipe: str = "asr"
    subset: int | None = None
    channels: int = 192
    hidden: int = 192
    layers: int = 3
    subsample: int = 3
    dropout: float = 0.1
    spec_augment: bool = True
    freq_warp: float = 0.0
    ctc: str = "reparam"
    steps: int = 6000
    eval_every: int = 250
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 300
    clip: float = 5.0
    decode_beam: int = 8
    decode_lm_order: int = 5
    decode_lm_weight: float = 0.5
    decode_bonus: float = 1.0
    decode_subset: int = 100
    seed: int = 0
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        one_of("--recipe", self.recipe, tuple(RECIPES))
        one_of("--ctc", self.ctc, CTC_LOSSES)
        for name in ("subset", "channels", "hidden", "layers", "subsample", "steps",
                     "eval_every", "batch_size", "warmup", "decode_beam", "decode_lm_order",
                     "decode_subset"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        in_range("--dropout", self.dropout, 0.0, 0.9)
        in_range("--freq-warp", self.freq_warp, 0.0, 0.5)
        positive("--lr", self.lr)
        positive("--clip", self.clip)
        non_negative("--decode-lm-weight", self.decode_lm_weight)
        non_negative("--seed", self.seed)
        device_option(self.device)
        whole_periods(self.steps, self.eval_every)
