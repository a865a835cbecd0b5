"""Toy evaluation: exact W1 against real samples (and its floor), VEEGAN/PacGAN mode metrics, Figure 2's picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import nn

from wgan_repro.config import ConfigError
from wgan_repro.evaluate import metrics as M
from wgan_repro.evaluate.evaluator import Evaluator
from wgan_repro.evaluate.figures import toy_figure
from wgan_repro.evaluate.modes import mode_metrics
from wgan_repro.evaluate.transport import exact_w1


class ToyEvaluator(Evaluator):
    """Exact W1 (M.W1, and once its floor M.W1_FLOOR: W1 between two independent real samples of the same size),
    mode metrics for mixtures, and the samples-over-KDE figure beside the critic's landscape."""

    def __init__(self, data: Any, nz: int, seed: int, n_samples: int, w1_points: int,
                 hq_threshold: float, figures: bool, prc: bool = True, prc_neighbours: int = 3,
                 dc_neighbours: int = 5) -> None:
        super().__init__(data, nz, seed, prc, prc_neighbours, dc_neighbours)
        if tuple(data.shape) != (2,):
            raise ConfigError(f"eval=toy needs 2-D toy data; data gives samples of shape {tuple(data.shape)} "
                              "(image presets choose eval=images, digits or stacked_digits)")
        self.n_samples, self.w1_points, self.hq_threshold, self.figures = n_samples, w1_points, hq_threshold, figures
        self.w1_floor: float | None = None

    def tags(self) -> dict[str, str]:
        """The measures a report reads: quality (lower is better), its floor, and collapse."""
        return {"quality": M.W1.key, "quality_floor": M.W1_FLOOR.key, "collapse": M.MODES.key}

    def measure(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path, tracker: Any,
                rng: torch.Generator) -> dict[str, float]:
        n = max(self.n_samples, self.w1_points)
        z = torch.randn(self.n_samples, self.nz, device=self.device, generator=rng, dtype=self.data.dtype)
        fake = generator(z)  # (N, 2)
        real = self.data.sample(n, generator=rng)
        metrics = {M.W1.key: exact_w1(fake[: self.w1_points], real[: self.w1_points])}
        if self.w1_floor is None:  # what a perfect generator would score at this sample size
            self.w1_floor = exact_w1(real[: self.w1_points], self.data.sample(self.w1_points, generator=rng))
            metrics[M.W1_FLOOR.key] = self.w1_floor
        if self.data.modes is not None:
            metrics.update(mode_metrics(fake, self.data.modes, self.data.mode_std, self.hq_threshold))
        if self.prc:  # in the data's own plane, against as many real points (a second real sample: the floor)
            real_n = real[: self.n_samples] if len(real) >= self.n_samples else self.data.sample(self.n_samples,
                                                                                                  generator=rng)
            second = self.data.sample(self.n_samples, generator=rng) if "_2d" not in self.prc_floors else None
            metrics.update(self.prdc(fake.detach().cpu(), real_n.cpu(), "_2d", None if second is None else
                                     second.cpu()))
        if self.figures:
            shown = (M.MODES.key, M.HIGH_QUALITY.key, M.KL_MODES.key)
            summary = ", ".join(f"{k.split('/')[1].replace('_', ' ')} {metrics[k]:.3g}" for k in shown if k in metrics)
            title = (f"iteration {gen_iter}: W1 {metrics[M.W1.key]:.3g} (floor {self.w1_floor:.3g} at "
                     f"{self.w1_points} points)" + (f"\n{summary}" if summary else ""))
            fig = toy_figure(fake, real, self.data.modes, critic, title)
            path = out_dir / "figures" / f"samples_{gen_iter:07d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=80)
            plt.close(fig)
            tracker.log_artifact(path, "figures")
        return metrics
