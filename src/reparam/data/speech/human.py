"""Human speech: the transcribed clips of Debian's ``pocketsphinx-testdata`` (BSD-2).

The package holds the test data of CMU's recognizer PocketSphinx (copyright Carnegie Mellon
University and Alpha Cephei, BSD-2 licence), among it ten transcribed clips of read English:

* ``librivox``: five sentences of chapter 1 of *Sense and Sensibility* read by one LibriVox
  volunteer (public-domain recordings), 24.7 s, 8–22 words each;
* ``cmu``: five commands of a card-game grammar ("ten of clubs") by one CMU Sphinx speaker,
  9.7 s, 2–9 words each (``004`` and ``005`` clip at full scale in the recording).

They are a transfer test for a recognizer trained on synthesized voices: real voices, rooms and
microphones it never heard. The package's other audio (``goforward.raw``, ``numbers.raw``,
``something.raw``, ``tidigits/dhd.2934z.raw``, headerless) has no transcript and is left out.

The package is looked up, in order:

1. installed: ``/usr/share/pocketsphinx/test/data/`` (``apt-get install pocketsphinx-testdata``);
2. the Debian package file alone, ``pocketsphinx-testdata_*.deb`` (1.8 MB, read here without
   installing it), in ``<data folder>/pocketsphinx-testdata/``, then in the user's cache folder
   ``~/.cache/reparam/pocketsphinx-testdata/``, where ``reparam data fetch-human`` puts it
   (``apt-get download pocketsphinx-testdata``).

Format: each collection is a folder of WAV files (16-bit PCM, mono, 16 kHz) and a Sphinx
transcription file, a line per clip, ``<s> words </s> (clip id)``, the clip being
``<clip id>.wav`` beside it (``librivox/transcription``, ``cards/cards.transcription``). The
clips are resampled to the synthesized corpora's 22,050 Hz, and their transcripts normalised by
:func:`reparam.data.speech.recipe.transcript`.

Example:
    >>> clips = load_clips()  # doctest: +SKIP
    >>> len(clips), clips[5].name, clips[5].transcript, round(clips[5].seconds, 2)  # doctest: +SKIP
    (10, 'cards/001', 'ten of clubs', 1.1)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import Tensor

from reparam.data import cache, files
from reparam.data.debian import download, newest_deb, read_deb
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.recipe import transcript
from reparam.data.speech.wav import decode_wav

PACKAGE = "pocketsphinx-testdata"
FETCH = "reparam data fetch-human"
INSTALLED = Path("/usr/share/pocketsphinx/test/data")
IN_DEB = "usr/share/pocketsphinx/test/data"

TRANSCRIPTION_LINE = re.compile(r"(?P<text>.*?)\s*\((?P<clip>[^()\s]+)\)\s*")
MARKUP = re.compile(r"<[^<>\s]*>")
"""Sphinx's sentence and filler marks (``<s>``, ``</s>``, ``<sil>``), not words."""


@dataclass(frozen=True)
class Collection:
    """A folder of transcribed clips in the package, and the name of their ``source``."""

    folder: str
    transcription: str
    source: str

    @property
    def transcription_path(self) -> str:
        return f"{self.folder}/{self.transcription}"

    def wav_path(self, clip: str) -> str:
        return f"{self.folder}/{clip}.wav"


COLLECTIONS = (
    Collection("librivox", "transcription", "librivox"),
    Collection("cards", "cards.transcription", "cmu"),
)


@dataclass(frozen=True)
class HumanClip:
    """A transcribed human clip: ``waveform`` float32 in [−1, 1], mono, at ``sample_rate``;
    ``name`` is ``<folder>/<clip id>``, ``source`` ``"librivox"`` or ``"cmu"``."""

    name: str
    waveform: Tensor
    transcript: str
    source: str
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        """The duration."""
        return self.waveform.numel() / self.sample_rate


def cache_folder() -> Path:
    """The user's cache folder for the ``.deb``: ``~/.cache/reparam/pocketsphinx-testdata`` (or
    under ``$XDG_CACHE_HOME``)."""
    return cache.FOLDER.parent / PACKAGE


def deb_folders(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for ``pocketsphinx-testdata_*.deb``, in order."""
    return list(dict.fromkeys([files.data_dir(data_dir) / PACKAGE, cache_folder()]))


def find_source(data_dir: str | Path | None = None) -> Path | None:
    """The installed data folder, else the newest ``.deb`` of the first folder holding one, else
    ``None``."""
    if INSTALLED.is_dir():
        return INSTALLED
    return newest_deb(PACKAGE, deb_folders(data_dir))


def fetch(folder: Path | None = None) -> Path:
    """Download the Debian package into ``folder`` (default :func:`cache_folder`) with
    ``apt-get download``, and return its path (see :func:`reparam.data.debian.download`)."""
    return download(PACKAGE, cache_folder() if folder is None else folder)


def require_source(data_dir: str | Path | None = None) -> Path:
    """:func:`find_source`, or a ``FileNotFoundError`` saying how to get the package."""
    source = find_source(data_dir)
    if source is None:
        folders = " or ".join(str(folder) for folder in deb_folders(data_dir))
        raise FileNotFoundError(
            f"the human speech clips need Debian's {PACKAGE}: not installed ({INSTALLED}) and "
            f"no {PACKAGE}_*.deb in {folders}; run `{FETCH}` (apt-get download {PACKAGE})"
        )
    return source


def read_files(source: Path, names: list[str]) -> dict[str, bytes]:
    """The files ``names`` (paths under the package's data folder) of ``source``, the installed
    folder or a ``.deb``."""
    if source.suffix == ".deb":
        found = read_deb(source, [f"{IN_DEB}/{name}" for name in names])
        return {name: found[f"{IN_DEB}/{name}"] for name in names}
    return {name: (source / name).read_bytes() for name in names}


def parse_transcription(text: str, label: str) -> list[tuple[str, str]]:
    """The (clip id, words) of each line of a Sphinx transcription file, markup dropped;
    ``label`` names the file in errors.

    Example:
        >>> parse_transcription("<s> five five  </s> (004)\\n", "cards.transcription")
        [('004', 'five five')]
    """
    clips = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = TRANSCRIPTION_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{label} line {number} is not `<s> words </s> (clip id)`: {line!r}")
        words = " ".join(MARKUP.sub(" ", match["text"]).split())
        clips.append((match["clip"], words))
    return clips


def resample(signal: np.ndarray, rate: int) -> Tensor:
    """``signal`` at ``rate`` Hz resampled to :data:`SAMPLE_RATE`, as float32 in [−1, 1]."""
    common = math.gcd(SAMPLE_RATE, rate)
    resampled = resample_poly(signal, SAMPLE_RATE // common, rate // common)
    return torch.from_numpy(np.clip(resampled, -1.0, 1.0).astype(np.float32))


def transcribed(source: Path) -> list[tuple[Collection, str, str]]:
    """(collection, clip id, words) of every transcribed clip of ``source``, in file order."""
    texts = read_files(source, [collection.transcription_path for collection in COLLECTIONS])
    return [
        (collection, clip, words)
        for collection in COLLECTIONS
        for clip, words in parse_transcription(
            texts[collection.transcription_path].decode("utf-8"),
            f"{source}: {collection.transcription_path}",
        )
    ]


def load_clips(data_dir: str | Path | None = None) -> list[HumanClip]:
    """The package's transcribed clips, LibriVox's then CMU's, each in its transcription's
    order (see the module's docstring)."""
    source = require_source(data_dir)
    clips = transcribed(source)
    audio = read_files(source, [collection.wav_path(clip) for collection, clip, _ in clips])
    loaded = []
    for collection, clip, words in clips:
        path = collection.wav_path(clip)
        signal, rate = decode_wav(audio[path], f"{source}: {path}")
        loaded.append(
            HumanClip(
                name=f"{collection.folder}/{clip}",
                waveform=resample(signal, rate),
                transcript=transcript(words),
                source=collection.source,
            )
        )
    return loaded
