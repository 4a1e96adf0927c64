"""--compile gives the eager numbers within float tolerance, for both BNN trainers (with
inductor drawing its random numbers as eager does, so that both see the same noise)."""

from __future__ import annotations

import pytest
import torch

from reparam.experiments.bnn_mnist import MNISTConfig, MNISTTrainer
from reparam.experiments.uci import UCIConfig, UCITrainer
from reparam.train import RunOptions, run
from reparam.train.checkpoint import load
from tests.train.uci_fake import linear_set

pytestmark = pytest.mark.slow


def numbers(rows: list[dict]) -> list[float]:
    return [
        v for row in rows for k, v in row.items() if isinstance(v, float) and "seconds" not in k
    ]


def compare(trainer, config, tmp_path) -> None:
    eager = run(trainer, config, RunOptions(tmp_path / "eager", progress=False, tensorboard=False))
    compiled = run(
        trainer,
        {**config.to_dict(), "compile": True},
        RunOptions(tmp_path / "compiled", progress=False, tensorboard=False),
    )
    torch.testing.assert_close(
        numbers(compiled.history), numbers(eager.history), rtol=1e-4, atol=1e-5
    )
    a, b = (load(tmp_path / name / "checkpoint.pt")["model"] for name in ("eager", "compiled"))
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)


@pytest.fixture
def eager_random(monkeypatch):
    import torch._inductor.config as inductor

    monkeypatch.setattr(inductor, "fallback_random", True)
    torch._dynamo.reset()


def test_mnist_compiled_equals_eager(tmp_path, eager_random) -> None:
    config = MNISTConfig(
        dataset="digits",
        hidden=(16,),
        epochs=1,
        train_size=200,
        batch_size=50,
        samples=2,
        device="cpu",
    )
    compare(MNISTTrainer, config, tmp_path)


def test_uci_compiled_equals_eager(tmp_path, eager_random) -> None:
    root = linear_set(tmp_path / "data")
    config = UCIConfig(
        "uci:yacht",
        epochs=2,
        batch_size=32,
        checkpoints=1,
        samples=2,
        data_dir=str(root),
        device="cpu",
    )
    compare(UCITrainer, config, tmp_path)
