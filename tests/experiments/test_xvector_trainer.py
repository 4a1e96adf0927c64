"""``reparam train xvector`` and ``reparam repro xvector`` on the small speakers corpus: the
command writes its evaluation, scores and DET curve, a resumed run equals a straight one,
the Bayesian extractor's KL enters the loss scaled per frame, and the table is written."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.speech import espeak
from reparam.experiments.xvector import XVectorTrainer
from reparam.experiments.xvector_config import XVectorConfig
from reparam.models.xvector import XVector
from reparam.runs import load_run
from reparam.train import run
from reparam.train.distributed import Ranks
from reparam.train.run_folder import read_metrics
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

pytestmark = [
    pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL),
    pytest.mark.usefixtures("speech_cache"),
]
runner = CliRunner()
TINY = {"recipe": "speakers-small", "channels": 16, "pooled": 24, "embedding": 8,
        "batch_size": 8, "lda_dim": 4, "device": "cpu"}  # fmt: skip


def test_the_command_writes_evaluation_scores_and_det(tmp_path) -> None:
    out = tmp_path / "bayes"
    options = {**TINY, "bayesian_layers": 5, "steps": 6, "eval_every": 3}
    result = runner.invoke(app, ["train", "xvector", *arguments(options), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_metrics(out / "metrics.csv")
    assert [r["step"] for r in rows] == [3, 6] and all(r["train_kl"] > 0 for r in rows)
    evaluation = json.loads((out / "evaluation.json").read_text())
    for split in ("valid", "test"):
        for condition in ("clean", "degraded"):
            for backend in ("cosine", "plda"):
                entry = evaluation[f"{split}/{condition}/{backend}"]
                assert 0 <= entry["eer"] <= 1 and entry["targets"] > 0
    test = evaluation["test/clean/cosine"]
    assert (test["targets"], test["nontargets"]) == (3 * 3, 27)  # 3 speakers × 3 utterances
    scores = torch.load(out / "scores.pt", weights_only=True)
    assert scores["test/degraded/plda"]["scores"].shape == (36,)
    assert (out / "det.png").stat().st_size > 0
    model = load_run(out).model
    assert isinstance(model, XVector) and model.bayesian_layers == 5


def test_resumed_equals_a_straight_run(tmp_path) -> None:
    config = XVectorConfig(**TINY, bayesian_layers=2, steps=6, eval_every=3)
    straight = run(XVectorTrainer, config, quiet_options(tmp_path / "straight"))
    first = XVectorConfig(**TINY, bayesian_layers=2, steps=3, eval_every=3)
    run(XVectorTrainer, first, quiet_options(tmp_path / "resumed"))
    resumed = run(XVectorTrainer, config, quiet_options(tmp_path / "resumed", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_the_kl_term_is_scaled_per_training_frame(tmp_path) -> None:
    """One step's loss is the cross-entropy plus KL / frames: with kl_weight 0 the same step
    gives the cross-entropy alone, and the difference is the scaled KL."""
    losses = {}
    for weight in (0.0, 1.0):
        config = XVectorConfig(**TINY, bayesian_layers=5, kl_weight=weight, steps=1, eval_every=1)
        trainer = XVectorTrainer(config, Ranks(0, 1, torch.device("cpu")))
        trainer.start_period(0)
        trainer.train_step(0, 0)
        losses[weight] = trainer.sums
        frames = trainer.frames
    assert losses[0.0][0] == pytest.approx(losses[1.0][0], rel=1e-6)  # the same cross-entropy
    assert losses[1.0][1] / frames > 1.0  # an unscaled KL would be > 10^4 a step


def test_repro_writes_the_table(tmp_path) -> None:
    options = {k: v for k, v in TINY.items()}
    result = runner.invoke(
        app, ["repro", "xvector", *arguments(options), "--seeds", "0", "--steps", "2",
              "--eval-every", "2", "--out", str(tmp_path / "table")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = (tmp_path / "table" / "TABLE.md").read_text()
    for backend in ("cosine", "plda"):
        for system in ("baseline", "bayesian", "fusion"):
            assert f"| {backend} | {system} |" in table
    payload = json.loads((tmp_path / "table" / "TABLE.json").read_text())
    assert len(payload["results"]["clean/plda/fusion"]) == 1
    again = runner.invoke(
        app, ["repro", "xvector", *arguments(options), "--seeds", "0", "--steps", "2",
              "--eval-every", "2", "--out", str(tmp_path / "table")],
    )  # fmt: skip
    assert again.exit_code == 0 and (tmp_path / "table" / "TABLE.md").read_text() == table


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--bayesian-layers", "6"], "--bayesian-layers must lie in [0, 5]; got 6"),
        (["--kl-weight", "0.5"], "--kl-weight weights the KL term: it needs --bayesian-layers"),
        (["--p-target", "1.5"], "--p-target must lie in (0, 1); got 1.5"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, options, message) -> None:
    result = runner.invoke(app, ["train", "xvector", *options, "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and message in str(result.exception), result.output
