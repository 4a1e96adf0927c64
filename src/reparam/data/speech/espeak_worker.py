"""The eSpeak NG library bound by ctypes, and the worker process that speaks each sentence in
a child of its own (:mod:`reparam.data.speech.espeak` starts it and talks to it).

Standard library only: the worker runs as a plain script (``python espeak_worker.py``),
without torch, so that forking it per sentence is cheap. It reads requests from stdin and
writes replies to stdout, each a 4-byte big-endian length and a pickle: a request is
``(loader, task, arguments)``, a reply ``(ok, value)``, the value an exception when not ok.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

SAMPLE_RATE = 22_050
INSTALL = 'pip install "reparam[speech]" (the wheel espeakng-loader, which ships eSpeak NG)'

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


class Library:
    """The loaded and initialised library; it speaks only in children (:func:`in_child`)."""

    def __init__(self, loader_name: str) -> None:
        try:
            loader: Any = importlib.import_module(loader_name)
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

    def speak(
        self, text: str, name: str, rate: int, pitch: int, pitch_range: int
    ) -> tuple[bytes, list, list]:
        """The samples' bytes, the word and the phoneme events of ``text`` spoken by the
        voice ``name`` at ``rate``, ``pitch`` and ``pitch_range``."""
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"eSpeak NG {self.version} has no voice {name!r}")
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range)):
            self.lib.espeak_SetParameter(parameter, value, 0)
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


def in_child(library: Library, *arguments: Any) -> Any:
    """:meth:`Library.speak` with ``arguments`` in a forked child of the process holding
    ``library`` (loaded, never yet used to speak), so that no sentence sees the state another
    left; the child's exception is raised here."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: speak, send, exit without running the parent's handlers
        status = 0
        try:
            os.close(read)
            result = library.speak(*arguments)
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


def _read(stream: BinaryIO) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        return None
    return pickle.loads(stream.read(struct.unpack(">I", header)[0]))


def _write(stream: BinaryIO, value: Any) -> None:
    payload = pickle.dumps(value)
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until ``requests`` ends: ``"version"`` from the library of the
    request's loader (loaded on first use, here), ``"speak"`` by :func:`in_child`."""
    libraries: dict[str, Library] = {}
    while (request := _read(requests)) is not None:
        loader, task, arguments = request
        try:
            if loader not in libraries:
                libraries[loader] = Library(loader)
            library = libraries[loader]
            _write(
                replies,
                (True, library.version if task == "version" else in_child(library, *arguments)),
            )
        except Exception as error:  # the client raises it
            _write(replies, (False, error))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
