r"""The settings of a sentence-VAE run (``reparam train sentence-vae``), saved as
``config.json``.

The architecture's defaults are Bowman et al.'s Penn Treebank sizes (353-dimensional
embeddings, 191 LSTM units, 13 latent dimensions); ``latent=0`` is the LSTM language model,
for which the fields about z do not apply (``condition``, ``kl_anneal``, ``kl_warmup``,
``objective``, ``k``, ``estimator``, ``eval_k``: its likelihood is exact) and are left out of
``config.json``; so are ``kl_anneal`` and ``kl_warmup`` with the IWAE objective, and
``kl_warmup`` without annealing. The KL weight follows
:class:`~reparam.objectives.KLAnnealing` (``kl_anneal`` linear or sigmoid, over
``kl_warmup`` steps; ``none``: β = 1 from the first step). Adam, batches of 32, the
gradient's norm clipped to ``clip``. ``vocab_size`` is not an option: it records the
corpus's vocabulary, so that the model can be rebuilt without the corpus.

Example:
    >>> SentenceVAEConfig().latent, "condition" in SentenceVAEConfig(latent=0).to_dict()
    (13, False)
    >>> SentenceVAEConfig(word_dropout=2.0)
    Traceback (most recent call last):
        ...
    ValueError: --word-dropout must lie in [0, 1]; got 2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from reparam.data.sentences import CORPORA
from reparam.estimators import names
from reparam.experiments.vae_config import NEEDS_TWO_SAMPLES
from reparam.models.sentence_vae import CONDITIONS
from reparam.train.config import (
    RunConfig,
    device_option,
    flag,
    in_range,
    non_negative,
    one_of,
    positive,
)

OBJECTIVES = ("elbo", "iwae")
ANNEALING = ("none", "linear", "sigmoid")

# The fields that mean something only with a latent z, only with the ELBO, only annealed.
LATENT_ONLY = ("condition", "kl_anneal", "kl_warmup", "objective", "k", "estimator", "eval_k")
ELBO_ONLY = ("kl_anneal", "kl_warmup")
ANNEALED_ONLY = ("kl_warmup",)


@dataclass(frozen=True)
class SentenceVAEConfig(RunConfig):
    """A sentence-VAE (or LSTM language model) run: the corpus, the architecture, the
    objective, the optimiser and the length (see the module docstring)."""

    FREE: ClassVar[tuple[str, ...]] = ("device", "compile", "data_dir")

    corpus: str = "embedded"
    data_dir: str | None = None
    subset: int | None = None
    embedding: int = 353
    hidden: int = 191
    latent: int = 13
    condition: str = "initial"
    word_dropout: float = 0.0
    kl_anneal: str = "sigmoid"
    kl_warmup: int = 2000
    objective: str = "elbo"
    k: int = 1
    estimator: str = "auto"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    clip: float = 5.0
    eval_k: int = 10
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        one_of("--corpus", self.corpus, tuple(CORPORA))
        for name in ("subset", "embedding", "hidden", "k", "epochs", "batch_size", "eval_k",
                     "vocab_size"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        for name in ("latent", "kl_warmup", "seed"):
            whole(flag(name), getattr(self, name))
            non_negative(flag(name), getattr(self, name))
        one_of("--condition", self.condition, CONDITIONS)
        in_range("--word-dropout", self.word_dropout, 0.0, 1.0)
        one_of("--kl-anneal", self.kl_anneal, ANNEALING)
        one_of("--objective", self.objective, OBJECTIVES)
        positive("--lr", self.lr)
        positive("--clip", self.clip)
        device_option(self.device)
        valid = names(self.objective, "continuous")
        if self.estimator not in valid:
            raise ValueError(
                f"--estimator {self.estimator!r} does not apply to the sentence VAE with the "
                f"{self.objective} objective; choose one of {', '.join(valid)}"
            )
        if self.latent and self.estimator in NEEDS_TWO_SAMPLES and self.k < 2:
            raise ValueError(
                f"--estimator {self.estimator} takes its baseline from the other samples: it "
                f"needs --k 2 or more; got --k {self.k}"
            )
        for name in self.defaults():
            if not self.applies(name) and getattr(self, name) != self.defaults()[name]:
                raise ValueError(f"{flag(name)} {self.reason(name)}")

    def reason(self, name: str) -> str:
        """Why field ``name`` does not apply to this run."""
        if not self.latent and name in LATENT_ONLY:
            return "concerns z: it does not apply to the language model (--latent 0)"
        if name in ELBO_ONLY and self.objective != "elbo":
            return f"weights the ELBO's KL term: it does not apply to --objective {self.objective}"
        return "sets the annealing's length: it does not apply to --kl-anneal none"

    def applies(self, name: str) -> bool:
        if not self.latent and name in LATENT_ONLY:
            return False
        if name in ELBO_ONLY and self.objective != "elbo":
            return False
        return not (name in ANNEALED_ONLY and self.kl_anneal == "none")

    @property
    def annealed(self) -> bool:
        """Whether the KL weight rises over a warm-up (a VAE on the ELBO, annealed)."""
        return bool(self.latent) and self.objective == "elbo" and self.kl_anneal != "none"


def whole(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number; got {value!r}")
