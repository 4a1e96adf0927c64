r"""Text-to-speech on the run engine: ``reparam train tts``.

The corpus is the synthesized one of ``--recipe`` (``tts``: one eSpeak voice; built on first
use). Its transcripts become the recognizer's characters (:mod:`reparam.speech.alphabet`; id 0
pads), its audio 80-band log-mel frames normalised per band with the training set's mean and
standard deviation (kept in the model's buffers). A step is one Adam step on a batch of
``batch_size`` utterances of similar length drawn from a seeded generator, teacher-forced, on
:meth:`~reparam.models.tacotron.Tacotron.loss` (frames before and after the postnet, stop
token) plus ``guided_weight`` times Tachibana et al.'s guided-attention penalty
(:func:`reparam.speech.alignment.guided_attention`). A period is ``eval_every`` steps; after
each, the validation sentences are scored teacher-forced: their frame L1 after the postnet
(``valid_l1``; its negative picks ``best.pt``), and the focus rate and diagonal mass of
their attention (``valid_focus``, ``valid_diagonal``), which say when the model has learnt to
align.

At the end, from the best weights, ``evaluation.json`` and ``evaluation.md`` hold, on the test
sentences: teacher-forced, the log-mel L1, the stop token's frame accuracy, the focus rate,
diagonal mass and monotonicity; free-running (each step fed its own last frame, up to
``eval_frames``), the mel-cepstral distortion against eSpeak's audio after DTW and the error
of the predicted length. ``alignment.png`` and ``spectrogram.png`` show the first test
sentence, and ``sample.wav`` is its free-running synthesis through Griffin-Lim.

Under ``torchrun`` each rank takes its share of each batch through
DistributedDataParallel; rank 0 writes.

References:
    Wang et al. (2017), Tacotron: towards end-to-end speech synthesis, Interspeech.
    Shen et al. (2018), Natural TTS synthesis by conditioning WaveNet on mel spectrogram
    predictions, ICASSP.

Example:
    Twenty steps on the small corpus:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/tts"
    >>> config = TTSConfig(recipe="tts-small", embedding=16, encoder_units=16, steps=20,
    ...                    eval_every=10, device="cpu")
    >>> result = run(TTSTrainer, config, RunOptions(out, progress=False, tensorboard=False))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP, N_FFT, split_features
from reparam.data.speech.wav import write_wav
from reparam.experiments.asr import length_batches
from reparam.experiments.stepped import SteppedTrainer
from reparam.experiments.tts_config import TTSConfig
from reparam.models.tacotron import Tacotron
from reparam.speech import alphabet
from reparam.speech.alignment import diagonal_mass, focus_rate, guided_attention, monotonicity
from reparam.speech.distortion import mel_cepstral_distortion
from reparam.speech.features import mel_filterbank
from reparam.speech.griffin_lim import griffin_lim, mel_to_magnitude
from reparam.speech.reduction import pad_to_multiple
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import Ranks

BANDS = 80


class Batch:
    """Padded characters ``[B, N]`` and their lengths, and padded frames ``[B, T, 80]`` (T a
    multiple of r, in the model's scale) and their lengths."""

    def __init__(self, texts: list[Tensor], frames: list[Tensor], r: int, device: torch.device):
        self.text_lengths = torch.tensor([t.numel() for t in texts])
        self.text = torch.zeros(len(texts), int(self.text_lengths.max()), dtype=torch.long)
        for i, t in enumerate(texts):
            self.text[i, : t.numel()] = t
        self.frame_lengths = torch.tensor([f.shape[0] for f in frames])
        padded = torch.zeros(len(frames), int(self.frame_lengths.max()), BANDS)
        for i, f in enumerate(frames):
            padded[i, : f.shape[0]] = f
        self.frames = pad_to_multiple(padded, r)
        self.text, self.text_lengths = self.text.to(device), self.text_lengths.to(device)
        self.frames, self.frame_lengths = self.frames.to(device), self.frame_lengths.to(device)

    def steps(self, r: int) -> Tensor:
        """Each utterance's decoder steps: its frames over r, rounded up."""
        return -(-self.frame_lengths // r)


class TTSTrainer(SteppedTrainer):
    """The Tacotron-style synthesizer on the run engine (see the module docstring)."""

    name, command, Config = "tts", "train tts", TTSConfig
    monitor = "valid_neg_l1"
    outputs = ("evaluation.json", "evaluation.md", "alignment.png", "spectrogram.png", "sample.wav")

    def __init__(self, config: TTSConfig, ranks: Ranks) -> None:
        self.config, self.ranks = config, ranks
        self.corpus = speech_corpus.load(config.recipe)
        texts, frames = split_data(self.corpus, "train")
        if config.subset is not None:
            keep = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0))
            keep = sorted(keep[: config.subset].tolist())
            texts, frames = [texts[i] for i in keep], [frames[i] for i in keep]
        self.texts = texts
        self.batches = length_batches([f.shape[0] for f in frames], config.batch_size)
        self.valid_texts, self.valid_frames = split_data(self.corpus, "valid")
        torch.manual_seed(config.seed)
        self.model = self.build_model(config).to(ranks.device)
        every = torch.cat(frames)
        self.model.frame_mean.copy_(every.mean(0))
        self.model.frame_std.copy_(every.std(0).clamp_min(1e-3))
        with torch.no_grad():  # once, in the model's scale, rather than at every step
            self.frames = [self.model.normalise(f.to(ranks.device)).cpu() for f in frames]
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.start_optimiser()
        self.sums = [0.0, 0]

    def start_period(self, period: int) -> None:
        self.sums = [0.0, 0]
        self.model.train()

    def train_step(self, period: int, index: int) -> None:
        config = self.config
        chosen = self.batches[int(torch.randint(len(self.batches), (), generator=self.generator))]
        share = self.ranks.share(chosen, 0, len(chosen)).tolist()
        batch = Batch([self.texts[i] for i in share], [self.frames[i] for i in share], config.r,
                      self.ranks.device)  # fmt: skip
        output = self.net(batch.text, batch.text_lengths, batch.frames)
        loss = self.model.loss(output, batch.frames, batch.frame_lengths, config.mel_loss)["total"]
        if config.guided_weight > 0:
            penalty = guided_attention(output.alignment, batch.steps(config.r), batch.text_lengths)
            loss = loss + config.guided_weight * penalty
        self.update(loss, config.clip)
        self.sums[0] += float(loss.detach())
        self.sums[1] += 1

    def end_period(self, period: int) -> dict[str, Any]:
        scores = teacher_forced(
            self.model, self.valid_texts, self.valid_frames, self.config, self.ranks.device
        )
        return {
            "train_loss": self.sums[0] / max(1, self.sums[1]),
            "lr": self.optimizer.param_groups[0]["lr"],
            "valid_l1": scores["l1"],
            "valid_focus": scores["focus_rate"],
            "valid_diagonal": scores["diagonal_mass"],
            "valid_neg_l1": -scores["l1"],
        }

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"loss {row['train_loss']:.3f}  valid L1 {row['valid_l1']:.3f}  "
            f"focus {row['valid_focus']:.2f}  diagonal {row['valid_diagonal']:.2f}"
        )

    @classmethod
    def build_model(cls, config: TTSConfig) -> Tacotron:
        return Tacotron(
            alphabet.CLASSES, BANDS, config.r, embedding=config.embedding,
            encoder_units=config.encoder_units, attention=config.attention,
            attention_dim=config.attention_dim, prenet=(2 * config.prenet, config.prenet),
            attention_rnn=config.attention_rnn, decoder_rnn=config.decoder_rnn,
            postnet_channels=config.postnet_channels, dropout=config.dropout,
        )  # fmt: skip

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """evaluation.json, evaluation.md, the pictures and sample.wav, from the best weights."""
        device = self.ranks.device
        model = self.build_model(self.config).to(device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", device)["model"])
        texts, frames = split_data(self.corpus, "test")
        evaluation = evaluate(model, texts, frames, self.config, device)
        (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=1) + "\n")
        (folder / "evaluation.md").write_text(evaluation_table(evaluation))
        draw_example(
            model,
            texts[0],
            frames[0],
            self.corpus.split("test").transcripts[0],
            self.config,
            device,
            folder,
        )


def split_data(corpus: speech_corpus.SpeechCorpus, split: str) -> tuple[list[Tensor], list[Tensor]]:
    """The clean utterances of ``split``: character ids and float32 log-mel frames
    ``[T, 80]``."""
    part = corpus.split(split)
    clean = part.select(speech_corpus.CLEAN)
    features = split_features(corpus, split, BANDS)
    return [alphabet.encode(part.transcripts[i]) for i in clean], [
        features[i].float().T for i in clean
    ]


@torch.no_grad()
def teacher_forced(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
) -> dict[str, float]:
    """Teacher-forced scores of the sentences: the log-mel L1 after the postnet (in the
    log-mel's own scale), the stop token's accuracy over the valid groups, and the focus rate,
    diagonal mass and monotonicity of the attention."""
    was_training = model.training
    model.eval()
    sums = {"l1": 0.0, "frames": 0, "stop": 0.0, "groups": 0, "focus_rate": 0.0, "diagonal_mass": 0.0,
            "monotonicity": 0.0, "batches": 0}  # fmt: skip
    for start in range(0, len(texts), 16):
        indices = range(start, min(start + 16, len(texts)))
        normalised = [model.normalise(frames[i].to(device)).cpu() for i in indices]
        batch = Batch([texts[i] for i in indices], normalised, config.r, device)
        out = model(batch.text, batch.text_lengths, batch.frames)
        valid = torch.arange(batch.frames.shape[1], device=device) < batch.frame_lengths[:, None]
        error = (model.denormalise(out.after) - model.denormalise(batch.frames)).abs().mean(-1)
        sums["l1"] += float(error[valid].sum())
        sums["frames"] += int(valid.sum())
        steps = batch.steps(config.r)
        groups = torch.arange(out.stop_logits.shape[1], device=device)
        target = groups[None, :] >= (steps - 1)[:, None]
        in_range = groups[None, :] < steps[:, None]
        sums["stop"] += float(((out.stop_logits > 0) == target)[in_range].sum())
        sums["groups"] += int(in_range.sum())
        for name, measure in (("focus_rate", focus_rate), ("diagonal_mass", diagonal_mass),
                              ("monotonicity", monotonicity)):  # fmt: skip
            sums[name] += float(measure(out.alignment, steps, batch.text_lengths)) * len(indices)
        sums["batches"] += len(indices)
    model.train(was_training)
    n = sums["batches"]
    return {
        "l1": sums["l1"] / sums["frames"],
        "stop_accuracy": sums["stop"] / sums["groups"],
        "focus_rate": sums["focus_rate"] / n,
        "diagonal_mass": sums["diagonal_mass"] / n,
        "monotonicity": sums["monotonicity"] / n,
        "sentences": n,
    }


@torch.no_grad()
def free_running(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
) -> dict[str, float]:
    """Free-running synthesis of the sentences: the mean MCD (dB, after DTW) against the
    target and the mean absolute error of the predicted length (frames), with how many
    sentences reached ``eval_frames`` without stopping."""
    model.eval()
    distortions, length_errors, unstopped = [], [], 0
    for start in range(0, len(texts), 16):
        indices = list(range(start, min(start + 16, len(texts))))
        batch = Batch(
            [texts[i] for i in indices], [frames[i][:1] for i in indices], config.r, device
        )
        out, lengths = model.infer(batch.text, batch.text_lengths, max_frames=config.eval_frames)
        predicted = model.denormalise(out.after)
        for row, i in enumerate(indices):
            n = int(lengths[row])
            unstopped += int(n >= config.eval_frames)
            distortions.append(
                float(
                    mel_cepstral_distortion(
                        predicted[row, :n].T.cpu().double(), frames[i].T.double()
                    )
                )
            )
            length_errors.append(abs(n - frames[i].shape[0]))
    return {
        "mcd_db": sum(distortions) / len(distortions),
        "length_error_frames": sum(length_errors) / len(length_errors),
        "unstopped": unstopped,
        "sentences": len(texts),
    }


def evaluate(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
) -> dict[str, Any]:
    """The test scores of the module docstring, as plain values."""
    return {
        "teacher_forced": teacher_forced(model, texts, frames, config, device),
        "free_running": free_running(model, texts, frames, config, device),
        "frame_ms": 1000 * HOP / SAMPLE_RATE,
    }


def evaluation_table(evaluation: dict[str, Any]) -> str:
    """``evaluation.json`` as Markdown."""
    t, f = evaluation["teacher_forced"], evaluation["free_running"]
    return (
        "| test sentences | value |\n|---|---|\n"
        f"| teacher-forced log-mel L1 | {t['l1']:.3f} |\n"
        f"| teacher-forced stop-token accuracy | {100 * t['stop_accuracy']:.1f} % |\n"
        f"| focus rate | {t['focus_rate']:.3f} |\n"
        f"| diagonal mass (±10 % of the text) | {t['diagonal_mass']:.3f} |\n"
        f"| monotonicity | {t['monotonicity']:.3f} |\n"
        f"| free-running MCD (DTW) | {f['mcd_db']:.2f} dB |\n"
        f"| free-running length error | {f['length_error_frames']:.1f} frames |\n"
        f"| free-running without a stop | {f['unstopped']} of {f['sentences']} |\n"
    )


@torch.no_grad()
def synthesize(
    model: Tacotron, text: str, max_frames: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """``text`` spoken by ``model``: the waveform (Griffin-Lim, 60 iterations, frames padded
    with zeros at the ends and to four frames at least, so that any length works; peak 0.95),
    the log-mel frames ``[T, 80]`` and the attention ``[T / r, N]``."""
    model.eval()
    ids = alphabet.encode(text)[None].to(device)
    out, lengths = model.infer(
        ids, torch.tensor([ids.shape[1]], device=device), max_frames=max_frames
    )
    log_mel = model.denormalise(out.after[0, : int(lengths[0])]).double().cpu()
    filters = mel_filterbank(SAMPLE_RATE, N_FFT, BANDS, dtype=torch.float64)
    magnitude = mel_to_magnitude(log_mel.T.exp(), filters)
    magnitude = torch.nn.functional.pad(magnitude, (0, max(0, 4 - magnitude.shape[-1])))
    waveform = griffin_lim(magnitude, N_FFT, HOP, 60, pad_mode="constant")
    waveform = 0.95 * waveform / waveform.abs().max().clamp_min(1e-9)
    return waveform, log_mel, out.alignment[0, : -(-int(lengths[0]) // model.r)].cpu()


def draw_example(
    model: Tacotron,
    text: Tensor,
    frames: Tensor,
    words: str,
    config: TTSConfig,
    device: torch.device,
    folder: Path,
) -> None:
    """alignment.png, spectrogram.png and sample.wav of one test sentence."""
    from reparam.plots.tts import plot_alignments, plot_spectrograms

    model.eval()
    batch = Batch([text], [model.normalise(frames.to(device)).cpu()], config.r, device)
    with torch.no_grad():
        forced = model(batch.text, batch.text_lengths, batch.frames)
    waveform, log_mel, alignment = synthesize(model, words, config.eval_frames, device)
    steps = -(-frames.shape[0] // config.r)
    plot_alignments(
        {"teacher-forced": forced.alignment[0, :steps].cpu(), "free-running": alignment},
        words, folder / "alignment.png",
    )  # fmt: skip
    predicted = model.denormalise(forced.after[0, : frames.shape[0]]).cpu()
    plot_spectrograms(
        {"target (eSpeak)": frames, "teacher-forced": predicted, "free-running": log_mel.float()},
        words, folder / "spectrogram.png",
    )  # fmt: skip
    write_wav(folder / "sample.wav", waveform, SAMPLE_RATE)
