import pytest
import torch


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test starts from the same seed, so statistical tests are repeatable."""
    torch.manual_seed(0)
