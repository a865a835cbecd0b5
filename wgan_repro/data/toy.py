"""2-D toy mixtures as in the WGAN-GP toy code (gan_toy.py) and the VEEGAN / PacGAN benchmarks.

Points are drawn on the device at any batch size: mode centre + std * N(0, I), then times `scale`.
`modes` are the scaled centres and `mode_std` the scaled std, which the mode metrics use.
"""

from __future__ import annotations

import math

import torch


class ToyData:
    """A 2-D distribution sampled on the device; `modes` (K, 2) or None when it has no discrete modes."""

    shape = (2,)
    modes: torch.Tensor | None = None
    dtype = torch.float32  # of the samples; `to` changes it (train.precision=fp64)

    def __init__(self, std: float, scale: float, device: torch.device | str = "cpu") -> None:
        self.std, self.scale, self.device = float(std), float(scale), torch.device(device)

    def to(self, dtype: torch.dtype) -> "ToyData":
        """Samples (and mode centres) in `dtype` from now on; the same draws from the random stream."""
        self.dtype = dtype
        if self.modes is not None:
            self.modes = self.modes.to(dtype)
        return self

    @property
    def mode_std(self) -> float:
        """Standard deviation of each mode after scaling."""
        return self.std * self.scale

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points, shape (n, 2), on the device; drawn from `generator` when given (evaluation), else from the
        global stream (training)."""
        assert self.modes is not None
        idx = torch.randint(len(self.modes), (n,), device=self.device, generator=generator)
        noise = torch.randn(n, 2, device=self.device, generator=generator, dtype=self.dtype)
        return self.modes[idx] + self.mode_std * noise


class Ring(ToyData):
    """n_modes Gaussians evenly spaced on a circle (8 Gaussians: radius 2, std 0.02, scale 1/1.414)."""

    def __init__(self, n_modes: int, radius: float, std: float, scale: float, device: torch.device | str = "cpu"):
        super().__init__(std, scale, device)
        angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float32) / n_modes
        centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (K, 2)
        self.modes = (centres * self.scale).to(self.device)


class Grid(ToyData):
    """side x side Gaussians on a square grid centred at 0 (25 Gaussians: {-4..4 step 2}^2, std 0.05)."""

    def __init__(self, side: int, spacing: float, std: float, scale: float, device: torch.device | str = "cpu"):
        super().__init__(std, scale, device)
        axis = spacing * (torch.arange(side, dtype=torch.float32) - (side - 1) / 2)
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        centres = torch.stack([gx.flatten(), gy.flatten()], dim=1)  # (side^2, 2)
        self.modes = (centres * self.scale).to(self.device)


class SwissRoll(ToyData):
    """sklearn make_swiss_roll(noise=std)[:, [0, 2]] * scale, drawn on the device. No discrete modes."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, device=self.device, generator=generator, dtype=self.dtype))
        x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)  # sklearn's make_swiss_roll
        noise = torch.randn(n, 2, device=self.device, generator=generator, dtype=self.dtype)
        return (x + self.std * noise) * self.scale
