import pytest
import torch

from reparam.data.sentence_batches import SentenceBatches, pad_batch


def random_sentences(n: int, generator: torch.Generator) -> list[list[int]]:
    lengths = torch.randint(0, 12, (n,), generator=generator).tolist()
    return [torch.randint(4, 50, (length,), generator=generator).tolist() for length in lengths]


def test_pad_batch_right_pads_and_records_lengths() -> None:
    tokens, lengths = pad_batch([[5, 6, 7], [8], [], [9, 10]], pad=0)
    assert tokens.dtype == lengths.dtype == torch.int64
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 0, 2]


def test_the_mask_of_lengths_marks_exactly_the_words() -> None:
    sentences = random_sentences(40, torch.Generator().manual_seed(1))
    tokens, lengths = pad_batch(sentences, pad=-1)
    mask = torch.arange(tokens.shape[1]) < lengths[:, None]
    assert tokens.shape == (40, max(map(len, sentences)))
    assert (tokens[~mask] == -1).all() and (tokens[mask] >= 4).all()
    assert tokens[mask].tolist() == [word for s in sentences for word in s]


def test_pad_batch_takes_tensors_and_empty_batches() -> None:
    tokens, lengths = pad_batch([torch.tensor([4, 5]), torch.tensor([6])], pad=0)
    assert tokens.tolist() == [[4, 5], [6, 0]] and lengths.tolist() == [2, 1]
    tokens, lengths = pad_batch([], pad=0)
    assert tokens.shape == (0, 0) and lengths.shape == (0,)


def test_sentence_batches_equal_pad_batch() -> None:
    generator = torch.Generator().manual_seed(2)
    sentences = random_sentences(300, generator)
    batches = SentenceBatches(sentences, pad=0)
    assert len(batches) == 300
    assert batches.lengths.tolist() == [len(s) for s in sentences]
    for _ in range(20):
        indices = torch.randint(0, 300, (17,), generator=generator)
        tokens, lengths = batches.batch(indices)
        expected = pad_batch([sentences[i] for i in indices], pad=0)
        assert torch.equal(tokens, expected[0]) and torch.equal(lengths, expected[1])


def test_sentence_batches_of_empty_sentences_and_batches() -> None:
    batches = SentenceBatches([[], [4]], pad=0)
    assert batches.batch([0])[0].shape == (1, 0)
    assert batches.batch([1, 0])[0].tolist() == [[4], [0]]
    assert batches.batch([])[0].shape == (0, 0)
    assert SentenceBatches([[]], pad=7).batch([0, 0])[0].shape == (2, 0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="indices must be 1-D"):
        SentenceBatches([[4]], pad=0).batch(torch.zeros(1, 1, dtype=torch.int64))
    with pytest.raises(TypeError, match="pad must be an integer"):
        pad_batch([[4]], pad=0.5)
