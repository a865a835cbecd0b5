"""Generators (conf/arch) and critics (conf/critic).

Every generator takes z of shape (B, nz) and returns samples of the data's shape (B, *shape);
every critic takes samples and returns raw scores of shape (B,). The objective applies the link.
"""

from __future__ import annotations

from omegaconf import DictConfig
from torch import nn

from wgan_repro.config import build


def build_generator(cfg: DictConfig, shape: tuple[int, ...]) -> nn.Module:
    """The generator named by conf/arch, producing samples of `shape` (without the batch dimension)."""
    return build(cfg, out_shape=shape)


def build_critic(cfg: DictConfig, shape: tuple[int, ...]) -> nn.Module:
    """The critic named by conf/critic, reading samples of `shape`."""
    return build(cfg, in_shape=shape)


def n_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
