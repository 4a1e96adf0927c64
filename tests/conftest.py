import os
from pathlib import Path

import pytest
import torch

# A relative $REPARAM_DATA (the README's `REPARAM_DATA=../shared/data`) is read from the folder
# pytest started in, so tests and the console scripts they run in other folders see one path.
if os.environ.get("REPARAM_DATA"):
    os.environ["REPARAM_DATA"] = str(Path(os.environ["REPARAM_DATA"]).expanduser().resolve())


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test starts from the same seed, so statistical tests are repeatable."""
    torch.manual_seed(0)
