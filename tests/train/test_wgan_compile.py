"""WGAN --compile: the compiled networks train to the eager numbers within float tolerance."""

from __future__ import annotations

import pytest
import torch

from reparam.experiments.wgan import WGANTrainer
from reparam.train import RunOptions, run
from reparam.train.checkpoint import load


@pytest.mark.parametrize(
    "lipschitz",
    [pytest.param("clip", marks=pytest.mark.slow), "gp"],  # gp: the harder path
)
def test_compiled_equals_eager_within_float_tolerance(tmp_path, lipschitz) -> None:
    config = {"lipschitz": lipschitz, "steps": 3, "log_every": 3, "batch_size": 16,
              "critic_steps": 2, "hidden": 16, "eval_points": 32, "device": "cpu"}  # fmt: skip
    results = {}
    for compiled in (False, True):
        out = tmp_path / str(compiled)
        options = RunOptions(out, progress=False, tensorboard=False)
        results[compiled] = (run(WGANTrainer, {**config, "compile": compiled}, options), out)
    (eager, eager_out), (fast, fast_out) = results[False], results[True]
    assert fast.config.compile and not eager.config.compile
    for a, b in zip(eager.history, fast.history, strict=True):
        for name in ("critic_w1", "critic_w1_train", "lipschitz", "exact_w1", "penalty"):
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-6), name
    weights = load(fast_out / "checkpoint.pt")["model"]
    for name, tensor in load(eager_out / "checkpoint.pt")["model"].items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-4, atol=1e-6)
