"""DCGAN generators and critic, as the official WGAN code (models/dcgan.py), and the paper's Figure 7 generator.

Official init: convolution weights N(0, 0.02), batch-norm weight N(1, 0.02) and bias 0; convolutions
have no bias. Image sizes: any power of two from 16 up. Shapes below for 64x64, nz 100, ngf = ndf = 64.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from wgan_repro.config import ConfigError


def _check_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, size) of a square image shape whose size is a power of two >= 16."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"DCGAN models need image data (C, S, S); data gives samples of shape {tuple(shape)}: "
                          "choose an image data set (data=digits, ...) or arch=mlp critic=mlp")
    size = shape[1]
    if size < 16 or size & (size - 1):
        raise ConfigError(f"DCGAN models need data.image_size a power of two >= 16 (16, 32, 64, 128), got {size}")
    return shape[0], size


def dcgan_init(module: nn.Module) -> None:
    """Official weights_init: Conv/ConvT N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0; Linear untouched."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _block(conv: nn.Module, channels: int, batch_norm: bool, act: nn.Module) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), act] if batch_norm else [conv, act]


class DCGANGenerator(nn.Module):
    """Official DCGAN_G (batch_norm=True) and DCGAN_G_nobn (False): filters halve as the image doubles
    (constant_filters=True: ngf at every layer, the DCGAN_G-shaped reading of the paper's Figure 7 generator).

    z (B, nz) -> (B, nz, 1, 1) -> ConvT 4x4 to (B, 8 ngf, 4, 4) -> ... -> (B, ngf, size/2, size/2) -> (B, C, size, size)
    """

    def __init__(self, nz: int, ngf: int, n_extra_layers: int, out_shape: tuple[int, ...],
                 batch_norm: bool = True, constant_filters: bool = False) -> None:
        super().__init__()
        nc, size = _check_size(out_shape)
        self.nz, self.out_shape = nz, tuple(out_shape)
        cngf = ngf // 2 * size // 4  # official: ngf/2 doubled until 4 -> size (512 for 64x64)
        half = 2
        if constant_filters:  # Figure 7, DCGAN_G-shaped reading: ngf filters at every layer
            cngf, half = ngf, 1
        layers = _block(nn.ConvTranspose2d(nz, cngf, 4, 1, 0, bias=False), cngf, batch_norm, nn.ReLU(True))
        csize = 4
        while csize < size // 2:  # pyramid: (cngf, csize) -> (cngf/2, 2 csize)
            layers += _block(nn.ConvTranspose2d(cngf, cngf // half, 4, 2, 1, bias=False), cngf // half, batch_norm,
                             nn.ReLU(True))
            cngf, csize = cngf // half, csize * 2
        for _ in range(n_extra_layers):
            layers += _block(nn.Conv2d(cngf, cngf, 3, 1, 1, bias=False), cngf, batch_norm, nn.ReLU(True))
        layers += [nn.ConvTranspose2d(cngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.nz, 1, 1))  # (B, C, size, size)


class ConstantFilterGenerator(nn.Module):
    """The paper's Figure 7 generator: no batch norm and a constant number of filters at every layer.

    Not in the official WGAN code; as WGAN-GP's WGANPaper_CrippledDCGANGenerator: Linear(nz, 4*4*ngf) + ReLU,
    then stride-2 5x5 transposed convolutions ngf -> ngf + ReLU until size/2, and a last one ngf -> C + tanh.
    Those convolutions keep their bias (as that code's Deconv2D).
    """

    def __init__(self, nz: int, ngf: int, out_shape: tuple[int, ...]) -> None:
        super().__init__()
        nc, size = _check_size(out_shape)
        self.nz, self.ngf, self.out_shape = nz, ngf, tuple(out_shape)
        self.fc = nn.Sequential(nn.Linear(nz, 4 * 4 * ngf), nn.ReLU(True))
        n_up = int(math.log2(size // 4))  # 4 -> size by doubling
        layers: list[nn.Module] = []
        for i in range(n_up):
            last = i == n_up - 1
            layers += [nn.ConvTranspose2d(ngf, nc if last else ngf, 5, 2, 2, output_padding=1),
                       nn.Tanh() if last else nn.ReLU(True)]
        self.net = nn.Sequential(*layers)
        dcgan_init(self.net)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.ngf, 4, 4)  # (B, ngf, 4, 4)
        return self.net(h)  # (B, C, size, size)


class DCGANCritic(nn.Module):
    """Official DCGAN_D (batch_norm=True) and DCGAN_D_nobn (False), without the sigmoid: raw scores (B,).

    (B, C, size, size) -> Conv 4x4/2 + LeakyReLU (no BN) -> pyramid Conv 4x4/2 [+ BN] + LeakyReLU while > 4
    -> (B, 8 ndf, 4, 4) -> Conv 4x4 -> (B,). The official code averages over the batch; the objective does here.
    """

    def __init__(self, ndf: int, n_extra_layers: int, in_shape: tuple[int, ...], batch_norm: bool = True) -> None:
        super().__init__()
        nc, size = _check_size(in_shape)
        lrelu = nn.LeakyReLU(0.2, inplace=True)
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), lrelu]
        cndf, csize = ndf, size // 2
        for _ in range(n_extra_layers):
            layers += _block(nn.Conv2d(cndf, cndf, 3, 1, 1, bias=False), cndf, batch_norm, lrelu)
        while csize > 4:
            layers += _block(nn.Conv2d(cndf, cndf * 2, 4, 2, 1, bias=False), cndf * 2, batch_norm, lrelu)
            cndf, csize = cndf * 2, csize // 2
        layers.append(nn.Conv2d(cndf, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])  # (B,)
