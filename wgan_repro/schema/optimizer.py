"""conf/optimizer: torch.optim's RMSprop and Adam, with the paper's and the DCGAN baseline's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from wgan_repro.schema.base import knob


@dataclass
class OptimizerConfig:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = knob(5e-5, "learning rate of both networks (Algorithm 1: alpha = 5e-5)", gt=0)
    lr_critic: Optional[float] = knob(None, "critic learning rate (official --lrD); null: lr", gt=0)
    lr_generator: Optional[float] = knob(None, "generator learning rate (official --lrG); null: lr", gt=0)


@dataclass
class RMSpropConfig(OptimizerConfig):
    _target_: str = "torch.optim.RMSprop"
    alpha: float = knob(0.99, "smoothing constant (PyTorch default, as the official code)", gt=0, le=1)
    eps: float = knob(1e-8, "term added to the denominator", gt=0)
    momentum: float = knob(0.0, "momentum (0 in the paper; Sec. 4.3 blames momentum for instability)", ge=0)


@dataclass
class AdamConfig(OptimizerConfig):
    _target_: str = "torch.optim.Adam"
    betas: list[float] = knob([0.5, 0.999], "(beta1, beta2); official --adam: (0.5, 0.999)")
    eps: float = knob(1e-8, "term added to the denominator", gt=0)
