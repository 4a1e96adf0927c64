"""eSpeak's phoneme mnemonics as symbol ids (reparam.speech.phonemes): stress marks split off,
unknown mnemonics mapped to one id, and every mnemonic of the tts corpus known."""

import pytest

from reparam.speech import phonemes


def test_a_stressed_phoneme_is_its_mark_then_the_phoneme():
    assert phonemes.encode_one("'E") == [phonemes.PRIMARY, phonemes.encode_one("E")[0]]
    assert phonemes.encode_one(",aI2") == [phonemes.SECONDARY, phonemes.encode_one("aI2")[0]]
    assert phonemes.encode_one("_:") == [phonemes.PHONEMES.index("_:") + 4]


def test_ids_cover_the_inventory_once_and_unknowns_share_one():
    ids = phonemes.encode(list(phonemes.PHONEMES)).tolist()
    assert ids == list(range(4, phonemes.SYMBOLS))
    assert phonemes.encode(["Q7", "'Q7"]).tolist() == [
        phonemes.UNKNOWN,
        phonemes.PRIMARY,
        phonemes.UNKNOWN,
    ]
    with pytest.raises(ValueError, match="empty"):
        phonemes.encode_one("")
