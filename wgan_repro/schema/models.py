"""conf/arch and conf/critic: the generators and critics (models/), MLP and DCGAN."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from wgan_repro.schema.base import MLPInit, knob


@dataclass
class MLPConfig:
    init: MLPInit = knob(MLPInit.torch, "torch: PyTorch's default (official code); he: WGAN-GP's toy script (uniform "
                                        "+-sqrt(6/fan_in), output +-sqrt(3/fan_in), biases 0)")


@dataclass
class MLPGeneratorConfig(MLPConfig):
    _target_: str = "wgan_repro.models.mlp.MLPGenerator"
    nz: int = knob(2, "noise dimension; z ~ N(0, I)", ge=1)
    hidden: int = knob(512, "units per hidden layer (official MLP_G: ngf = 512)", ge=1)
    layers: int = knob(3, "hidden ReLU layers (official MLP_G: 3)", ge=1)
    tanh: bool = knob(False, "squash the output with tanh (the official MLP_G has none, issue #29)")


@dataclass
class MLPCriticConfig(MLPConfig):
    _target_: str = "wgan_repro.models.mlp.MLPCritic"
    hidden: int = knob(512, "units per hidden layer (official MLP_D: ndf = 512)", ge=1)
    layers: int = knob(3, "hidden ReLU layers (official MLP_D: 3)", ge=1)


@dataclass
class ConvGeneratorConfig:
    _target_: str = MISSING
    nz: int = knob(100, "noise dimension; z ~ N(0, I) of shape (B, nz)", ge=1)
    ngf: int = knob(64, "generator width: DCGAN's last hidden layer has ngf filters, doubling towards the input; "
                        "the constant-filter generator has ngf at every layer (WGAN-GP's dim = 64)", ge=2)


@dataclass
class DCGANGeneratorConfig(ConvGeneratorConfig):
    _target_: str = "wgan_repro.models.dcgan.DCGANGenerator"
    n_extra_layers: int = knob(0, "extra 3x3 conv layers at the last hidden resolution (official --n_extra_layers)",
                               ge=0)
    batch_norm: bool = knob(True, "batch norm after every hidden layer (false: the official --noBN generator)")
    constant_filters: bool = knob(False, "ngf filters at every layer instead of halving (a Figure 7 reading)")


@dataclass
class ConstantFilterGeneratorConfig(ConvGeneratorConfig):
    _target_: str = "wgan_repro.models.dcgan.ConstantFilterGenerator"


@dataclass
class DCGANCriticConfig:
    _target_: str = "wgan_repro.models.dcgan.DCGANCritic"
    ndf: int = knob(64, "critic width: the first layer has ndf filters, doubling as the image halves", ge=1)
    n_extra_layers: int = knob(0, "extra 3x3 conv layers at the first hidden resolution", ge=0)
    batch_norm: bool = knob(True, "batch norm after every hidden layer but the first (clipped like every weight)")
