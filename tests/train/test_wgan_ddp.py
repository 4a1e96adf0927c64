"""WGAN under torchrun: two ranks on gloo draw their own data, average their gradients and
end with identical weights; rank 0 alone writes the run folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reparam.train.run_folder import read_metrics

WORKER = Path(__file__).parent / "wgan_ddp_worker.py"


@pytest.mark.parametrize("lipschitz", ["clip", "gp"])
def test_two_ranks_stay_identical_on_their_own_data(tmp_path, lipschitz) -> None:
    torchrun = shutil.which("torchrun")
    command = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    out = tmp_path / "ddp"
    done = subprocess.run(
        [*command, "--standalone", "--nproc_per_node=2", str(WORKER), str(out), lipschitz],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(f"{out}-rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][name]), name
    assert ranks[0]["batch"] == ranks[1]["batch"] == 8  # 16 split between the two
    assert not torch.equal(ranks[0]["data_rng"], ranks[1]["data_rng"])  # each its own data
    assert ranks[0]["window"][0] != ranks[1]["window"][0]  # and its own critic estimates
    rows = read_metrics(out / "metrics.csv")
    assert [r["step"] for r in rows] == [1, 3, 6] and all(r["exact_w1"] > 0 for r in rows)
    assert (out / "samples.png").exists() and (out / "best.pt").exists()
