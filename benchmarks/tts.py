"""The TTS model's training speed (issue 16): steps per second at reduction factors r = 1, 2
and 5, the distillation student against its teacher, and reparam's Tacotron against a plain
PyTorch twin written here by hand.

Every row times one training step as ``reparam train tts`` takes it: the teacher-forced
forward pass, ``Tacotron.loss(...)["total"]``, the backward pass, gradient-norm clipping at
``TTSConfig.clip`` and an Adam step, on one synthetic batch shaped like the ``tts`` corpus's
(16 utterances of 55–66 random symbols and 280–320 random frames of 80 bands, seed 0, padded
to a multiple of r by ``reparam.speech.reduction.pad_to_multiple`` through the trainer's
``Batch``), the model built by ``TTSTrainer.build_model`` at the default ``TTSConfig`` sizes.

- ``steps``: r = 1, 2, 5; steps per second and the speed-up of each r over r = 1.
- ``distillation``: the distillation experiment's teacher (``encoder_units=600``) and student
  (``encoder_units=300``), both at r = 5; steps per second and the time ratio.
- ``plain``: at r = 2 and r = 5, reparam's step against the same step of ``PlainTacotron``,
  the same architecture written out directly (plain tensors and ``torch.nn`` layers, no
  dataclasses, no argument checks) that loads reparam's weights through a name map. Before
  timing, the script asserts that the two give the same loss and gradients on the batch, once
  with dropout 0 and once with the timed models' dropout from the same random seed. The goal
  is a time ratio reparam / plain ≤ 1.1.
- ``decoder``: the decoder loop alone, reparam's ``Tacotron._step`` against the twin's
  ``decode_step``, over all of the batch's groups from a fixed encoder output, forward and
  backward (no optimiser): the part of the step whose cost is per decoder step.

Times are medians of interleaved rounds (``timing.interleaved``); ratios are reported, never
asserted. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/tts.py --threads 1
    python benchmarks/tts.py --quick                  # a smoke test: 2 rounds
    python benchmarks/tts.py --device cuda --out DIR

It writes ``DIR/tts.json`` and ``.md`` (DIR: ``--out``, default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_info import machine
from timing import interleaved, positive, ratio, timing
from torch import Tensor, nn

from reparam.experiments.tts import BANDS, Batch, TTSTrainer
from reparam.experiments.tts_config import TTSConfig
from reparam.models.tacotron import Tacotron
from reparam.speech import alphabet

UTTERANCES, SYMBOLS, FRAMES = 16, (55, 66), (280, 320)
TEACHER_UNITS, STUDENT_UNITS, DISTILLATION_R = 600, 300, 5
PLAIN_RS = (2, 5)
SIZES = ("embedding", "encoder_units", "attention_dim", "prenet", "attention_rnn",
         "decoder_rnn", "postnet_channels", "dropout", "clip")  # fmt: skip


class PlainTacotron(nn.Module):
    """Tacotron (``reparam.models.tacotron`` with location-sensitive attention, no speakers)
    written out directly; ``forward`` returns the total loss."""

    def __init__(
        self,
        symbols,
        n_mels,
        r,
        embedding,
        encoder_units,
        attention_dim,
        prenet,
        attention_rnn,
        decoder_rnn,
        postnet_channels,
        dropout,
        filters=32,
        kernel=31,
    ):
        super().__init__()
        self.n_mels, self.r, self.p = n_mels, r, dropout
        self.emb = nn.Embedding(symbols, embedding, padding_idx=0)
        self.enc_convs = nn.ModuleList(
            nn.Conv1d(embedding, embedding, 5, padding=2) for _ in range(3)
        )
        self.enc_bns = nn.ModuleList(nn.BatchNorm1d(embedding) for _ in range(3))
        self.lstm = nn.LSTM(embedding, encoder_units // 2, batch_first=True, bidirectional=True)
        self.pre1 = nn.Linear(n_mels, prenet[0])
        self.pre2 = nn.Linear(prenet[0], prenet[1])
        self.att_rnn = nn.LSTMCell(prenet[1] + encoder_units, attention_rnn)
        self.memory_proj = nn.Linear(encoder_units, attention_dim, bias=False)
        self.query_proj = nn.Linear(attention_rnn, attention_dim)
        self.loc_conv = nn.Conv1d(2, filters, kernel, padding=kernel // 2, bias=False)
        self.loc_proj = nn.Linear(filters, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=False)
        self.dec_rnn = nn.LSTMCell(attention_rnn + encoder_units, decoder_rnn)
        self.frame_proj = nn.Linear(decoder_rnn + encoder_units, r * n_mels)
        self.stop_proj = nn.Linear(decoder_rnn + encoder_units, 1)
        widths = [n_mels, *[postnet_channels] * 4, n_mels]
        self.post_convs = nn.ModuleList(nn.Conv1d(a, b, 5, padding=2) for a, b in pairwise(widths))
        self.post_bns = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])

    def encode(self, text, lengths):
        mask = torch.arange(text.shape[1], device=text.device) < lengths[:, None]
        x = self.emb(text).transpose(1, 2)
        for conv, bn in zip(self.enc_convs, self.enc_bns, strict=True):
            x = F.dropout(F.relu(bn(conv(x * mask[:, None]))), self.p, self.training)
        x = nn.utils.rnn.pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        memory, _ = nn.utils.rnn.pad_packed_sequence(
            self.lstm(x)[0], batch_first=True, total_length=text.shape[1]
        )
        return memory * mask[:, :, None], mask

    def start(self, memory):
        B, N, _ = memory.shape
        a, d = self.att_rnn.hidden_size, self.dec_rnn.hidden_size
        w = memory.new_zeros(B, N)
        w[:, 0] = 1.0
        z = memory.new_zeros
        return [z(B, a), z(B, a), z(B, d), z(B, d), z(B, memory.shape[2]), w, w.clone()]

    def decode_step(self, x, state, memory, keys, mask):
        h1, c1, h2, c2, context, w, cum = state
        x = F.dropout(F.relu(self.pre1(x)), self.p, True)  # the prenet's dropout is always on
        x = F.dropout(F.relu(self.pre2(x)), self.p, True)
        h1, c1 = self.att_rnn(torch.cat([x, context], -1), (h1, c1))
        location = self.loc_proj(self.loc_conv(torch.stack([w, cum], 1)).transpose(1, 2))
        e = self.v(torch.tanh(self.query_proj(h1)[:, None] + keys + location))[..., 0]
        w = e.masked_fill(~mask, float("-inf")).softmax(-1)
        context = torch.bmm(w[:, None], memory)[:, 0]
        h2, c2 = self.dec_rnn(torch.cat([h1, context], -1), (h2, c2))
        out = torch.cat([h2, context], -1)
        state = [h1, c1, h2, c2, context, w, cum + w]
        return self.frame_proj(out), self.stop_proj(out)[:, 0], w, state

    def forward(self, text, text_lengths, frames, frame_lengths):
        memory, mask = self.encode(text, text_lengths)
        keys = self.memory_proj(memory)
        B, T, n = frames.shape
        fed = torch.cat([frames.new_zeros(B, 1, n), frames[:, self.r - 1 : -1 : self.r]], 1)
        state = self.start(memory)
        groups, stops, alignments = [], [], []
        for g in range(T // self.r):
            y, s, w, state = self.decode_step(fed[:, g], state, memory, keys, mask)
            groups.append(y)
            stops.append(s)
            alignments.append(w)
        before = torch.stack(groups, 1).reshape(B, T, n)
        valid = (torch.arange(T, device=frames.device) < frame_lengths[:, None])[:, :, None]
        x = before.transpose(1, 2)
        for i, (conv, bn) in enumerate(zip(self.post_convs, self.post_bns, strict=True)):
            x = bn(conv(x * valid.transpose(1, 2)))
            x = F.dropout(torch.tanh(x) if i < 4 else x, self.p, self.training)
        after = before + x.transpose(1, 2)
        torch.stack(alignments, 1)  # reparam's output holds the alignment too; no loss reads it
        stop = torch.stack(stops, 1)
        count = valid.sum() * n
        l1_before = ((before - frames).abs() * valid).sum() / count
        l1_after = ((after - frames).abs() * valid).sum() / count
        groups = torch.arange(stop.shape[1], device=frames.device)
        target = (groups[None] >= ((frame_lengths - 1) // self.r)[:, None]).float()
        return l1_before + l1_after + F.binary_cross_entropy_with_logits(stop, target)


def plain_names() -> dict[str, str]:
    """The twin's module prefixes by reparam's (``Tacotron``'s sequential stacks: conv, batch
    norm, activation, dropout)."""
    names = {"embedding": "emb", "encoder": "lstm", "prenet.layers.0": "pre1",
             "prenet.layers.1": "pre2", "attention_cell": "att_rnn",
             "attention.memory_layer": "memory_proj", "attention.query_layer": "query_proj",
             "attention.location_conv": "loc_conv", "attention.location_layer": "loc_proj",
             "attention.score": "v", "decoder_cell": "dec_rnn", "frames": "frame_proj",
             "stop": "stop_proj"}  # fmt: skip
    for i in range(3):
        names[f"convolutions.{4 * i}"], names[f"convolutions.{4 * i + 1}"] = (
            f"enc_convs.{i}",
            f"enc_bns.{i}",
        )
    for i in range(5):  # the last convolution has no tanh: 16, 17 (dropout 18)
        names[f"postnet.{4 * i}"], names[f"postnet.{4 * i + 1}"] = (
            f"post_convs.{i}",
            f"post_bns.{i}",
        )
    return names


def plain_twin(model: Tacotron, config: TTSConfig) -> PlainTacotron:
    """The twin of ``model`` with its weights (and batch-norm statistics)."""
    c = config
    twin = PlainTacotron(alphabet.CLASSES, BANDS, c.r, c.embedding, c.encoder_units,
                         c.attention_dim, (2 * c.prenet, c.prenet), c.attention_rnn,
                         c.decoder_rnn, c.postnet_channels, c.dropout)  # fmt: skip
    names = plain_names()
    state = {}
    for key, value in model.state_dict().items():
        if key in ("frame_mean", "frame_std"):  # the trainer's scale; no part of the step
            continue
        prefix, _, leaf = key.rpartition(".")
        state[f"{names[prefix]}.{leaf}"] = value
    twin.load_state_dict(state, strict=True)
    return twin.to(next(model.parameters()).device).train(model.training)


def synthetic_batch(r: int, device: torch.device) -> Batch:
    """The corpus-shaped batch of the module docstring, the same utterances whatever r."""
    g = torch.Generator().manual_seed(0)
    texts = [
        torch.randint(
            1,
            alphabet.CLASSES,
            (int(torch.randint(SYMBOLS[0], SYMBOLS[1] + 1, (), generator=g)),),
            generator=g,
        )
        for _ in range(UTTERANCES)
    ]
    frames = [
        torch.randn(
            int(torch.randint(FRAMES[0], FRAMES[1] + 1, (), generator=g)), BANDS, generator=g
        )
        for _ in range(UTTERANCES)
    ]
    return Batch(texts, frames, r, device)


def build(config: TTSConfig, device: torch.device) -> Tacotron:
    torch.manual_seed(config.seed)
    return TTSTrainer.build_model(config).to(device).train()


def reparam_loss(model: Tacotron, batch: Batch, config: TTSConfig) -> Tensor:
    output = batch.forced(model)
    return model.loss(output, batch.frames, batch.frame_lengths, config.mel_loss)["total"]


def plain_loss(twin: PlainTacotron, batch: Batch) -> Tensor:
    return twin(batch.text, batch.text_lengths, batch.frames, batch.frame_lengths)


def training_step(model: nn.Module, loss: Callable[[], Tensor], clip: float) -> Callable[[], None]:
    """A closure: ``loss()``, its backward pass, clipping at ``clip`` and one Adam step (as
    ``SteppedTrainer.update`` takes them, less the learning-rate schedule)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def steps_record(record: dict[str, object]) -> dict[str, object]:
    return {**record, "steps_per_second": 1 / record["median_s"]}  # type: ignore[operator]


def step_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    contenders = {}
    for r in (1, 2, 5):
        config = replace(TTSConfig(), r=r)
        model, batch = build(config, device), synthetic_batch(r, device)
        loss = lambda m=model, b=batch, c=config: reparam_loss(m, b, c)  # noqa: E731
        contenders[f"r={r}"] = (training_step(model, loss, config.clip), device)
    rounds = interleaved(contenders, args.repeats, warmup=1)
    record = {name: steps_record(timing(rounds[name], device)) for name in contenders}
    for name in record:
        record[name]["speedup_over_r1"] = ratio(record["r=1"], record[name])
    print(json.dumps({k: round(v["steps_per_second"], 3) for k, v in record.items()}), flush=True)
    return record


def distillation_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    contenders = {}
    batch = synthetic_batch(DISTILLATION_R, device)
    for name, units in (("teacher", TEACHER_UNITS), ("student", STUDENT_UNITS)):
        config = replace(TTSConfig(), r=DISTILLATION_R, encoder_units=units)
        model = build(config, device)
        loss = lambda m=model, c=config: reparam_loss(m, batch, c)  # noqa: E731
        contenders[name] = (training_step(model, loss, config.clip), device)
    rounds = interleaved(contenders, args.repeats, warmup=1)
    record: dict[str, object] = {
        "r": DISTILLATION_R,
        "encoder_units": {"teacher": TEACHER_UNITS, "student": STUDENT_UNITS},
        **{name: steps_record(timing(rounds[name], device)) for name in contenders},
    }
    record["ratio_teacher_over_student"] = ratio(record["teacher"], record["student"])  # type: ignore[arg-type]
    print(f"teacher / student {record['ratio_teacher_over_student']:.3f}", flush=True)
    return record


def difference(model: Tacotron, twin: PlainTacotron, batch: Batch, config: TTSConfig, seed: int):
    """The relative difference of the two losses on ``batch`` from the same seed, and the
    largest of the gradients' (each parameter's largest absolute difference over its largest
    absolute value)."""
    values, grads = [], []
    for net, loss in (
        (model, lambda: reparam_loss(model, batch, config)),
        (twin, lambda: plain_loss(twin, batch)),
    ):
        net.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        value = loss()
        value.backward()
        values.append(float(value.detach()))
        grads.append({name: p.grad for name, p in net.named_parameters()})
        net.zero_grad(set_to_none=True)
    names = plain_names()
    worst = 0.0
    for key, grad in grads[0].items():
        prefix, _, leaf = key.rpartition(".")
        other = grads[1][f"{names[prefix]}.{leaf}"]
        scale = float(grad.abs().max().clamp_min(1e-12))
        worst = max(worst, float((grad - other).abs().max()) / scale)
    return abs(values[0] - values[1]) / abs(values[1]), worst


def checked_pair(
    config: TTSConfig, batch: Batch, device: torch.device
) -> tuple[Tacotron, PlainTacotron, dict[str, float]]:
    """reparam's model and its twin at ``config``, checked to compute the same loss and
    gradients (with dropout 0, then with the config's from the same seed)."""
    check: dict[str, float] = {}
    for label, dropout in (("dropout_0", 0.0), (f"dropout_{config.dropout}", config.dropout)):
        cfg = replace(config, dropout=dropout)
        model = build(cfg, device)
        twin = plain_twin(model, cfg)
        loss_diff, grad_diff = difference(model, twin, batch, cfg, seed=1)
        check[f"{label}_loss"], check[f"{label}_gradient"] = loss_diff, grad_diff
        assert loss_diff < 1e-5, f"reparam and plain losses differ ({label}): {loss_diff:.2e}"
        assert grad_diff < 1e-4, f"reparam and plain gradients differ ({label}): {grad_diff:.2e}"
    return model, twin, check  # the last pair: the config's dropout


def plain_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    records: dict[str, object] = {}
    for r in PLAIN_RS:
        config = replace(TTSConfig(), r=r)
        batch = synthetic_batch(r, device)
        model, twin, check = checked_pair(config, batch, device)
        print(f"r={r} equality check passed: {json.dumps(check)}", flush=True)
        contenders = {
            "reparam": (
                training_step(
                    model, lambda m=model, b=batch, c=config: reparam_loss(m, b, c), config.clip
                ),
                device,
            ),
            "plain": (
                training_step(twin, lambda t=twin, b=batch: plain_loss(t, b), config.clip),
                device,
            ),
        }
        rounds = interleaved(contenders, args.repeats, warmup=1)
        record: dict[str, object] = {
            "check": check,
            **{name: steps_record(timing(rounds[name], device)) for name in contenders},
        }
        record["ratio_reparam_over_plain"] = ratio(record["reparam"], record["plain"])  # type: ignore[arg-type]
        print(f"r={r} step reparam / plain {record['ratio_reparam_over_plain']:.3f}", flush=True)
        records[f"r={r}"] = record
    return records


def decoder_loops(
    model: Tacotron, twin: PlainTacotron, batch: Batch
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Closures: every decoder step of ``batch`` from a fixed encoder output, forward and
    backward, by reparam's ``_step`` and by the twin's ``decode_step``."""
    with torch.no_grad():
        memory, mask = model.encode(batch.text, batch.text_lengths)
    B, T, n = batch.frames.shape
    r = model.r
    fed = torch.cat([batch.frames.new_zeros(B, 1, n), batch.frames[:, r - 1 : -1 : r]], 1)

    def mine() -> None:
        model.zero_grad(set_to_none=True)
        states = model._start(memory, mask)
        total = memory.new_zeros(())
        for g in range(T // r):
            group, stop, _, states = model._step(fed[:, g], states)
            total = total + group.square().mean() + stop.mean()
        total.backward()

    def theirs() -> None:
        twin.zero_grad(set_to_none=True)
        keys, state = twin.memory_proj(memory), twin.start(memory)
        total = memory.new_zeros(())
        for g in range(T // r):
            group, stop, _, state = twin.decode_step(fed[:, g], state, memory, keys, mask)
            total = total + group.square().mean() + stop.mean()
        total.backward()

    return mine, theirs


def decoder_records(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    records: dict[str, object] = {}
    for r in PLAIN_RS:
        config = replace(TTSConfig(), r=r)
        batch = synthetic_batch(r, device)
        model = build(config, device)
        twin = plain_twin(model, config)
        mine, theirs = decoder_loops(model, twin, batch)
        rounds = interleaved(
            {"reparam": (mine, device), "plain": (theirs, device)}, args.repeats, warmup=1
        )
        steps = batch.frames.shape[1] // r
        record: dict[str, object] = {"decoder_steps": steps}
        for name in ("reparam", "plain"):
            record[name] = timing(rounds[name], device)
            record[name]["ms_per_decoder_step"] = 1e3 * record[name]["median_s"] / steps
        record["ratio_reparam_over_plain"] = ratio(record["reparam"], record["plain"])  # type: ignore[arg-type]
        print(f"r={r} decoder reparam / plain {record['ratio_reparam_over_plain']:.3f}", flush=True)
        records[f"r={r}"] = record
    return records


def markdown(results: dict, about: dict) -> str:
    s, d, p, dec = results["steps"], results["distillation"], results["plain"], results["decoder"]
    sizes = results["sizes"]
    lines = [
        "**TTS: training steps of the Tacotron (forward teacher-forced, loss, backward, clip, "
        "Adam; medians of interleaved rounds)**",
        "",
        f"Machine: {json.dumps(about)}",
        "",
        f"Batch: {sizes['batch']}, text {sizes['text_lengths']} symbols, "
        f"{sizes['frame_lengths']} frames of {BANDS} bands; sizes {json.dumps(sizes['config'])}.",
        "",
        "| r | decoder steps | steps/s | ms/step | speed-up over r = 1 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for name, record in s.items():
        r = int(name.split("=")[1])
        groups = -(-sizes["frames_padded_max"] // r)
        lines.append(
            f"| {r} | {groups} | {record['steps_per_second']:.3f} | {record['median_s'] * 1e3:.0f} | "
            f"{record['speedup_over_r1']:.2f}× |"
        )
    lines += [
        "",
        f"| distillation, r = {d['r']} | encoder units | steps/s | ms/step |",
        "|---|---:|---:|---:|",
    ]
    for name in ("teacher", "student"):
        lines.append(
            f"| {name} | {d['encoder_units'][name]} | {d[name]['steps_per_second']:.3f} | "
            f"{d[name]['median_s'] * 1e3:.0f} |"
        )
    lines += [
        "",
        f"Teacher / student time: {d['ratio_teacher_over_student']:.2f}×.",
        "",
        "| training step against plain PyTorch | reparam steps/s | plain steps/s | "
        "reparam / plain time (goal ≤ 1.1) | relative loss, gradient difference: dropout 0; "
        "dropout on |",
        "|---|---:|---:|---:|---|",
    ]
    for name, record in p.items():
        c = list(record["check"].values())
        lines.append(
            f"| {name.replace('=', ' = ')} | {record['reparam']['steps_per_second']:.3f} | "
            f"{record['plain']['steps_per_second']:.3f} | "
            f"{record['ratio_reparam_over_plain']:.3f}× | "
            f"{c[0]:.1e}, {c[1]:.1e}; {c[2]:.1e}, {c[3]:.1e} |"
        )
    lines += [
        "",
        "| decoder loop alone (forward and backward) | decoder steps | reparam ms per decoder "
        "step | plain ms per decoder step | reparam / plain time |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, record in dec.items():
        lines.append(
            f"| {name.replace('=', ' = ')} | {record['decoder_steps']} | "
            f"{record['reparam']['ms_per_decoder_step']:.2f} | "
            f"{record['plain']['ms_per_decoder_step']:.2f} | "
            f"{record['ratio_reparam_over_plain']:.3f}× |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive, default=5)
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats = 2
    device = torch.device(args.device)
    batch = synthetic_batch(1, torch.device("cpu"))
    config = TTSConfig()
    results: dict[str, object] = {
        "sizes": {
            "batch": UTTERANCES,
            "text_lengths": [int(batch.text_lengths.min()), int(batch.text_lengths.max())],
            "frame_lengths": [int(batch.frame_lengths.min()), int(batch.frame_lengths.max())],
            "frames_padded_max": int(batch.frames.shape[1]),
            "config": {k: getattr(config, k) for k in SIZES},
        },
        "plain": plain_records(args, device),
        "decoder": decoder_records(args, device),
        "steps": step_records(args, device),
        "distillation": distillation_records(args, device),
    }
    about = machine(device)
    text = markdown(results, about)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tts.json").write_text(json.dumps({"machine": about, **results}, indent=1))
    (args.out / "tts.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
