r"""Text-to-speech on the run engine: ``reparam train tts``.

The corpus is the synthesized one of ``--recipe`` (``tts``: one eSpeak voice; built on first
use). Its transcripts become the recognizer's characters (:mod:`reparam.speech.alphabet`; id 0
pads), its audio 80-band log-mel frames normalised per band with the training set's mean and
standard deviation (kept in the model's buffers). A step is one Adam step on a batch of
``batch_size`` utterances of similar length drawn from a seeded generator, teacher-forced, on
:meth:`~reparam.models.tacotron.Tacotron.loss` (frames before and after the postnet, stop
token) plus ``guided_weight`` times Tachibana et al.'s guided-attention penalty
(:func:`reparam.speech.alignment.guided_attention`), plus, with a ``teacher`` run, the
distillation losses (:mod:`reparam.speech.distillation`) against the teacher's attention and
frames, which :func:`lessons` computes once for every training sentence. A period is
``eval_every`` steps; after each, the validation sentences are scored teacher-forced: their
frame L1 after the postnet (``valid_l1``; its negative picks ``best.pt``), and the focus rate,
diagonal mass and word agreement of their attention (``valid_focus``, ``valid_diagonal``,
``valid_words``: the share of decoder steps whose most-attended character is in the word eSpeak
was saying then, :func:`word_timings`), which say when the model has learnt to align.

At the end, from the best weights, ``evaluation.json`` and ``evaluation.md`` hold, on the test
sentences: teacher-forced, the log-mel L1, the stop token's frame accuracy, the focus rate,
diagonal mass, monotonicity and word agreement; free-running (each step fed its own last
frame, up to ``eval_frames``), the mel-cepstral distortion against eSpeak's audio after DTW,
the error of the predicted length, the median ratio of predicted to target length (above 1:
the decoder speaks slower than eSpeak) and the median position of the attention, as a share
of the text, at the group where the stop token fired (near 1: it stops at the text's end).
``alignment.png`` and ``spectrogram.png`` show the first test sentence, and ``sample.wav`` is its free-running synthesis through Griffin-Lim.

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
import statistics
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.data.speech import corpus as speech_corpus
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP, N_FFT, split_features
from reparam.data.speech.recipe import RECIPES, spoken, transcript
from reparam.data.speech.wav import write_wav
from reparam.experiments.asr import length_batches
from reparam.experiments.stepped import SteppedTrainer
from reparam.experiments.tts_config import TTSConfig
from reparam.experiments.vae import fixed_noise
from reparam.models.tacotron import Tacotron, TacotronOutput
from reparam.speech import alphabet, phonemes
from reparam.speech.alignment import (
    diagonal_mass,
    focus_rate,
    guided_attention,
    monotonicity,
    word_agreement,
)
from reparam.speech.distillation import attention_distillation, frame_distillation
from reparam.speech.distortion import mel_cepstral_distortion
from reparam.speech.features import mel_filterbank
from reparam.speech.griffin_lim import griffin_lim, mel_to_magnitude
from reparam.speech.reduction import pad_to_multiple
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import Ranks

BANDS = 80


class Batch:
    """Padded characters ``[B, N]`` and their lengths, padded frames ``[B, T, 80]`` (T a
    multiple of r, in the model's scale) and their lengths, and the speakers ``[B]`` (``None``
    for a single-voice model)."""

    def __init__(
        self,
        texts: list[Tensor],
        frames: list[Tensor],
        r: int,
        device: torch.device,
        speakers: list[int] | None = None,
    ) -> None:
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
        self.speaker = None if speakers is None else torch.tensor(speakers, device=device)

    def forced(self, model: nn.Module) -> TacotronOutput:
        """``model`` (a :class:`Tacotron`, or its distributed wrapper) teacher-forced on the
        batch, each utterance's padding kept from its postnet."""
        return model(self.text, self.text_lengths, self.frames, self.speaker, self.frame_lengths)

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
        teacher = (
            None if config.teacher is None else load_teacher(config.teacher, config, ranks.device)
        )
        self.corpus = speech_corpus.load(config.recipe)
        texts, frames = split_data(self.corpus, "train", config.symbols)
        speakers = split_speakers(self.corpus, "train", config)
        if config.subset is not None:
            keep = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0))
            keep = sorted(keep[: config.subset].tolist())
            texts, frames = [texts[i] for i in keep], [frames[i] for i in keep]
            speakers = None if speakers is None else [speakers[i] for i in keep]
        self.texts, self.speakers = texts, speakers
        self.batches = length_batches([f.shape[0] for f in frames], config.batch_size)
        self.valid_texts, self.valid_frames = split_data(self.corpus, "valid", config.symbols)
        self.valid_timings = word_timings(
            self.corpus, "valid", self.valid_frames, config.r, config.symbols
        )
        self.valid_speakers = split_speakers(self.corpus, "valid", config)
        torch.manual_seed(config.seed)
        self.model = self.build_model(config).to(ranks.device)
        every = torch.cat(frames)
        self.model.frame_mean.copy_(every.mean(0))
        self.model.frame_std.copy_(every.std(0).clamp_min(1e-3))
        with torch.no_grad():  # once, in the model's scale, rather than at every step
            self.frames = [self.model.normalise(f.to(ranks.device)).cpu() for f in frames]
        self.lessons = None
        if teacher is not None:
            self.lessons = lessons(
                teacher, self.model, texts, self.frames, config, ranks.device, speakers
            )
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
        voices = None if self.speakers is None else [self.speakers[i] for i in share]
        batch = Batch([self.texts[i] for i in share], [self.frames[i] for i in share], config.r,
                      self.ranks.device, voices)  # fmt: skip
        output = batch.forced(self.net)
        loss = self.model.loss(output, batch.frames, batch.frame_lengths, config.mel_loss)["total"]
        steps = batch.steps(config.r)
        if config.guided_weight > 0:
            penalty = guided_attention(output.alignment, steps, batch.text_lengths)
            loss = loss + config.guided_weight * penalty
        if self.lessons is not None:
            attention, frames = taught(self.lessons, share, output.alignment, output.after)
            if config.distill_weight > 0:
                kl = attention_distillation(attention, output.alignment, steps, batch.text_lengths)
                loss = loss + config.distill_weight * kl
            if config.soft_target_weight > 0:
                soft = frame_distillation(frames, output.after, batch.frame_lengths)
                loss = loss + config.soft_target_weight * soft
        self.update(loss, config.clip)
        self.sums[0] += float(loss.detach())
        self.sums[1] += 1

    def end_period(self, period: int) -> dict[str, Any]:
        scores = teacher_forced(
            self.model, self.valid_texts, self.valid_frames, self.config, self.ranks.device,
            self.valid_timings, self.valid_speakers,
        )  # fmt: skip
        return {
            "train_loss": self.sums[0] / max(1, self.sums[1]),
            "lr": self.optimizer.param_groups[0]["lr"],
            "valid_l1": scores["l1"],
            "valid_focus": scores["focus_rate"],
            "valid_diagonal": scores["diagonal_mass"],
            "valid_words": scores["word_agreement"],
            "valid_neg_l1": -scores["l1"],
        }

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"loss {row['train_loss']:.3f}  valid L1 {row['valid_l1']:.3f}  "
            f"focus {row['valid_focus']:.2f}  diagonal {row['valid_diagonal']:.2f}  "
            f"words {row['valid_words']:.2f}"
        )

    def images(self) -> dict[str, Tensor]:
        """The first validation sentence, teacher-forced, for TensorBoard: its attention
        (characters up, decoder steps across) and its predicted frames above the target's,
        drawn with fixed noise so that torch's random state is left as it was."""
        from reparam.plots.tts import heat_image

        device, frames = self.ranks.device, self.valid_frames[0]
        voice = None if self.valid_speakers is None else self.valid_speakers[:1]
        batch = Batch([self.valid_texts[0]], [self.model.normalise(frames.to(device)).cpu()],
                      self.config.r, device, voice)  # fmt: skip
        self.model.eval()
        with fixed_noise(device), torch.no_grad():
            out = batch.forced(self.model)
        self.model.train()
        steps = int(batch.steps(self.config.r)[0])
        predicted = self.model.denormalise(out.after[0, : frames.shape[0]]).T.cpu()
        return {
            "alignment": heat_image(out.alignment[0, :steps].T),
            "spectrogram": heat_image(torch.cat([frames.T, predicted], 0)),
        }

    @classmethod
    def build_model(cls, config: TTSConfig) -> Tacotron:
        return Tacotron(
            phonemes.SYMBOLS if config.symbols == "phonemes" else alphabet.CLASSES, BANDS,
            config.r, embedding=config.embedding,
            encoder_units=config.encoder_units, encoder=config.encoder, attention=config.attention,
            attention_dim=config.attention_dim, prenet=(2 * config.prenet, config.prenet),
            attention_rnn=config.attention_rnn, decoder_rnn=config.decoder_rnn,
            postnet_channels=config.postnet_channels, dropout=config.dropout,
            speakers=RECIPES[config.recipe].speakers[0] if config.multi_speaker else 0,
        )  # fmt: skip

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """evaluation.json, evaluation.md, the pictures and sample.wav, from the best weights."""
        device = self.ranks.device
        model = self.build_model(self.config).to(device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", device)["model"])
        texts, frames = split_data(self.corpus, "test", self.config.symbols)
        timings = word_timings(self.corpus, "test", frames, self.config.r, self.config.symbols)
        speakers = split_speakers(self.corpus, "test", self.config)
        evaluation = evaluate(model, texts, frames, self.config, device, timings, speakers)
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
            None if speakers is None else speakers[0],
        )


def split_data(
    corpus: speech_corpus.SpeechCorpus, split: str, symbols: str = "characters"
) -> tuple[list[Tensor], list[Tensor]]:
    """The clean utterances of ``split``: their symbol ids (``characters`` of the transcript,
    or eSpeak's ``phonemes``, :mod:`reparam.speech.phonemes`) and float32 log-mel frames
    ``[T, 80]``."""
    part = corpus.split(split)
    clean = part.select(speech_corpus.CLEAN)
    features = split_features(corpus, split, BANDS)
    if symbols == "phonemes":
        texts = [phonemes.encode([name for _, name in part.phoneme_events(i)]) for i in clean]
    else:
        texts = [alphabet.encode(part.transcripts[i]) for i in clean]
    return texts, [features[i].float().T for i in clean]


def sentence_symbols(sentence: str, symbols: str) -> tuple[Tensor, str]:
    """The symbol ids a model reads for ``sentence`` (as :func:`split_data` makes them: for
    ``phonemes``, eSpeak's phonemes of the sentence as spoken) and its transcript."""
    said = spoken(sentence)
    words = transcript(said) if said is not None else ""
    if said is None or not words:
        raise ValueError(
            f"TEXT must hold words of letters (spell out numbers and symbols); got {sentence!r}"
        )
    if symbols == "phonemes":
        from reparam.data.speech import espeak

        return phonemes.encode([name for _, name in espeak.synthesize(said).phonemes]), words
    return alphabet.encode(words), words


def split_speakers(
    corpus: speech_corpus.SpeechCorpus, split: str, config: TTSConfig
) -> list[int] | None:
    """The speaker of each clean utterance of ``split`` (as :func:`split_data` orders them)
    for a ``multi_speaker`` run; ``None`` otherwise."""
    if not config.multi_speaker:
        return None
    part = corpus.split(split)
    return [int(part.speaker[i]) for i in part.select(speech_corpus.CLEAN)]


def symbol_names(ids: Tensor, symbols: str) -> list[str] | None:
    """The rows' labels of an alignment plot: the phonemes' names, or ``None`` (the
    characters of the text) for a character model."""
    return phonemes.decode(ids.tolist()) if symbols == "phonemes" else None


def word_timings(
    corpus: speech_corpus.SpeechCorpus,
    split: str,
    frames: list[Tensor],
    r: int,
    symbols: str = "characters",
) -> list[tuple[Tensor, Tensor] | None]:
    """For each clean utterance of ``split`` (as :func:`split_data` orders them, with its
    ``frames``), the character spans ``[W, 2]`` in the transcript and decoder-step intervals
    ``[W, 2]`` at reduction factor ``r`` of eSpeak's word events: an event lasts from its start
    to the next one's, and its span runs from its word to the next event's word (the space
    after it included). eSpeak joins unstressed words ("the", "a") to a neighbour without an
    event of their own; such a word counts in the spans of both neighbours. ``None`` where an
    event's word is not found in the transcript. With ``phonemes`` a word's span is the ids
    of the phonemes that start between its event and the next (pauses go with the word
    before them, and anything before the first word with it)."""
    part = corpus.split(split)
    if symbols == "phonemes":
        return [
            phoneme_timing(part.word_events(i), part.phoneme_events(i), frames[k].shape[0], r)
            for k, i in enumerate(part.select(speech_corpus.CLEAN))
        ]
    timings: list[tuple[Tensor, Tensor] | None] = []
    for k, i in enumerate(part.select(speech_corpus.CLEAN)):
        text, words = part.texts[i], part.transcripts[i].split()
        starts = [0]
        for word in words:
            starts.append(starts[-1] + len(word) + 1)
        events, matched, at = part.word_events(i).tolist(), [], 0
        for _, offset, length in events:
            word = transcript(text[offset : offset + length])
            if word:
                found = [j for j in range(at, min(at + 4, len(words))) if words[j] == word]
                if not found:
                    break
                at = found[0] + 1
                matched.append((offset, found[0]))
        if len(matched) != sum(1 for _, o, n in events if transcript(text[o : o + n])):
            timings.append(None)
            continue
        ms = {offset: start for start, offset, _ in events}
        first = [round(ms[offset] * SAMPLE_RATE / (1000 * HOP)) // r for offset, _ in matched]
        last = [*first[1:], -(-frames[k].shape[0] // r)]
        index = [j for _, j in matched]
        lows = [0] + [starts[j + 1] for j in index[:-1]]
        highs = [starts[j] for j in index[1:]] + [starts[-1]]
        timings.append((torch.tensor([lows, highs]).T, torch.tensor([first, last]).T))
    return timings


def phoneme_timing(
    words: Tensor, events: list[tuple[int, str]], frames: int, r: int
) -> tuple[Tensor, Tensor] | None:
    """:func:`word_timings`' spans and intervals of one utterance read as phonemes."""
    starts, position = [], 0
    for ms, name in events:
        starts.append((ms, position))
        position += len(phonemes.encode_one(name))
    word_ms = [ms for ms, _, _ in words.tolist()]
    bounds = []
    for ms, following in zip(word_ms, [*word_ms[1:], None], strict=True):
        inside = [p for t, p in starts if t >= ms and (following is None or t < following)]
        bounds.append(inside[0] if inside else None)
    kept = [(ms, b) for ms, b in zip(word_ms, bounds, strict=True) if b is not None]
    if not kept:
        return None
    lows = [0] + [b for _, b in kept[1:]]  # what comes before the first word goes with it
    highs = [*lows[1:], position]
    first = [round(ms * SAMPLE_RATE / (1000 * HOP)) // r for ms, _ in kept]
    last = [*first[1:], -(-frames // r)]
    return torch.tensor([lows, highs]).T, torch.tensor([first, last]).T


def load_teacher(folder: str, config: TTSConfig, device: torch.device) -> Tacotron:
    """The best weights of the finished ``reparam train tts`` run in ``folder``, in evaluation
    mode; it must share ``config``'s recipe and reduction factor."""
    path = Path(folder).expanduser()
    if not ((path / "config.json").is_file() and (path / "best.pt").is_file()):
        raise ValueError(f"--teacher {folder} is not a finished run (no config.json and best.pt)")
    values = json.loads((path / "config.json").read_text())
    if values.pop("trainer", None) != "tts":
        raise ValueError(f"--teacher {folder} is not a tts run")
    taught_by = TTSConfig.from_dict(values)
    if (taught_by.recipe, taught_by.r) != (config.recipe, config.r):
        raise ValueError(
            f"--teacher {folder} was trained on --recipe {taught_by.recipe} at --r {taught_by.r}; "
            f"this run has --recipe {config.recipe} and --r {config.r}"
        )
    teacher = TTSTrainer.build_model(taught_by).to(device)
    teacher.load_state_dict(load_checkpoint(path / "best.pt", device)["model"])
    return teacher.eval()


@torch.no_grad()
def lessons(
    teacher: Tacotron,
    student: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
    speakers: list[int] | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """The teacher's teacher-forced attention ``[S_i, N_i]`` and frames after its postnet
    ``[T_i, 80]`` (in the student's scale) for each training sentence, whose ``frames`` are in
    the student's scale: computed once, from ``config.seed`` (the prenets' dropout)."""
    torch.manual_seed(config.seed)
    out: list[tuple[Tensor, Tensor] | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: frames[i].shape[0])
    for start in range(0, len(order), 16):
        indices = order[start : start + 16]
        scaled = [
            teacher.normalise(student.denormalise(frames[i].to(device))).cpu() for i in indices
        ]
        voices = None if teacher.speaker_table is None else [speakers[i] for i in indices]
        batch = Batch([texts[i] for i in indices], scaled, config.r, device, voices)
        result = batch.forced(teacher)
        predicted = student.normalise(teacher.denormalise(result.after))
        for row, (i, steps) in enumerate(zip(indices, batch.steps(config.r).tolist(), strict=True)):
            n, t = int(batch.text_lengths[row]), int(batch.frame_lengths[row])
            out[i] = (result.alignment[row, :steps, :n].cpu(), predicted[row, :t].cpu())
    return out  # type: ignore[return-value]


def taught(
    lessons: list[tuple[Tensor, Tensor]], share: list[int], alignment: Tensor, frames: Tensor
) -> tuple[Tensor, Tensor]:
    """The lessons of the batch ``share`` padded with zeros to the student's ``alignment``
    ``[B, S, N]`` and ``frames`` ``[B, T, 80]``."""
    attention, predicted = torch.zeros_like(alignment), torch.zeros_like(frames)
    for row, i in enumerate(share):
        a, f = lessons[i]
        attention[row, : a.shape[0], : a.shape[1]] = a
        predicted[row, : f.shape[0]] = f
    return attention, predicted


@torch.no_grad()
def teacher_forced(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
    timings: list[tuple[Tensor, Tensor] | None] | None = None,
    speakers: list[int] | None = None,
) -> dict[str, float]:
    """Teacher-forced scores of the sentences: the log-mel L1 after the postnet (in the
    log-mel's own scale), the stop token's accuracy over the valid groups, and the focus rate,
    diagonal mass and monotonicity of the attention, and with ``timings``
    (:func:`word_timings`) its mean word agreement over the sentences that have them."""
    was_training = model.training
    model.eval()
    sums = {"l1": 0.0, "frames": 0, "stop": 0.0, "groups": 0, "focus_rate": 0.0, "diagonal_mass": 0.0,
            "monotonicity": 0.0, "batches": 0, "words": 0.0, "timed": 0}  # fmt: skip
    for start in range(0, len(texts), 16):
        indices = range(start, min(start + 16, len(texts)))
        normalised = [model.normalise(frames[i].to(device)).cpu() for i in indices]
        voices = None if speakers is None else [speakers[i] for i in indices]
        batch = Batch([texts[i] for i in indices], normalised, config.r, device, voices)
        out = batch.forced(model)
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
        for row, i in enumerate(indices):
            if timings is not None and timings[i] is not None:
                spans, intervals = timings[i]
                alignment = out.alignment[row, : int(steps[row]), : int(batch.text_lengths[row])]
                sums["words"] += float(word_agreement(alignment, spans, intervals))
                sums["timed"] += 1
    model.train(was_training)
    n = sums["batches"]
    return {
        "l1": sums["l1"] / sums["frames"],
        "stop_accuracy": sums["stop"] / sums["groups"],
        "focus_rate": sums["focus_rate"] / n,
        "diagonal_mass": sums["diagonal_mass"] / n,
        "monotonicity": sums["monotonicity"] / n,
        "word_agreement": sums["words"] / sums["timed"] if sums["timed"] else float("nan"),
        "timed_sentences": sums["timed"],
        "sentences": n,
    }


@torch.no_grad()
def free_running(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
    speakers: list[int] | None = None,
) -> dict[str, float]:
    """Free-running synthesis of the sentences (by their ``speakers`` for a multi-speaker
    model): the mean MCD (dB, after DTW) against the target, the mean absolute error of the
    predicted length (frames), the median ratio of predicted to target length, the median
    attended position (argmax over the text, as a share of it) at the group that stopped,
    and how many sentences reached ``eval_frames`` without stopping."""
    model.eval()
    distortions, length_errors, unstopped = [], [], 0
    ratios, stop_positions = [], []
    for start in range(0, len(texts), 16):
        indices = list(range(start, min(start + 16, len(texts))))
        voices = None if speakers is None else [speakers[i] for i in indices]
        batch = Batch(
            [texts[i] for i in indices], [frames[i][:1] for i in indices], config.r, device, voices
        )
        out, lengths = model.infer(
            batch.text, batch.text_lengths, batch.speaker, max_frames=config.eval_frames
        )
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
            ratios.append(n / frames[i].shape[0])
            symbols = int(batch.text_lengths[row])
            attended = int(out.alignment[row, n // config.r - 1, :symbols].argmax())
            stop_positions.append(attended / max(symbols - 1, 1))
    return {
        "mcd_db": sum(distortions) / len(distortions),
        "length_error_frames": sum(length_errors) / len(length_errors),
        "length_ratio": statistics.median(ratios),
        "attention_at_stop": statistics.median(stop_positions),
        "unstopped": unstopped,
        "sentences": len(texts),
    }


def evaluate(
    model: Tacotron,
    texts: list[Tensor],
    frames: list[Tensor],
    config: TTSConfig,
    device: torch.device,
    timings: list[tuple[Tensor, Tensor] | None] | None = None,
    speakers: list[int] | None = None,
) -> dict[str, Any]:
    """The test scores of the module docstring, as plain values."""
    return {
        "teacher_forced": teacher_forced(model, texts, frames, config, device, timings, speakers),
        "free_running": free_running(model, texts, frames, config, device, speakers),
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
        f"| word agreement with eSpeak ({t['timed_sentences']} sentences) | "
        f"{t['word_agreement']:.3f} |\n"
        f"| free-running MCD (DTW) | {f['mcd_db']:.2f} dB |\n"
        f"| free-running length error | {f['length_error_frames']:.1f} frames |\n"
        f"| free-running length over the target's (median) | {f['length_ratio']:.2f} |\n"
        f"| attended share of the text at the stop (median) | {f['attention_at_stop']:.2f} |\n"
        f"| free-running without a stop | {f['unstopped']} of {f['sentences']} |\n"
    )


@torch.no_grad()
def synthesize(
    model: Tacotron,
    text: Tensor,
    max_frames: int,
    device: torch.device,
    speaker: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The symbol ids ``text`` (:func:`sentence_symbols`) spoken by ``model`` (in the voice ``speaker`` of a multi-speaker one, which
    needs it): the waveform (Griffin-Lim, 60 iterations, frames padded
    with zeros at the ends and to four frames at least, so that any length works; peak 0.95),
    the log-mel frames ``[T, 80]`` and the attention ``[T / r, N]``."""
    model.eval()
    if model.speaker_table is None and speaker is not None:
        raise ValueError("--speaker is only for a multi-speaker run (--multi-speaker)")
    if model.speaker_table is not None and speaker is None:
        raise ValueError(f"--speaker is needed: the run has {model.speakers} voices")
    if speaker is not None and not 0 <= speaker < model.speakers:
        raise ValueError(f"--speaker must lie in [0, {model.speakers - 1}], got {speaker}")
    ids = text[None].to(device)
    voice = None if speaker is None else torch.tensor([speaker], device=device)
    out, lengths = model.infer(
        ids, torch.tensor([ids.shape[1]], device=device), voice, max_frames=max_frames
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
    speaker: int | None = None,
) -> None:
    """alignment.png, spectrogram.png and sample.wav of one test sentence (by ``speaker``)."""
    from reparam.plots.tts import plot_alignments, plot_spectrograms

    model.eval()
    voice = None if speaker is None else [speaker]
    batch = Batch([text], [model.normalise(frames.to(device)).cpu()], config.r, device, voice)
    with torch.no_grad():
        forced = batch.forced(model)
    waveform, log_mel, alignment = synthesize(model, text, config.eval_frames, device, speaker)
    steps = -(-frames.shape[0] // config.r)
    plot_alignments(
        {"teacher-forced": forced.alignment[0, :steps].cpu(), "free-running": alignment},
        words, folder / "alignment.png", symbol_names(text, config.symbols),
    )  # fmt: skip
    predicted = model.denormalise(forced.after[0, : frames.shape[0]]).cpu()
    plot_spectrograms(
        {"target (eSpeak)": frames, "teacher-forced": predicted, "free-running": log_mel.float()},
        words, folder / "spectrogram.png",
    )  # fmt: skip
    write_wav(folder / "sample.wav", waveform, SAMPLE_RATE)
