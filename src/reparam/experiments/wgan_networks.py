r"""The WGAN's networks and optimisers, and the gradient averaging that keeps ranks in step.

- Points (the ring, or any data that are not images): Gulrajani et al.'s toy MLPs, three
  hidden ReLU layers of width ``hidden`` for both networks (their 512, 256 here by default to
  fit a CPU budget), a linear generator output;
- images: an MLP generator noise → ``hidden`` → ``2 hidden`` → pixels ending in a sigmoid (so
  samples lie in [0, 1]), an MLP critic pixels → ``2 hidden`` → ``hidden`` → 1 with
  LeakyReLU(0.2) (no batch norm: the gradient penalty needs examples not to interact).

Example:
    >>> from reparam.experiments.wgan_config import WGANConfig
    >>> model = build_networks(WGANConfig(hidden=8))
    >>> model["generator"](torch.randn(5, 2)).shape, model["critic"](torch.randn(5, 2)).shape
    (torch.Size([5, 2]), torch.Size([5, 1]))
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from reparam.experiments.wgan_config import PAPER, WGANConfig
from reparam.models.networks import mlp


def build_networks(config: WGANConfig) -> nn.ModuleDict:
    """``{"generator": noise → data, "critic": data → one score}`` for a config whose
    ``data_dim`` and ``images`` are known (the generator is built first: its initial weights
    are the first draws after the seed)."""
    if config.data_dim is None or config.images is None or config.noise_dim is None:
        raise ValueError("the config does not record the data's shape (data_dim, images)")
    width, dim = config.hidden, config.data_dim
    if config.images:
        generator = mlp([config.noise_dim, width, 2 * width, dim], nn.ReLU, last=nn.Sigmoid())
        critic = mlp([dim, 2 * width, width, 1], lambda: nn.LeakyReLU(0.2), last=False)
    else:
        generator = mlp([config.noise_dim, width, width, width, dim], nn.ReLU, last=False)
        critic = mlp([dim, width, width, width, 1], nn.ReLU, last=False)
    return nn.ModuleDict({"generator": generator, "critic": critic})


def make_optimizer(parameters: Iterable[nn.Parameter], config: WGANConfig) -> torch.optim.Optimizer:
    """The constraint's paper optimiser (RMSprop for clip, Adam(0.5, 0.9) for gp) at ``lr``."""
    paper = PAPER[config.lipschitz]
    assert config.lr is not None
    if paper.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.lr)
    assert paper.betas is not None
    return torch.optim.Adam(parameters, lr=config.lr, betas=paper.betas)


def average_gradients(module: nn.Module, world: int) -> None:
    """Replace each gradient by its mean over the ``world`` ranks (all-reduce, then divide),
    so that every rank takes the same step: data-parallel training of the whole batch.

    An explicit all-reduce rather than DistributedDataParallel, because the gradient
    penalty differentiates the critic twice (``create_graph``), which DDP's hooks and
    ``torch.compile`` do not follow; gradients are averaged once, after the whole loss.
    """
    if world == 1:
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= world


def broadcast_parameters(module: nn.Module, world: int) -> None:
    """Every rank starts from rank 0's parameters."""
    if world == 1:
        return
    with torch.no_grad():
        for parameter in module.parameters():
            dist.broadcast(parameter, 0)
