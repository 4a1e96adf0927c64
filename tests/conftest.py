import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# A relative $REPARAM_DATA (the README's `REPARAM_DATA=../shared/data`) is read from the folder
# pytest started in, so tests and the console scripts they run in other folders see one path.
if os.environ.get("REPARAM_DATA"):
    os.environ["REPARAM_DATA"] = str(Path(os.environ["REPARAM_DATA"]).expanduser().resolve())


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test starts from the same seed, so statistical tests are repeatable."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory):
    """One folder for the small corpora the speech trainers' tests build, so that each is
    built once a session and the user's cache is left alone."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPARAM_SPEECH_CACHE", str(tmp_path_factory.mktemp("speech")))
        yield


# Property-based sweeps (tests/fuzz and elsewhere) are derandomised, so a CI run is repeatable
# and a failure reproduces; `HYPOTHESIS_PROFILE=deep` searches ten times longer, with a fresh seed.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("deep", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
