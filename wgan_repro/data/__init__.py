"""Data (conf/data): real-sample sources that live on the training device.

A data source has `shape` (one sample, no batch dimension), `dtype` (of its samples: float32, or float64 for
toy data under train.precision=fp64) and `sample(n)` -> (n, *shape) on its device. Toy sources also know their
modes (for mode metrics) or at least how to draw reference
points (for exact W1).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from wgan_repro.config import build


def build_data(cfg: DictConfig, device: torch.device):
    """The data source named by conf/data, sampling on `device`."""
    return build(cfg, device=device)
