"""Image evaluation: sample grids, FID/KID (Inception, offline), and a domain classifier's measures.

Grids: 64 samples from a fixed noise batch, 8 per row, de-normalised (x * 0.5 + 0.5), as a PNG per
evaluation and as MLflow's time-stepped image. As in the official code the networks stay in training mode.

A domain classifier (`eval.classifier`: digits, mnist) gives, from one pass over one batch of generated samples
(keys: metrics.py):
- its FID (`M.classifier_fid`): Fréchet distance in its penultimate features against `classifier_samples` real
  images, and once per run its floor, the same distance between two disjoint real halves of that size (what a
  perfect generator would score at this count), when the data holds twice that many;
- classes covered and their KL (M.CLASSES, M.KL_CLASSES): the predicted-class histogram (collapse on one-digit data);
- modes covered and their KL (M.MODES, M.KL_MODES): the 1,000 digit triples of stacked data (VEEGAN, PacGAN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from wgan_repro.config import ConfigError
from wgan_repro.evaluate import fid as F
from wgan_repro.evaluate import metrics as M
from wgan_repro.evaluate.digits import LOGITS, class_metrics, stacked_mode_metrics
from wgan_repro.evaluate.evaluator import Evaluator, untouched

CLASSIFIER_DATA = {"digits": ("digits", "stacked_digits"), "mnist": ("mnist_5k", "stacked_mnist_5k")}


class ImageEvaluator(Evaluator):
    """Grids; FID, KID and its spread (M.FID, M.KID, M.KID_STD) when `fid`; the classifier's measures (module
    docstring)."""

    n_grid, nrow = 64, 8

    def __init__(self, data: Any, nz: int, seed: int, fid: bool, fid_every: Optional[int],
                 fid_samples: Optional[int],
                 fid_real_samples: Optional[int], kid_subset_size: int, classifier: Optional[str],
                 classifier_fid: bool, classifier_samples: int, classes: bool, stacked_modes: bool, n_samples: int,
                 batch_size: int, fid_batch_size: int, prc: bool = True, prc_neighbours: int = 3,
                 dc_neighbours: int = 5) -> None:
        super().__init__(data, nz, seed, prc, prc_neighbours, dc_neighbours)
        if len(data.shape) != 3:
            raise ConfigError(f"eval=images needs image data; data gives samples of shape {tuple(data.shape)} "
                              "(toy presets choose eval=toy)")
        self.batch_size, self.kid_subset_size, self.n_samples = batch_size, kid_subset_size, n_samples
        self.fid_every, self.fid_batch_size = fid_every, fid_batch_size
        self.grid_z = torch.randn(self.n_grid, nz, generator=torch.Generator().manual_seed(20170126)).to(self.device)
        default_n = 10_000 if self.device.type == "cuda" else 2_000
        self.spaces: dict[str, tuple[F.Space, F.Protocol]] = {}
        if fid:
            n = fid_samples or default_n
            self._add("fid", F.Space.inception(), n, fid_real_samples or n)
        self.classifier, self.classes, self.stacked_modes = classifier, classes, stacked_modes
        self.classifier_fid, self.classifier_samples = classifier_fid, classifier_samples
        self.classifier_space = self._classifier_space(data) if classifier_fid or classes or stacked_modes else None
        if classifier_fid:
            self._add(f"fid_{classifier}", self.classifier_space, classifier_samples, classifier_samples)
        self.logged_real, self.floor_logged = False, False

    def _classifier_space(self, data: Any) -> F.Space:
        """The classifier's features: 128-d of one channel, or 384-d of three (stacked data)."""
        allowed = CLASSIFIER_DATA.get(self.classifier or "")
        if allowed is None:
            raise ConfigError(f"eval.classifier must be one of {', '.join(CLASSIFIER_DATA)} when eval.classifier_fid, "
                              f"eval.classes or eval.stacked_modes is on, got {self.classifier}")
        if not data.cache_key.startswith(allowed):
            raise ConfigError(f"eval.classifier={self.classifier} scores {' or '.join(allowed)} data, got data "
                              f"{data.cache_key}")
        stacked = data.shape[0] == 3
        if self.stacked_modes and not stacked:
            raise ConfigError(f"eval.stacked_modes=true needs stacked data (three digits as channels), got "
                              f"{data.cache_key}")
        return F.Space.classifier(self.classifier, "384" if stacked else "128")

    def _add(self, name: str, space: F.Space, n_gen: int, n_real: int) -> None:
        n_real = min(n_real, len(self.data)) if hasattr(self.data, "__len__") else n_real
        protocol = F.Protocol(space.extractor, space.layer, space.weights_sha256, n_gen, n_real, self.data.split,
                              min(self.kid_subset_size, n_gen, n_real))
        self.spaces[name] = (space, protocol)

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (_, protocol) in self.spaces.items():
            out.update(protocol.params(name))
        if self.classes or self.stacked_modes:
            out["classes.samples"] = str(self.n_samples)
        return out

    def tags(self) -> dict[str, str]:
        """Protocols, and the measures a report should read: `quality` (lower is better), its `quality_floor`,
        and `collapse` (a classifier's histogram), so that reports need no per-data special cases."""
        tags = {f"{name}_protocol": protocol.tag() for name, (_, protocol) in self.spaces.items()}
        if self.classifier_fid:
            tags.update(quality=M.classifier_fid(self.classifier).key,
                        quality_floor=M.classifier_fid(self.classifier, floor=True).key)
        elif "fid" in self.spaces:
            tags["quality"] = M.FID.key
        if self.stacked_modes or self.classes:
            tags["collapse"] = M.MODES.key if self.stacked_modes else M.CLASSES.key
        return tags

    # ----------------------------------------------------------------------- metrics
    def batch(self, space: F.Space) -> int:
        return self.fid_batch_size if space.extractor == F.inception.INCEPTION else self.batch_size

    def real_features(self, space: F.Space, protocol: F.Protocol, halves: int = 1) -> dict[str, torch.Tensor]:
        """Features of `halves` x real_samples real images drawn without replacement when the data holds them,
        computed once per (data, split, size, count, seed, extractor, weights) and cached."""
        n = protocol.real_samples * halves
        key = f"{self.data.cache_key}-n{n}-s{self.seed}"

        def compute() -> dict[str, torch.Tensor]:
            real = self.data.sample(n, generator=self.rng())
            return F.features(space, (F.to_uint8_rgb(b) for b in real.split(self.batch(space))), self.device)

        return F.cached_features(space, key, compute)

    def inception_metrics(self, generator: nn.Module, rng: torch.Generator) -> dict[str, float]:
        space, protocol = self.spaces["fid"]
        real = self.real_features(space, protocol)[space.layer]
        gen = F.features(space, F.generated_batches(generator, protocol.gen_samples, self.nz, self.fid_batch_size, rng,
                                                    self.device), self.device)[space.layer]
        d = F.distances(gen, real, protocol.kid_subset_size)
        out = {M.FID.key: d["fid"], M.KID.key: d["kid_mean"], M.KID_STD.key: d["kid_std"]}
        if self.prc:  # the floor once: a second real half, when the data holds one (its features cached too)
            n = protocol.real_samples
            two = hasattr(self.data, "__len__") and len(self.data) >= 2 * n and "" not in self.prc_floors
            halves = self.real_features(space, protocol, halves=2)[space.layer] if two else None
            out.update(self.prdc(gen, real, "", None if halves is None else halves[n:]))
        return out

    def classifier_metrics(self, generator: nn.Module, rng: torch.Generator) -> dict[str, float]:
        """Every classifier measure from one batch of generated samples (FID on its first classifier_samples)."""
        space = self.classifier_space
        counted = self.classes or self.stacked_modes
        n = max(self.classifier_samples if self.classifier_fid else 0, self.n_samples if counted else 0)
        gen = F.features(space, F.generated_batches(generator, n, self.nz, self.batch_size, rng, self.device),
                         self.device)
        metrics: dict[str, float] = {}
        if self.classifier_fid:
            metrics.update(self.classifier_fid_metrics(gen[space.layer][: self.classifier_samples]))
        logits = gen[LOGITS[space.layer]][: self.n_samples]
        if self.classes:
            metrics.update(class_metrics(logits))
        if self.stacked_modes:
            metrics.update(stacked_mode_metrics(logits))
        return metrics

    def classifier_fid_metrics(self, gen: torch.Tensor) -> dict[str, float]:
        """The classifier's FID (M.classifier_fid) against real half A; once per run, when the data holds two
        halves, its floor = FID(half A, half B) at the same count."""
        name = f"fid_{self.classifier}"
        space, protocol = self.spaces[name]
        n = protocol.real_samples
        two = not hasattr(self.data, "__len__") or len(self.data) >= 2 * n  # stacked data: independent triples
        real = self.real_features(space, protocol, halves=2 if two else 1)[space.layer]
        quality, floor = M.classifier_fid(self.classifier), M.classifier_fid(self.classifier, floor=True)
        metrics = {quality.key: F.distances(gen, real[:n], protocol.kid_subset_size)["fid"]}
        if two and not self.floor_logged:
            metrics[floor.key] = F.distances(real[n:], real[:n], protocol.kid_subset_size)["fid"]
            self.floor_logged = True
        metrics.update(self.prdc(gen, real[:n], f"_{self.classifier}", real[n:] if two else None))
        return metrics

    def compute(self, generator: nn.Module, rng: torch.Generator, gen_iter: int | None = None) -> dict[str, float]:
        """Every configured metric of `generator` (no figures); Inception FID only at multiples of eval.fid_every
        (always when gen_iter is None)."""
        metrics: dict[str, float] = {}
        due = self.fid_every is None or gen_iter is None or gen_iter % self.fid_every == 0
        if "fid" in self.spaces and due:
            metrics.update(self.inception_metrics(generator, rng))
        if self.classifier_space is not None:
            metrics.update(self.classifier_metrics(generator, rng))
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
        return self.compute(generator, rng, gen_iter)

    @torch.no_grad()
    def finish(self, generator: nn.Module, out_dir: Path, tracker: Any) -> None:
        """The final grid, under a fixed name."""
        with untouched(generator):
            self._log(self._grid(generator(self.grid_z)), "samples_final", out_dir, tracker)
