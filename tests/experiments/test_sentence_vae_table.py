"""``reparam repro sentence-vae`` and ``repro sentence-collapse``, tiny, on the embedded
corpus: the table beside the paper's, its JSON, resuming, and the test evaluation."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.experiments.sentence_vae_table import evaluate_run, reproduce_sentence_vae

runner = CliRunner()
TINY = ["--corpus", "embedded", "--subset", "32", "--epochs", "1", "--embedding", "8",
        "--hidden", "8", "--latent", "2", "--batch-size", "16", "--kl-warmup", "2",
        "--k", "2", "--valid-k", "2", "--eval-k", "4", "--eval-subset", "20",
        "--device", "cpu"]  # fmt: skip
ROWS = "lm-standard,vae-inputless,dreg-standard"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro") / "sentence"
    result = runner.invoke(app, ["repro", "sentence-vae", *TINY, "--rows", ROWS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_table_sits_beside_the_papers_numbers(table) -> None:
    text = (table / "TABLE.md").read_text()
    assert (
        "Bowman et al. (2016), Table 1" in text and "the Penn Treebank; this used embedded" in text
    )
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("| LSTM LM") or line.startswith("| VAE") or line.startswith("| IWAE")
    ]
    assert [line.split(" | ")[:2] for line in lines] == [
        ["| LSTM LM", "standard"], ["| VAE", "inputless"], ["| IWAE (DReG)", "standard"]
    ]  # fmt: skip
    assert "| 100 | 116 | — |" in lines[0] and "| 125 | 380 | 15 |" in lines[1]
    payload = json.loads((table / "TABLE.json").read_text())
    assert payload["settings"]["eval_k"] == 4 and payload["settings"]["corpus"] == "embedded"
    rows = {r["row"]: r for r in payload["rows"]}
    assert set(rows) == set(ROWS.split(","))
    lm, vae = rows["lm-standard"]["test"], rows["vae-inputless"]["test"]
    assert lm["nll"] == pytest.approx(lm["negative_elbo"]) and lm["latent"] == 0
    assert vae["nll"] <= vae["negative_elbo"] + 1.0 and vae["sentences"] == 20
    for row in rows.values():
        t = row["test"]
        assert t["perplexity"] == pytest.approx(math.exp(t["nll"] * t["sentences"] / t["tokens"]))
        assert row["steps"] == 2
    config = json.loads((table / "dreg-standard" / "config.json").read_text())
    assert (config["objective"], config["k"], config["estimator"]) == ("iwae", 2, "dreg")
    assert json.loads((table / "vae-inputless" / "config.json").read_text())["word_dropout"] == 1.0


def test_resume_reevaluates_without_training_again(table) -> None:
    before = json.loads((table / "TABLE.json").read_text())["rows"]
    result = runner.invoke(
        app,
        ["repro", "sentence-vae", *TINY, "--rows", "lm-standard", "--out", str(table), "--resume"],
    )
    assert result.exit_code == 0, result.output
    after = json.loads((table / "TABLE.json").read_text())["rows"]
    assert after[0]["steps"] == before[0]["steps"] and after[0]["test"] == before[0]["test"]


def test_the_test_evaluation_is_seeded_and_exact_for_the_language_model(table) -> None:
    first = evaluate_run(table / "vae-inputless", k=7, subset=20, seed=3)
    assert first == evaluate_run(table / "vae-inputless", k=7, subset=20, seed=3)
    assert (first.k, first.sentences) == (7, 20)
    lm = [evaluate_run(table / "lm-standard", k=k, subset=20).nll for k in (1, 9)]
    assert lm[0] == pytest.approx(lm[1], rel=1e-6)


def test_bad_rows_and_counts_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="--rows must name some of"):
        reproduce_sentence_vae(tmp_path, rows=["vae-standard", "gan"])
    with pytest.raises(ValueError, match="--eval-k must be > 0; got 0"):
        reproduce_sentence_vae(tmp_path, rows=["vae-standard"], eval_k=0)


def test_the_collapse_pair_and_its_figure(tmp_path) -> None:
    out = tmp_path / "collapse"
    arguments = ["--subset", "16", "--epochs", "2", "--embedding", "8", "--hidden", "8",
                 "--latent", "2", "--kl-warmup", "2", "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, ["repro", "sentence-collapse", *arguments, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "final training KL: annealed" in result.output
    assert (out / "collapse.png").stat().st_size > 0
    annealed = json.loads((out / "annealed" / "config.json").read_text())
    plain = json.loads((out / "plain" / "config.json").read_text())
    assert (annealed["kl_anneal"], annealed["word_dropout"]) == ("sigmoid", 1.0)
    assert (plain["kl_anneal"], plain["word_dropout"]) == ("none", 0.0)
