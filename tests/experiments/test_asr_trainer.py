"""``reparam train asr`` on the small synthesized corpus: a tiny recognizer overfits three
utterances to zero CER through the command line, resumes exactly, trains alike with either
CTC loss, and writes its evaluation and picture."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.speech import corpus, espeak
from reparam.data.speech.features_cache import split_features
from reparam.experiments import asr_evaluation as scoring
from reparam.experiments.asr import LOSSES, ASRTrainer
from reparam.experiments.asr_config import ASRConfig
from reparam.runs import load_run
from reparam.train import run
from reparam.train.run_folder import read_metrics
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

pytestmark = [
    pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL),
    pytest.mark.usefixtures("speech_cache"),
]
runner = CliRunner()
TINY = {"recipe": "asr-small", "channels": 24, "hidden": 24, "layers": 1, "decode_subset": 2,
        "device": "cpu"}  # fmt: skip
OVERFIT = {**TINY, "subset": 3, "batch_size": 3, "channels": 96, "hidden": 96, "subsample": 2,
           "dropout": 0.0, "lr": 0.008, "warmup": 20, "steps": 200, "eval_every": 100}  # fmt: skip


@pytest.fixture(scope="module")
def overfitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("asr") / "run"
    result = runner.invoke(
        app, ["train", "asr", *arguments(OVERFIT), "--no-spec-augment", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_a_tiny_recognizer_overfits_three_utterances_to_zero_cer(overfitted) -> None:
    model = load_run(overfitted, weights="last").model
    small = corpus.load("asr-small")
    keep = torch.randperm(24, generator=torch.Generator().manual_seed(0))[:3].sort().values
    features = split_features(small, "train")
    log_probs = scoring.log_probs_of(model, [features[i] for i in keep], torch.device("cpu"))
    references = [small.split("train").transcripts[i] for i in keep]
    assert scoring.score(scoring.decode(log_probs), references).cer == 0.0
    rows = read_metrics(overfitted / "metrics.csv")
    assert [r["step"] for r in rows] == [100, 200] and rows[1]["train_loss"] < rows[0]["train_loss"]


def test_the_run_writes_its_evaluation_and_posteriorgram(overfitted) -> None:
    evaluation = json.loads((overfitted / "evaluation.json").read_text())
    sets = evaluation["decoders"]
    assert {"clean", "degraded"} <= set(sets)
    for rows in sets.values():
        assert set(rows) == {"greedy", "greedy, subset", "beam, subset", "beam+lm, subset"}
        assert all(row["cer"] >= 0.0 and row["utterances"] > 0 for row in rows.values())
    assert sets["clean"]["greedy"]["utterances"] == 4
    assert evaluation["alignment"]["frame_ms"] == pytest.approx(1000 * 2 * 256 / 22050)
    assert "| clean | greedy |" in (overfitted / "evaluation.md").read_text()
    assert (overfitted / "posteriorgram.png").stat().st_size > 0


def test_resumed_equals_a_straight_run(tmp_path) -> None:
    """With both augmentations, whose draws come from the checkpointed generator."""
    config = ASRConfig(**{**TINY, "steps": 6, "eval_every": 3, "freq_warp": 0.1})
    straight = run(ASRTrainer, config, quiet_options(tmp_path / "straight"))
    run(ASRTrainer, ASRConfig(**{**TINY, "steps": 3, "eval_every": 3, "freq_warp": 0.1}),
        quiet_options(tmp_path / "resumed"))  # fmt: skip
    resumed = run(ASRTrainer, config, quiet_options(tmp_path / "resumed", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_both_ctc_losses_train_alike(tmp_path) -> None:
    """The two losses agree to float rounding, so six steps from the same start end in
    nearly the same place (the losses differ by rounding that the steps amplify a little)."""
    histories = {}
    for ctc in LOSSES:
        config = ASRConfig(**{**TINY, "steps": 6, "eval_every": 3, "ctc": ctc})
        histories[ctc] = run(ASRTrainer, config, quiet_options(tmp_path / ctc)).history
    for mine, theirs in zip(histories["reparam"], histories["torch"], strict=True):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--ctc", "cudnn"], "unknown --ctc 'cudnn'; choose one of reparam, torch"),
        (["--steps", "10", "--eval-every", "3"], "--steps 10 must be a multiple of --eval-every 3"),
        (["--recipe", "huge"], "unknown --recipe 'huge'"),
        (["--dropout", "0.95"], "--dropout must lie in [0, 0.9]"),
        (["--freq-warp", "0.6"], "--freq-warp must lie in [0, 0.5]"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, options, message) -> None:
    result = runner.invoke(app, ["train", "asr", *options, "--out", str(tmp_path / "bad")])
    assert result.exit_code != 0 and message in str(result.exception), result.output
