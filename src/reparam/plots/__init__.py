"""The plotting module: every picture reparam draws, one file per area.

matplotlib is imported only when a picture is drawn (:func:`pyplot`), with the non-interactive
Agg backend unless one was chosen already, so ``reparam --help`` and ``import reparam`` stay fast.
"""

from __future__ import annotations

from types import ModuleType


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, imported on first use with the Agg backend (files, no window)."""
    import matplotlib

    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
