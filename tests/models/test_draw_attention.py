"""DRAW's Gaussian-filterbank attention: normalised rows, read-then-write reconstructions of
the whole image and of a window, finite differences, non-square shapes, extreme inputs."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.models.draw_attention import (
    Glimpse,
    filterbank,
    filterbanks,
    read,
    tiling,
    write,
)
from tests.error_tables import raises_test

SHARP = -20.0  # log σ²: filters one pixel wide


def glimpse(cx, cy, stride, log_variance=SHARP, log_intensity=0.0, dtype=torch.float32):
    values = (cx, cy, stride, log_variance, log_intensity)
    return Glimpse(*(torch.as_tensor(v, dtype=dtype) for v in values))


def test_filterbank_rows_sum_to_one() -> None:
    torch.manual_seed(0)
    shape = (3, 4)
    F = filterbank(
        torch.randn(shape) * 10, torch.rand(shape) * 3, torch.randn(shape) * 3, size=5, length=9
    )
    assert F.shape == (3, 4, 5, 9)
    assert torch.allclose(F.sum(-1), torch.ones(3, 4, 5), atol=1e-6)
    assert (F >= 0).all()


def test_the_filters_sit_at_the_papers_means() -> None:
    """mu^i = g + (i - N/2 - 0.5) delta: with a sharp filter, row i is the pixel mu^i."""
    F = filterbank(torch.tensor(5.0), torch.tensor(2.0), torch.tensor(SHARP), size=3, length=9)
    assert F.argmax(-1).tolist() == [2, 4, 6]  # 0-based: pixels 3, 5, 7


def test_a_write_of_a_read_is_the_image() -> None:
    """N = A, delta = 1, sigma small: F is the identity, and write(read(x)) = x."""
    torch.manual_seed(1)
    x = torch.rand(2, 6, 6)
    g = Glimpse.from_decoder(torch.tensor([0.0, 0.0, SHARP, 0.0, math.log(3.0)]), 6, 6, 6)
    assert float(g.stride) == 1.0 and float(g.centre_x) == 3.5
    patches = read(x, 1 - x, g, 6)
    assert torch.allclose(patches, 3 * torch.stack([x, 1 - x], 1), atol=1e-5)
    assert torch.allclose(write(patches[:, 0], g, 6, 6), x, atol=1e-5)


def test_a_write_of_a_read_of_a_window_is_the_window() -> None:
    """A 3 x 3 grid, stride 1, centred at pixel (4, 3) of a 7-wide, 5-high image: reading then
    writing gives the window's content and zero elsewhere."""
    torch.manual_seed(2)
    x = torch.rand(7 * 5).view(5, 7)
    g = glimpse(4.0, 3.0, 1.0, log_intensity=0.5)
    back = write(read(x, x, g, 3)[0], g, 7, 5)
    window = torch.zeros_like(x)
    window[1:4, 2:5] = x[1:4, 2:5]  # rows 2-4, columns 3-5 (1-based)
    assert torch.allclose(back, window, atol=1e-5)


def test_shapes_of_non_square_images() -> None:
    batch = (2, 3)
    g = Glimpse.from_decoder(torch.randn(*batch, 5), width=7, height=4, size=3)
    fx, fy = filterbanks(g, 3, 7, 4)
    assert fx.shape == (*batch, 3, 7) and fy.shape == (*batch, 3, 4)
    x = torch.rand(*batch, 4, 7)
    assert read(x, x, g, 3).shape == (*batch, 2, 3, 3)
    assert write(torch.rand(*batch, 3, 3), g, 7, 4).shape == (*batch, 4, 7)


def test_from_decoder_scales_centre_and_stride() -> None:
    """g_X = (A+1)/2 (g~ + 1), g_Y = (B+1)/2 (g~ + 1), delta = (max(A,B)-1)/(N-1) delta~."""
    raw = torch.tensor([0.5, -0.5, 0.0, math.log(2.0), 0.0])
    g = Glimpse.from_decoder(raw, width=9, height=5, size=3)
    assert float(g.centre_x) == pytest.approx(7.5)
    assert float(g.centre_y) == pytest.approx(1.5)
    assert float(g.stride) == pytest.approx(8.0)
    assert float(Glimpse.from_decoder(torch.zeros(5), 9, 5, 1).stride) == 8.0  # N = 1


def test_gradients_against_finite_differences() -> None:
    torch.manual_seed(3)
    raw = (torch.randn(2, 5, dtype=torch.float64) * 0.3).requires_grad_()
    x = torch.rand(2, 5, 6, dtype=torch.float64, requires_grad=True)
    patch = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)

    def read_of(raw, x):
        return read(x, 1 - x, Glimpse.from_decoder(raw, 6, 5, 3), 3)

    def write_of(raw, patch):
        return write(patch, Glimpse.from_decoder(raw, 6, 5, 3), 6, 5)

    assert torch.autograd.gradcheck(read_of, (raw, x))
    assert torch.autograd.gradcheck(write_of, (raw, patch))


def test_extreme_but_valid_inputs_stay_finite() -> None:
    """sigma tiny (log sigma^2 far below the floor), gamma huge, the centre far outside."""
    cases = [
        glimpse(4.0, 4.0, 1.0, log_variance=-300.0),
        glimpse(4.0, 4.0, 1.0, log_intensity=40.0),
        glimpse(1e4, -1e4, 1.0),
        glimpse(1e4, -1e4, 1e-3, log_variance=-300.0, log_intensity=-40.0),
        glimpse(4.0, 4.0, 1e3, log_variance=200.0),
    ]
    x = torch.rand(8, 8, requires_grad=True)
    patch = torch.rand(3, 3, requires_grad=True)
    for g in cases:
        parameters = [torch.tensor(float(v), requires_grad=True) for v in vars(g).values()]
        g = Glimpse(*parameters)
        fx, fy = filterbanks(g, 3, 8, 8)
        assert torch.allclose(fx.sum(-1), torch.ones(3)) and torch.allclose(
            fy.sum(-1), torch.ones(3)
        )
        out = read(x, x, g, 3).sum() + write(patch, g, 8, 8).sum()
        assert torch.isfinite(out)
        grads = torch.autograd.grad(out, [x, patch, *parameters])
        assert all(torch.isfinite(grad).all() for grad in grads)
    far = filterbank(torch.tensor(1e4), torch.tensor(1.0), torch.tensor(0.0), 2, 8)
    assert torch.allclose(far[:, -1], torch.ones(2))  # the filters rest on the last pixel


@pytest.mark.parametrize(("width", "height", "size"), [(28, 28, 2), (28, 28, 5), (12, 9, 3)])
def test_the_tiling_reads_every_pixel_and_writes_unit_ink(width, height, size) -> None:
    """The start of DRAW's heads: a centred grid of tiles delta = max(A, B)/N, sigma = delta/2,
    whose filters reach every pixel and whose write of a patch of ones has mean pixel 1
    (exactly: N^2 patch values, a unit of ink each, times delta^2 over A^2 pixels)."""
    g = Glimpse.from_decoder(tiling(width, height, size), width, height, size)
    stride = max(width, height) / size
    assert float(g.stride) == pytest.approx(stride)
    assert float(g.log_variance.exp()) == pytest.approx((stride / 2) ** 2)
    assert (float(g.centre_x), float(g.centre_y)) == ((width + 1) / 2, (height + 1) / 2)
    fx, fy = filterbanks(g, size, width, height)
    assert fx.sum(0).min() > 0.4 * size / width  # no blind column
    assert fy.sum(0).min() > 0.4 * size / height
    raw = tiling(width, height, size, write=True)
    assert torch.equal(raw[:4], tiling(width, height, size)[:4])
    square = Glimpse.from_decoder(raw, max(width, height), max(width, height), size)
    canvas = write(torch.ones(size, size), square, max(width, height), max(width, height))
    assert float(canvas.mean()) == pytest.approx(1.0, abs=1e-5)
    assert float(canvas.min()) > 0.35


BAD = {
    "tiling size 0": (lambda: tiling(8, 8, 0), "size must be a positive"),
    "raw of 4": (lambda: Glimpse.from_decoder(torch.zeros(4), 8, 8, 2), "raw must have 5"),
    "size 0": (lambda: Glimpse.from_decoder(torch.zeros(5), 8, 8, 0), "size must be a positive"),
    "width 0": (lambda: write(torch.zeros(2, 2), glimpse(1, 1, 1), 0, 8), "width must be"),
    "non-square patch": (
        lambda: write(torch.zeros(2, 3), glimpse(1, 1, 1), 8, 8),
        "patch must be square",
    ),
    "x and x_hat differ": (
        lambda: read(torch.zeros(4, 4), torch.zeros(4, 5), glimpse(1, 1, 1), 2),
        "x and x_hat must be images",
    ),
    "length 0": (
        lambda: filterbank(torch.tensor(1.0), torch.tensor(1.0), torch.tensor(0.0), 2, 0),
        "length must be a positive",
    ),
}
test_bad_arguments_raise = raises_test(BAD, ValueError)
test_integer_tensor_raises = raises_test(
    {"raw of ints": (lambda: Glimpse.from_decoder(torch.zeros(5, dtype=torch.long), 8, 8, 2),
                     "raw must be a floating-point")},
    TypeError,
)  # fmt: skip
