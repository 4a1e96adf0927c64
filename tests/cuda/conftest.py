"""The CUDA tests: what must hold on a GPU, skipped on a machine without one.

They run with ``python -m pytest -m cuda`` (``benchmarks/gpu.sh`` does). To check their logic
on a CPU, point them at another device: ``REPARAM_CUDA_TESTS_DEVICE=cpu python -m pytest -m
cuda tests/cuda`` (the tests that only mean something on a GPU still skip).
"""

from __future__ import annotations

import os

import pytest
import torch

DEVICE = os.environ.get("REPARAM_CUDA_TESTS_DEVICE", "cuda")


@pytest.fixture
def device() -> torch.device:
    """The GPU (or the device ``$REPARAM_CUDA_TESTS_DEVICE`` names)."""
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device(DEVICE)


@pytest.fixture
def gpu(device: torch.device) -> torch.device:
    """A real CUDA device: for the tests that mean nothing elsewhere."""
    if device.type != "cuda":
        pytest.skip("needs a real CUDA device")
    return device
