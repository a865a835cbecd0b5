"""Evaluation (quality metrics and figures) run every eval.every generator iterations, and once at the end.

Toy data: exact W1 (transport.py) and, for mixtures with modes, the VEEGAN/PacGAN mode metrics
(modes.py), plus the Figure 2 picture (figures.py). Images: a grid of 64 samples from a fixed noise
batch, 8 per row, logged as a PNG artifact per iteration and as MLflow's time-stepped image.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from omegaconf import DictConfig
from torch import nn
from torchvision.utils import make_grid, save_image

from wgan_repro.data.toy import ToyData
from wgan_repro.evaluate.figures import toy_figure
from wgan_repro.evaluate.modes import mode_metrics
from wgan_repro.evaluate.transport import exact_w1


class ToyEvaluator:
    """Mode metrics, exact W1 and the Figure 2 picture for 2-D toy data."""

    def __init__(self, data: ToyData, cfg: DictConfig, nz: int) -> None:
        self.data, self.cfg, self.nz = data, cfg, nz

    @torch.no_grad()
    def __call__(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path,
                 tracker) -> dict[str, float]:
        device = self.data.device
        fake = generator(torch.randn(self.cfg.n_samples, self.nz, device=device))  # (N, 2)
        real = self.data.sample(max(self.cfg.n_samples, self.cfg.w1_points))
        metrics = {"eval/w1": exact_w1(fake[: self.cfg.w1_points], real[: self.cfg.w1_points])}
        if self.data.modes is not None:
            metrics.update(mode_metrics(fake, self.data.modes, self.data.mode_std, self.cfg.hq_threshold))
        if self.cfg.figures:
            summary = ", ".join(f"{k.split('/')[1]} {v:.3g}" for k, v in metrics.items())
            fig = toy_figure(fake, real, self.data.modes, critic, f"iter {gen_iter}: {summary}")
            path = out_dir / "figures" / f"samples_{gen_iter:07d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=80)
            plt.close(fig)
            tracker.log_artifact(path, "figures")
        return metrics

    def finish(self, generator: nn.Module, out_dir: Path, tracker) -> None:
        """Nothing beyond the last evaluation's figure."""


class ImageEvaluator:
    """Sample grids: 64 samples from a fixed noise batch, 8 per row, de-normalised (x * 0.5 + 0.5)."""

    n_grid, nrow = 64, 8

    def __init__(self, data, cfg: DictConfig, nz: int) -> None:
        self.data, self.cfg = data, cfg
        seeded = torch.Generator().manual_seed(20170126)  # fixed latents, not drawn from the run's RNG stream
        self.z = torch.randn(self.n_grid, nz, generator=seeded).to(data.device)
        self.logged_real = False

    def _grid(self, images: torch.Tensor) -> torch.Tensor:
        return make_grid(images.float().cpu() * 0.5 + 0.5, nrow=self.nrow, padding=2).clamp(0, 1)  # (C, H, W)

    def _log(self, grid: torch.Tensor, name: str, out_dir: Path, tracker) -> Path:
        path = out_dir / "samples" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        tracker.log_artifact(path, "samples")
        return path

    @torch.no_grad()
    def __call__(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path,
                 tracker) -> dict[str, float]:
        if not self.logged_real:
            self._log(self._grid(self.data.sample(self.n_grid)), "real", out_dir, tracker)
            self.logged_real = True
        grid = self._grid(generator(self.z))  # networks stay in train mode, as the official code
        self._log(grid, f"samples_{gen_iter:07d}", out_dir, tracker)
        tracker.log_image((grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8"), "samples", gen_iter)
        return {}

    @torch.no_grad()
    def finish(self, generator: nn.Module, out_dir: Path, tracker) -> None:
        """The final grid, under a fixed name."""
        self._log(self._grid(generator(self.z)), "samples_final", out_dir, tracker)


def build_evaluator(data, cfg: DictConfig, nz: int) -> ToyEvaluator | ImageEvaluator:
    """The evaluator that fits the data source."""
    return ToyEvaluator(data, cfg, nz) if isinstance(data, ToyData) else ImageEvaluator(data, cfg, nz)
