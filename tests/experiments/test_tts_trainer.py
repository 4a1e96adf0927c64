"""``reparam train tts`` on the small single-voice corpus: the command writes its run folder,
a resumed run equals a straight one (also when distilling from a teacher run), the teacher's
lessons are its attention and frames, and bad options are one-line errors."""

from __future__ import annotations

import json
import statistics

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.speech import corpus, espeak
from reparam.data.speech.wav import decode_wav
from reparam.experiments.tts import (
    Batch,
    TTSTrainer,
    free_running,
    lessons,
    load_teacher,
    sentence_symbols,
    split_data,
    synthesize,
    teacher_forced,
    word_timings,
)
from reparam.experiments.tts_config import TTSConfig
from reparam.runs import load_run
from reparam.speech import alphabet, phonemes
from reparam.train import run
from reparam.train.distributed import Ranks
from reparam.train.run_folder import read_metrics
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

pytestmark = [
    pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL),
    pytest.mark.usefixtures("speech_cache"),
]
runner = CliRunner()
TINY = {"recipe": "tts-small", "embedding": 16, "encoder_units": 16, "attention_dim": 16,
        "prenet": 16, "attention_rnn": 32, "decoder_rnn": 32, "postnet_channels": 16,
        "batch_size": 2, "eval_frames": 100, "device": "cpu"}  # fmt: skip
OVERFIT = {**TINY, "subset": 2, "r": 4, "embedding": 32, "encoder_units": 32, "attention_dim": 32,
           "prenet": 32, "attention_rnn": 64, "decoder_rnn": 64, "postnet_channels": 32,
           "dropout": 0.1, "warmup": 20, "lr": 3e-3, "guided_weight": 1.0, "steps": 300,
           "eval_every": 100}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tts") / "run"
    options = {**TINY, "steps": 4, "eval_every": 2, "guided_weight": 1.0}
    result = runner.invoke(app, ["train", "tts", *arguments(options), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_command_writes_its_run_folder(tiny_run) -> None:
    evaluation = json.loads((tiny_run / "evaluation.json").read_text())
    assert evaluation["teacher_forced"]["sentences"] == 2
    assert evaluation["free_running"]["sentences"] == 2
    assert 0 <= evaluation["teacher_forced"]["focus_rate"] <= 1
    assert 0 <= evaluation["free_running"]["attention_at_stop"] <= 1
    assert evaluation["free_running"]["length_ratio"] > 0
    for picture in ("alignment.png", "spectrogram.png"):
        assert (tiny_run / picture).stat().st_size > 0
    samples, rate = decode_wav((tiny_run / "sample.wav").read_bytes(), "sample.wav")
    assert rate == espeak.SAMPLE_RATE and samples.size > 0 and abs(samples).max() <= 0.96


def test_synthesize_writes_a_wav_and_overwrites_only_when_asked(tiny_run, tmp_path) -> None:
    out = tmp_path / "hello.wav"
    command = [
        "synthesize",
        str(tiny_run),
        "Hello, Mr. Bennet!",
        "--out",
        str(out),
        "--max-frames",
        "40",
    ]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "hello mister bennet" in result.output
    samples, rate = decode_wav(out.read_bytes(), "hello.wav")
    assert rate == espeak.SAMPLE_RATE and 0 < samples.size <= 40 * 256 + 1024
    assert (
        out.with_suffix(".alignment.png").is_file()
        and out.with_suffix(".spectrogram.png").is_file()
    )
    again = runner.invoke(app, command)
    assert again.exit_code != 0 and "pass --force" in str(again.exception)
    assert runner.invoke(app, [*command, "--force"]).exit_code == 0


@pytest.mark.parametrize(
    ("text", "out", "message"),
    [
        ("It is 5 miles", "x.wav", "spell out numbers"),
        ("?!", "x.wav", "TEXT must hold words"),
        ("hello", "x.mp3", "--out must name a .wav file"),
    ],
)
def test_synthesize_refuses_bad_input(tiny_run, tmp_path, text, out, message) -> None:
    result = runner.invoke(app, ["synthesize", str(tiny_run), text, "--out", str(tmp_path / out)])
    assert result.exit_code != 0 and message in str(result.exception), result.output


def test_a_tiny_model_overfits_two_utterances_and_aligns_them(tmp_path) -> None:
    """300 steps on two sentences through the command line, with the guided-attention
    penalty (without it the attention of a model this small is still diffuse at 300 steps:
    diagonal mass 0.26): the training loss falls by more than 1.5× from the first period to
    the third, and on the two sentences the attention is diagonal (mass 0.79 when written)
    and monotone."""
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "tts", *arguments(OVERFIT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    losses = [float(row["train_loss"]) for row in read_metrics(out / "metrics.csv")]
    assert losses[0] > 1.5 * losses[-1], losses
    trained = load_run(out)
    texts, frames = split_data(corpus.load("tts-small"), "train")
    keep = sorted(
        torch.randperm(len(texts), generator=torch.Generator().manual_seed(0))[:2].tolist()
    )
    torch.manual_seed(0)
    scores = teacher_forced(trained.model, [texts[i] for i in keep], [frames[i] for i in keep],
                            trained.config, torch.device("cpu"))  # fmt: skip
    assert scores["diagonal_mass"] > 0.6 and scores["monotonicity"] > 0.9, scores
    assert scores["stop_accuracy"] == 1.0, scores


def test_free_running_measures_the_length_and_where_the_stop_fired() -> None:
    """A model whose stop token fires at once speaks r frames of each sentence: its length
    error and length ratio follow from the targets' lengths alone."""
    config = TTSConfig(**TINY, r=3)
    model = TTSTrainer.build_model(config)
    with torch.no_grad():
        model.stop.weight.zero_()
        model.stop.bias.fill_(10.0)
    texts, frames = split_data(corpus.load("tts-small"), "test")
    lengths = torch.tensor([f.shape[0] for f in frames], dtype=torch.float64)
    spoken = free_running(model, texts, frames, config, torch.device("cpu"))
    assert spoken["unstopped"] == 0 and spoken["sentences"] == len(texts) > 1
    assert spoken["length_error_frames"] == pytest.approx(float((lengths - 3).abs().mean()))
    assert spoken["length_ratio"] == pytest.approx(statistics.median((3 / lengths).tolist()))
    assert 0 <= spoken["attention_at_stop"] <= 1


def test_a_student_learns_from_the_teachers_attention_and_frames(tiny_run, tmp_path) -> None:
    """The lessons are the teacher's teacher-forced attention and frames, sentence by
    sentence; a distilled run through the command line records the word agreement; and a
    resumed distilled run equals a straight one."""
    student = {**TINY, "teacher": str(tiny_run), "distill_weight": 1.0, "soft_target_weight": 0.5}
    config = TTSConfig(**{**student, "steps": 4, "eval_every": 2})
    cpu = torch.device("cpu")
    trainer = TTSTrainer(config, Ranks(0, 1, cpu))
    teacher = load_teacher(str(tiny_run), config, torch.device("cpu"))
    teacher.prenet.dropout = 0.0  # deterministic, to compare with one sentence at a time
    taught = lessons(teacher, trainer.model, trainer.texts, trainer.frames, config, cpu)
    for i, (attention, frames) in enumerate(taught):
        scaled = teacher.normalise(trainer.model.denormalise(trainer.frames[i]))
        batch = Batch([trainer.texts[i]], [scaled], config.r, cpu)
        alone = teacher(batch.text, batch.text_lengths, batch.frames)
        steps = int(batch.steps(config.r)[0])
        torch.testing.assert_close(attention, alone.alignment[0, :steps])
        expected = trainer.model.normalise(teacher.denormalise(alone.after[0, : scaled.shape[0]]))
        # the postnet's five convolutions reach 10 frames into whatever follows the end
        torch.testing.assert_close(frames[:-10], expected[:-10])
    assert len(trainer.lessons) == len(trainer.texts)
    out = tmp_path / "student"
    result = runner.invoke(app, ["train", "tts", *arguments({**student, "steps": 4,
                           "eval_every": 2}), "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = read_metrics(out / "metrics.csv")
    assert all(0 <= float(row["valid_words"]) <= 1 for row in rows), rows
    straight = run(TTSTrainer, config, quiet_options(tmp_path / "straight"))
    run(TTSTrainer, TTSConfig(**{**student, "steps": 2, "eval_every": 2}),
        quiet_options(tmp_path / "resumed"))  # fmt: skip
    resumed = run(TTSTrainer, config, quiet_options(tmp_path / "resumed", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_tensorboard_images_leave_the_random_state_alone(tiny_run) -> None:
    trainer = TTSTrainer(
        TTSConfig(**{**TINY, "steps": 4, "eval_every": 2}), Ranks(0, 1, torch.device("cpu"))
    )
    before = torch.get_rng_state()
    images = trainer.images()
    assert torch.equal(torch.get_rng_state(), before)
    frames, text = trainer.valid_frames[0], trainer.valid_texts[0]
    assert images["alignment"].shape == (3, text.numel(), -(-frames.shape[0] // 2))
    assert images["spectrogram"].shape == (3, 160, frames.shape[0])
    assert all(float(image.min()) >= 0 and float(image.max()) <= 1 for image in images.values())


def test_a_multi_speaker_run_speaks_in_each_voice(tmp_path) -> None:
    """Through the command line on two voices: the model has their table, each voice
    speaks differently, and synthesize asks for a voice exactly when the run has them."""
    out = tmp_path / "voices"
    options = {**TINY, "recipe": "tts-voices-small", "steps": 2, "eval_every": 2,
               "encoder": "cbhg"}  # fmt: skip
    result = runner.invoke(
        app, ["train", "tts", *arguments(options), "--multi-speaker", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    trained = load_run(out)
    assert trained.model.speakers == 2 and trained.model.encoder_kind == "cbhg"
    spoken = []
    for voice in (0, 1):
        torch.manual_seed(0)
        ids = alphabet.encode("hello there")
        spoken.append(synthesize(trained.model, ids, 20, torch.device("cpu"), voice)[1])
    assert not torch.allclose(spoken[0], spoken[1])
    wav = tmp_path / "v.wav"
    command = ["synthesize", str(out), "hello", "--out", str(wav), "--max-frames", "8"]
    missing = runner.invoke(app, command)
    assert missing.exit_code != 0 and "--speaker is needed" in str(missing.exception)
    assert runner.invoke(app, [*command, "--speaker", "1"]).exit_code == 0 and wav.is_file()


def test_a_phoneme_model_reads_espeaks_phonemes(tmp_path) -> None:
    out = tmp_path / "phonemes"
    options = {**TINY, "symbols": "phonemes", "steps": 2, "eval_every": 2}
    result = runner.invoke(app, ["train", "tts", *arguments(options), "--out", str(out)])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["teacher_forced"]["timed_sentences"] == 2
    assert load_run(out).model.symbols == phonemes.SYMBOLS
    wav = tmp_path / "p.wav"
    said = runner.invoke(app, ["synthesize", str(out), "Hello there.", "--out", str(wav),
                               "--max-frames", "8"])  # fmt: skip
    assert said.exit_code == 0 and "hello there" in said.output, said.output
    ids, words = sentence_symbols("Hello there.", "phonemes")
    assert words == "hello there" and int(ids.max()) < phonemes.SYMBOLS and ids.numel() > 4


def test_word_timings_follow_espeaks_word_events() -> None:
    """Spans cover the transcript in order, and intervals start at the events' times."""
    speech = corpus.load("tts-small")
    texts, frames = split_data(speech, "train")
    timings = word_timings(speech, "train", frames, 2)
    assert sum(t is not None for t in timings) >= len(timings) // 2
    sounds, _ = split_data(speech, "train", "phonemes")
    by_phoneme = word_timings(speech, "train", frames, 2, "phonemes")
    for sound, timing in zip(sounds, by_phoneme, strict=True):
        spans, intervals = timing
        assert int(spans[0, 0]) == 0 and int(spans[-1, 1]) == sound.numel()
        assert bool((spans[1:, 0] == spans[:-1, 1]).all()) and bool(
            (spans[:, 1] > spans[:, 0]).all()
        )
    for text, frame, timing in zip(texts, frames, timings, strict=True):
        if timing is None:
            continue
        spans, intervals = timing
        assert int(spans[0, 0]) == 0 and int(spans[-1, 1]) == text.numel() + 1
        assert bool((spans[:, 1] > spans[:, 0]).all()) and bool(
            (intervals[1:, 0] >= intervals[:-1, 0]).all()
        )
        assert int(intervals[-1, 1]) == -(-frame.shape[0] // 2)


def test_resumed_equals_a_straight_run(tmp_path) -> None:
    """Including the prenet's dropout, which stays on and draws from torch's generator."""
    config = TTSConfig(**{**TINY, "steps": 4, "eval_every": 2, "guided_weight": 0.5})
    straight = run(TTSTrainer, config, quiet_options(tmp_path / "straight"))
    run(TTSTrainer, TTSConfig(**{**TINY, "steps": 2, "eval_every": 2, "guided_weight": 0.5}),
        quiet_options(tmp_path / "resumed"))  # fmt: skip
    resumed = run(TTSTrainer, config, quiet_options(tmp_path / "resumed", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--attention", "dot"], "unknown --attention 'dot'; choose one of location, content, gmm"),
        (["--r", "0"], "--r must be"),
        (["--encoder-units", "15"], "--encoder-units must be even"),
        (["--mel-loss", "l3"], "unknown --mel-loss 'l3'"),
        (["--steps", "10", "--eval-every", "3"], "--steps 10 must be a multiple of --eval-every 3"),
        (["--distill-weight", "1"], "need a --teacher run"),
        (["--encoder", "wavenet"], "unknown --encoder 'wavenet'"),
        (["--recipe", "asr-small", "--multi-speaker"], "--multi-speaker needs a recipe"),
        (
            ["--teacher", "nowhere", "--distill-weight", "1"],
            "--teacher nowhere is not a finished run",
        ),
        (["--teacher", "nowhere"], "--teacher is unused"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, options, message) -> None:
    result = runner.invoke(app, ["train", "tts", *options, "--out", str(tmp_path / "bad")])
    assert result.exit_code != 0 and message in str(result.exception), result.output
