"""What a DRAW run shows: the canvas over the T steps with the write attention's box drawn on
it, as a PNG grid (a row a sample, a column a step) and as an animated GIF (a frame a step)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from reparam.models.draw import Drawing
from reparam.plots import pyplot

BOX_COLOUR = "#e4572e"
GAP = 0.5  # the grey between tiles


def mosaic(images: Tensor) -> Tensor:
    """``[rows, columns, H, W]`` images to one ``[rows·(H+1)+1, columns·(W+1)+1]`` picture
    with grey 1-pixel gaps; tile (r, c) starts at pixel ``(1 + r(H+1), 1 + c(W+1))``.

    >>> mosaic(torch.ones(2, 3, 4, 5)).shape
    torch.Size([11, 19])
    """
    rows, columns, height, width = images.shape
    picture = torch.full((rows * (height + 1) + 1, columns * (width + 1) + 1), GAP)
    for r in range(rows):
        for c in range(columns):
            top, left = 1 + r * (height + 1), 1 + c * (width + 1)
            picture[top : top + height, left : left + width] = images[r, c]
    return picture


def steps_shown(steps: int, columns: int) -> list[int]:
    """``columns`` step indices spread evenly over ``steps``, the last one always included.

    >>> steps_shown(64, 4), steps_shown(3, 8)
    ([15, 31, 47, 63], [0, 1, 2])
    """
    if columns >= steps:
        return list(range(steps))
    return [round((i + 1) * steps / columns) - 1 for i in range(columns)]


def boxes(drawing: Drawing, step: int, samples: int) -> list[tuple[float, float, float, float]]:
    """The write boxes ``(left, top, right, bottom)`` of the first ``samples`` samples at
    ``step``, in a tile's pixel-centre coordinates, clipped to the tile (empty without
    attention)."""
    if drawing.glimpses is None:
        return []
    left, top, right, bottom = (
        side[step, :samples] for side in drawing.glimpses.box(drawing.write_size)
    )
    low, high_x, high_y = -0.5, drawing.width - 0.5, drawing.height - 0.5
    return [
        (
            min(max(float(a), low), high_x),
            min(max(float(b), low), high_y),
            min(max(float(c), low), high_x),
            min(max(float(d), low), high_y),
        )
        for a, b, c, d in zip(left, top, right, bottom, strict=True)
    ]


def draw_canvas_grid(drawing: Drawing, path: Path, *, rows: int = 8, columns: int = 16) -> None:
    r"""``rows`` samples (a row each) at ``columns`` steps spread over T (the last included):
    each tile the canvas :math:`\sigma(c_t)` with step t's write box, as a PNG at ``path``."""
    steps, n = drawing.canvases.shape[:2]
    rows, shown = min(rows, n), steps_shown(steps, columns)
    height, width = drawing.height, drawing.width
    tiles = drawing.canvases[shown, :rows].detach().cpu().float()
    tiles = tiles.view(len(shown), rows, height, width).transpose(0, 1)
    plt = pyplot()
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(0.3 + 0.5 * len(shown), 0.7 + 0.5 * rows))
    ax.imshow(mosaic(tiles).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for c, step in enumerate(shown):
        for r, (left, top, right, bottom) in enumerate(boxes(drawing, step, rows)):
            x0, y0 = 1 + c * (width + 1), 1 + r * (height + 1)
            ax.add_patch(
                Rectangle((x0 + left, y0 + top), right - left, bottom - top, fill=False,
                          edgecolor=BOX_COLOUR, linewidth=0.8)
            )  # fmt: skip
    ax.set_xticks([1 + c * (width + 1) + (width - 1) / 2 for c in range(len(shown))])
    ax.set_xticklabels([str(step + 1) for step in shown], fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("step t", fontsize=8)
    ax.set_title("canvas σ(c_t) over the steps, write attention boxed", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_canvas_animation(
    drawing: Drawing,
    path: Path,
    *,
    count: int = 16,
    width_pixels: int = 300,
    grey_levels: int = 16,
    ms: int = 80,
) -> None:
    r"""An animated GIF at ``path``: frame t shows the canvases :math:`\sigma(c_t)` of
    ``count`` samples side by side with their write boxes; the last frame is held a second.
    Drawn with Pillow (matplotlib's dependency) directly, a frame an image, in
    ``grey_levels`` shades (16: a quarter of the file's size with 256, T = 64 frames in about
    half a megabyte)."""
    from PIL import Image, ImageDraw

    steps, n = drawing.canvases.shape[:2]
    count = min(count, n)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    height, width = drawing.height, drawing.width
    canvases = drawing.canvases[:, :count].detach().cpu().float().view(steps, count, height, width)
    padding = torch.full((steps, rows * columns - count, height, width), GAP)
    canvases = torch.cat([canvases, padding], 1).view(steps, rows, columns, height, width)
    scale = max(1, width_pixels // (columns * (width + 1) + 1))
    frames = []
    for step in range(steps):
        shades = (mosaic(canvases[step]) * (grey_levels - 1)).round() / (grey_levels - 1)
        picture = (shades * 255).round().to(torch.uint8).numpy()
        image = Image.fromarray(picture).convert("RGB")
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
        pen = ImageDraw.Draw(image)
        for i, (left, top, right, bottom) in enumerate(boxes(drawing, step, count)):
            r, c = divmod(i, columns)
            x0, y0 = 1 + c * (width + 1) + 0.5, 1 + r * (height + 1) + 0.5
            corners = [(x0 + left) * scale, (y0 + top) * scale, (x0 + right) * scale,
                       (y0 + bottom) * scale]  # fmt: skip
            pen.rectangle(corners, outline=BOX_COLOUR, width=max(1, scale // 4))
        frames.append(image)
    durations = [ms] * (steps - 1) + [1000]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
