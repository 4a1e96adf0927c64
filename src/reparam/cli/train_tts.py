"""``reparam train tts``: a Tacotron-style synthesizer on the synthesized single-voice corpus.

The options are :class:`~reparam.experiments.tts_config.TTSConfig`'s fields, with its
defaults (:func:`~reparam.cli.options.config_command`); the config checks every value, and
the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path

from reparam.cli.options import Compile, Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data.speech.recipe import RECIPES
from reparam.experiments.tts import TTSTrainer
from reparam.experiments.tts_config import MEL_LOSSES
from reparam.models.tacotron import ENCODERS
from reparam.models.tts_attention import ATTENTIONS

OPTIONS = {
    "recipe": option(str, f"the speech corpus's recipe: {', '.join(RECIPES)}"),
    "subset": option(int | None, "train on a random subset of this many utterances"),
    "multi_speaker": option(bool, "learn a speaker embedding per voice of the corpus"),
    "symbols": option(str, "what the model reads: characters or phonemes (eSpeak's)"),
    "r": option(int, "the reduction factor: frames emitted per decoder step"),
    "encoder": option(str, f"the encoder: {' or '.join(ENCODERS)} (Tacotron 2's or Tacotron's)"),
    "attention": option(str, f"the decoder's attention: {', '.join(ATTENTIONS)}"),
    "embedding": option(int, "character embedding size (and the encoder convolutions' width)"),
    "encoder_units": option(int, "the encoder BiLSTM's units, both directions together"),
    "attention_dim": option(int, "the attention's hidden size"),
    "prenet": option(int, "the prenet's last layer (its first is twice this)"),
    "attention_rnn": option(int, "the attention LSTM's units"),
    "decoder_rnn": option(int, "the decoder LSTM's units"),
    "postnet_channels": option(int, "the postnet convolutions' channels"),
    "dropout": option(float, "dropout in the encoder, prenet (kept at inference) and postnet"),
    "mel_loss": option(str, f"the frame loss: {' or '.join(MEL_LOSSES)}"),
    "guided_weight": option(float, "weight of the guided-attention penalty (0: off)"),
    "teacher": option(str | None, "a finished tts run (same recipe and --r) to distil from"),
    "distill_weight": option(
        float, "weight of the KL from the teacher's attention to this model's (0: off)"
    ),
    "soft_target_weight": option(float, "weight of the L1 to the teacher's frames (0: off)"),
    "steps": option(int, "Adam steps (the run's end; --resume may raise it)"),
    "eval_every": option(int, "steps between validations (a period)"),
    "batch_size": option(int, "utterances per step"),
    "lr": option(float, "Adam's peak learning rate"),
    "warmup": option(int, "steps of linear warm-up (then 1/sqrt(step) decay)"),
    "clip": option(float, "clip the gradient's norm to this"),
    "eval_frames": option(int, "the most frames a free-running synthesis may emit"),
    "device": Device,
    "seed": Seed,
    "compile": Compile,
}

train_app.command("tts", short_help="Tacotron-style text-to-speech on a synthesized voice")(
    config_command(
        TTSTrainer,
        OPTIONS,
        default_out=lambda values: Path("runs") / f"tts-{values['recipe']}",
        doc="""A Tacotron-style synthesizer (character embeddings, a convolutional and BiLSTM
        encoder, an attention decoder emitting --r frames a step with a stop token, a
        convolutional postnet) trained on the eSpeak NG corpus of --recipe (built on first
        use), on 80-band log-mel frames. Writes a run folder (default runs/tts-RECIPE):
        config.json, metrics.csv (per period: training loss, learning rate, validation L1,
        focus rate and diagonal mass of the attention), checkpoint.pt, best.pt,
        evaluation.json and evaluation.md (test L1, stop accuracy, attention measures,
        free-running MCD and length error), alignment.png, spectrogram.png and sample.wav.""",
    )
)
