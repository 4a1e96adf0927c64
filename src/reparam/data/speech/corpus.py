r"""A synthesized speech corpus: built from its :class:`~reparam.data.speech.recipe.Recipe` by
eSpeak NG, cached, verified and loaded.

:func:`build` draws each speaker's voice and each utterance's sentence and jitter from
generators seeded by the recipe's seed, synthesizes the clean utterances, and appends the
degraded copies the recipe asks for (noise, reverberation: :mod:`.augment`). The corpus is
kept in the user's cache folder, ``~/.cache/reparam/speech/<recipe>-<digest>/`` (never beside
the data or in the repository), as

- ``recipe.json``: the recipe, the eSpeak NG version and the wheel that made it;
- ``speakers.json``: each speaker's split and voice;
- ``<split>.pt``: the split's utterances (see :class:`SpeechSplit`), serialised by
  ``torch.save``; its bytes depend only on the recipe and the eSpeak version;
- ``manifest.json``: each split's SHA-256, utterance count and hours, written last, so a
  folder without it is an unfinished build.

:func:`load` builds the corpus when it is missing, and checks the files against the manifest.

Example:
    >>> corpus = load("asr-small")  # doctest: +SKIP
    >>> corpus.split("test").transcripts[0]  # doctest: +SKIP
    'she was not the better for it'
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from reparam.data import cache
from reparam.data.sentences import load_corpus
from reparam.data.speech import augment, espeak
from reparam.data.speech.recipe import RECIPES, SPLITS, Recipe, spoken, transcript

CLEAN, NOISY = 0, 1


def cache_root() -> Path:
    """Where corpora are kept: ``$REPARAM_SPEECH_CACHE``, else ``~/.cache/reparam/speech``
    (under ``$XDG_CACHE_HOME`` when set)."""
    override = os.environ.get("REPARAM_SPEECH_CACHE")
    return Path(override).expanduser() if override else cache.FOLDER.parent / "speech"


def folder_of(recipe: Recipe, root: Path | None = None) -> Path:
    """The folder of ``recipe``'s corpus."""
    return (root or cache_root()) / f"{recipe.name}-{recipe.digest()}"


@dataclass(frozen=True)
class SpeechSplit:
    """The utterances of one split. ``samples`` holds them all end to end (int16 at
    :data:`~reparam.data.speech.espeak.SAMPLE_RATE`), utterance i being
    ``samples[offsets[i]:offsets[i + 1]]``; per utterance, ``speaker`` (the corpus's speaker
    index), ``condition`` (0 clean, 1 degraded), ``source`` (the clean utterance it is a copy
    of, itself when clean), ``texts`` (what eSpeak read), ``transcripts`` (the reference of
    :func:`~reparam.data.speech.recipe.transcript`), and its events: words (start ms,
    character offset in the text, length) and phonemes (start ms, eSpeak mnemonic), flattened
    with their own offsets."""

    samples: Tensor
    offsets: Tensor
    speaker: Tensor
    condition: Tensor
    source: Tensor
    texts: tuple[str, ...]
    transcripts: tuple[str, ...]
    words: Tensor
    word_offsets: Tensor
    phoneme_ms: Tensor
    phonemes: tuple[str, ...]
    phoneme_offsets: Tensor

    def __len__(self) -> int:
        return self.speaker.numel()

    def waveform(self, index: int) -> Tensor:
        """Utterance ``index`` as float32 in [−1, 1]."""
        return self.samples[self.offsets[index] : self.offsets[index + 1]].float() / 32768

    def word_events(self, index: int) -> Tensor:
        """Utterance ``index``'s word events, ``[words, 3]``: start ms, offset, length."""
        return self.words[self.word_offsets[index] : self.word_offsets[index + 1]]

    def phoneme_events(self, index: int) -> list[tuple[int, str]]:
        """Utterance ``index``'s phoneme events: (start ms, mnemonic)."""
        lo, hi = self.phoneme_offsets[index].item(), self.phoneme_offsets[index + 1].item()
        return list(zip(self.phoneme_ms[lo:hi].tolist(), self.phonemes[lo:hi], strict=True))

    def hours(self) -> float:
        """The split's duration in hours."""
        return self.samples.numel() / espeak.SAMPLE_RATE / 3600

    def select(self, condition: int) -> list[int]:
        """The indices of the utterances in ``condition`` (:data:`CLEAN` or :data:`NOISY`)."""
        return (self.condition == condition).nonzero().flatten().tolist()

    def to_dict(self) -> dict:
        """The split as tensors, strings and lists (what ``<split>.pt`` holds)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict) -> SpeechSplit:
        """The split of :meth:`to_dict`'s output."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class SpeechCorpus:
    """A loaded corpus: its recipe, folder, speakers' voices, and the three splits."""

    recipe: Recipe
    folder: Path
    voices: tuple[espeak.Voice, ...]
    speaker_split: tuple[str, ...]
    splits: dict[str, SpeechSplit]

    def split(self, name: str) -> SpeechSplit:
        """The split ``name`` (``train``, ``valid``, ``test``)."""
        if name not in self.splits:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {name!r}")
        return self.splits[name]

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {len(self.splits[s])}" for s in SPLITS)
        return f"SpeechCorpus({self.recipe.name!r}: {counts} utterances, {len(self.voices)} voices)"


def draw_voices(recipe: Recipe) -> list[espeak.Voice]:
    """Each speaker's voice: distinct (accent, variant) pairs drawn without replacement (pairs
    recur, with other pitches and rates, only past all 832), pitch, range and rate uniform."""
    generator = torch.Generator().manual_seed(recipe.seed)
    pairs = [(a, v) for a in espeak.ACCENTS for v in espeak.VARIANTS]
    total = recipe.speakers[0] if recipe.shared_speakers else sum(recipe.speakers)
    order = torch.cat(
        [torch.randperm(len(pairs), generator=generator) for _ in range(-(-total // len(pairs)))]
    )
    voices = []
    for index in order[:total].tolist():

        def uniform(low_high: tuple[int, int]) -> int:
            low, high = low_high
            return int(torch.randint(low, high + 1, (), generator=generator))

        accent, variant = pairs[index]
        voices.append(
            espeak.Voice(
                accent,
                variant,
                uniform(recipe.pitch),
                uniform(recipe.pitch_range),
                uniform(recipe.rate),
            )
        )
    return voices


def sentence_pool(recipe: Recipe, split: str) -> list[str]:
    """The sentences ``split``'s speakers read: the text corpus's ``split``, as eSpeak is to
    read them, with ``recipe.words`` words; refused when too few."""
    low, high = recipe.words
    texts = [spoken(t) for t in load_corpus(recipe.text).text(split)]
    pool = [t for t in texts if t is not None and low <= len(transcript(t).split()) <= high]
    if not pool:
        raise ValueError(
            f"the {recipe.text} corpus's {split} split has no sentence of {low}-{high} words"
        )
    return pool


def _generator(recipe: Recipe, *parts: object) -> torch.Generator:
    """A generator for one draw, seeded from the recipe's seed and ``parts`` (so that every
    utterance's draws are independent of every other's)."""
    key = hashlib.sha256(repr((recipe.seed, *parts)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little"))


def _jittered(voice: espeak.Voice, recipe: Recipe, g: torch.Generator) -> espeak.Voice:
    def shift(value: int, jitter: int, low: int, high: int) -> int:
        step = int(torch.randint(-jitter, jitter + 1, (), generator=g)) if jitter else 0
        return min(max(value + step, low), high)

    return espeak.Voice(
        voice.accent,
        voice.variant,
        shift(voice.pitch, recipe.pitch_jitter, 0, 99),
        voice.pitch_range,
        shift(voice.rate, recipe.rate_jitter, 80, 450),
    )


def degrade(samples: Tensor, recipe: Recipe, g: torch.Generator) -> Tensor:
    """``samples`` (int16) with noise at an SNR drawn in ``recipe.snr_db`` and, with
    probability ``recipe.reverb_probability``, a room of :math:`T_{60}` drawn in
    ``recipe.rt60``."""
    signal = samples.double()
    if torch.rand((), generator=g, dtype=torch.float64) < recipe.reverb_probability:
        low, high = recipe.rt60
        rt60 = low + (high - low) * torch.rand((), generator=g, dtype=torch.float64).item()
        signal = augment.reverberate(signal, augment.room_response(rt60, espeak.SAMPLE_RATE, g))
    low, high = recipe.snr_db
    snr = low + (high - low) * torch.rand((), generator=g, dtype=torch.float64).item()
    colour = recipe.colours[int(torch.randint(len(recipe.colours), (), generator=g))]
    return augment.to_int16(augment.add_noise(signal, snr, colour, g))


def _speakers_of(recipe: Recipe, split: str) -> range:
    if recipe.shared_speakers:
        return range(recipe.speakers[0])
    start = sum(recipe.speakers[: SPLITS.index(split)])
    return range(start, start + recipe.speakers[SPLITS.index(split)])


def build_split(
    recipe: Recipe,
    split: str,
    voices: list[espeak.Voice],
    advance: Callable[[int], None] = lambda n: None,
) -> SpeechSplit:
    """Synthesize ``split``: each of its speakers reads ``recipe.utterances`` sentences drawn
    without replacement from the split's pool; degraded copies follow the clean utterances."""
    pool = sentence_pool(recipe, split)
    per_speaker = recipe.utterances[SPLITS.index(split)]
    rows: list[tuple[int, int, int, str, espeak.Speech]] = []
    for speaker in _speakers_of(recipe, split):
        g = _generator(recipe, split, speaker, "sentences")
        order = torch.randperm(len(pool), generator=g)[:per_speaker].tolist()
        if len(order) < per_speaker:
            order += torch.randint(len(pool), (per_speaker - len(order),), generator=g).tolist()
        for index, sentence in enumerate(pool[i] for i in order):
            voice = _jittered(voices[speaker], recipe, _generator(recipe, split, speaker, index))
            speech = espeak.synthesize(sentence, voice)
            rows.append((speaker, CLEAN, len(rows), sentence, speech))
            advance(1)
    degraded = []
    for source, (speaker, _, _, sentence, speech) in enumerate(rows):
        g = _generator(recipe, split, source, "degrade")
        chosen = torch.rand((), generator=g) < recipe.train_degraded_fraction
        if split in recipe.degraded or (split == "train" and chosen):
            degraded.append((speaker, NOISY, source, sentence, speech, g))
    for speaker, condition, source, sentence, speech, g in degraded:
        samples = degrade(speech.samples, recipe, g)
        copy = espeak.Speech(samples, speech.words, speech.phonemes)
        rows.append((speaker, condition, source, sentence, copy))
        advance(1)
    return _assemble(rows)


def _assemble(rows: list[tuple[int, int, int, str, espeak.Speech]]) -> SpeechSplit:
    speeches = [row[4] for row in rows]

    def offsets(lengths: list[int]) -> Tensor:
        return torch.tensor([0, *lengths], dtype=torch.int64).cumsum(0)

    words = [torch.tensor(s.words, dtype=torch.int32).reshape(-1, 3) for s in speeches]
    return SpeechSplit(
        samples=torch.cat([s.samples for s in speeches]) if speeches else torch.zeros(0),
        offsets=offsets([s.samples.numel() for s in speeches]),
        speaker=torch.tensor([row[0] for row in rows], dtype=torch.int64),
        condition=torch.tensor([row[1] for row in rows], dtype=torch.int8),
        source=torch.tensor([row[2] for row in rows], dtype=torch.int64),
        texts=tuple(row[3] for row in rows),
        transcripts=tuple(transcript(row[3]) for row in rows),
        words=torch.cat(words) if words else torch.zeros(0, 3, dtype=torch.int32),
        word_offsets=offsets([len(w) for w in words]),
        phoneme_ms=torch.tensor([ms for s in speeches for ms, _ in s.phonemes], dtype=torch.int32),
        phonemes=tuple(name for s in speeches for _, name in s.phonemes),
        phoneme_offsets=offsets([len(s.phonemes) for s in speeches]),
    )


def serialise(split: SpeechSplit) -> bytes:
    """The bytes of ``<split>.pt``."""
    buffer = io.BytesIO()
    torch.save(split.to_dict(), buffer)
    return buffer.getvalue()


def total_utterances(recipe: Recipe) -> int:
    """How many clean utterances the recipe synthesizes (the progress bar's total)."""
    return sum(recipe.utterances_in(split) for split in SPLITS)


def build(
    recipe: Recipe | str,
    root: Path | None = None,
    *,
    overwrite: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> Path:
    """Build ``recipe``'s corpus (a :class:`Recipe` or a name of
    :data:`~reparam.data.speech.recipe.RECIPES`) into its folder and return the folder.

    A complete corpus already there is kept (``overwrite`` rebuilds it); an unfinished one is
    rebuilt. ``advance(n)`` is called as utterances are made.
    """
    recipe = recipe_named(recipe)
    folder = folder_of(recipe, root)
    if (folder / "manifest.json").is_file() and not overwrite:
        return folder
    voices = draw_voices(recipe)
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    header = {"recipe": recipe.to_dict(), "espeak": espeak.version(), "wheel": espeak.WHEEL}
    _write_json(staging / "recipe.json", header)
    homes = [split for split in SPLITS for _ in _speakers_of(recipe, split)]
    if recipe.shared_speakers:
        homes = ["train"] * len(voices)
    speakers = [
        {"speaker": i, "split": home, **voice.__dict__}
        for i, (home, voice) in enumerate(zip(homes, voices, strict=True))
    ]
    _write_json(staging / "speakers.json", speakers)
    manifest = {}
    for split in SPLITS:
        made = build_split(recipe, split, voices, advance)
        data = serialise(made)
        (staging / f"{split}.pt").write_bytes(data)
        manifest[split] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "utterances": len(made),
            "hours": round(made.hours(), 4),
        }
    _write_json(staging / "manifest.json", manifest)
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    return folder


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def recipe_named(recipe: Recipe | str) -> Recipe:
    """``recipe`` itself, or the named recipe; an unknown name is an error listing them."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    return RECIPES[recipe]


def verify(folder: Path) -> dict[str, dict]:
    """The manifest of the corpus in ``folder``, after checking every split's SHA-256 and the
    eSpeak NG version against it; a ``ValueError`` naming the file otherwise."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{folder} holds no finished corpus (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    for split, entry in manifest.items():
        path = folder / f"{split}.pt"
        if not path.is_file():
            raise ValueError(f"{path} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ValueError(f"{path} is corrupt (its SHA-256 differs from the manifest's)")
    return manifest


def load(
    recipe: Recipe | str, root: Path | None = None, *, build_missing: bool = True
) -> SpeechCorpus:
    """The corpus of ``recipe``, built first when missing (unless ``build_missing`` is
    false: then a ``FileNotFoundError`` names the command that builds it)."""
    recipe = recipe_named(recipe)
    folder = folder_of(recipe, root)
    if not (folder / "manifest.json").is_file():
        if not build_missing:
            raise FileNotFoundError(
                f"no {recipe.name} corpus in {folder}: run `reparam data speech --recipe "
                f"{recipe.name}`"
            )
        build(recipe, root)
    verify(folder)
    header = json.loads((folder / "recipe.json").read_text())
    if Recipe.from_dict(header["recipe"]) != recipe:
        raise ValueError(f"{folder / 'recipe.json'} records another recipe")
    speakers = json.loads((folder / "speakers.json").read_text())
    voice_fields = espeak.Voice.__dataclass_fields__
    voices = tuple(espeak.Voice(**{k: s[k] for k in voice_fields}) for s in speakers)
    splits = {
        split: SpeechSplit.from_dict(torch.load(folder / f"{split}.pt", weights_only=True))
        for split in SPLITS
    }
    return SpeechCorpus(recipe, folder, voices, tuple(s["split"] for s in speakers), splits)
