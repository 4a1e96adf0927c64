import gzip
import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import pytest

from reparam.data import austen, cache, embedded, english
from reparam.data.debian import MAGIC, read_deb
from reparam.data.sentences import load_corpus
from reparam.data.text_corpus import SPLITS, split_of

RDX, RDB = f"{austen.IN_DEB}.rdx", f"{austen.IN_DEB}.rdb"
SOURCE = austen.find_source()
needs_austen = pytest.mark.skipif(
    SOURCE is None or importlib.util.find_spec("rdata") is None,
    reason=f"no {austen.PACKAGE} (run `{austen.FETCH}`) or no rdata (pip install rdata)",
)


def ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
    return header + data + b"\n" * (len(data) % 2)


def make_deb(path: Path, contents: dict[str, bytes], compression: str = "xz") -> Path:
    """A Debian package holding ``contents`` (installed path: bytes) in its data.tar.xz (or
    data.tar.gz: faster to write)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = ar_member("debian-binary", b"2.0\n") + ar_member(
        f"data.tar.{compression}", buffer.getvalue()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAGIC + members)
    return path


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """No installed package, and an empty data folder and cache folder under ``tmp_path``."""
    monkeypatch.setattr(austen, "INSTALLED", tmp_path / "not-installed" / "Rdata.rdb")
    monkeypatch.setattr(cache, "FOLDER", tmp_path / "cache" / "parsed")
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path / "data"))
    return tmp_path


def test_files_are_read_from_a_deb(tmp_path) -> None:
    deb = make_deb(tmp_path / "x.deb", {"usr/a.txt": b"odd", "usr/b/c.bin": b"\x00\x01"})
    assert read_deb(deb, ["usr/b/c.bin", "usr/a.txt"]) == {
        "usr/a.txt": b"odd",
        "usr/b/c.bin": b"\x00\x01",
    }
    with pytest.raises(ValueError, match=r"x.deb does not hold usr/d.txt"):
        read_deb(deb, ["usr/a.txt", "usr/d.txt"])


def test_corrupt_debs_are_clear_errors(tmp_path) -> None:
    deb = make_deb(tmp_path / "x.deb", {"usr/a.txt": b"odd" * 1000})
    raw = deb.read_bytes()
    cases = {
        b"PK\x03\x04 a zip": "is not a Debian package",
        raw[: len(raw) // 2]: "is truncated",
        raw[:-60] + bytes(50) + raw[-10:]: "is corrupt",
        MAGIC + ar_member("debian-binary", b"2.0\n"): "no data.tar member",
    }
    for content, message in cases.items():
        deb.write_bytes(content)
        with pytest.raises(ValueError, match=message) as raised:
            read_deb(deb, ["usr/a.txt"])
        assert str(deb) in str(raised.value) and "\n" not in str(raised.value)


def test_missing_everything_names_the_fetch_command_and_rdata(nowhere) -> None:
    with pytest.raises(FileNotFoundError, match=r"run `reparam data fetch-austen`") as raised:
        load_corpus("austen")
    message = str(raised.value)
    assert "pip install rdata" in message and str(nowhere / "data" / "austen") in message
    assert str(nowhere / "cache" / "austen") in message and "\n" not in message


def test_a_deb_is_found_in_the_data_folder_then_the_cache(nowhere) -> None:
    cached = make_deb(nowhere / "cache" / "austen" / f"{austen.PACKAGE}_1.0.0-1_all.deb", {})
    assert austen.find_source() == cached
    data = make_deb(nowhere / "data" / "austen" / f"{austen.PACKAGE}_0.9-1_all.deb", {})
    assert austen.find_source() == data
    austen.INSTALLED.parent.mkdir()
    austen.INSTALLED.write_bytes(b"")
    assert austen.find_source() == austen.INSTALLED


def test_missing_rdata_names_the_install_command(nowhere, monkeypatch) -> None:
    fake = {RDX: gzip.compress(b"X\n"), RDB: b""}
    make_deb(nowhere / "data" / "austen" / f"{austen.PACKAGE}_1.0.0-1_all.deb", fake)
    monkeypatch.setitem(sys.modules, "rdata", None)
    with pytest.raises(ModuleNotFoundError, match=r'needs the package rdata: pip install "reparam'):
        load_corpus("austen")


def fake_apt_get(folder: Path, script: str, monkeypatch) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "apt-get").write_text(f"#!/bin/sh\n{script}\n")
    (folder / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))


def test_fetch_runs_apt_get_download_in_the_cache_folder(nowhere, monkeypatch) -> None:
    fake_apt_get(
        nowhere / "bin", 'echo "$@" > "$PWD/r-cran-janeaustenr_1.0.0-1_all.deb"', monkeypatch
    )
    path = austen.fetch()
    assert path == nowhere / "cache" / "austen" / "r-cran-janeaustenr_1.0.0-1_all.deb"
    assert path.read_text() == "download r-cran-janeaustenr\n"


def test_fetch_errors_say_what_to_do(nowhere, monkeypatch) -> None:
    fake_apt_get(nowhere / "bin", "echo 'E: Unable to locate package' >&2; exit 100", monkeypatch)
    with pytest.raises(FileNotFoundError, match=r"failed \(E: Unable to locate package\); try apt"):
        austen.fetch()
    monkeypatch.setenv("PATH", str(nowhere / "empty"))
    with pytest.raises(FileNotFoundError, match=r"apt-get not found .*packages.debian.org"):
        austen.fetch()


@needs_austen
def test_the_austen_corpus_loads_from_its_package() -> None:
    corpus = load_corpus("austen")
    assert [len(corpus.sentences(split)) for split in SPLITS] == [28_301, 1_459, 1_628]
    assert corpus.text("train")[0] == ("The family of Dashwood had long been settled in Sussex.")
    assert corpus.train[0][:4] == ("the", "family", "of", "dashwood")
    texts = {split: corpus.text(split) for split in SPLITS}
    assert all(split_of(t) == split for split in SPLITS for t in texts[split])
    assert not set(texts["train"]) & (set(texts["valid"]) | set(texts["test"]))
    everything = [t for split in SPLITS for t in texts[split]]
    assert not any("_" in t or "*" in t or "CHAPTER" in t for t in everything)
    assert all(english.tokenize(t) == s for t, s in zip(texts["test"], corpus.test, strict=True))
    vocab = corpus.vocabulary()
    assert len(vocab) == 10_000 and vocab.tokens[4:7] == (",", ".", "the")


@needs_austen
def test_the_embedded_file_is_what_sample_sentences_gives() -> None:
    assert embedded.read_sentences() == austen.sample_sentences()


@needs_austen
def test_a_corrupt_austen_package_is_a_clear_error(tmp_path) -> None:
    files = read_deb(SOURCE, [RDX, RDB]) if SOURCE.suffix == ".deb" else {
        RDX: SOURCE.with_suffix(".rdx").read_bytes(), RDB: SOURCE.read_bytes()
    }  # fmt: skip
    rdb = bytearray(files[RDB])
    rdb[100:200] = bytes(100)
    bad = make_deb(tmp_path / "bad.deb", {RDX: files[RDX], RDB: bytes(rdb)}, "gz")
    with pytest.raises(ValueError, match=r"bad.deb is corrupt: object emma"):
        austen.parse_books(bad)
    bad = make_deb(tmp_path / "bad.deb", {RDX: files[RDX][:-20], RDB: files[RDB]}, "gz")
    with pytest.raises(ValueError, match=r"bad.deb is corrupt"):
        austen.parse_books(bad)
