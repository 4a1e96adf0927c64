r"""A synthesizer's phoneme input: eSpeak NG's English phoneme mnemonics as symbol ids.

eSpeak reports each phoneme it speaks by its mnemonic (``'E``, ``dZ``, ``_:``), a primary
(``'``) or secondary (``,``) stress mark first where the phoneme carries one, and pauses as
``_``, ``_:`` and ``_!``. A mnemonic becomes one id, or two when stressed (the mark, then the
phoneme), so that the inventory stays small and a stressed phoneme shares its embedding's
phoneme part with the unstressed one. Id 0 pads; id 1 is any mnemonic outside
:data:`PHONEMES`, the 65 unstressed mnemonics eSpeak NG 1.52's ``en`` voice used for the
1,320 sentences of the ``tts`` corpus.

Example:
    >>> ids = encode(["h", "@", "l", "'oU", "_:"])
    >>> ids.tolist() == [PHONEMES.index(p) + 4 for p in ("h", "@", "l")] + [2] + [PHONEMES.index(p) + 4 for p in ("oU", "_:")]
    True
    >>> encode(["X9"]).tolist()
    [1]
    >>> decode(encode(["h", "'oU"]).tolist())
    ['h', "'", 'oU']
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

PHONEMES = (
    "0", "3", "3:", ";", "@", "@-", "@L", "A:", "A@", "D", "E", "I", "I2", "IR", "N", "O:",
    "O@", "OI", "S", "T", "U", "U@", "V", "VR", "Z", "_", "_!", "_:", "a", "a#", "aI", "aI2",
    "aI@", "aU", "aa", "b", "d", "dZ", "e@", "eI", "f", "g", "h", "i", "i:", "i@", "i@3", "j",
    "k", "l", "m", "n", "o@", "oU", "p", "r", "r-", "s", "t", "tS", "u:", "v", "w", "w#", "z",
)  # fmt: skip
"""The unstressed mnemonics, in the order of their ids (from 4)."""

PAD, UNKNOWN, PRIMARY, SECONDARY = 0, 1, 2, 3
STRESS = {"'": PRIMARY, ",": SECONDARY}
SYMBOLS = 4 + len(PHONEMES)
"""How many ids there are: padding, unknown, the two stress marks and the phonemes."""

_INDEX = {p: i + 4 for i, p in enumerate(PHONEMES)}


def encode_one(mnemonic: str) -> list[int]:
    """The ids of one mnemonic: its stress mark's (if any), then its phoneme's."""
    if not mnemonic:
        raise ValueError("a phoneme mnemonic must not be empty")
    if mnemonic[0] in STRESS and len(mnemonic) > 1:
        return [STRESS[mnemonic[0]], _INDEX.get(mnemonic[1:], UNKNOWN)]
    return [_INDEX.get(mnemonic, UNKNOWN)]


def encode(mnemonics: Sequence[str]) -> Tensor:
    """The int64 ids of a phoneme sequence (see the module docstring)."""
    return torch.tensor([i for m in mnemonics for i in encode_one(m)], dtype=torch.int64)


def decode(ids: Sequence[int]) -> list[str]:
    """The name of each id: its mnemonic, ``'`` or ``,`` for a stress mark, ``?`` for an
    unknown one and ``·`` for padding."""
    names = {PAD: "·", UNKNOWN: "?", PRIMARY: "'", SECONDARY: ","}
    return [names.get(i) or PHONEMES[i - 4] for i in ids]
