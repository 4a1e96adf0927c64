r"""The CTC speech recognizer on the run engine: ``reparam train asr``.

The corpus is the synthesized one of ``--recipe`` (:mod:`reparam.data.speech`, built on first
use); its utterances become 80-band log-mel frames (:mod:`reparam.data.speech.features_cache`)
and their transcripts class ids of :mod:`reparam.speech.alphabet`. A step is one Adam step on
a batch of ``batch_size`` utterances of similar length (the training utterances sorted by
length and cut into batches; each step draws one from a seeded generator), with SpecAugment
masks (Park et al. 2019) when ``spec_augment`` and the bands warped by a factor uniform on
:math:`1 ± \text{freq\_warp}` (vocal tract length perturbation, Jaitly & Hinton 2013;
:func:`~reparam.speech.features.warp_bands`) when ``freq_warp > 0``, on the CTC loss averaged over the batch per
target character,

.. math:: -\frac1B \sum_b \frac{1}{|l_b|} \log \sum_{π \in \mathcal B^{-1}(l_b)}
          \prod_t y_t(π_t),

computed by :func:`reparam.latent.ctc_loss` or torch's (``--ctc``). A period is
``eval_every`` steps; after each, the validation speakers' clean utterances are decoded
greedily: ``valid_neg_cer`` (−CER) picks ``best.pt``.

At the end, from the best weights, ``evaluation.json`` and ``evaluation.md`` hold the test
speakers' CER and WER, clean and degraded (noise, reverberation), by the greedy decoder on
all of them and by the prefix beam search without and with the character n-gram language
model (:mod:`reparam.experiments.asr_evaluation`) on ``decode_subset`` of each; the human
clips of ``pocketsphinx-testdata`` when present (``reparam data fetch-human``); and the
forced-alignment error of word starts against eSpeak's. ``posteriorgram.png`` shows a test
utterance with eSpeak's word and phoneme times.

Under ``torchrun`` each rank takes its share of each batch through
DistributedDataParallel; rank 0 writes.

Reference:
    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist temporal classification, ICML.

Example:
    Twenty steps on the small corpus:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/asr"
    >>> config = ASRConfig(recipe="asr-small", channels=16, hidden=16, layers=1, steps=20,
    ...                    eval_every=10, decode_subset=2, device="cpu")
    >>> result = run(ASRTrainer, config, RunOptions(out, progress=False, tensorboard=False))  # doctest: +SKIP
    >>> [row["step"] for row in result.history]  # doctest: +SKIP
    [10, 20]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.data.sentences import load_corpus
from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP, log_mel, split_features
from reparam.data.speech.recipe import transcript
from reparam.experiments import asr_evaluation as scoring
from reparam.experiments.asr_config import ASRConfig
from reparam.experiments.stepped import SteppedTrainer
from reparam.latent import ctc_loss
from reparam.models.ctc_recognizer import CTCRecognizer
from reparam.speech import alphabet
from reparam.speech.features import spec_augment, warp_bands
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import Ranks

BANDS = 80
LOSSES = {"reparam": ctc_loss, "torch": torch.nn.functional.ctc_loss}


class ASRTrainer(SteppedTrainer):
    """The CTC recognizer on the run engine (see the module docstring)."""

    name, command, Config = "asr", "train asr", ASRConfig
    monitor = "valid_neg_cer"
    outputs = ("evaluation.json", "evaluation.md", "posteriorgram.png")

    def __init__(self, config: ASRConfig, ranks: Ranks) -> None:
        self.config, self.ranks = config, ranks
        self.corpus = speech_corpus.load(config.recipe)
        features = split_features(self.corpus, "train", BANDS)
        texts = self.corpus.split("train").transcripts
        keep = list(range(len(features)))
        if config.subset is not None:
            keep = torch.randperm(len(features), generator=torch.Generator().manual_seed(0))
            keep = sorted(keep[: config.subset].tolist())
        self.features = [features[i] for i in keep]
        self.targets = [alphabet.encode(texts[i]) for i in keep]
        self.batches = length_batches([f.shape[-1] for f in self.features], config.batch_size)
        valid = self.corpus.split("valid")
        clean = valid.select(speech_corpus.CLEAN)
        valid_features = split_features(self.corpus, "valid", BANDS)
        self.valid_features = [valid_features[i] for i in clean]
        self.valid_texts = [valid.transcripts[i] for i in clean]
        torch.manual_seed(config.seed)
        self.model = self.build_model(config).to(ranks.device)
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.start_optimiser()
        self.loss = LOSSES[config.ctc]
        self.sums = [0.0, 0]

    def start_period(self, period: int) -> None:
        self.sums = [0.0, 0]
        self.model.train()

    def train_step(self, period: int, index: int) -> None:
        config, device = self.config, self.ranks.device
        chosen = self.batches[int(torch.randint(len(self.batches), (), generator=self.generator))]
        share = self.ranks.share(chosen, 0, len(chosen)).tolist()
        batch, lengths = scoring.padded([self.features[i] for i in share])
        targets = [self.targets[i] for i in share]
        augment = self.augment if config.spec_augment or config.freq_warp > 0 else None
        log_probs, out_lengths = self.net(batch.to(device), lengths.to(device), augment)
        loss = self.loss(
            log_probs, torch.cat(targets).to(device), out_lengths,
            torch.tensor([t.numel() for t in targets], device=device), zero_infinity=True,
        )  # fmt: skip
        self.update(loss, config.clip)
        self.sums[0] += float(loss.detach())
        self.sums[1] += 1

    def augment(self, features: Tensor, lengths: Tensor) -> Tensor:
        """The normalised features' bands warped by factors uniform on 1 ± ``freq_warp``,
        then SpecAugment's masks (two of up to 15 bands, two of up to 40 frames and a fifth
        of the utterance), each when asked for, drawn from the trainer's generator."""
        config = self.config
        if config.freq_warp > 0:
            u = torch.rand(features.shape[0], generator=self.generator, dtype=torch.float64)
            features = warp_bands(features, 1.0 + config.freq_warp * (2.0 * u - 1.0))
        if not config.spec_augment:
            return features
        return spec_augment(features, freq_masks=2, freq_width=15, time_masks=2, time_width=40,
                            max_time_ratio=0.2, generator=self.generator, lengths=lengths)  # fmt: skip

    def end_period(self, period: int) -> dict[str, Any]:
        log_probs = scoring.log_probs_of(self.model, self.valid_features, self.ranks.device)
        hypotheses = scoring.decode(log_probs, "greedy")
        result = scoring.score(hypotheses, self.valid_texts)
        return {
            "train_loss": self.sums[0] / max(1, self.sums[1]),
            "lr": self.optimizer.param_groups[0]["lr"],
            "valid_cer": result.cer,
            "valid_wer": result.wer,
            "valid_neg_cer": -result.cer,
        }

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"loss {row['train_loss']:.3f}  valid CER {100 * row['valid_cer']:.1f} %  "
            f"WER {100 * row['valid_wer']:.1f} %"
        )

    @classmethod
    def build_model(cls, config: ASRConfig) -> CTCRecognizer:
        return CTCRecognizer(
            BANDS, alphabet.CLASSES, config.channels, config.hidden, config.layers,
            config.subsample, config.dropout,
        )  # fmt: skip

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """evaluation.json, evaluation.md and posteriorgram.png, from the best weights."""
        device = self.ranks.device
        model = self.build_model(self.config).to(device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", device)["model"])
        evaluation = evaluate(model, self.corpus, self.config, device)
        (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=1) + "\n")
        (folder / "evaluation.md").write_text(evaluation_table(evaluation))
        draw_example(model, self.corpus, self.config, device, folder / "posteriorgram.png")


def length_batches(lengths: list[int], size: int) -> list[Tensor]:
    """The indices of utterances sorted by length (ties by index), cut into batches of
    ``size`` (the last one shorter).

    >>> [b.tolist() for b in length_batches([5, 1, 4, 2, 3], 2)]
    [[1, 3], [4, 2], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [torch.tensor(order[i : i + size]) for i in range(0, len(order), size)]


def evaluate(
    model: nn.Module, corpus: speech_corpus.SpeechCorpus, config: ASRConfig, device: torch.device
) -> dict[str, Any]:
    """The test error rates by condition and decoder, the human clips' and the alignment
    error (see the module docstring), as plain values."""
    test = corpus.split("test")
    features = split_features(corpus, "test", BANDS)
    sets = {}
    for name, condition in (("clean", speech_corpus.CLEAN), ("degraded", speech_corpus.NOISY)):
        chosen = test.select(condition)
        if chosen:
            sets[name] = ([features[i] for i in chosen], [test.transcripts[i] for i in chosen])
    human = human_clips()
    if human:
        sets["human"] = human
    sentences = [transcript(t) for t in load_corpus(corpus.recipe.text).text("train")]
    lm = scoring.language_model([s for s in sentences if s], config.decode_lm_order)
    results: dict[str, Any] = {"decoders": {}}
    computed = {}
    for name, (feats, texts) in sets.items():
        log_probs = computed[name] = scoring.log_probs_of(model, feats, device)
        rows = {"greedy": scoring.score(scoring.decode(log_probs), texts).to_dict()}
        n = config.decode_subset
        rows["greedy, subset"] = scoring.score(scoring.decode(log_probs[:n]), texts[:n]).to_dict()
        for decoder in ("beam", "beam+lm"):
            hypotheses = scoring.decode(
                log_probs[:n], decoder, beam=config.decode_beam, lm=lm,
                lm_weight=config.decode_lm_weight, bonus=config.decode_bonus,
            )  # fmt: skip
            rows[f"{decoder}, subset"] = scoring.score(hypotheses, texts[:n]).to_dict()
        results["decoders"][name] = rows
    clean = test.select(speech_corpus.CLEAN)
    errors = scoring.word_start_errors(
        computed["clean"], [test.transcripts[i] for i in clean], [test.word_events(i) for i in clean],
        config.subsample,
    )  # fmt: skip
    results["alignment"] = {
        "words": errors.numel(),
        "mean_ms": float(errors.mean()) if errors.numel() else float("nan"),
        "median_ms": float(errors.median()) if errors.numel() else float("nan"),
        "frame_ms": 1000 * config.subsample * HOP / SAMPLE_RATE,
    }
    results["lm"] = {"order": config.decode_lm_order, "sentences": len(sentences)}
    return results


def human_clips() -> tuple[list[Tensor], list[str]] | None:
    """The log-mel features and transcripts of the human clips, or None when absent."""
    from reparam.data.speech import human

    try:
        clips = human.load_clips()
    except FileNotFoundError:
        return None
    return [log_mel(c.waveform, BANDS) for c in clips], [c.transcript for c in clips]


def evaluation_table(evaluation: dict[str, Any]) -> str:
    """``evaluation.json`` as a Markdown table."""
    lines = ["| set | decoder | utterances | CER % | WER % |", "|---|---|---|---|---|"]
    for name, rows in evaluation["decoders"].items():
        for decoder, s in rows.items():
            lines.append(
                f"| {name} | {decoder} | {s['utterances']} | {100 * s['cer']:.2f} | "
                f"{100 * s['wer']:.2f} |"
            )
    a = evaluation["alignment"]
    lines += [
        "",
        f"Forced alignment (clean test): word starts {a['mean_ms']:.1f} ms from eSpeak's on "
        f"average (median {a['median_ms']:.1f} ms) over {a['words']} words; an output frame "
        f"is {a['frame_ms']:.1f} ms.",
    ]
    return "\n".join(lines) + "\n"


def draw_example(
    model: nn.Module,
    corpus: speech_corpus.SpeechCorpus,
    config: ASRConfig,
    device: torch.device,
    path: Path,
) -> None:
    """posteriorgram.png of the first clean test utterance."""
    from reparam.plots.asr import plot_posteriorgram

    test = corpus.split("test")
    index = test.select(speech_corpus.CLEAN)[0]
    features = split_features(corpus, "test", BANDS)[index]
    log_probs = scoring.log_probs_of(model, [features], device)[0]
    text, events = test.transcripts[index], test.word_events(index)
    starts = scoring.aligned_word_starts(log_probs, text, config.subsample)
    words = text.split(" ")
    if starts is None or len(words) != len(events):
        words, starts = [], torch.zeros(0)
    hypothesis = scoring.decode([log_probs])[0]
    plot_posteriorgram(
        features, log_probs, alphabet.CHARACTERS, words, events[: len(words), 0].tolist(),
        starts.tolist(), 1000 * config.subsample * HOP / SAMPLE_RATE,
        f"reference: {text}\ngreedy:    {hypothesis}", path, test.phoneme_events(index),
    )  # fmt: skip
