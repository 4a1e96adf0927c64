"""DRAW's pictures: the write box lands where the glimpse says, in the grid and the GIF."""

from __future__ import annotations

import torch

from reparam.models.draw import Drawing
from reparam.models.draw_attention import Glimpse
from reparam.plots.draw import boxes, draw_canvas_animation, draw_canvas_grid, steps_shown


def drawing(steps: int = 3, n: int = 2) -> Drawing:
    """Canvases growing from black (a GIF merges equal frames) with a 2-wide write box centred
    at pixel (3, 4) of 6 x 6 images (a 2 x 2 grid of stride 1), and one box far outside at the
    last step."""
    full = torch.full((steps, n), 1.0)
    centre_x, centre_y = 3.0 * full, 4.0 * full
    centre_x[-1] = 1e4
    glimpses = Glimpse(centre_x, centre_y, full, 0 * full, 0 * full)
    canvases = (torch.arange(steps) / steps).view(steps, 1, 1).expand(steps, n, 36)
    return Drawing(canvases, glimpses, 6, 6, 2)


def test_boxes_are_the_glimpse_region_clipped_to_the_image() -> None:
    d = drawing()
    assert boxes(d, 0, 1) == [(1.0, 2.0, 3.0, 4.0)]  # 0-based centres 2, 3 ± 1
    assert boxes(d, 2, 1) == [(5.5, 2.0, 5.5, 4.0)]  # far right: clipped to the edge
    assert boxes(Drawing(torch.zeros(1, 1, 4), None, 2, 2, 2), 0, 1) == []


def test_the_gif_has_a_frame_a_step_and_the_box_in_colour(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "canvas.gif"
    draw_canvas_animation(drawing(), path, count=1, width_pixels=70)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        frame = gif.convert("RGB")  # the first frame: black canvases
        scale = 70 // 8
        # the box's left edge: tile origin 1, box left 1.0, half a pixel to the pixel's edge
        x, y = int((1 + 1.0 + 0.5) * scale), int((1 + 3.0 + 0.5) * scale)
        red, green, blue = frame.getpixel((x, y))
        assert red > 150 and green < 120 and blue < 100
        assert frame.getpixel((int(6.5 * scale), int(1.5 * scale))) == (0, 0, 0)  # off the box


def test_the_grid_is_written(tmp_path) -> None:
    draw_canvas_grid(drawing(), tmp_path / "canvas.png", rows=2, columns=2)
    assert (tmp_path / "canvas.png").stat().st_size > 0
    assert steps_shown(3, 2) == [1, 2]
