"""Evaluation (quality metrics and figures) run every eval.every generator iterations.

Toy data: exact W1 (transport.py) and, for mixtures with modes, the VEEGAN/PacGAN mode metrics
(modes.py), plus the Figure 2 picture (figures.py).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from omegaconf import DictConfig
from torch import nn

from wgan_repro.evaluate.figures import toy_figure
from wgan_repro.evaluate.modes import mode_metrics
from wgan_repro.evaluate.transport import exact_w1


class ToyEvaluator:
    """Mode metrics, exact W1 and the Figure 2 picture for 2-D toy data."""

    def __init__(self, data, cfg: DictConfig, nz: int) -> None:
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


def build_evaluator(data, cfg: DictConfig, nz: int) -> ToyEvaluator:
    """The evaluator that fits the data source."""
    return ToyEvaluator(data, cfg, nz)
