"""DTW, mel-cepstral distortion and global variance (reparam.speech.distortion): DTW against
enumeration of every path and librosa, MCD zero for a copy and for a time-stretched copy."""

import itertools
import math

import pytest
import torch

from reparam.speech.distortion import dtw, global_variance, mel_cepstra, mel_cepstral_distortion

F64 = torch.float64


def every_path_cost(cost: torch.Tensor) -> float:
    """The cheapest monotone path by enumerating every sequence of moves."""
    T1, T2 = cost.shape
    best = math.inf
    for length in range(max(T1, T2), T1 + T2):
        for moves in itertools.product([(1, 0), (0, 1), (1, 1)], repeat=length - 1):
            i = j = 0
            total = float(cost[0, 0])
            for di, dj in moves:
                i, j = i + di, j + dj
                if i >= T1 or j >= T2:
                    break
                total += float(cost[i, j])
            else:
                if (i, j) == (T1 - 1, T2 - 1):
                    best = min(best, total)
    return best


@pytest.mark.parametrize(
    ("T1", "T2", "seed"), [(1, 1, 0), (1, 4, 1), (3, 3, 2), (3, 4, 3), (4, 2, 4)]
)
def test_dtw_is_the_cheapest_path(T1, T2, seed):
    cost = torch.rand(T1, T2, dtype=F64, generator=torch.Generator().manual_seed(seed))
    total, path = dtw(cost)
    assert float(total) == pytest.approx(every_path_cost(cost), abs=1e-12)
    assert float(cost[path[:, 0], path[:, 1]].sum()) == pytest.approx(float(total), abs=1e-12)
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [T1 - 1, T2 - 1]
    steps = path.diff(dim=0)
    assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(1) >= 1).all()


def test_dtw_is_librosas():
    librosa = pytest.importorskip("librosa")
    cost = torch.rand(40, 57, dtype=F64, generator=torch.Generator().manual_seed(5))
    total, _ = dtw(cost)
    D, _ = librosa.sequence.dtw(C=cost.numpy())
    assert float(total) == pytest.approx(float(D[-1, -1]), rel=1e-12)


def test_mcd_is_zero_for_a_copy_and_for_a_time_stretched_copy():
    x = torch.randn(40, 60, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert float(mel_cepstral_distortion(x, x)) == 0.0
    slow = x.repeat_interleave(2, dim=1)  # every frame twice
    assert float(mel_cepstral_distortion(slow, x)) == pytest.approx(0.0, abs=1e-9)


def test_mcd_grows_with_the_noise_and_ignores_energy():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 60, dtype=F64, generator=g)
    noise = torch.randn(40, 60, dtype=F64, generator=g)
    small, large = (mel_cepstral_distortion(x + s * noise, x) for s in (0.1, 0.5))
    assert 0 < float(small) < float(large)
    # A gain (a constant added to every log band) moves only coefficient 0, which MCD leaves out.
    assert float(mel_cepstral_distortion(x + 3.0, x)) == pytest.approx(0.0, abs=1e-9)


def test_mcd_is_kubicheks_formula_on_aligned_frames():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(20, 1, dtype=F64, generator=g), torch.randn(20, 1, dtype=F64, generator=g)
    ca, cb = mel_cepstra(a, 13)[0], mel_cepstra(b, 13)[0]
    expected = 10 / math.log(10) * math.sqrt(2 * float(((ca - cb) ** 2).sum()))
    assert float(mel_cepstral_distortion(b, a, 13)) == pytest.approx(expected, rel=1e-12)


def test_global_variance_is_each_bands_variance():
    x = torch.randn(3, 80, 50, dtype=F64)
    torch.testing.assert_close(global_variance(x), x.var(-1, unbiased=False))
    torch.testing.assert_close(global_variance(x, frames=10), x[..., :10].var(-1, unbiased=False))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: dtw(torch.rand(3)), "cost"),
        (lambda: mel_cepstra(torch.rand(13, 5), 13), "coefficients"),
        (lambda: mel_cepstral_distortion(torch.rand(40, 5), torch.rand(30, 5)), "bands"),
        (lambda: mel_cepstral_distortion(torch.rand(40), torch.rand(40, 5)), "predicted"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_mel_cepstra_are_the_cepstrum_of_the_log_amplitude_on_the_mel_axis():
    """A log amplitude 0.3 + 2 (0.5 cos ω + 0.2 cos 3ω) over 80 bands has c1 = 0.5, c3 = 0.2."""
    omega = torch.pi * (torch.arange(80, dtype=torch.float64) + 0.5) / 80
    amplitude = 0.3 + 2 * (0.5 * torch.cos(omega) + 0.2 * torch.cos(3 * omega))
    cepstra = mel_cepstra(2 * amplitude[:, None], 5)[0]  # log power is twice the log amplitude
    expected = torch.tensor([0.5, 0.0, 0.2, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(cepstra, expected, atol=1e-12, rtol=0)
