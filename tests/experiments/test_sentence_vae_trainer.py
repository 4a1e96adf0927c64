"""``reparam train sentence-vae`` on the embedded corpus: a few steps through the command line
(the VAE and, with --latent 0, the language model), its files, exact resume (after an epoch
and from a mid-epoch checkpoint), ``load_run`` and its samples as text, the vocabulary."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.sentences import load_corpus
from reparam.experiments.sentence_vae import (
    SentenceVAETrainer,
    read_vocabulary,
    sentences,
)
from reparam.experiments.sentence_vae_table import evaluate_run
from reparam.models import SentenceVAE
from reparam.objectives import KLAnnealing
from reparam.runs import load_run
from reparam.train import run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam_many
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

runner = CliRunner()
SMALL = {"subset": 48, "embedding": 8, "hidden": 8, "latent": 3, "epochs": 2,
         "batch_size": 16, "kl_warmup": 4, "word_dropout": 0.25, "eval_k": 3,
         "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Two epochs of three steps through the command line: the VAE and the language model."""
    folder = tmp_path_factory.mktemp("sentence")
    outs = {"vae": folder / "vae", "lm": folder / "lm"}
    lm = {k: v for k, v in SMALL.items() if k not in ("kl_warmup", "eval_k")}
    for name, values in (("vae", SMALL), ("lm", {**lm, "latent": 0})):
        command = ["train", "sentence-vae", *arguments(values), "--out", str(outs[name])]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return outs


def test_the_command_writes_a_run_with_its_metrics_and_files(cli_runs) -> None:
    out = cli_runs["vae"]
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and [r["step"] for r in rows] == [3, 6]
    for row in rows:
        assert row["valid_bound"] < 0 and row["valid_kl"] >= 0 and row["valid_ppl"] > 1
        assert row["valid_bound"] >= row["valid_elbo"] - 1.0  # L_3 above the ELBO, but noise
        assert row["train_reconstruction"] == pytest.approx(
            row["train_bound"] + row["beta"] * row["train_kl"]
        )
        assert 0 <= row["active_units"] <= 3
    sigmoid = KLAnnealing(4, 1.0, "sigmoid")
    assert [r["beta"] for r in rows] == [sigmoid(2), sigmoid(5)]  # each epoch's last step
    config = json.loads((out / "config.json").read_text())
    assert (config["trainer"], config["vocab_size"]) == ("sentence-vae", 4065)
    for name in SentenceVAETrainer.outputs:
        assert (out / name).stat().st_size > 0, name
    with (out / "trace.csv").open() as file:
        trace = list(csv.DictReader(file))
    assert [int(r["step"]) for r in trace] == [3, 6]  # the rest of each epoch
    text = (out / "samples.txt").read_text()
    for section in ("Greedy decodes", "Sampled", "posterior mean", "Homotopy"):
        assert section in text


def test_the_language_model_is_latent_zero(cli_runs) -> None:
    out = cli_runs["lm"]
    config = json.loads((out / "config.json").read_text())
    assert config["latent"] == 0
    assert not {"condition", "kl_anneal", "objective", "k", "estimator", "eval_k"} & set(config)
    rows = read_metrics(out / "metrics.csv")
    assert {"beta", "train_kl", "valid_kl", "active_units"}.isdisjoint(rows[0])
    assert all(r["valid_bound"] < 0 for r in rows)
    loaded = load_run(out)
    assert isinstance(loaded.model, SentenceVAE) and not hasattr(loaded.model, "encoder")
    assert "Homotopy" not in (out / "samples.txt").read_text()


def test_load_run_samples_sentences_that_read_as_text(cli_runs) -> None:
    loaded = load_run(cli_runs["vae"])
    assert isinstance(loaded.model, SentenceVAE) and loaded.weights == "best"
    tokens = loaded.sample(6)
    assert tokens.dtype == torch.long and tokens.shape[0] == 6
    vocabulary = load_corpus("embedded").vocabulary()
    assert read_vocabulary(cli_runs["vae"]) == vocabulary
    texts = sentences(cli_runs["vae"], tokens)
    assert texts == [" ".join(vocabulary.decode(row)) for row in tokens]
    assert SentenceVAETrainer.sample_text(cli_runs["vae"], tokens) == texts
    assert all(isinstance(t, str) for t in texts)


def test_reparam_sample_writes_sentences_to_a_text_file_and_refuses_a_picture(
    cli_runs, tmp_path
) -> None:
    out = tmp_path / "samples.txt"
    done = reparam_many(
        [
            ["sample", str(cli_runs["vae"]), "--n", "5", "--out", str(out)],
            ["sample", str(cli_runs["vae"]), "--out", str(tmp_path / "x.png")],
        ]
    )
    assert done[0].status == 0, done[0].stderr
    lines = out.read_text().splitlines()
    vocabulary = load_corpus("embedded").vocabulary()
    assert len(lines) == 5 and all(w in vocabulary.index for line in lines for w in line.split())
    assert done[1].status == 2 and "are sentences: use --out FILE.txt" in done[1].stderr
    assert not (tmp_path / "x.png").exists()


def test_reparam_eval_gives_the_nll_and_the_perplexity(cli_runs) -> None:
    """The VAE: L_1 is the one log-weight (NLL = -ELBO), L_9 is below the mean log-weight; the
    language model's NLL is exact and equals the table's evaluation of the same sentences."""
    common = ["--chunk=4", "--subset=20", "--batch-size=8", "--device=cpu"]
    for name, k in (("vae", 1), ("vae", 9), ("lm", 3)):
        result = runner.invoke(app, ["eval", str(cli_runs[name]), f"--k={k}", *common])
        assert result.exit_code == 0, result.output
        assert "perplexity" in result.output
    one, many = (json.loads((cli_runs["vae"] / f"eval-test-k{k}.json").read_text()) for k in (1, 9))
    assert one["nll"] == pytest.approx(one["negative_elbo"], rel=1e-6)
    assert many["nll"] < many["negative_elbo"] and many["examples"] == 20
    assert many["active_units"] is not None and many["extra"]["kl"] >= 0
    lm = json.loads((cli_runs["lm"] / "eval-test-k3.json").read_text())
    table = evaluate_run(cli_runs["lm"], k=3, subset=20, batch_size=8)
    assert lm["nll"] == pytest.approx(table.nll) == pytest.approx(lm["negative_elbo"])
    assert lm["extra"]["perplexity"] == pytest.approx(table.perplexity)
    assert lm["active_units"] is None


def test_the_vocabulary_is_in_the_checkpoint_too(cli_runs, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cli_runs["vae"], copy)
    (copy / "vocabulary.json").unlink()
    assert read_vocabulary(copy) == read_vocabulary(cli_runs["vae"])


@pytest.mark.parametrize("latent", [3, 0])
def test_resumed_after_an_epoch_equals_a_straight_run(tmp_path, latent: int) -> None:
    values = {**SMALL, "epochs": 3, "latent": latent}
    if not latent:
        values.pop("kl_warmup"), values.pop("eval_k")
    straight = run(SentenceVAETrainer, values, quiet_options(tmp_path / "a"))
    run(SentenceVAETrainer, {**values, "epochs": 1}, quiet_options(tmp_path / "b"))
    resumed = run(SentenceVAETrainer, {"epochs": 3}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    trace = (tmp_path / "a" / "trace.csv").read_text()
    assert trace == (tmp_path / "b" / "trace.csv").read_text()


class Crash(Exception):
    """Stands for a kill between two checkpoints."""


def test_killed_mid_epoch_resumes_from_its_checkpoint_every(tmp_path, monkeypatch) -> None:
    values = {**SMALL, "objective": "iwae", "k": 2, "estimator": "dreg"}
    values.pop("kl_warmup")
    straight = run(SentenceVAETrainer, values, quiet_options(tmp_path / "a"))
    original, calls = SentenceVAETrainer.train_step, {"n": 0}

    def train_step(self, period: int, index: int) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise Crash
        original(self, period, index)

    monkeypatch.setattr(SentenceVAETrainer, "train_step", train_step)
    with pytest.raises(Crash):
        run(SentenceVAETrainer, values, quiet_options(tmp_path / "b", checkpoint_every=4))
    monkeypatch.undo()
    engine = load(tmp_path / "b" / "checkpoint.pt")["engine"]
    assert (engine["step"], engine["period"], engine["index"]) == (4, 1, 1)
    resumed = run(SentenceVAETrainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_gradients_are_clipped(tmp_path, monkeypatch) -> None:
    """--clip bounds the norm of every step's gradient."""
    norms: list[float] = []
    step = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"]]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    run(SentenceVAETrainer, {**SMALL, "epochs": 1, "clip": 0.01}, quiet_options(tmp_path / "c"))
    assert len(norms) == 3 and max(norms) <= 0.01 * (1 + 1e-5)
