"""Precision, recall, density and coverage: sample quality and mode coverage measured apart, on the features FID
already uses.

- Precision and recall (Kynkäänniemi et al. 2019, k = 3): the share of generated samples inside some real sample's
  k-nearest-neighbour ball, and of real samples inside some generated sample's; torch-fidelity's own
  `calculate_precision_recall_part` (generated features first, as torch-fidelity takes them).
- Density and coverage (Naeem et al. 2020, k = 5): the mean number of real balls a generated sample falls in, over
  k (near 1 for a generator like the data, far below 1 off its support), and the share of real samples whose ball
  holds a generated one. Real outliers inflate the k-NN balls, so precision alone can call noise good; density
  and coverage were designed against that. prdc's own functions compute the same numbers (tested) but hold the
  whole N x N distance matrix; here the distances come in row blocks of at most MEMORY_BOUND bytes, on the
  features' device.

Every value depends on the sample count (StudioGAN reports 10k-50k; the presets use 1k-2k) and on the space; a
floor, two disjoint real halves of the same count, is logged beside them.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import calculate_precision_recall_part

from wgan_repro.evaluate import metrics as M

PR_NEIGHBOURS, DC_NEIGHBOURS = 3, 5  # the papers' k
MEMORY_BOUND = 256 * 2 ** 20  # bytes of one block of pairwise distances (float32)


def block_rows(n_columns: int, bound: int = MEMORY_BOUND) -> int:
    """Rows of a block of distances to n_columns points that fits in `bound` bytes."""
    return max(1, bound // (4 * max(n_columns, 1)))


def radii(x: torch.Tensor, k: int, bound: int = MEMORY_BOUND) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour within x (itself, at 0, is the first)."""
    return torch.cat([torch.cdist(b, x).kthvalue(k + 1, dim=1).values for b in x.split(block_rows(len(x), bound))])


def prdc(fake: torch.Tensor, real: torch.Tensor, pr_k: int = PR_NEIGHBOURS, dc_k: int = DC_NEIGHBOURS,
         bound: int = MEMORY_BOUND) -> dict[str, float]:
    """Precision, recall (k = pr_k) and density, coverage (k = dc_k) of generated features `fake` (M, D) against
    real features `real` (N, D)."""
    fake, real = fake.float(), real.float()
    precision, recall = calculate_precision_recall_part(fake, real, neighborhood=pr_k,
                                                        batch_size=block_rows(max(len(fake), len(real)), bound))
    ball = radii(real, dc_k, bound)  # (N,)
    inside = sum(int((torch.cdist(b, real) < ball).sum()) for b in fake.split(block_rows(len(real), bound)))
    nearest = torch.cat([torch.cdist(b, fake).min(dim=1).values for b in real.split(block_rows(len(fake), bound))])
    return {"precision": float(precision), "recall": float(recall), "density": inside / (dc_k * len(fake)),
            "coverage": float((nearest < ball).float().mean())}


def named(values: dict[str, float], suffix: str = "", floor: bool = False) -> dict[str, float]:
    """Each value under its registered key (M.prdc): the suffix names the space ("" Inception, "_mnist" a
    classifier's, "_2d" a toy's own plane), `floor` the real-against-real floor."""
    return {M.prdc(k, suffix, floor).key: v for k, v in values.items()}
