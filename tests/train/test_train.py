import csv
import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from typer.testing import CliRunner

import reparam.experiments.vae_evaluation as evaluate_module
from reparam.cli import app
from reparam.experiments.schedule import BURDA_EPOCHS, burda_stage, learning_rate
from reparam.experiments.vae import Trainer, train
from reparam.experiments.vae_config import TrainConfig
from reparam.objectives import iwae_bound
from reparam.train.distributed import start, stop

runner = CliRunner()


def plain(output: str) -> str:
    """The CLI's words without rich's box and line wrapping."""
    return " ".join(output.replace("│", " ").split())


def tiny(tmp_path, **options) -> TrainConfig:
    settings = {"out": str(tmp_path / "run"), "epochs": 2, "batch_size": 200, "device": "cpu"}
    return TrainConfig(**(settings | options))


def test_resume_continues_exactly(tmp_path) -> None:
    straight = train(tiny(tmp_path / "a", epochs=3))
    train(tiny(tmp_path / "b", epochs=1))
    resumed = train(tiny(tmp_path / "b", epochs=3), resume=True)
    for a, b in zip(straight, resumed, strict=True):
        assert a["train_bound"] == b["train_bound"]
        assert a["valid_bound"] == b["valid_bound"]
    with open(tmp_path / "b" / "run" / "metrics.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [1, 2, 3]


def test_run_folder_and_cli_end_to_end(tmp_path) -> None:
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["train", "iwae", "--epochs", "2", "--k", "3", "--out", str(out), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "config.json",
        "metrics.csv",
        "checkpoint.pt",
        "best.pt",
        "samples.png",
        "reconstructions.png",
        "curves.png",
    ):
        assert (out / name).exists(), name
    assert not list(out.glob("*.tmp"))
    result = runner.invoke(app, ["eval", str(out), "--k", "50", "--chunk", "20", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (out / "eval-test-k50.json").exists()


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("vae", ["--layers", "2", "--kl-warmup", "10"]),
        ("flow-vae", ["--flow", "radial", "--flow-length", "2"]),
        ("flow-vae", ["--flow", "iaf", "--flow-length", "2"]),
        ("cat-vae", ["--estimator", "gumbel-softmax"]),
        ("cat-vae", ["--objective", "iwae", "--estimator", "vimco"]),
        ("conv-vae", ["--estimator", "dreg", "--objective", "iwae"]),
    ],
)
def test_every_model_trains(tmp_path, model: str, options: list[str]) -> None:
    out = tmp_path / model
    args = ["train", model, "--epochs", "2", "--k", "2", "--out", str(out), "--device", "cpu"]
    result = runner.invoke(app, args + options)
    assert result.exit_code == 0, result.output
    with open(out / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert all(math.isfinite(float(r["train_bound"])) for r in rows)


def test_bad_settings_are_refused(tmp_path) -> None:
    for args, message in [
        (["train", "gan"], "unknown model"),
        (["train", "--schedule", "cosine"], "unknown schedule"),
        (["train", "flow-vae", "--layers", "2"], "one stochastic layer"),
        (["train", "--k", "0"], "k must be >= 1"),
        (["train", "--dataset", "cifar"], "cifar"),
        (["eval", str(tmp_path / "nothing")], "is not a run folder"),
    ]:
        result = runner.invoke(
            app, [*args, "--out", str(tmp_path / "x")] if args[0] == "train" else args
        )
        assert result.exit_code != 0
        assert message in plain(result.output), result.output


def test_burda_schedule() -> None:
    assert BURDA_EPOCHS == 3280
    assert [burda_stage(e) for e in (0, 1, 3, 4, 12, 13, 3279)] == [0, 1, 1, 2, 2, 3, 7]
    assert learning_rate("burda", 1e-3, 3279) == pytest.approx(1e-4)


def test_chunked_bound_merges_chunks_exactly(monkeypatch) -> None:
    log_w = torch.randn(23, 4, dtype=torch.float64) * 30
    pieces = iter(log_w.split(5))
    monkeypatch.setattr(evaluate_module, "log_weights", lambda model, x, k: next(pieces))
    bound, elbo = evaluate_module.bounds(None, torch.zeros(4, 1, dtype=torch.float64), 23, 5)
    torch.testing.assert_close(bound, iwae_bound(log_w))
    torch.testing.assert_close(elbo, log_w.mean(0))


def test_bounds_are_ordered_on_a_trained_model(tmp_path) -> None:
    """L_1 ≤ L_5 ≤ L_50 on the validation digits (means over 20 repeats, 5 SE apart)."""
    config = tiny(tmp_path, epochs=15, batch_size=100)
    trainer = Trainer(config, start("cpu"), resume=False)
    trainer.run()
    x = trainer.valid_x
    means, ses = {}, {}
    with torch.no_grad():
        for k in (1, 5, 50):
            values = torch.stack(
                [trainer.model.bound(x, objective="iwae", k=k).mean() for _ in range(20)]
            )
            means[k], ses[k] = float(values.mean()), float(values.std()) / math.sqrt(20)
    assert means[1] + 5 * (ses[1] + ses[5]) < means[5]
    assert means[5] + 5 * (ses[5] + ses[50]) < means[50]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    ranks = start("cpu")
    try:
        config = TrainConfig(out=out, epochs=4, batch_size=100, device="cpu")
        trainer = Trainer(config, ranks, resume=False)
        history = trainer.run()
        torch.save(
            {"state": trainer.model.state_dict(), "history": history}, f"{out}-rank{rank}.pt"
        )
    finally:
        stop(ranks)


def test_ddp_two_processes_stay_in_sync_and_learn(tmp_path) -> None:
    out = str(tmp_path / "ddp")
    mp.spawn(ddp_worker, args=(2, free_port(), out), nprocs=2, join=True)
    results = [torch.load(f"{out}-rank{r}.pt", weights_only=False) for r in range(2)]
    for name, value in results[0]["state"].items():
        torch.testing.assert_close(value, results[1]["state"][name], rtol=0, atol=0)
    history = results[0]["history"]
    assert history[-1]["train_bound"] > history[0]["train_bound"] + 1
    assert (tmp_path / "ddp" / "metrics.csv").exists()


def test_repro_writes_the_table_beside_the_paper(tmp_path) -> None:
    out = tmp_path / "repro"
    args = [
        "repro",
        "flows",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--schedule",
        "constant",
        "--eval-k",
        "5",
        "--batch-size",
        "200",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "flows.md").read_text()
    assert "planar flow, K=80" in table and "| 85.10 |" in table
    assert "used digits" in table
    result = runner.invoke(app, ["repro", "vae-gan"])
    assert result.exit_code != 0 and "unknown table" in plain(result.output)


@pytest.mark.skipif(
    not (
        os.environ.get("REPARAM_DATA")
        and os.path.isdir(os.path.join(os.environ.get("REPARAM_DATA", ""), "binarized_mnist"))
    ),
    reason="binarized MNIST is not under $REPARAM_DATA",
)
def test_trains_and_evaluates_on_a_slice_of_binarized_mnist(tmp_path) -> None:
    out = tmp_path / "mnist"
    args = [
        "train",
        "iwae",
        "--dataset",
        "binarized-mnist",
        "--subset",
        "600",
        "--epochs",
        "3",
        "--k",
        "5",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(out / "metrics.csv") as file:
        bounds = [float(row["train_bound"]) for row in csv.DictReader(file)]
    assert bounds[-1] > bounds[0] + 20  # from ~-540 nats at initialization
    result = runner.invoke(
        app, ["eval", str(out), "--k", "100", "--subset", "200", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output


def test_moving_average_baseline_resumes_exactly(tmp_path) -> None:
    options = {"model": "cat-vae", "estimator": "score+moving-average", "k": 2}
    straight = train(tiny(tmp_path / "a", epochs=2, **options))
    train(tiny(tmp_path / "b", epochs=1, **options))
    resumed = train(tiny(tmp_path / "b", epochs=2, **options), resume=True)
    assert [r["train_bound"] for r in straight] == [r["train_bound"] for r in resumed]
