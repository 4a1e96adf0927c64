"""The speech pipeline's speeds: features against librosa, the recognizer's training step
with reparam's CTC loss against torch's, and x-vector extraction.

- ``features``: the 80-band log-mel spectrogram (22,050 Hz, window 1024, hop 256) of
  ``--seconds`` of audio (a chirp in noise, cut into 4-second clips as a corpus holds them),
  by ``reparam.speech.log_mel_spectrogram`` on ``--device`` and by librosa (CPU, the same
  reflect padding), reported as seconds per hour of audio.
- ``asr-step``: one training step of ``reparam train asr``'s recognizer at its default sizes
  (batch 16 of 3-second utterances, 45 characters each): forward, CTC loss, backward, Adam;
  with ``reparam.latent.ctc_loss`` and with ``torch.nn.functional.ctc_loss``.
- ``xvector``: x-vectors of whole 4-second utterances in batches of 32 by the default
  extractor, in evaluation mode, as seconds per hour of audio.

Times are medians of interleaved rounds (``timing.interleaved``); ratios are reported, never
asserted. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/speech.py --threads 1
    python benchmarks/speech.py --device cuda --out DIR

It writes ``DIR/speech.json`` and ``.md`` (DIR: ``--out``, default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy
import torch
from machine_info import machine
from timing import interleaved, positive, ratio, timing

from reparam.experiments.asr_config import ASRConfig
from reparam.experiments.asr_evaluation import padded
from reparam.experiments.xvector import BANDS
from reparam.experiments.xvector_config import XVectorConfig
from reparam.latent import ctc_loss
from reparam.models.ctc_recognizer import CTCRecognizer
from reparam.models.xvector import XVector
from reparam.speech import alphabet, log_mel_spectrogram

RATE, N_FFT, HOP, CLIP = 22_050, 1024, 256, 4.0


def audio(seconds: float) -> torch.Tensor:
    """A chirp from 100 Hz to 8 kHz in noise, ``seconds`` long, as clips of 4 s."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(CLIP * RATE)) / RATE
    chirp = torch.sin(2 * math.pi * (100 * t + (8000 - 100) / (2 * CLIP) * t**2))
    clips = max(1, round(seconds / CLIP))
    return chirp + 0.1 * torch.randn(clips, t.numel(), generator=g)


def feature_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    clips = audio(args.seconds)
    hours = clips.numel() / RATE / 3600
    on_device = clips.to(device)

    def mine() -> None:
        log_mel_spectrogram(on_device, RATE, N_FFT, HOP, BANDS)

    contenders = {"reparam": (mine, device)}
    try:
        import librosa

        numpy_clips = clips.numpy()

        def theirs() -> None:
            mel = librosa.feature.melspectrogram(y=numpy_clips, sr=RATE, n_fft=N_FFT,
                                                 hop_length=HOP, n_mels=BANDS,
                                                 pad_mode="reflect")  # fmt: skip
            numpy.log(numpy.maximum(mel, 1e-5))

        contenders["librosa"] = (theirs, torch.device("cpu"))
    except ImportError:
        pass
    rounds = interleaved(contenders, args.repeats, warmup=1)
    record = {name: timing(r, contenders[name][1]) for name, r in rounds.items()}
    per_hour = {name: record[name]["median_s"] / hours for name in record}
    return {"hours": hours, **record, "seconds_per_hour": per_hour,
            "ratio_librosa_over_reparam": ratio(record["librosa"], record["reparam"])
            if "librosa" in record else None}  # fmt: skip


def asr_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    config = ASRConfig()
    torch.manual_seed(0)
    frames, characters, batch = int(3.0 * RATE / HOP), 45, 16
    features = torch.randn(batch, BANDS, frames, device=device)
    lengths = torch.full((batch,), frames, device=device)
    targets = torch.randint(1, alphabet.CLASSES, (batch * characters,), device=device)
    target_lengths = torch.full((batch,), characters, device=device)
    contenders = {}
    for name, loss in (("reparam", ctc_loss), ("torch", torch.nn.functional.ctc_loss)):
        model = CTCRecognizer(BANDS, alphabet.CLASSES, config.channels, config.hidden,
                              config.layers, config.subsample, config.dropout).to(device)  # fmt: skip
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, optimizer=optimizer, loss=loss) -> None:
            log_probs, out_lengths = model(features, lengths)
            value = loss(log_probs, targets, out_lengths, target_lengths, zero_infinity=True)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()

        contenders[name] = (step, device)
    rounds = interleaved(contenders, args.repeats, warmup=1)
    record = {name: timing(r, device) for name, r in rounds.items()}
    steps = {name: 1 / record[name]["median_s"] for name in record}
    return {**record, "steps_per_second": steps,
            "ratio_reparam_over_torch": ratio(record["reparam"], record["torch"])}  # fmt: skip


def xvector_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    config = XVectorConfig()
    model = XVector(BANDS, 240, config.channels, config.pooled, config.embedding).to(device)
    model.eval()
    clips = max(1, round(args.seconds / CLIP))
    features = [torch.randn(BANDS, int(CLIP * RATE / HOP)) for _ in range(clips)]
    hours = clips * CLIP / 3600

    @torch.no_grad()
    def extract() -> None:
        for start in range(0, clips, 32):
            batch, lengths = padded(features[start : start + 32])
            model(batch.to(device), lengths.to(device))

    rounds = interleaved({"reparam": (extract, device)}, args.repeats, warmup=1)
    record = timing(rounds["reparam"], device)
    return {"hours": hours, "reparam": record,
            "seconds_per_hour": record["median_s"] / hours}  # fmt: skip


def markdown(results: dict, about: dict) -> str:
    f, a, x = results["features"], results["asr_step"], results["xvector"]
    lines = [
        "**Speech: features, the recognizer's training step, x-vector extraction (medians of "
        "interleaved rounds)**",
        "",
        f"Machine: {json.dumps(about)}",
        "",
        "| what | reparam | peer | peer / reparam |",
        "|---|---:|---:|---:|",
    ]
    peer = f["seconds_per_hour"].get("librosa")
    lines.append(
        f"| 80-band log-mel, s per hour of audio | {f['seconds_per_hour']['reparam']:.2f} | "
        + (f"librosa {peer:.2f} | {f['ratio_librosa_over_reparam']:.2f}× |" if peer else "— | — |")
    )
    lines.append(
        f"| recognizer training step, steps/s (CTC: reparam vs torch) | "
        f"{a['steps_per_second']['reparam']:.2f} | torch {a['steps_per_second']['torch']:.2f} | "
        f"{1 / a['ratio_reparam_over_torch']:.2f}× |"
    )
    lines.append(
        f"| x-vector extraction, s per hour of audio | {x['seconds_per_hour']:.2f} | — | — |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="audio to featurise")
    parser.add_argument("--repeats", type=positive, default=5)
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="60 s of audio, 2 rounds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.seconds, args.repeats = 60.0, 2
    device = torch.device(args.device)
    results = {
        "features": feature_records(args, device),
        "asr_step": asr_records(args, device),
        "xvector": xvector_records(args, device),
    }
    about = machine(device)
    text = markdown(results, about)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech.json").write_text(json.dumps({"machine": about, **results}, indent=1))
    (args.out / "speech.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
