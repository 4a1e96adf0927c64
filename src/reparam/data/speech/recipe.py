r"""A speech corpus's recipe: everything it is made from, so the corpus is a function of it.

A recipe names the sentence corpus (:mod:`reparam.data.sentences`) and the sentence lengths,
the number of speakers and of utterances per speaker in each split, how speakers' voices are
drawn (an accent and variant without replacement, a base pitch, pitch range and rate each
uniform in their ranges) and jittered per utterance, the degraded condition (noise at an SNR
drawn in ``snr_db``, of a colour drawn from ``colours``, and with probability
``reverb_probability`` a room of :math:`T_{60}` drawn in ``rt60``), which splits get a
degraded copy, and the seed. Train, validation and test speakers are disjoint, and read
sentences of the text corpus's own train, validation and test splits, unless ``shared_speakers``
(one set of voices reading the three splits' sentences, as a text-to-speech corpus wants).

:data:`RECIPES` are the named ones of ``reparam data speech --recipe``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

from reparam.data.speech.augment import COLOURS

SPLITS = ("train", "valid", "test")
CONDITIONS = ("clean", "noisy")


@dataclass(frozen=True)
class Recipe:
    """The recipe of a speech corpus (see the module's docstring).

    >>> RECIPES["asr-small"].utterances_in("test")
    4
    """

    name: str
    speakers: tuple[int, int, int]
    utterances: tuple[int, int, int]
    text: str = "embedded"
    words: tuple[int, int] = (3, 12)
    pitch: tuple[int, int] = (25, 75)
    pitch_range: tuple[int, int] = (30, 80)
    rate: tuple[int, int] = (140, 200)
    pitch_jitter: int = 0
    rate_jitter: int = 0
    degraded: tuple[str, ...] = ()
    train_degraded_fraction: float = 0.0
    snr_db: tuple[float, float] = (5.0, 20.0)
    colours: tuple[str, ...] = ("white", "pink", "brown")
    reverb_probability: float = 0.5
    rt60: tuple[float, float] = (0.2, 0.6)
    shared_speakers: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("speakers", "utterances"):
            value = getattr(self, name)
            if len(value) != 3 or any(not isinstance(n, int) or n < 0 for n in value):
                raise ValueError(f"{name} must be three counts (train, valid, test); got {value}")
        if self.speakers[0] < 1 or (self.shared_speakers and any(self.speakers[1:])):
            raise ValueError(
                f"speakers must have a train speaker (and with shared_speakers only those); "
                f"got {self.speakers}"
            )
        for name, low, high in (
            ("words", 1, 200),
            ("pitch", 0, 99),
            ("pitch_range", 0, 99),
            ("rate", 80, 450),
        ):
            lo, hi = getattr(self, name)
            if not low <= lo <= hi <= high:
                raise ValueError(f"{name} must be a range within [{low}, {high}]; got {(lo, hi)}")
        unknown = [split for split in self.degraded if split not in SPLITS]
        if unknown:
            raise ValueError(f"degraded must name splits of {SPLITS}; got {self.degraded}")
        if not set(self.colours) <= set(COLOURS) or not self.colours:
            raise ValueError(f"colours must be among {', '.join(COLOURS)}; got {self.colours}")
        for name in ("train_degraded_fraction", "reverb_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {getattr(self, name)}")
        if not 0 < self.rt60[0] <= self.rt60[1] or self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"rt60 and snr_db must be ranges; got {self.rt60}, {self.snr_db}")

    def speakers_in(self, split: str) -> int:
        """How many speakers read ``split`` (all of them when speakers are shared)."""
        return self.speakers[0] if self.shared_speakers else self.speakers[SPLITS.index(split)]

    def utterances_in(self, split: str) -> int:
        """How many clean utterances ``split`` holds."""
        return self.speakers_in(split) * self.utterances[SPLITS.index(split)]

    def to_dict(self) -> dict:
        """The recipe as plain JSON values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        """The recipe of :meth:`to_dict`'s output."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown recipe fields: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def digest(self) -> str:
        """The first 10 hex digits of the SHA-256 of the recipe's JSON: its cache key."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


RECIPES = {
    "asr-small": Recipe(
        "asr-small", speakers=(4, 1, 1), utterances=(6, 4, 4), words=(3, 8), degraded=("test",)
    ),
    "asr": Recipe(
        "asr",
        speakers=(160, 12, 24),
        utterances=(20, 10, 10),
        words=(4, 14),
        pitch_jitter=6,
        rate_jitter=15,
        degraded=("valid", "test"),
        train_degraded_fraction=0.2,
    ),
    "asr-large": Recipe(
        "asr-large",
        speakers=(600, 20, 40),
        utterances=(10, 10, 10),
        words=(4, 14),
        pitch_jitter=6,
        rate_jitter=15,
        degraded=("valid", "test"),
        train_degraded_fraction=0.2,
        seed=3,
    ),
    "asr-austen": Recipe(
        "asr-austen",
        text="austen",
        speakers=(600, 20, 40),
        utterances=(16, 10, 10),
        words=(4, 14),
        pitch_jitter=6,
        rate_jitter=15,
        degraded=("valid", "test"),
        train_degraded_fraction=0.2,
        seed=4,
    ),
    "speakers-small": Recipe(
        "speakers-small",
        speakers=(6, 2, 3),
        utterances=(4, 3, 3),
        words=(3, 8),
        degraded=("valid", "test"),
        seed=1,
    ),
    "speakers": Recipe(
        "speakers",
        speakers=(240, 20, 80),
        utterances=(10, 6, 6),
        words=(6, 16),
        pitch_jitter=6,
        rate_jitter=15,
        degraded=("valid", "test"),
        seed=1,
    ),
    "tts-small": Recipe(
        "tts-small",
        speakers=(1, 0, 0),
        utterances=(4, 2, 2),
        words=(3, 5),
        pitch=(50, 50),
        pitch_range=(50, 50),
        rate=(165, 165),
        shared_speakers=True,
        seed=5,
    ),
    "tts": Recipe(
        "tts",
        speakers=(1, 0, 0),
        utterances=(1200, 60, 60),
        words=(3, 16),
        pitch=(50, 50),
        pitch_range=(50, 50),
        rate=(165, 165),
        shared_speakers=True,
        seed=2,
    ),
    "tts-voices": Recipe(
        "tts-voices",
        speakers=(4, 0, 0),
        utterances=(300, 15, 15),
        words=(3, 16),
        rate=(165, 165),
        shared_speakers=True,
        seed=3,
    ),
    "tts-voices-small": Recipe(
        "tts-voices-small",
        speakers=(2, 0, 0),
        utterances=(2, 1, 1),
        words=(3, 5),
        rate=(165, 165),
        shared_speakers=True,
        seed=6,
    ),
}
"""The named recipes. ``asr-small`` (6 speakers, 36 utterances) and ``speakers-small`` (11
speakers, 39) for tests. ``asr``: 196 speakers, 3,560 clean utterances (3.2 h of the 3.5 h),
a fifth of the training set degraded, degraded copies of validation and test. ``asr-large``:
the same with 660 speakers reading 10 sentences each (6,600 clean utterances), for a
recognizer that must generalise across more voices; its text is still the shipped sample, so
the 6,000 training utterances read only 1,924 distinct sentences. ``asr-austen``: 660 speakers
reading Jane Austen's six novels (``reparam data fetch-austen``; 11,403 training sentences of
4–14 words), 16 utterances each in training: more voices and more sentences. ``speakers``:
340 speakers, 3,000 clean utterances, for verification: clean training, clean and degraded
held-out speakers. ``tts``: one voice reading 1,320 sentences; ``tts-small``: the same voice
reading 8 short ones, for tests. ``tts-voices``: four voices (accents, variants and pitches
drawn) reading 330 sentences each, for a multi-speaker synthesizer; ``tts-voices-small``: two
reading 4 short ones, for tests."""

ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Dr|St|mr|mrs|dr|st)\.")
_NOT_LETTERS = re.compile(r"[^a-z']+")


def spoken(sentence: str) -> str | None:
    """The text eSpeak is given for ``sentence``: abbreviations spelled out; ``None`` for a
    sentence with digits or other symbols eSpeak would read aloud.

    >>> spoken('"My dear Mr. Bennet," said his lady.')
    '"My dear mister Bennet," said his lady.'
    """
    if re.search(r"[0-9&%$#@/\\_*+=<>|~^\[\]{}]", sentence):
        return None
    return _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], sentence)


def transcript(text: str) -> str:
    """The reference a recognizer is scored against: lower case, letters and apostrophes,
    words separated by one space.

    >>> transcript('"My dear mister Bennet," said his lady.')
    'my dear mister bennet said his lady'
    """
    words = _NOT_LETTERS.sub(" ", text.lower().replace("’", "'")).split()
    return " ".join(word.strip("'") for word in words if word.strip("'"))
