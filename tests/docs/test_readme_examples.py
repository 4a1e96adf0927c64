"""Every Python example of the README runs as printed (the one that loads a run gets a small
trained run of its own first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reparam.experiments.vae import IWAETrainer
from reparam.train import RunOptions, run

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[-1][:40] for b in BLOCKS])
def test_example_runs(block: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "load_run(" in block:
        values = {"epochs": 1, "subset": 100, "k": 2, "device": "cpu"}
        run(
            IWAETrainer,
            values,
            RunOptions(Path("runs/iwae-digits"), progress=False, tensorboard=False),
        )
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
