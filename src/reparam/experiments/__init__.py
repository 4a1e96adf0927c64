"""Experiments: the trainers, studies and tables built from the library's algorithms.

Algorithms live in :mod:`reparam.estimators`, :mod:`reparam.objectives`, :mod:`reparam.bayes`,
:mod:`reparam.latent` and :mod:`reparam.transport`; the code here puts them to work on data and
writes run folders through :mod:`reparam.train`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reparam.train import Trainer

# Every trainer the run engine knows, by the name `reparam train NAME` and config.json use.
# Each helper module defines its trainer class; the names are fixed here so that config.json,
# load_run and the command line agree.
TRAINERS: dict[str, str] = {
    "vae": "reparam.experiments.vae:VAETrainer",
    "iwae": "reparam.experiments.vae:IWAETrainer",
    "flow-vae": "reparam.experiments.vae:FlowVAETrainer",
    "cat-vae": "reparam.experiments.vae:CategoricalVAETrainer",
    "conv-vae": "reparam.experiments.vae:ConvVAETrainer",
    "wgan": "reparam.experiments.wgan:WGANTrainer",
    "bnn-uci": "reparam.experiments.uci:UCITrainer",
    "bnn-mnist": "reparam.experiments.bnn_mnist:MNISTTrainer",
    "bnn-variance": "reparam.experiments.bnn_variance:VarianceStudyTrainer",
    "ctc-demo": "reparam.experiments.ctc_demo:CTCDemoTrainer",
    "gumbel-table1": "reparam.experiments.gumbel_table1:GumbelTable1Trainer",
    "draw": "reparam.experiments.draw:DRAWTrainer",
    "sentence-vae": "reparam.experiments.sentence_vae:SentenceVAETrainer",
    "asr": "reparam.experiments.asr:ASRTrainer",
    "xvector": "reparam.experiments.xvector:XVectorTrainer",
    "tts": "reparam.experiments.tts:TTSTrainer",
    "postnet": "reparam.experiments.postnet:PostnetTrainer",
}


def trainer_class(name: str) -> type[Trainer]:
    """The trainer class registered as ``name`` (imported on first use)."""
    if name not in TRAINERS:
        raise ValueError(f"unknown trainer {name!r}; known: {', '.join(TRAINERS) or 'none'}")
    module, _, attribute = TRAINERS[name].partition(":")
    return getattr(import_module(module), attribute)
