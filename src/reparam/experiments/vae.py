r"""The VAE family on the run engine: ``reparam train vae|iwae|flow-vae|cat-vae|conv-vae``.

One trainer class a model (:class:`VAETrainer`, :class:`IWAETrainer`,
:class:`FlowVAETrainer`, :class:`CategoricalVAETrainer`, :class:`ConvVAETrainer`), all one
loop: an epoch is one pass over the training split in a seeded random order, each step one
Adam step (ε = 10⁻⁴, as in the IWAE paper) on the batch's mean bound

.. math:: -\frac1B \sum_b \mathcal L(x_b), \qquad \mathcal L = \text{ELBO}_\beta
    \text{ or } \mathcal L_k = \log \frac1k \sum_i \frac{p(x_b, z_i)}{q(z_i \mid x_b)},

with the learning rate of ``--schedule`` for the epoch, the KL weight of ``--kl-warmup`` and,
for Gumbel estimators, the temperature :math:`\tau = \max(0.5, e^{-rt})` for the step. Each
epoch's row holds the learning rate, β (ELBO), τ (Gumbel), the mean training bound and the
validation bound, which picks ``best.pt``. The gradient estimator is one object a run, owned
by the model (``model.estimator``, a submodule) and so checkpointed with it: a moving-average
baseline resumes exactly.
Under ``torchrun`` each rank trains on its share of every batch through
DistributedDataParallel; rank 0 writes.

References:
    Kingma & Welling (2014); Burda, Grosse & Salakhutdinov (2016); Rezende & Mohamed (2015);
    Jang, Gu & Poole (2017).

Example:
    Two epochs of an IWAE (k = 2) on 200 digits, then the run loaded back:

    >>> import tempfile
    >>> from reparam.runs import load_run
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/iwae"
    >>> config = IWAEConfig(k=2, epochs=2, subset=200, device="cpu")
    >>> result = run(IWAETrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [row["epoch"] for row in result.history], result.config.x_dim
    ([1, 2], 64)
    >>> load_run(out).sample(4).shape
    torch.Size([4, 64])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.experiments.schedule import learning_rate
from reparam.experiments.vae_build import (
    DecoderMeans,
    build_model,
    load_split,
    set_temperature,
    temperature,
    validation_estimator,
)
from reparam.experiments.vae_config import (
    CategoricalVAEConfig,
    ConvVAEConfig,
    FlowVAEConfig,
    IWAEConfig,
    LatentConfig,
    VAEConfig,
)
from reparam.experiments.vae_evaluation import Evaluation, evaluate_latent_run
from reparam.models import VAE, LatentModel
from reparam.objectives import KLAnnealing
from reparam.plots import vae as pictures
from reparam.train import Trainer
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.compile import maybe_compile
from reparam.train.distributed import Ranks

PICTURE_SEED = 0


class LatentTrainer(Trainer):
    """The loop every VAE-family model shares (see the module docstring); subclasses name
    the model, its config and its architecture."""

    Config: ClassVar[type[LatentConfig]]
    monitor = "valid_bound"
    outputs = ("samples.png", "reconstructions.png", "curves.png")

    def __init__(self, config: LatentConfig, ranks: Ranks) -> None:
        device = ranks.device
        self.train_x = load_split(config.dataset, "train", config.data_dir, config.subset)
        self.valid_x = load_split(config.dataset, "valid", config.data_dir, config.subset)
        # config.json records the data's shape and the device used (``auto`` resolved).
        self.config = replace(
            self.with_shape(config, self.train_x.shape[1]), device=str(ranks.device)
        )
        self.ranks = ranks
        self.train_x, self.valid_x = self.train_x.to(device), self.valid_x.to(device)
        torch.manual_seed(config.seed)
        self.model: LatentModel = self.build_model(self.config).to(device)
        self.estimator = self.model.estimator
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, eps=1e-4)
        self.annealing = KLAnnealing(config.kl_warmup, config.beta)
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.bound = maybe_compile(self.batch_bound, config.compile)
        self.steps = math.ceil(len(self.train_x) / config.batch_size)
        self.order = torch.zeros(0, dtype=torch.long)
        self.total, self.count = 0.0, 0
        torch.manual_seed(config.seed + ranks.rank)

    def with_shape(self, config: LatentConfig, x_dim: int) -> LatentConfig:
        """``config`` recording the data's ``x_dim`` (a resumed run's data must match it)."""
        if config.x_dim is not None and config.x_dim != x_dim:
            raise ValueError(
                f"--dataset {config.dataset} has {x_dim} values a row, but the run was trained "
                f"on {config.x_dim}"
            )
        return replace(config, x_dim=x_dim)

    @property
    def periods(self) -> int:
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return self.steps

    def start_period(self, period: int) -> None:
        config = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config.schedule, config.lr, period)
        seed = config.seed * 1_000_003 + period
        self.order = torch.randperm(
            len(self.train_x), generator=torch.Generator().manual_seed(seed)
        )
        self.total, self.count = 0.0, 0
        self.model.train()

    def batch_bound(self, x: Tensor, beta: float) -> Tensor:
        """The training bound of each row of ``x`` (the function ``--compile`` compiles)."""
        config = self.config
        return self.net(
            x, objective=config.objective, k=config.k, estimator=self.estimator, beta=beta
        )

    def train_step(self, period: int, index: int) -> None:
        ranks, size = self.ranks, self.config.batch_size
        share = ranks.share(self.order, index, size)
        x = self.train_x[share.to(self.train_x.device)]
        step = period * self.steps + index
        set_temperature(self.estimator, self.config, step)
        bound = self.bound(x, self.annealing(step))
        self.optimizer.zero_grad(set_to_none=True)
        (-bound.mean()).backward()
        self.optimizer.step()
        self.total += float(bound.detach().sum())
        self.count += len(x)

    def end_period(self, period: int) -> dict[str, Any]:
        config, steps = self.config, (period + 1) * self.steps
        row: dict[str, Any] = {"lr": self.optimizer.param_groups[0]["lr"]}
        if config.objective == "elbo":
            row["beta"] = self.annealing(steps)
        if config.relaxed:
            row["temperature"] = temperature(steps, config.temperature_rate)  # type: ignore[attr-defined]
        row["train_bound"] = self.total / self.count
        row["valid_bound"] = self.validate()
        return row

    @torch.no_grad()
    def validate(self) -> float:
        """The mean bound of the validation split (the objective, β = 1), for model selection."""
        config = self.config
        self.model.eval()
        estimator = validation_estimator(config.objective)
        total = sum(
            float(
                self.model.bound(
                    x, objective=config.objective, k=config.k, estimator=estimator
                ).sum()
            )
            for x in self.valid_x.split(config.batch_size)
        )
        self.model.train()
        return total / len(self.valid_x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "order": self.order,
            "total": self.total,
            "count": self.count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.order, self.total, self.count = state["order"].cpu(), state["total"], state["count"]

    def summary(self, row: dict[str, Any]) -> str:
        return f"train_bound {row['train_bound']:.2f}  valid_bound {row['valid_bound']:.2f}"

    def images(self) -> dict[str, Tensor]:
        """Samples and reconstructions for TensorBoard, from fixed noise that leaves torch's
        random state untouched (a resumed run must draw what a straight one does)."""
        with fixed_noise(self.ranks.device):
            self.model.eval()
            samples = pictures.prior_means(self.model, 64)
            pairs = pictures.reconstruction_pairs(self.model, self.valid_x[:32])
            self.model.train()
        return {
            "samples": pictures.grid_image(samples),
            "reconstructions": pictures.grid_image(pairs),
        }

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """samples.png and reconstructions.png of the best model, and curves.png."""
        model = self.build_model(self.config).to(self.ranks.device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", self.ranks.device)["model"])
        model.eval()
        with fixed_noise(self.ranks.device):
            pictures.draw_samples(model, folder / "samples.png")
            pictures.draw_reconstructions(model, self.valid_x, folder / "reconstructions.png")
        pictures.draw_curves(history, folder / "curves.png")

    @classmethod
    def build_model(cls, config: LatentConfig) -> LatentModel:
        return build_model(config)

    @classmethod
    def generate(cls, model: nn.Module, config: LatentConfig, n: int) -> Tensor:
        r"""Decoder means :math:`\mathbb E[x \mid z]`, ``[n, pixels]``, of ``n`` prior draws."""
        return pictures.prior_means(model, n)  # type: ignore[arg-type]

    @classmethod
    def exportable(
        cls, model: nn.Module, config: LatentConfig
    ) -> tuple[nn.Module, tuple[Tensor, ...]]:
        """The decoder, ``z [B, d]`` to Bernoulli means ``[B, pixels]``, with two prior draws."""
        z = model.prior().sample((2,))  # type: ignore[operator]
        example = cls.decoder_input(model, z).contiguous()  # a view would not be saved whole
        return DecoderMeans(model.decoder), (example,)  # type: ignore[arg-type]

    @classmethod
    def decoder_input(cls, model: nn.Module, z: Tensor) -> Tensor:
        """The decoder's input for prior draws ``z``: the draws themselves."""
        return z

    @classmethod
    def test_bounds(
        cls, folder: Path, model: nn.Module, config: LatentConfig, **options: Any
    ) -> Evaluation:
        """The test bounds of ``reparam eval`` (:func:`~reparam.experiments.vae_evaluation.
        evaluate_latent_run`)."""
        return evaluate_latent_run(model, config, **options)  # type: ignore[arg-type]


@contextmanager
def fixed_noise(device: torch.device) -> Iterator[None]:
    """Draw from seed ``PICTURE_SEED`` and restore torch's random state afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(PICTURE_SEED)
        yield


class VAETrainer(LatentTrainer):
    """``reparam train vae``: the ELBO, one or two stochastic layers."""

    name, command, Config = "vae", "train vae", VAEConfig

    @classmethod
    def decoder_input(cls, model: nn.Module, z: Tensor) -> Tensor:
        """The bottom stochastic layer: the decoder reads :math:`z_1` only."""
        assert isinstance(model, VAE)
        return z[..., : model.sizes[0]]


class IWAETrainer(VAETrainer):
    r"""``reparam train iwae``: :math:`\mathcal L_k`, k = 5 by default."""

    name, command, Config = "iwae", "train iwae", IWAEConfig


class FlowVAETrainer(LatentTrainer):
    """``reparam train flow-vae``: the one-layer VAE with a planar, radial or IAF posterior."""

    name, command, Config = "flow-vae", "train flow-vae", FlowVAEConfig


class CategoricalVAETrainer(LatentTrainer):
    """``reparam train cat-vae``: 20 ten-way categorical latents, Gumbel-softmax by default."""

    name, command, Config = "cat-vae", "train cat-vae", CategoricalVAEConfig

    @classmethod
    def decoder_input(cls, model: nn.Module, z: Tensor) -> Tensor:
        """One-hot codes ``[B, latents, classes]`` flattened to ``[B, latents·classes]``."""
        return z.flatten(-2)


class ConvVAETrainer(LatentTrainer):
    """``reparam train conv-vae``: convolutional encoder, unpool-and-convolve decoder."""

    name, command, Config = "conv-vae", "train conv-vae", ConvVAEConfig
