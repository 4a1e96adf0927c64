"""The synthesized speech corpus: determinism, disjoint speakers, events, degradation, the
cache's checks and the command that builds it."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from reparam.data.speech import augment, corpus, espeak
from reparam.data.speech.recipe import RECIPES, SPLITS, Recipe, spoken, transcript
from tests.cli.console import reparam

needs_espeak = pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL)

TINY = Recipe(
    "tiny",
    speakers=(2, 1, 1),
    utterances=(2, 2, 2),
    words=(3, 6),
    pitch_jitter=5,
    rate_jitter=10,
    degraded=("test",),
    train_degraded_fraction=0.5,
)


@needs_espeak
def test_the_same_recipe_makes_the_same_bytes(tmp_path) -> None:
    first = corpus.build(TINY, tmp_path / "a")
    second = corpus.build(TINY, tmp_path / "b")
    for name in ("recipe.json", "speakers.json", "manifest.json", *(f"{s}.pt" for s in SPLITS)):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = corpus.build(dataclasses.replace(TINY, seed=1), tmp_path / "a")
    assert (other / "test.pt").read_bytes() != (first / "test.pt").read_bytes()


@needs_espeak
def test_speakers_are_disjoint_between_splits_and_read_their_own_sentences(tmp_path) -> None:
    loaded = corpus.load(TINY, tmp_path)
    speakers = {s: set(loaded.split(s).speaker.tolist()) for s in SPLITS}
    assert [len(speakers[s]) for s in SPLITS] == list(TINY.speakers)
    assert not (speakers["train"] & speakers["valid"] or speakers["train"] & speakers["test"])
    assert not speakers["valid"] & speakers["test"]
    for split in SPLITS:
        pool = set(corpus.sentence_pool(TINY, split))
        assert set(loaded.split(split).texts) <= pool
        homes = {loaded.speaker_split[i] for i in speakers[split]}
        assert homes == {split}
    assert len(set(loaded.voices)) == len(loaded.voices)


@needs_espeak
def test_shared_speakers_read_every_split() -> None:
    recipe = Recipe("shared", speakers=(2, 0, 0), utterances=(1, 1, 1), shared_speakers=True)
    voices = corpus.draw_voices(recipe)
    test = corpus.build_split(recipe, "test", voices)
    assert sorted(test.speaker.tolist()) == [0, 1]


@needs_espeak
def test_events_are_ordered_inside_the_audio_and_one_per_word(tmp_path) -> None:
    split = corpus.load(TINY, tmp_path).split("train")
    for i in range(len(split)):
        words = split.word_events(i)
        milliseconds = 1000 * split.waveform(i).numel() / espeak.SAMPLE_RATE
        assert len(words) == len(split.texts[i].split()), split.texts[i]
        starts = words[:, 0]
        assert (starts[1:] > starts[:-1]).all() and starts[-1] < milliseconds
        offsets, lengths = words[:, 1].tolist(), words[:, 2].tolist()
        read = [split.texts[i][a : a + n] for a, n in zip(offsets, lengths, strict=True)]
        assert transcript(" ".join(read)) == split.transcripts[i]
        phonemes = [ms for ms, _ in split.phoneme_events(i)]
        assert phonemes == sorted(phonemes) and phonemes[-1] < milliseconds


@needs_espeak
def test_degraded_copies_keep_their_source_length_and_events(tmp_path) -> None:
    test = corpus.load(TINY, tmp_path).split("test")
    noisy, clean = test.select(corpus.NOISY), test.select(corpus.CLEAN)
    assert len(noisy) == len(clean) == TINY.utterances_in("test")
    for i in noisy:
        j = test.source[i].item()
        assert test.condition[j] == corpus.CLEAN and test.texts[i] == test.texts[j]
        assert test.waveform(i).shape == test.waveform(j).shape
        assert torch.equal(test.word_events(i), test.word_events(j))
        assert not torch.equal(test.waveform(i), test.waveform(j))


def test_noise_is_added_at_the_signal_to_noise_ratio() -> None:
    g = torch.Generator().manual_seed(0)
    speech = torch.sin(torch.arange(20_000) * 0.05) * 1000
    for snr, colour in ((0.0, "white"), (10.0, "pink"), (20.0, "brown")):
        noise = augment.add_noise(speech, snr, colour, g) - speech
        measured = 10 * torch.log10(speech.double().pow(2).mean() / noise.pow(2).mean())
        assert measured.item() == pytest.approx(snr, abs=1e-9)


def test_noise_colours_have_their_spectral_slopes() -> None:
    g = torch.Generator().manual_seed(0)
    for colour, slope in augment.COLOURS.items():
        power = torch.fft.rfft(augment.coloured_noise(2**16, colour, g)).abs().pow(2)
        bands = torch.stack([power[2**k : 2 ** (k + 1)].mean() for k in range(6, 14)])
        fitted = -torch.diff(torch.log2(bands)).mean().item()  # octaves: power ∝ f^-slope
        assert fitted == pytest.approx(slope, abs=0.1), colour


def test_a_room_decays_by_sixty_decibels_in_its_reverberation_time() -> None:
    g = torch.Generator().manual_seed(0)
    response = augment.room_response(0.5, 16_000, g)
    assert response.numel() == 8000 and response[0] == 1.0
    energy = response[1:].pow(2)
    early, late = energy[:800].mean(), energy[-800:].mean()
    decay_db = 10 * torch.log10(early / late).item()  # 0.45 s apart: 54 dB expected
    assert decay_db == pytest.approx(54.0, abs=3.0)
    wet = augment.reverberate(torch.randn(4000, dtype=torch.float64), response)
    assert wet.numel() == 4000


def test_clipping_is_avoided_by_scaling_down() -> None:
    assert augment.to_int16(torch.tensor([-70000.0, 35000.0])).tolist() == [-32767, 16384]


@needs_espeak
def test_a_corrupt_split_is_named(tmp_path) -> None:
    folder = corpus.build(TINY, tmp_path)
    data = bytearray((folder / "valid.pt").read_bytes())
    data[-40] ^= 0xFF
    (folder / "valid.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"valid\.pt is corrupt"):
        corpus.load(TINY, tmp_path)
    (folder / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="reparam data speech --recipe tiny"):
        corpus.load(TINY, tmp_path, build_missing=False)


def test_a_missing_synthesizer_names_the_package(monkeypatch) -> None:
    monkeypatch.setattr(espeak, "LOADER", "no_such_espeak_loader")
    monkeypatch.setattr(espeak, "_VERSION", [])
    with pytest.raises(ModuleNotFoundError, match="espeakng-loader"):
        espeak.synthesize("Hello.")
    assert not espeak.available()


def test_the_same_sentence_sounds_the_same_every_time() -> None:
    """eSpeak's state carries across calls in one process; each sentence's own child does not
    let it."""
    if not espeak.available():
        pytest.skip(espeak.INSTALL)
    voice = espeak.Voice("en", "klatt", pitch=40)
    first, second = (espeak.synthesize("A quiet evening at home.", voice) for _ in range(2))
    assert torch.equal(first.samples, second.samples) and first.words == second.words


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"speakers": (0, 1, 1)}, "speakers must have a train speaker"),
        ({"utterances": (1, 1)}, "utterances must be three counts"),
        ({"pitch": (50, 120)}, r"pitch must be a range within \[0, 99\]"),
        ({"degraded": ("dev",)}, "degraded must name splits"),
        ({"colours": ("blue",)}, "colours must be among"),
        ({"reverb_probability": 1.5}, r"reverb_probability must be in \[0, 1\]"),
    ],
)
def test_bad_recipes_are_refused_naming_the_field(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **change)


def test_voices_and_text_are_checked() -> None:
    with pytest.raises(ValueError, match="accent must be one of"):
        espeak.Voice("en-xx")
    with pytest.raises(ValueError, match=r"rate must be an integer in \[80, 450\]"):
        espeak.Voice(rate=50)
    with pytest.raises(ValueError, match="text must be a non-empty string"):
        espeak.synthesize("  ")


def test_the_recipe_round_trips_and_its_digest_is_its_cache_key() -> None:
    for recipe in RECIPES.values():
        assert corpus.Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    digests = {recipe.digest() for recipe in RECIPES.values()}
    assert len(digests) == len(RECIPES)


def test_sentences_are_spoken_and_transcribed() -> None:
    assert spoken("He paid 5 pounds.") is None
    assert spoken("Mrs. Bennet and Dr. Jones") == "missus Bennet and doctor Jones"
    assert transcript("“Oh! don't,” cried ‘Kitty’—") == "oh don't cried kitty"


@needs_espeak
def test_the_command_builds_verifies_and_reports(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REPARAM_SPEECH_CACHE", str(tmp_path))
    done = reparam("data", "speech", "--recipe", "asr-small")
    assert done.status == 0, done.stderr
    assert "every split matches its manifest" in done.stdout
    assert (corpus.folder_of(RECIPES["asr-small"], tmp_path) / "manifest.json").is_file()
    refused = reparam("data", "speech", "--recipe", "huge")
    assert refused.status == 2 and f"choose from {', '.join(RECIPES)}" in refused.stderr
