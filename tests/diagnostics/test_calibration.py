import math

import pytest
import torch

from reparam.diagnostics.calibration import Calibration, expected_calibration_error
from reparam.plots.calibration import plot_reliability

# Five examples, three classes; confidences 0.9, 0.85, 0.7, 0.5, 0.36 (none on a bin edge).
PROBS = torch.tensor(
    [
        [0.90, 0.05, 0.05],  # predicts 0, label 0: right
        [0.15, 0.85, 0.00],  # predicts 1, label 0: wrong
        [0.10, 0.20, 0.70],  # predicts 2, label 2: right
        [0.50, 0.30, 0.20],  # predicts 0, label 1: wrong
        [0.36, 0.30, 0.34],  # predicts 0, label 2: wrong
    ]
)
LABELS = torch.tensor([0, 0, 2, 1, 2])


def test_ece_matches_a_hand_computation() -> None:
    # Bins of width 0.2: (0.8, 1] holds 0.9 and 0.85 (accuracy 1/2, confidence 0.875),
    # (0.6, 0.8] holds 0.7 (1 vs 0.7), (0.4, 0.6] holds 0.5 (0 vs 0.5), (0.2, 0.4] holds 0.36.
    result = expected_calibration_error(PROBS, LABELS, bins=5)
    expected = 2 / 5 * abs(0.5 - 0.875) + 1 / 5 * 0.3 + 1 / 5 * 0.5 + 1 / 5 * 0.36
    assert result.ece == pytest.approx(expected)  # 0.382
    assert result.counts == (0, 1, 1, 1, 2)
    assert math.isnan(result.accuracy[0]) and math.isnan(result.confidence[0])
    assert result.accuracy[1:] == pytest.approx((0.0, 0.0, 1.0, 0.5))
    assert result.confidence[1:] == pytest.approx((0.36, 0.5, 0.7, 0.875))
    assert result.edges == pytest.approx((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    assert result.mce == pytest.approx(0.5)
    assert result.overall_accuracy == pytest.approx(2 / 5)
    assert result.mean_confidence == pytest.approx(3.31 / 5)
    # One bin: |overall accuracy − mean confidence|.
    assert expected_calibration_error(PROBS, LABELS, bins=1).ece == pytest.approx(
        abs(2 / 5 - 3.31 / 5)
    )
    assert result.to_dict()["accuracy"][0] is None


def calibrated_sample(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities spread over (0.1, 1] and labels drawn from them: calibrated by design."""
    generator = torch.Generator().manual_seed(seed)
    probs = (3 * torch.randn(n, 10, generator=generator, dtype=torch.float64)).softmax(-1)
    labels = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return probs, labels


def noise_level(probs: torch.Tensor, result: Calibration) -> float:
    """Σ_b |B_b|/N · SE_b with SE_b = sqrt(Σ_{i∈B_b} p̂_i(1 − p̂_i)) / |B_b|, the standard error
    of acc(B_b) given the confidences: E[ECE] of a calibrated model is at most this sum."""
    confidence = probs.max(1).values
    index = torch.bucketize(confidence, torch.tensor(result.edges[1:-1], dtype=torch.float64))
    variance = torch.zeros(result.bins, dtype=torch.float64).index_add_(
        0, index, confidence * (1 - confidence)
    )
    return float(variance.sqrt().sum() / len(probs))


def test_calibrated_probabilities_have_a_small_ece() -> None:
    probs, labels = calibrated_sample(20_000, seed=1)
    result = expected_calibration_error(probs, labels, bins=15)
    tolerance = 3 * noise_level(probs, result)  # noise level ≈ 0.010, ECE ≈ 0.007 here
    assert result.ece < tolerance
    # ... and the test can fail: sharpening the same probabilities (p² renormalized)
    # makes the model overconfident, far beyond the noise.
    sharp = probs**2 / (probs**2).sum(1, keepdim=True)
    assert expected_calibration_error(sharp, labels, bins=15).ece > 3 * tolerance


def test_reliability_png_is_written(tmp_path) -> None:
    probs, labels = calibrated_sample(500, seed=2)
    sharp = probs**3 / (probs**3).sum(1, keepdim=True)
    results = {
        "calibrated": expected_calibration_error(probs, labels),
        "overconfident": expected_calibration_error(sharp, labels),
    }
    path = plot_reliability(results, tmp_path / "plots" / "reliability.png", title="synthetic")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="at least one"):
        plot_reliability({}, tmp_path / "empty.png")


@pytest.mark.parametrize(
    ("probs", "labels", "bins", "message"),
    [
        (PROBS * 1.1, LABELS, 15, "sum to 1"),
        (PROBS, LABELS[:4], 15, "labels must be"),
        (PROBS[:, :2].T, LABELS, 15, "labels must be"),
        (PROBS[0], LABELS[:1], 15, r"\[N, K\]"),
        (PROBS, LABELS, 0, "bins"),
        (PROBS, LABELS, 2.5, "bins"),
        (PROBS, LABELS + 1, 15, "lie in"),
        (PROBS, LABELS.float(), 15, "integers"),
        (PROBS - 0.5, LABELS, 15, r"\[0, 1\]"),
        (torch.full((5, 3), math.nan), LABELS, 15, "finite"),
    ],
)
def test_bad_inputs_raise(probs, labels, bins, message) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels, bins=bins)


def test_the_calibration_module_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, reparam.diagnostics.calibration; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
