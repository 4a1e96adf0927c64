"""Every command of the ``reparam`` application, registered by importing its module."""

from reparam.cli import evaluate, fit, repro, runs, train, variance  # noqa: F401
from reparam.cli import repro_uci, train_bnn  # noqa: F401
from reparam.cli import train_vae  # noqa: F401
from reparam.cli import train_wgan  # noqa: F401
from reparam.cli.app import app
from reparam.data.commands import data_app

app.add_typer(data_app, name="data")
