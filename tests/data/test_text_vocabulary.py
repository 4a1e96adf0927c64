import json

import pytest
import torch

from reparam.data.vocabulary import SPECIALS, Vocabulary

SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat"], ["the"]]


def test_specials_come_first_at_fixed_indices() -> None:
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") == SPECIALS
    assert (vocab.pad, vocab.bos, vocab.eos, vocab.unk) == (0, 1, 2, 3)
    assert (Vocabulary.pad, Vocabulary.eos) == (0, 2)


def test_words_rank_by_count_then_alphabetically() -> None:
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.tokens[4:] == ("the", "cat", "sat", "a", "dog")
    assert len(vocab) == 9


def test_max_size_counts_the_specials_and_keeps_the_most_frequent() -> None:
    vocab = Vocabulary.build(SENTENCES, max_size=6)
    assert vocab.tokens[4:] == ("the", "cat") and len(vocab) == 6
    assert vocab.encode(["dog", "sat", "the"]) == [vocab.unk, vocab.unk, 4]
    assert len(Vocabulary.build(SENTENCES, max_size=4)) == 4


def test_min_count_drops_rare_words() -> None:
    assert Vocabulary.build(SENTENCES, min_count=2).tokens[4:] == ("the", "cat", "sat")


def test_unknown_words_and_special_strings_encode_as_unk() -> None:
    vocab = Vocabulary.build([*SENTENCES, ["<unk>", "<unk>", "<unk>", "<eos>"]])
    assert "<unk>" not in vocab.tokens[4:] and "<eos>" not in vocab.tokens[4:]
    assert vocab.encode(["zebra", "<unk>", "<pad>", "<bos>", "<eos>"]) == [vocab.unk] * 5


def test_encode_decode_round_trip() -> None:
    vocab = Vocabulary.build(SENTENCES)
    for sentence in SENTENCES:
        ids = vocab.encode(sentence)
        assert vocab.decode(ids) == sentence
        assert vocab.decode(torch.tensor([vocab.bos, *ids, vocab.eos, vocab.pad])) == sentence


def test_decode_stops_at_eos_and_skips_pad_and_bos() -> None:
    vocab = Vocabulary.build(SENTENCES)
    the, cat = vocab.encode(["the", "cat"])
    assert vocab.decode([vocab.bos, the, vocab.pad, cat, vocab.eos, the]) == ["the", "cat"]
    assert vocab.decode([vocab.eos, the]) == []
    assert vocab.decode([vocab.unk]) == ["<unk>"]


def test_to_dict_is_json_and_round_trips() -> None:
    vocab = Vocabulary.build(SENTENCES, max_size=7)
    back = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert back == vocab and back.tokens == vocab.tokens
    assert back.encode(["cat", "dog"]) == vocab.encode(["cat", "dog"])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: Vocabulary.build(SENTENCES, max_size=3), ValueError, "max_size must be >= 4"),
        (lambda: Vocabulary.build(SENTENCES, min_count=0), ValueError, "min_count"),
        (lambda: Vocabulary.build(SENTENCES, max_size=2.5), TypeError, "max_size"),
        (lambda: Vocabulary(("a", "b")), ValueError, "tokens must start with the specials"),
        (lambda: Vocabulary((*SPECIALS, "x", "x")), ValueError, "'x' twice"),
        (lambda: Vocabulary.from_dict({"words": []}), ValueError, "'tokens' list"),
        (lambda: Vocabulary.from_dict({"tokens": "abc"}), TypeError, "list of strings"),
        (lambda: Vocabulary.build(SENTENCES).decode([99]), ValueError, "ids must lie in"),
        (lambda: Vocabulary.build(SENTENCES).decode(torch.zeros(2, 2)), ValueError, "1-D"),
    ],
)
def test_bad_arguments_are_one_line_errors(call, error, message) -> None:
    with pytest.raises(error, match=message) as raised:
        call()
    assert "\n" not in str(raised.value)
