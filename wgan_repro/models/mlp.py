"""MLP generator and critic: the WGAN-GP toy networks and the official MLP_G / MLP_D (models/mlp.py)."""

from __future__ import annotations

import math

import torch
from torch import nn

INITS = ("torch", "he")


def _mlp(n_in: int, hidden: int, layers: int, n_out: int, init: str = "torch") -> nn.Sequential:
    """Linear(n_in, hidden) + ReLU, (layers - 1) x [Linear(hidden, hidden) + ReLU], Linear(hidden, n_out).
    init: "torch" keeps PyTorch's default (the official code's); "he" is WGAN-GP's toy script (tflib's 'he' and
    default initialisations): hidden ReLU layers uniform +-sqrt(6 / fan_in), the output +-sqrt(3 / fan_in), biases
    0. PyTorch's default shrinks activations about 2.4x per ReLU layer: over 12 layers gradients would vanish at
    initialisation whatever the constraint."""
    blocks: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    blocks.append(nn.Linear(width, n_out))
    if init == "he":
        linears = [b for b in blocks if isinstance(b, nn.Linear)]
        with torch.no_grad():
            for i, layer in enumerate(linears):
                bound = math.sqrt((3.0 if i == len(linears) - 1 else 6.0) / layer.in_features)
                layer.weight.uniform_(-bound, bound)
                layer.bias.zero_()
    return nn.Sequential(*blocks)


class MLPGenerator(nn.Module):
    """z (B, nz) -> samples (B, *out_shape). No output nonlinearity unless tanh (official MLP_G, issue #29)."""

    def __init__(self, nz: int, hidden: int, layers: int, out_shape: tuple[int, ...], tanh: bool = False,
                 init: str = "torch") -> None:
        super().__init__()
        self.nz, self.out_shape = nz, tuple(out_shape)
        self.net = _mlp(nz, hidden, layers, math.prod(self.out_shape), init)
        self.tanh = tanh

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)  # (B, prod(out_shape))
        if self.tanh:
            x = torch.tanh(x)
        return x.unflatten(-1, self.out_shape)  # any leading batch dimensions (an ensemble's (K, B))


class MLPCritic(nn.Module):
    """samples (B, *in_shape) -> raw scores (B,). Linear layers keep PyTorch's default init (official code)."""

    def __init__(self, hidden: int, layers: int, in_shape: tuple[int, ...], init: str = "torch") -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.net = _mlp(math.prod(self.in_shape), hidden, layers, 1, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(-len(self.in_shape))).squeeze(-1)  # (B,), or (K, B) for an ensemble
