import io
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest

from reparam.data import cache
from reparam.data.debian import MAGIC
from reparam.data.speech import human

SOURCE = human.find_source()
DEB_NAME = f"{human.PACKAGE}_0.8-1_all.deb"
LIBRIVOX_LINE = "<s> he was NOT an ill-disposed young man </s> (s_and_s-0880)\n"
CARDS_LINE = "<s> ten of clubs  </s> (001)\n"


def ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
    return header + data + b"\n" * (len(data) % 2)


def make_deb(path: Path, contents: dict[str, bytes]) -> Path:
    """A Debian package holding ``contents`` (path under the test data folder: bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"./{human.IN_DEB}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = ar_member("debian-binary", b"2.0\n") + ar_member("data.tar.xz", buffer.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAGIC + members)
    return path


def wav_bytes(signal: np.ndarray, rate: int = 16_000) -> bytes:
    """``signal`` (floats in [−1, 1]) as a 16-bit mono WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((signal * 32767).round().astype("<i2").tobytes())
    return buffer.getvalue()


def sine(hertz: float, seconds: float, rate: int = 16_000) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hertz * np.arange(round(seconds * rate)) / rate)


def peak_hertz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


def fake_package() -> dict[str, bytes]:
    """Two clips in the real package's layout, and an untranscribed one."""
    return {
        "librivox/transcription": LIBRIVOX_LINE.encode(),
        "librivox/s_and_s-0880.wav": wav_bytes(sine(440.0, 1.0)),
        "librivox/s_and_s-0999.wav": wav_bytes(sine(100.0, 0.1)),
        "cards/cards.transcription": CARDS_LINE.encode(),
        "cards/001.wav": wav_bytes(sine(1_000.0, 0.5)),
    }


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """No installed package, and an empty data folder and cache folder under ``tmp_path``."""
    monkeypatch.setattr(human, "INSTALLED", tmp_path / "not-installed")
    monkeypatch.setattr(cache, "FOLDER", tmp_path / "cache" / "parsed")
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path / "data"))
    return tmp_path


def test_clips_are_read_from_a_deb_resampled_and_normalised(nowhere) -> None:
    make_deb(nowhere / "data" / human.PACKAGE / DEB_NAME, fake_package())
    clips = human.load_clips()
    assert [(c.name, c.source, c.transcript) for c in clips] == [
        ("librivox/s_and_s-0880", "librivox", "he was not an ill disposed young man"),
        ("cards/001", "cmu", "ten of clubs"),
    ]
    for clip, hertz, seconds in zip(clips, (440.0, 1_000.0), (1.0, 0.5), strict=True):
        assert clip.sample_rate == 22_050 and clip.waveform.dtype.is_floating_point
        assert clip.waveform.numel() == round(seconds * 22_050) and clip.seconds == seconds
        assert clip.waveform.abs().max() <= 1.0
        assert peak_hertz(clip.waveform.numpy(), 22_050) == pytest.approx(hertz, abs=2.0)


def test_the_installed_folder_comes_first_then_the_data_folder_then_the_cache(nowhere) -> None:
    cached = make_deb(nowhere / "cache" / human.PACKAGE / DEB_NAME, {})
    assert human.find_source() == cached
    data = make_deb(nowhere / "data" / human.PACKAGE / DEB_NAME, {})
    assert human.find_source() == data
    for name, content in fake_package().items():
        (human.INSTALLED / name).parent.mkdir(parents=True, exist_ok=True)
        (human.INSTALLED / name).write_bytes(content)
    assert human.find_source() == human.INSTALLED
    assert [clip.name for clip in human.load_clips()] == ["librivox/s_and_s-0880", "cards/001"]


def test_a_missing_package_names_the_fetch_command_and_apt_get(nowhere) -> None:
    with pytest.raises(FileNotFoundError, match=r"run `reparam data fetch-human`") as raised:
        human.load_clips()
    message = str(raised.value)
    assert "apt-get download pocketsphinx-testdata" in message and "\n" not in message
    assert str(nowhere / "data" / human.PACKAGE) in message
    assert str(nowhere / "cache" / human.PACKAGE) in message


def test_bad_files_are_clear_errors(nowhere) -> None:
    deb = nowhere / "data" / human.PACKAGE / DEB_NAME
    cases = {
        "librivox/transcription": (b"he was not (\n", r"librivox/transcription line 1 is not"),
        "cards/001.wav": (b"RIFF nonsense", r"cards/001.wav is not a WAV file"),
    }
    for name, (content, message) in cases.items():
        make_deb(deb, fake_package() | {name: content})
        with pytest.raises(ValueError, match=message) as raised:
            human.load_clips()
        assert str(deb) in str(raised.value)


def test_fetch_runs_apt_get_download_in_the_cache_folder(nowhere, monkeypatch) -> None:
    (nowhere / "bin").mkdir()
    (nowhere / "bin" / "apt-get").write_text(f'#!/bin/sh\necho "$@" > "$PWD/{DEB_NAME}"\n')
    (nowhere / "bin" / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(nowhere / "bin"))
    path = human.fetch()
    assert path == nowhere / "cache" / human.PACKAGE / DEB_NAME
    assert path.read_text() == "download pocketsphinx-testdata\n"


@pytest.mark.skipif(SOURCE is None, reason=f"no {human.PACKAGE} (run `{human.FETCH}`)")
def test_the_real_clips_load_from_the_package() -> None:
    clips = human.load_clips()
    assert [sum(c.source == source for c in clips) for source in ("librivox", "cmu")] == [5, 5]
    assert sum(clip.seconds for clip in clips) == pytest.approx(34.38, abs=0.01)
    assert clips[1].name == "librivox/sense_and_sensibility_01_austen_64kb-0880"
    assert clips[1].transcript == "he was not an ill disposed young man"
    assert clips[-1].transcript == "eight of spades four of clubs seven of hearts"
    assert all(clip.waveform.abs().max() <= 1.0 for clip in clips)
