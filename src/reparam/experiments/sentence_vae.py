r"""The sentence VAE and the LSTM language model on the run engine: ``reparam train
sentence-vae`` (``--latent 0``: the language model, by the same code).

An epoch is one pass over the corpus's training sentences in a seeded random order; each
step is one Adam step on the batch's mean negative bound, the gradient's norm clipped,

.. math:: -\frac1B \sum_b \Big(\mathbb E_{q(z \mid x_b)}[\log p(x_b \mid z)]
    - \beta_t\, \mathrm{KL}\big(q(z \mid x_b) \,\|\, p(z)\big)\Big)
    \quad\text{or}\quad -\frac1B \sum_b \mathcal L_k(x_b),

with :math:`\beta_t` of :class:`~reparam.objectives.KLAnnealing` at step t (Bowman et al.'s
sigmoid schedule by default) and word dropout in the decoder. Each epoch's row holds β, the
mean training bound, reconstruction and KL, and on the validation sentences the bound
:math:`\mathcal L_k` by importance sampling (k = ``eval_k``; exact for the language model),
which picks ``best.pt``, the ELBO, the KL, the perplexity and the active units. The run also
keeps a trace of the training bound, KL and β, averaged over every ``TRACE_EVERY`` steps (and
the rest of each epoch), drawn at the end in ``curves.png`` (the posterior-collapse figure:
KL → 0 without annealing and word dropout) and written to ``trace.csv``. The vocabulary, built on the training split, is saved
as ``vocabulary.json`` (and in the checkpoint); ``samples.txt`` holds greedy decodes of prior
draws, sampled sentences, reconstructions of validation sentences and a homotopy between two
of them, from the best weights. Under ``torchrun`` each rank trains on its share of every
batch through DistributedDataParallel; rank 0 writes.

References:
    Bowman, Vilnis, Vinyals, Dai, Jozefowicz & Bengio (2016), Generating Sentences from a
    Continuous Space, CoNLL.

Example:
    One epoch of a small sentence VAE on 64 of the embedded sentences, then the run loaded
    back and its samples decoded:

    >>> import tempfile
    >>> from reparam.runs import load_run
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/svae"
    >>> config = SentenceVAEConfig(subset=64, embedding=16, hidden=16, latent=4, epochs=1,
    ...                            kl_warmup=10, eval_k=2, device="cpu")
    >>> result = run(SentenceVAETrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [row["epoch"] for row in result.history], result.config.vocab_size
    ([1], 4065)
    >>> tokens = load_run(out).sample(3)
    >>> len(sentences(out, tokens))
    3
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.data.sentence_batches import SentenceBatches
from reparam.data.sentences import load_corpus
from reparam.data.vocabulary import PAD, Vocabulary
from reparam.estimators import parse
from reparam.experiments.sentence_vae_config import SentenceVAEConfig
from reparam.experiments.vae import fixed_noise
from reparam.experiments.vae_evaluation import Evaluation
from reparam.models import SentenceVAE
from reparam.models.sentence_decoding import greedy, homotopy, sample
from reparam.models.sentence_evaluation import evaluate
from reparam.objectives import KLAnnealing
from reparam.plots import sentence_vae as pictures
from reparam.train import Trainer
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.compile import maybe_compile
from reparam.train.distributed import Ranks

TRACE_EVERY = 10  # steps a point of the training trace averages
VOCABULARY = "vocabulary.json"
MAX_LENGTH = 40  # words of a decoded sentence in samples.txt and sample()
SUBSET_SEED = 0  # the random subset of --subset is the same whatever --seed


def encoded_split(
    sentences: tuple[tuple[str, ...], ...], vocabulary: Vocabulary, subset: int | None
) -> SentenceBatches:
    """The sentences as word indices, a random ``subset`` of them (fixed seed) if given."""
    if subset is not None and subset < len(sentences):
        rows = torch.randperm(len(sentences), generator=torch.Generator().manual_seed(SUBSET_SEED))
        sentences = tuple(sentences[int(i)] for i in rows[:subset])
    if not sentences:
        raise ValueError("the corpus's split holds no sentences")
    return SentenceBatches([vocabulary.encode(s) for s in sentences], PAD)


def batches_of(
    split: SentenceBatches, size: int, device: torch.device
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(tokens, lengths)`` batches of ``size`` sentences of ``split`` in order, on ``device``."""
    for start in range(0, len(split), size):
        tokens, lengths = split.batch(torch.arange(start, min(start + size, len(split))))
        yield tokens.to(device), lengths.to(device)


class SentenceVAETrainer(Trainer):
    """The sentence VAE on the run engine (see the module docstring)."""

    name, command, Config = "sentence-vae", "train sentence-vae", SentenceVAEConfig
    monitor = "valid_bound"
    outputs = (VOCABULARY, "trace.csv", "curves.png", "samples.txt")

    def __init__(self, config: SentenceVAEConfig, ranks: Ranks) -> None:
        device = ranks.device
        corpus = load_corpus(config.corpus, config.data_dir)
        self.vocabulary = corpus.vocabulary()
        if config.vocab_size is not None and config.vocab_size != len(self.vocabulary):
            raise ValueError(
                f"--corpus {config.corpus} has {len(self.vocabulary)} words, but the run was "
                f"trained on {config.vocab_size}"
            )
        self.config = replace(config, vocab_size=len(self.vocabulary), device=str(device))
        self.ranks = ranks
        self.train = encoded_split(corpus.train, self.vocabulary, config.subset)
        self.valid = encoded_split(corpus.valid, self.vocabulary, config.subset)
        torch.manual_seed(config.seed)
        self.model: SentenceVAE = self.build_model(self.config).to(device)
        self.estimator = getattr(self.model, "estimator", "auto")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        warmup = config.kl_warmup if self.config.annealed else 0
        self.annealing = KLAnnealing(warmup, 1.0, config.kl_anneal if warmup else "linear")
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.terms = maybe_compile(self.batch_terms, config.compile)
        self.steps = math.ceil(len(self.train) / config.batch_size)
        self.order = torch.zeros(0, dtype=torch.long)
        self.sums = [0.0, 0.0, 0]  # the period's bound and KL summed over sentences, sentences
        self.window = [0.0, 0.0, 0]  # the same over the trace's current window
        self.trace: list[list[float]] = []  # [step, bound, KL, beta] rows
        torch.manual_seed(config.seed + ranks.rank)

    @property
    def periods(self) -> int:
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return self.steps

    def start_period(self, period: int) -> None:
        seed = self.config.seed * 1_000_003 + period
        self.order = torch.randperm(len(self.train), generator=torch.Generator().manual_seed(seed))
        self.sums = [0.0, 0.0, 0]
        self.model.train()

    def batch_terms(self, tokens: Tensor, lengths: Tensor, beta: float) -> tuple[Tensor, Tensor]:
        """The training bound and KL of each sentence (the function ``--compile`` compiles)."""
        config = self.config
        terms = self.net(
            tokens, lengths, objective=config.objective, k=config.k,
            estimator=self.estimator, beta=beta,
        )  # fmt: skip
        return terms.bound, terms.kl

    def train_step(self, period: int, index: int) -> None:
        ranks, size = self.ranks, self.config.batch_size
        share = ranks.share(self.order, index, size)
        tokens, lengths = self.train.batch(share)
        tokens, lengths = tokens.to(ranks.device), lengths.to(ranks.device)
        step = period * self.steps + index
        beta = self.annealing(step)
        bound, kl = self.terms(tokens, lengths, beta)
        self.optimizer.zero_grad(set_to_none=True)
        (-bound.mean()).backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        summed = [float(bound.detach().sum()), float(kl.detach().sum()), len(lengths)]
        for sums in (self.sums, self.window):
            for i, value in enumerate(summed):
                sums[i] += value
        if (step + 1) % TRACE_EVERY == 0 or index + 1 == self.steps:
            self.trace_point(step + 1, beta)

    def trace_point(self, step: int, beta: float) -> None:
        """Close the trace's window at ``step``: its mean bound and KL a sentence, and β."""
        total, divergence, n = self.window
        self.trace.append([step, total / n, divergence / n, beta])
        self.window = [0.0, 0.0, 0]

    def end_period(self, period: int) -> dict[str, Any]:
        config, model = self.config, self.model
        total, divergence, n = self.sums
        row: dict[str, Any] = {}
        if model.latent and config.objective == "elbo":
            beta = self.annealing((period + 1) * self.steps - 1)
            row["beta"] = beta
            row["train_reconstruction"] = (total + beta * divergence) / n
        row["train_bound"] = total / n
        if model.latent:
            row["train_kl"] = divergence / n
        result = evaluate(
            model,
            batches_of(self.valid, self.config.batch_size, self.ranks.device),
            k=config.eval_k if model.latent else 1,
        )
        row["valid_bound"] = -result.nll
        row["valid_ppl"] = result.perplexity
        if model.latent:
            row["valid_elbo"] = -result.negative_elbo
            row["valid_kl"] = result.kl
            row["active_units"] = result.active_units
        model.train()
        return row

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "order": self.order,
            "sums": list(self.sums),
            "window": list(self.window),
            "trace": [list(row) for row in self.trace],
            "vocabulary": self.vocabulary.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if Vocabulary.from_dict(state["vocabulary"]) != self.vocabulary:
            raise ValueError(
                f"--corpus {self.config.corpus}'s vocabulary is not the one the run was trained "
                "on (the corpus files changed)"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.order = state["order"].cpu()
        self.sums, self.window = list(state["sums"]), list(state["window"])
        self.trace = [list(row) for row in state["trace"]]

    def summary(self, row: dict[str, Any]) -> str:
        text = f"train_bound {row['train_bound']:.2f}  valid_bound {row['valid_bound']:.2f}"
        text += f"  ppl {row['valid_ppl']:.1f}"
        return text + (f"  kl {row['valid_kl']:.2f}" if "valid_kl" in row else "")

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """vocabulary.json, trace.csv, curves.png, and samples.txt from the best weights."""
        (folder / VOCABULARY).write_text(json.dumps(self.vocabulary.to_dict()))
        with (folder / "trace.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["step", "bound", "kl", "beta"])
            writer.writerows(self.trace)
        elbo = bool(self.model.latent) and self.config.objective == "elbo"
        pictures.draw_curves(self.trace, history, folder / "curves.png", elbo=elbo)
        model = self.build_model(self.config).to(self.ranks.device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", self.ranks.device)["model"])
        model.eval()
        examples = next(iter(batches_of(self.valid, self.config.batch_size, self.ranks.device)))
        with fixed_noise(self.ranks.device):
            text = sample_text(model, self.vocabulary, *examples)
        (folder / "samples.txt").write_text(text)

    @classmethod
    def build_model(cls, config: SentenceVAEConfig) -> SentenceVAE:
        if config.vocab_size is None:
            raise ValueError("the sentence-vae config records no vocab_size: it needs the corpus's")
        model = SentenceVAE(
            config.vocab_size,
            embedding=config.embedding,
            hidden=config.hidden,
            latent=config.latent,
            condition=config.condition,
            word_dropout=config.word_dropout,
        )
        if config.latent:  # one estimator a run, its state (a baseline) in the model's
            estimator = parse(config.estimator, objective=config.objective, latent="continuous")
            model.add_module("estimator", estimator)  # type: ignore[arg-type]
        return model

    @classmethod
    def generate(cls, model: nn.Module, config: SentenceVAEConfig, n: int) -> Tensor:
        """``n`` sentences sampled word by word from prior draws of z: word indices
        ``[n, L]``, ``<pad>`` after each (:func:`sentences` makes them text)."""
        assert isinstance(model, SentenceVAE)
        z = model.prior().sample((n,))
        return sample(model, z, max_length=MAX_LENGTH).tokens

    @classmethod
    def sample_text(cls, run: str | Path, samples: Tensor) -> list[str]:
        """The sentences :meth:`generate` drew for the run in folder ``run``, as text."""
        return sentences(run, samples)

    @classmethod
    def test_bounds(
        cls,
        folder: Path,
        model: nn.Module,
        config: SentenceVAEConfig,
        *,
        split: str,
        k: int,
        chunk: int,
        subset: int | None,
        batch_size: int,
        meter: Callable[[int], Callable[[], None]],
    ) -> Evaluation:
        r"""``reparam eval``: :func:`~reparam.models.sentence_evaluation.evaluate` on ``split``
        of the run's corpus (a random ``subset`` if given), the NLL :math:`-\mathcal L_k` a
        sentence (exact for the language model) with the KL term and the perplexities."""
        assert isinstance(model, SentenceVAE)
        split_sentences = run_sentences(folder, config, split, subset)
        advance = meter(math.ceil(len(split_sentences) / batch_size))

        def counted() -> Iterator[tuple[Tensor, Tensor]]:
            for batch in batches_of(split_sentences, batch_size, next(model.parameters()).device):
                yield batch
                advance()

        found = evaluate(model, counted(), k=k, chunk=chunk)
        units = found.active_units if model.latent else None
        extra = {
            "kl": found.kl,
            "perplexity": found.perplexity,
            "word_perplexity": found.word_perplexity,
        }
        return Evaluation(
            split, k, found.nll, found.negative_elbo, units, found.sentences, 0.0, extra
        )


def sample_text(model: SentenceVAE, vocabulary: Vocabulary, tokens: Tensor, lengths: Tensor) -> str:
    """samples.txt: greedy decodes of prior draws and sampled sentences, and with a latent
    space the reconstructions of the sentences ``tokens`` and a homotopy between two of them."""

    def lines(decoded_tokens: Tensor) -> list[str]:
        return ["  " + " ".join(vocabulary.decode(row)) for row in decoded_tokens]

    z = model.prior().sample((10,))
    parts = [
        "Greedy decodes of 10 draws z ~ p(z):",
        *lines(greedy(model, z, max_length=MAX_LENGTH).tokens),
    ]
    parts += ["", "Sampled (temperature 1) from 10 draws z ~ p(z):"]
    parts += lines(sample(model, z, max_length=MAX_LENGTH).tokens)
    if model.latent:
        shown = tokens[:5], lengths[:5]
        means = model.posterior_mean(*shown)
        parts += ["", "Validation sentences, then the greedy decode of their posterior mean:"]
        decoded = greedy(model, means, max_length=MAX_LENGTH).tokens
        for original, length, again in zip(*shown, decoded, strict=True):
            parts += [
                "  " + " ".join(vocabulary.decode(original[:length])),
                "  -> " + " ".join(vocabulary.decode(again)),
            ]
        if len(lengths) >= 2:
            pair = tokens[[0, 1]], lengths[[0, 1]]
            parts += [
                "",
                "Homotopy between the first two (greedy decodes along the line between their means):",
            ]
            parts += lines(homotopy(model, *pair, points=7, max_length=MAX_LENGTH).tokens)
    return "\n".join(parts) + "\n"


def read_vocabulary(run: str | Path) -> Vocabulary:
    """The vocabulary of the run folder ``run``: ``vocabulary.json``, written at the end of
    the run, else the checkpoint's copy (an unfinished run)."""
    folder = Path(run)
    if (folder / VOCABULARY).exists():
        return Vocabulary.from_dict(json.loads((folder / VOCABULARY).read_text()))
    checkpoint = folder / "checkpoint.pt"
    if not checkpoint.exists():
        raise FileNotFoundError(f"{folder} holds neither {VOCABULARY} nor checkpoint.pt")
    return Vocabulary.from_dict(load_checkpoint(checkpoint, "cpu")["trainer"]["vocabulary"])


def run_sentences(
    run: str | Path, config: SentenceVAEConfig, split: str, subset: int | None
) -> SentenceBatches:
    """``split`` of the corpus of the run in folder ``run`` (a random ``subset`` if given),
    encoded with the run's vocabulary."""
    corpus = load_corpus(config.corpus, config.data_dir)
    return encoded_split(corpus.sentences(split), read_vocabulary(run), subset)


def sentences(run: str | Path, tokens: Tensor) -> list[str]:
    """The sentences ``tokens [n, L]`` (from ``generate`` or a decoder) of the run ``run`` as
    text, one string each."""
    vocabulary = read_vocabulary(run)
    return [" ".join(vocabulary.decode(row)) for row in tokens.cpu()]
