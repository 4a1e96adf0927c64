"""``reparam synthesize``: a trained text-to-speech run reads a sentence into a WAV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import app, console
from reparam.cli.options import Device


@app.command()
def synthesize(
    run: Annotated[Path, typer.Argument(help="a run folder written by `reparam train tts`")],
    text: Annotated[str, typer.Argument(help="the sentence to speak (letters; spell out numbers)")],
    out: Annotated[Path, typer.Option(help="the WAV file to write")] = Path("speech.wav"),
    weights: Annotated[str, typer.Option(help="best (best validation row) or last")] = "best",
    max_frames: Annotated[int, typer.Option(min=1, help="the most frames to emit")] = 1000,
    picture: Annotated[
        bool,
        typer.Option(
            help="also write the alignment and spectrogram beside OUT (.alignment.png, .spectrogram.png)"
        ),
    ] = True,
    force: Annotated[bool, typer.Option(help="overwrite OUT if it exists")] = False,
    speaker: Annotated[
        int | None, typer.Option(help="the voice of a multi-speaker run (its corpus's speaker)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (the prenet's dropout stays on)")] = 0,
    device: Device = "cpu",
) -> None:
    """Speak TEXT with the synthesizer of RUN: characters (or phonemes) to log-mel frames, free-running
    until the stop token, then Griffin-Lim (60 iterations) into a 16-bit WAV at 22,050 Hz."""
    import torch

    from reparam.data.speech.espeak import SAMPLE_RATE
    from reparam.data.speech.wav import write_wav
    from reparam.experiments.tts import sentence_symbols, symbol_names
    from reparam.experiments.tts import synthesize as speak
    from reparam.runs import load_run

    if out.suffix.lower() != ".wav":
        raise ValueError(f"--out must name a .wav file; got {out}")
    if out.exists() and not force:
        raise ValueError(f"{out} exists; pass --force to overwrite it")
    loaded = load_run(run, weights=weights, device=device)
    if loaded.trainer != "tts":
        raise ValueError(
            f"{run} is a {loaded.trainer} run; synthesize needs a `reparam train tts` run"
        )
    ids, words = sentence_symbols(text, loaded.config.symbols)
    torch.manual_seed(seed)
    waveform, log_mel, alignment = speak(
        loaded.model, ids, max_frames, torch.device(device), speaker
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out, waveform.float(), SAMPLE_RATE)
    seconds = waveform.numel() / SAMPLE_RATE
    if picture:
        from reparam.plots.tts import plot_alignments, plot_spectrograms

        names = symbol_names(ids, loaded.config.symbols)
        plot_alignments(
            {"free-running": alignment}, words, out.with_suffix(".alignment.png"), names
        )
        plot_spectrograms(
            {"free-running": log_mel.float()}, words, out.with_suffix(".spectrogram.png")
        )
    stopped = "" if log_mel.shape[0] < max_frames else f" (no stop within {max_frames} frames)"
    console.print(f"wrote {out}: {seconds:.2f} s, {log_mel.shape[0]} frames{stopped}, “{words}”")
