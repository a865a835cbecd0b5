"""Generators (conf/arch) and critics (conf/critic).

Every generator takes z of shape (B, nz) and returns samples of the data's shape (B, *shape);
every critic takes samples and returns raw scores of shape (B,). The objective applies the link.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn


def build_generator(cfg: DictConfig, shape: tuple[int, ...]) -> nn.Module:
    """The generator named by conf/arch, producing samples of `shape` (without the batch dimension)."""
    return instantiate(cfg, out_shape=shape, _convert_="all")


def build_critic(cfg: DictConfig, shape: tuple[int, ...]) -> nn.Module:
    """The critic named by conf/critic, reading samples of `shape`."""
    return instantiate(cfg, in_shape=shape, _convert_="all")


def n_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
