"""WAV files (reparam.data.speech.wav): a written file reads back within a quantisation step,
and nothing is clipped silently."""

import pytest
import torch

from reparam.data.speech.wav import decode_wav, write_wav


def test_a_written_file_reads_back(tmp_path):
    x = torch.rand(1000, dtype=torch.float64) * 2 - 1
    x[0], x[1] = 1.0, -1.0
    write_wav(tmp_path / "x.wav", x, 16000)
    samples, rate = decode_wav((tmp_path / "x.wav").read_bytes(), "x.wav")
    assert rate == 16000 and samples.shape == (1000,)
    assert abs(samples - x.numpy()).max() <= 1.5 / 32768


@pytest.mark.parametrize(
    ("waveform", "name"),
    [
        (torch.full((10,), 1.5), "scale it first"),
        (torch.full((2, 10), 0.1), "waveform must be"),
        (torch.tensor([0.0, float("nan")]), "finite"),
    ],
)
def test_bad_waveforms_are_refused(tmp_path, waveform, name):
    with pytest.raises(ValueError, match=name):
        write_wav(tmp_path / "x.wav", waveform, 16000)
    assert not (tmp_path / "x.wav").exists()


def test_a_file_that_is_not_wav_is_named():
    with pytest.raises(ValueError, match=r"clip\.wav is not a WAV file"):
        decode_wav(b"not a wav", "clip.wav")
