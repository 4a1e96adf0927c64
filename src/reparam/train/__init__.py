"""Training runs and their evaluation."""

from reparam.train.config import MODELS, TrainConfig
from reparam.train.evaluation import evaluate
from reparam.train.loop import train

__all__ = ["MODELS", "TrainConfig", "evaluate", "train"]
