"""``reparam train postnet`` and ``reparam repro postnet`` on the small single-voice corpus:
the degradation over-smooths, the measures are what they say, a tiny U-Net beats its input,
every loss trains, a resumed GAN or WGAN-GP run equals a straight one (both networks and
both optimisers), a tts run's predictions can be the inputs, the commands write their files,
and bad options are one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.speech import corpus, espeak
from reparam.experiments.postnet import PostnetTrainer, degrade, measures, paired_data
from reparam.experiments.postnet_config import PostnetConfig
from reparam.experiments.tts import TTSTrainer
from reparam.experiments.tts_config import TTSConfig
from reparam.runs import load_run
from reparam.speech.distortion import global_variance
from reparam.train import run
from reparam.train.checkpoint import load
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

pytestmark = [
    pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL),
    pytest.mark.usefixtures("speech_cache"),
]
runner = CliRunner()
TINY = {"recipe": "tts-small", "channels": 4, "depth": 2, "critic_channels": 4, "crop": 32,
        "batch_size": 2, "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def targets():
    _, ys = paired_data(corpus.load("tts-small"), PostnetConfig(**TINY), torch.device("cpu"))
    return ys


def test_the_degradation_lowers_every_bands_global_variance(targets) -> None:
    for y in targets["train"] + targets["test"]:
        degraded = degrade(y, 2.0, 1.5, 0.8)
        assert degraded.shape == y.shape
        assert (global_variance(degraded) < global_variance(y)).all()
        assert torch.equal(degraded, degrade(y, 2.0, 1.5, 0.8))  # deterministic
        assert torch.allclose(degrade(y, 0.0, 0.0, 1.0), y, atol=1e-5)  # no blur, no shrink: itself
        # the shrink alone scales the variance by its square
        ratio = global_variance(degrade(y, 0.0, 0.0, 0.5)) / global_variance(y)
        assert torch.allclose(ratio, torch.full_like(ratio, 0.25), atol=1e-4)


def test_the_measures_of_known_distortions(targets) -> None:
    y = targets["test"][0]
    mean = y.mean()  # one level for every bin: the shrink scales the Laplacian too
    assert measures([y + 0.5], [y])["l1"] == pytest.approx(0.5)
    assert measures([y + 0.5], [y])["spurious"] == pytest.approx(0.5)
    assert measures([y - 0.5], [y])["spurious"] == 0.0
    assert measures([y + 0.5], [y])["mcd_db"] == pytest.approx(0.0, abs=1e-4)  # energy only
    shrunk = measures([mean + 0.5 * (y - mean)], [y])
    assert shrunk["gv_ratio"] == pytest.approx(0.25, rel=1e-5)
    assert shrunk["gv_abs_log"] == pytest.approx(-torch.tensor(0.25).log().item(), rel=1e-5)
    assert shrunk["roughness_ratio"] == pytest.approx(0.5, rel=1e-5)
    assert shrunk["detail_error"] == pytest.approx(0.5, rel=1e-5)
    speckled = y + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    assert measures([speckled], [y])["roughness_ratio"] > 1.1
    flat = measures([torch.full_like(y, float(mean))], [y])  # no detail at all
    assert flat["detail_error"] == pytest.approx(1.0) and flat["roughness_ratio"] == 0.0


def test_a_tiny_unet_beats_its_degraded_input(tmp_path) -> None:
    """80 L1 steps of a small U-Net on the four training utterances: the validation L1 falls
    below 0.75 of the degraded input's (from 1.25 to 0.75, 0.60 of it, when written)."""
    config = PostnetConfig(**{**TINY, "channels": 8, "depth": 3, "batch_size": 4, "lr": 3e-3,
                              "steps": 80, "eval_every": 40})  # fmt: skip
    result = run(PostnetTrainer, config, quiet_options(tmp_path / "l1"))
    best = result.best
    assert best is not None and best["valid_l1"] < 0.75 * best["valid_input_l1"], best
    evaluation = json.loads((tmp_path / "l1" / "evaluation.json").read_text())
    assert evaluation["output"]["l1"] < evaluation["input"]["l1"]
    assert evaluation["input"]["gv_ratio"] < 1


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("postnet") / "gan"
    options = {**TINY, "loss": "gan", "steps": 4, "eval_every": 2}
    result = runner.invoke(app, ["train", "postnet", *arguments(options), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_command_writes_its_run_folder(gan_run) -> None:
    evaluation = json.loads((gan_run / "evaluation.json").read_text())
    assert evaluation["utterances"] == 2 and evaluation["loss"] == "gan"
    for part in ("input", "output"):
        assert set(evaluation[part]) >= {
            "l1",
            "mcd_db",
            "gv_ratio",
            "spurious",
            "roughness_ratio",
            "detail_error",
        }
    assert "| no postnet |" in (gan_run / "evaluation.md").read_text()
    for name in ("triplet.png", "sample.wav", "best.pt", "metrics.csv"):
        assert (gan_run / name).stat().st_size > 0
    saved = load(gan_run / "checkpoint.pt")["trainer"]
    assert {"critic", "critic_optimizer", "optimizer", "generator"} <= set(saved)
    trained = load_run(gan_run)  # the model is the postnet alone: log-mel in, log-mel out
    assert trained.model(torch.zeros(80, 37)).shape == (80, 37)


@pytest.mark.parametrize("loss", ["l1", "wgan-gp"])
def test_every_loss_trains(tmp_path, loss) -> None:
    config = PostnetConfig(**{**TINY, "loss": loss, "critic_steps": 2, "steps": 2,
                              "eval_every": 1})  # fmt: skip
    result = run(PostnetTrainer, config, quiet_options(tmp_path / loss))
    assert len(result.history) == 2
    assert all(torch.isfinite(torch.tensor(row["valid_l1"])) for row in result.history)
    if loss == "wgan-gp":
        assert {"critic_w1", "critic_penalty"} <= set(result.history[0])


@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_resumed_equals_a_straight_run(tmp_path, loss) -> None:
    """The generator, the discriminator and both Adam states, the crops' generator and
    torch's (the U-Net's dropout)."""
    values = {**TINY, "loss": loss, "critic_steps": 2, "eval_every": 2}
    straight = run(PostnetTrainer, PostnetConfig(**values, steps=4), quiet_options(tmp_path / "a"))
    run(PostnetTrainer, PostnetConfig(**values, steps=2), quiet_options(tmp_path / "b"))
    resumed = run(PostnetTrainer, PostnetConfig(**values, steps=4),
                  quiet_options(tmp_path / "b", resume=True))  # fmt: skip
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    first, second = (load(tmp_path / f / "checkpoint.pt")["trainer"] for f in "ab")
    for name, tensor in first["critic"].items():
        assert torch.equal(tensor, second["critic"][name]), name
    moments = [(load(tmp_path / f / "checkpoint.pt")["trainer"]["critic_optimizer"]["state"][0])
               for f in "ab"]  # fmt: skip
    assert torch.equal(moments[0]["exp_avg"], moments[1]["exp_avg"])


def test_a_tts_runs_predictions_are_the_inputs(tmp_path) -> None:
    tts = {"recipe": "tts-small", "embedding": 16, "encoder_units": 16, "attention_dim": 16,
           "prenet": 16, "attention_rnn": 32, "decoder_rnn": 32, "postnet_channels": 16,
           "batch_size": 2, "eval_frames": 20, "steps": 2, "eval_every": 2, "device": "cpu"}  # fmt: skip
    run(TTSTrainer, TTSConfig(**tts), quiet_options(tmp_path / "tts"))
    config = PostnetConfig(**{**TINY, "source": str(tmp_path / "tts"), "steps": 2,
                              "eval_every": 2})  # fmt: skip
    inputs, targets = paired_data(corpus.load("tts-small"), config, torch.device("cpu"))
    again, _ = paired_data(corpus.load("tts-small"), config, torch.device("cpu"))
    for split in ("train", "valid", "test"):
        assert [x.shape for x in inputs[split]] == [y.shape for y in targets[split]]
        assert all(torch.equal(a, b) for a, b in zip(inputs[split], again[split], strict=True))
    result = run(PostnetTrainer, config, quiet_options(tmp_path / "postnet"))
    assert result.history[-1]["valid_input_l1"] > 0
    assert "shrink" not in config.to_dict()  # the degradation's settings do not apply
    with pytest.raises(ValueError, match="give --recipe tts-small"):
        paired_data(corpus.load("tts-small"), PostnetConfig(**{**TINY, "recipe": "asr-small",
                    "source": str(tmp_path / "tts")}), torch.device("cpu"))  # fmt: skip


def test_repro_writes_the_table_and_reuses_its_runs(tmp_path) -> None:
    out = tmp_path / "repro"
    command = ["repro", "postnet", "--recipe", "tts-small", "--steps", "2", "--eval-every",
               "2", "--channels", "4", "--depth", "2", "--critic-channels", "4",
               "--critic-steps", "1", "--crop", "32", "--batch-size", "2", "--device", "cpu",
               "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    table = (out / "TABLE.md").read_text()
    for row in ("| no postnet |", "| L1 |", "| L1 + GAN |", "| L1 + WGAN-GP |"):
        assert row in table
    payload = json.loads((out / "TABLE.json").read_text())
    assert list(payload["results"]) == ["no postnet", "L1", "L1 + GAN", "L1 + WGAN-GP"]
    assert "machine" in payload["settings"] and (out / "plate.png").stat().st_size > 0
    stamp = (out / "gan" / "checkpoint.pt").stat().st_mtime_ns
    assert runner.invoke(app, command).exit_code == 0
    assert (out / "gan" / "checkpoint.pt").stat().st_mtime_ns == stamp  # reused, not retrained


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--loss", "hinge"], "unknown --loss 'hinge'; choose one of l1, gan, wgan-gp"),
        (["--crop", "8"], "--crop must be at least 2^depth = 16 frames"),
        (["--shrink", "1.5"], "--shrink must lie in [0, 1]"),
        (["--channels", "0"], "--channels must be > 0"),
        (["--steps", "10", "--eval-every", "3"], "--steps 10 must be a multiple of --eval-every 3"),
        (["--recipe", "tts-small", "--source", "nowhere"], "--source 'nowhere' is neither"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, options, message) -> None:
    result = runner.invoke(app, ["train", "postnet", *options, "--out", str(tmp_path / "bad")])
    assert result.exit_code != 0 and message in str(result.exception), result.output
    assert "\n" not in str(result.exception)
    assert not (tmp_path / "bad").exists()
