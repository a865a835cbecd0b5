"""Exact Wasserstein-1 between two point clouds through POT's network-simplex solver (ot.emd2)."""

from __future__ import annotations

import numpy as np
import ot
import torch


def exact_w1(x: torch.Tensor, y: torch.Tensor) -> float:
    """W1 between the empirical measures of x (N, d) and y (M, d), uniform weights, Euclidean ground cost."""
    xs = x.detach().reshape(len(x), -1).double().cpu().numpy()
    ys = y.detach().reshape(len(y), -1).double().cpu().numpy()
    cost = ot.dist(xs, ys, metric="euclidean")  # (N, M)
    a = np.full(len(xs), 1.0 / len(xs))
    b = np.full(len(ys), 1.0 / len(ys))
    return float(ot.emd2(a, b, cost, numItermax=1_000_000))
