"""The characters a speech recognizer writes: class 0 is the CTC blank, then the space, the
apostrophe and the 26 lower-case letters, the alphabet of
:func:`~reparam.data.speech.recipe.transcript`.

Example:
    >>> ids = encode("it's me")
    >>> ids.tolist(), decode(ids.tolist())
    ([11, 22, 2, 21, 1, 15, 7], "it's me")
"""

from __future__ import annotations

import torch
from torch import Tensor

BLANK = 0
CHARACTERS = " '" + "".join(chr(c) for c in range(ord("a"), ord("z") + 1))
CLASSES = 1 + len(CHARACTERS)
_INDEX = {character: i + 1 for i, character in enumerate(CHARACTERS)}


def encode(text: str) -> Tensor:
    """The class ids (int64) of ``text``, which must be written in :data:`CHARACTERS`."""
    unknown = sorted(set(text) - set(CHARACTERS))
    if unknown:
        raise ValueError(
            f"text must hold only lower-case letters, spaces and apostrophes; got {unknown}"
        )
    return torch.tensor([_INDEX[character] for character in text], dtype=torch.int64)


def decode(ids: list[int]) -> str:
    """The text of the class ids ``ids`` (blanks skipped)."""
    return "".join(CHARACTERS[i - 1] for i in ids if i != BLANK)
