"""A small UCI set in the standard layout, for the UCI trainer's tests: y = 3·x0 − x1 + noise."""

from __future__ import annotations

from pathlib import Path

import torch


def linear_set(root: Path, rows: int = 120, splits: int = 2, noise: float = 0.1) -> Path:
    """Write the set under ``root/uci/yacht`` (the folder of ``uci:yacht``); returns ``root``."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(rows, 3, generator=generator, dtype=torch.float64)
    y = 3 * x[:, 0] - x[:, 1] + noise * torch.randn(rows, generator=generator, dtype=torch.float64)
    folder = root / "uci" / "yacht"
    folder.mkdir(parents=True)
    table = torch.cat([x, y[:, None]], 1)
    (folder / "data.txt").write_text(
        "\n".join(" ".join(f"{v:.10f}" for v in r) for r in table.tolist())
    )
    (folder / "index_features.txt").write_text("0\n1\n2\n")
    (folder / "index_target.txt").write_text("3\n")
    (folder / "n_splits.txt").write_text(f"{splits}\n")
    (folder / "n_hidden.txt").write_text("16\n")
    test = rows // 10
    for s in range(splits):
        order = torch.randperm(rows, generator=generator).tolist()
        (folder / f"index_train_{s}.txt").write_text("\n".join(map(str, order[test:])))
        (folder / f"index_test_{s}.txt").write_text("\n".join(map(str, order[:test])))
    return root
