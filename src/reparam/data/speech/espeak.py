r"""eSpeak NG, the formant synthesizer, called in-process through its shared library.

The library and its voice data come from the PyPI wheel ``espeakng-loader``
(``pip install "reparam[speech]"``), pinned to one version (:data:`WHEEL`, which ships eSpeak NG
:data:`ESPEAK_VERSION`): the audio of a sentence differs between eSpeak versions, and between
its command line and its library, so reparam uses this one path only, and a corpus records the
version that made it.

The library keeps state from one sentence to the next (its pitch flutter runs on across calls,
and survives ``espeak_Terminate``), so the same sentence comes out differently the second time
in a process. Every sentence is therefore spoken in a child process of its own, forked from
a small worker (:mod:`.espeak_worker`, no torch) that has loaded and initialised the library
but never spoken: the audio is a function of the text and the voice alone, and a sentence
costs a fork (about 1 ms) more than in-process synthesis.

A voice is an accent (:data:`ACCENTS`, eSpeak's English language ids) with a variant
(:data:`VARIANTS`, the files of ``voices/!v``: formant, breath and pitch-contour settings), a
base pitch ``0–99``, a pitch range ``0–99`` and a rate in words per minute ``80–450``.

Besides the 22,050 Hz mono samples, the library reports an event at the start of each word
(its character offset and length in the text) and of each phoneme (its eSpeak mnemonic), with
the audio time; :func:`synthesize` returns them as ground-truth alignments.

Reference:
    Dunn, Vitolins et al., eSpeak NG, https://github.com/espeak-ng/espeak-ng (GPL-3.0).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from reparam.data.speech import espeak_worker

WHEEL = "espeakng-loader==0.2.4"
ESPEAK_VERSION = "1.52.0"
LOADER = "espeakng_loader"
INSTALL, SAMPLE_RATE = espeak_worker.INSTALL, espeak_worker.SAMPLE_RATE

ACCENTS = (
    "en",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-us",
    "en-us-nyc",
)
"""eSpeak NG's English accents: Great Britain, Caribbean, Scotland, Lancaster, West Midlands,
Received Pronunciation, America, New York City."""

VARIANTS = (
    "", "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Demonic", "Denis", "Diogo",
    "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike",
    "Mr serious", "Nguyen", "Reed", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm",
    "Tweaky", "UniRobot", "adam", "anika", "anikaRobot", "announcer", "antonio", "aunty",
    "belinda", "benjamin", "boris", "croak", "david", "ed", "edward", "edward2", "f1", "f2",
    "f3", "f4", "f5", "gene", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "iven3",
    "iven4", "john", "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "linda",
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel", "miguel",
    "mike2", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "robosoft",
    "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7", "robosoft8",
    "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac",
)  # fmt: skip
"""The voice variants: eSpeak NG 1.52's ``voices/!v`` files, less those that sound like
another (``fast`` is no variant, ``klatt6`` and ``caleb`` equal ``klatt``) and the whispers
(``whisper``, ``whisperf``), which have no pitch. ``""`` is the accent's own voice."""


@dataclass(frozen=True)
class Voice:
    """An eSpeak voice: ``accent`` (one of :data:`ACCENTS`), ``variant`` (one of
    :data:`VARIANTS`), ``pitch`` and ``pitch_range`` (0–99), ``rate`` (words a minute,
    80–450).

    >>> Voice("en-us", "f3", pitch=60).name
    'en-us+f3'
    """

    accent: str = "en-us"
    variant: str = ""
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 175

    def __post_init__(self) -> None:
        for name, choices in (("accent", ACCENTS), ("variant", VARIANTS)):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(map(repr, choices))}; "
                    f"got {getattr(self, name)!r}"
                )
        for name, low, high in (("pitch", 0, 99), ("pitch_range", 0, 99), ("rate", 80, 450)):
            value = getattr(self, name)
            if not (isinstance(value, int) and low <= value <= high):
                raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")

    @property
    def name(self) -> str:
        """The name eSpeak selects the voice by: ``accent+variant``."""
        return f"{self.accent}+{self.variant}" if self.variant else self.accent


@dataclass(frozen=True)
class Speech:
    """One synthesized sentence: ``samples`` (int16, at :data:`SAMPLE_RATE`), and the events
    ``words`` (start in ms, character offset and length in the text) and ``phonemes`` (start in
    ms, eSpeak mnemonic), each in order of time."""

    samples: Tensor
    words: tuple[tuple[int, int, int], ...]
    phonemes: tuple[tuple[int, str], ...]

    @property
    def seconds(self) -> float:
        """The duration."""
        return self.samples.numel() / SAMPLE_RATE


class _Worker:
    """The worker process of :mod:`reparam.data.speech.espeak_worker`, started on first use
    and kept for the process's life; requests are answered one at a time."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def call(self, task: str, *arguments: Any) -> Any:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, espeak_worker.__file__], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        espeak_worker._write(self.process.stdin, (LOADER, task, arguments))
        reply = espeak_worker._read(self.process.stdout)
        if reply is None:
            raise RuntimeError("the eSpeak NG worker process died")
        ok, value = reply
        if not ok:
            raise value
        return value


_WORKER = _Worker()
_VERSION: list[str] = []


def version() -> str:
    """The eSpeak NG version, as the library reports it (``1.52.0``); a
    ``ModuleNotFoundError`` naming the package to install when it is absent."""
    if not _VERSION:
        _VERSION.append(_WORKER.call("version"))
    return _VERSION[0]


def available() -> bool:
    """Whether eSpeak NG can be loaded."""
    try:
        version()
    except (ModuleNotFoundError, OSError):
        return False
    return True


def synthesize(text: str, voice: Voice | None = None) -> Speech:
    r"""The sentence ``text`` spoken by ``voice`` (default: :class:`Voice`'s defaults), with its
    word and phoneme events.

    Example:
        >>> speech = synthesize("Hello world.", Voice("en-us", "m3"))  # doctest: +SKIP
        >>> speech.samples.dtype, [start for start, _, _ in speech.words]  # doctest: +SKIP
        (torch.int16, [0, 301])
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string; got {text!r}")
    voice = voice or Voice()
    raw, words, phonemes = _WORKER.call(
        "speak", text, voice.name, voice.rate, voice.pitch, voice.pitch_range
    )
    samples = torch.frombuffer(bytearray(raw), dtype=torch.int16) if raw else torch.zeros(0)
    return Speech(samples.to(torch.int16), tuple(words), tuple(phonemes))
