"""Every command of the ``reparam`` application, registered by importing its module."""

from reparam.cli import (  # noqa: F401
    evaluate,
    fit,
    repro,
    repro_distillation,
    repro_draw,
    repro_gumbel_table1,
    repro_postnet,
    repro_sentence_vae,
    repro_uci,
    repro_xvector,
    runs,
    synthesize,
    train,
    train_asr,
    train_bnn,
    train_draw,
    train_postnet,
    train_sentence_vae,
    train_tts,
    train_vae,
    train_wgan,
    train_xvector,
    variance,
)
from reparam.cli.app import app
from reparam.data.commands import data_app

app.add_typer(data_app, name="data")
