"""Image evaluation: sample grids, FID/KID (Inception, offline), digit FID and 1,000-mode coverage.

Grids: 64 samples from a fixed noise batch, 8 per row, de-normalised (x * 0.5 + 0.5), as a PNG per
evaluation and as MLflow's time-stepped image. As in the official code the networks stay in training mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from wgan_repro.config import ConfigError
from wgan_repro.evaluate import Evaluator, untouched
from wgan_repro.evaluate import fid as F
from wgan_repro.evaluate.digits import stacked_mode_metrics


class ImageEvaluator(Evaluator):
    """Grids; eval/fid, eval/kid, eval/kid_std when `fid`; eval/fid_digits when `digit_fid`; eval/modes and
    eval/kl_modes over `n_samples` when `stacked_modes` (stacked digits)."""

    n_grid, nrow = 64, 8

    def __init__(self, data: Any, nz: int, seed: int, every: int, fid: bool, fid_samples: Optional[int],
                 fid_real_samples: Optional[int], kid_subset_size: int, digit_fid: bool, digit_samples: int,
                 stacked_modes: bool, n_samples: int, batch_size: int) -> None:
        super().__init__(data, nz, seed, every)
        if len(data.shape) != 3:
            raise ConfigError(f"eval=images needs image data; data gives samples of shape {tuple(data.shape)} "
                              "(toy presets choose eval=toy)")
        if (digit_fid or stacked_modes) and not data.cache_key.startswith(("digits", "stacked_digits")):
            raise ConfigError(f"eval.digit_fid / eval.stacked_modes need digit data (data=digits or stacked_digits), "
                              f"got data {data.cache_key}")
        self.batch_size, self.kid_subset_size, self.n_samples = batch_size, kid_subset_size, n_samples
        self.grid_z = torch.randn(self.n_grid, nz, generator=torch.Generator().manual_seed(20170126)).to(self.device)
        default_n = 10_000 if self.device.type == "cuda" else 2_000
        self.spaces: dict[str, tuple[F.Space, F.Protocol]] = {}
        if fid:
            n = fid_samples or default_n
            self._add("fid", F.Space.inception(), n, fid_real_samples or n)
        if digit_fid:
            layer = "384" if data.shape[0] == 3 else "128"
            self._add("fid_digits", F.Space.digits(layer), digit_samples, fid_real_samples or digit_samples)
        self.modes_space = F.Space.digits("384") if stacked_modes else None  # built once, not per evaluation
        self.logged_real = False

    def _add(self, name: str, space: F.Space, n_gen: int, n_real: int) -> None:
        n_real = min(n_real, len(self.data)) if hasattr(self.data, "__len__") else n_real
        protocol = F.Protocol(space.extractor, space.layer, space.weights_sha256, n_gen, n_real, self.data.split,
                              min(self.kid_subset_size, n_gen, n_real))
        self.spaces[name] = (space, protocol)

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (_, protocol) in self.spaces.items():
            out.update(protocol.params(name))
        return out

    def tags(self) -> dict[str, str]:
        return {f"{name}_protocol": protocol.tag() for name, (_, protocol) in self.spaces.items()}

    # ----------------------------------------------------------------------- metrics
    def real_features(self, space: F.Space, protocol: F.Protocol) -> dict[str, torch.Tensor]:
        """Real features, computed once per (data, split, size, count, seed, extractor, weights) and cached."""
        key = f"{self.data.cache_key}-n{protocol.real_samples}-s{self.seed}"

        def compute() -> dict[str, torch.Tensor]:
            real = self.data.sample(protocol.real_samples, generator=self.rng())
            return F.features(space, (F.to_uint8_rgb(b) for b in real.split(self.batch_size)), self.device)

        return F.cached_features(space, key, compute)

    def metrics_in(self, name: str, generator: nn.Module, rng: torch.Generator) -> dict[str, float]:
        space, protocol = self.spaces[name]
        real = self.real_features(space, protocol)[space.layer]
        gen = F.features(space, F.generated_batches(generator, protocol.gen_samples, self.nz, self.batch_size, rng,
                                                    self.device), self.device)[space.layer]
        d = F.distances(gen, real, protocol.kid_subset_size)
        if name == "fid":
            return {"eval/fid": d["fid"], "eval/kid": d["kid_mean"], "eval/kid_std": d["kid_std"]}
        return {f"eval/{name}": d["fid"]}

    def mode_metrics(self, generator: nn.Module, rng: torch.Generator) -> dict[str, float]:
        batches = F.generated_batches(generator, self.n_samples, self.nz, self.batch_size, rng, self.device)
        return stacked_mode_metrics(F.features(self.modes_space, batches, self.device)["logits3"])

    def compute(self, generator: nn.Module, rng: torch.Generator) -> dict[str, float]:
        """Every configured metric of `generator` (no figures); re-evaluation calls this directly."""
        metrics: dict[str, float] = {}
        for name in self.spaces:
            metrics.update(self.metrics_in(name, generator, rng))
        if self.modes_space is not None:
            metrics.update(self.mode_metrics(generator, rng))
        return metrics

    # ----------------------------------------------------------------------- grids
    def _grid(self, images: torch.Tensor) -> torch.Tensor:
        return make_grid(images.float().cpu() * 0.5 + 0.5, nrow=self.nrow, padding=2).clamp(0, 1)  # (C, H, W)

    def _log(self, grid: torch.Tensor, name: str, out_dir: Path, tracker: Any) -> Path:
        path = out_dir / "samples" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        tracker.log_artifact(path, "samples")
        return path

    def measure(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path, tracker: Any,
                rng: torch.Generator) -> dict[str, float]:
        if not self.logged_real:
            self._log(self._grid(self.data.sample(self.n_grid, generator=rng)), "real", out_dir, tracker)
            self.logged_real = True
        grid = self._grid(generator(self.grid_z))  # networks stay in train mode, as the official code
        self._log(grid, f"samples_{gen_iter:07d}", out_dir, tracker)
        tracker.log_image((grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8"), "samples", gen_iter)
        return self.compute(generator, rng)

    @torch.no_grad()
    def finish(self, generator: nn.Module, out_dir: Path, tracker: Any) -> None:
        """The final grid, under a fixed name."""
        with untouched(generator):
            self._log(self._grid(generator(self.grid_z)), "samples_final", out_dir, tracker)
