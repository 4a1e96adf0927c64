r"""eSpeak NG, the formant synthesizer, called in-process through its shared library.

The library and its voice data come from the PyPI wheel ``espeakng-loader``
(``pip install "reparam[speech]"``), pinned to one version (:data:`WHEEL`, which ships eSpeak NG
:data:`ESPEAK_VERSION`): the audio of a sentence differs between eSpeak versions, and between
its command line and its library, so reparam uses this one path only, and a corpus records the
version that made it.

The library keeps state from one sentence to the next (its pitch flutter runs on across calls,
and survives ``espeak_Terminate``), so the same sentence comes out differently the second time
in a process. Every sentence is therefore spoken in a child process of its own, forked before
the library is loaded: the audio is then a function of the text and the voice alone. A
sentence takes about 20 ms this way (fork, load, speak): some 200× real time.

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

import ctypes
import importlib
import os
import pickle
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

WHEEL = "espeakng-loader==0.2.4"
ESPEAK_VERSION = "1.52.0"
SAMPLE_RATE = 22_050
INSTALL = 'pip install "reparam[speech]" (the wheel espeakng-loader, which ships eSpeak NG)'

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

# espeak_EVENT_TYPE, espeak_PARAMETER, espeak_AUDIO_OUTPUT, espeak_POSITION_TYPE, flags
_LIST_TERMINATED, _WORD, _END, _PHONEME = 0, 1, 5, 7
_RATE, _PITCH, _RANGE = 1, 3, 4
_SYNCHRONOUS, _PHONEME_EVENTS, _POS_CHARACTER, _CHARS_UTF8 = 2, 1, 1, 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


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


class _Library:
    """The loaded library (only ever in a child process: see :func:`_in_child`)."""

    def __init__(self) -> None:
        try:
            loader: Any = importlib.import_module("espeakng_loader")
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(f"eSpeak NG is not installed: {INSTALL}") from error
        self.lib = ctypes.CDLL(loader.get_library_path())
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.version = self.lib.espeak_Info(None).decode()
        data = loader.get_data_path().encode()
        rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, data, _PHONEME_EVENTS)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate})")
        self.chunks: list[bytes] = []
        self.events: list[tuple[int, int, int, int, bytes]] = []
        self.callback = _CALLBACK(self._collect)
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0:
            self.chunks.append(ctypes.string_at(wav, 2 * count))
        index = 0
        while events[index].type != _LIST_TERMINATED:
            event = events[index]
            if event.type in (_WORD, _PHONEME, _END):
                self.events.append(
                    (
                        event.type,
                        event.audio_position,
                        event.text_position,
                        event.length,
                        event.id.string if event.type == _PHONEME else b"",
                    )
                )
            index += 1
        return 0

    def speak(self, text: str, voice: Voice) -> tuple[bytes, list, list]:
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise ValueError(f"eSpeak NG {self.version} has no voice {voice.name!r}")
        for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch)):
            self.lib.espeak_SetParameter(parameter, value, 0)
        self.lib.espeak_SetParameter(_RANGE, voice.pitch_range, 0)
        self.chunks, self.events = [], []
        encoded = text.encode("utf-8")
        status = self.lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status != 0 or self.lib.espeak_Synchronize() != 0:
            raise RuntimeError(f"eSpeak NG failed on {text!r} (status {status})")
        words = [(ms, at - 1, n) for kind, ms, at, n, _ in self.events if kind == _WORD]
        phonemes = [
            (ms, name.decode("ascii", "replace"))
            for kind, ms, _, _, name in self.events
            if kind == _PHONEME
        ]
        return b"".join(self.chunks), words, phonemes


def _in_child(task: str, *arguments: Any) -> Any:
    """``task`` run by a freshly loaded library in a forked child: ``"speak"`` with (text,
    voice) gives the samples' bytes and the events, ``"version"`` the version. The child's
    exception is raised here."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load, run, send, exit without running the parent's handlers
        status = 0
        try:
            os.close(read)
            library = _Library()
            result = library.speak(*arguments) if task == "speak" else library.version
        except BaseException as error:  # every failure goes back to the parent
            result, status = error, 1
        with os.fdopen(write, "wb") as pipe:
            pipe.write(pickle.dumps(result))
        os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"the eSpeak NG child process died (wait status {status})")
    result = pickle.loads(payload)
    if isinstance(result, BaseException):
        raise result
    return result


_VERSION: list[str] = []


def version() -> str:
    """The eSpeak NG version, as the library reports it (``1.52.0``); a
    ``ModuleNotFoundError`` naming the package to install when it is absent."""
    if not _VERSION:
        _VERSION.append(_in_child("version"))
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
    raw, words, phonemes = _in_child("speak", text, voice or Voice())
    samples = torch.frombuffer(bytearray(raw), dtype=torch.int16) if raw else torch.zeros(0)
    return Speech(samples.to(torch.int16), tuple(words), tuple(phonemes))
