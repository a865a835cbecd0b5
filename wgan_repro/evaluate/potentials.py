"""1-Lipschitz functions of the plane whose reach is known, for G3 (WGAN-GP Figure 1a): how much of W1 a critic
reaches means something only beside what needs no modelling at all and what cannot be beaten.

- The exact Kantorovich potential between two samples: POT's network-simplex duals (u, v) of the exact W1, extended
  to the whole plane by the c-transform f(z) = min_j ||z - y_j|| - v_j, which is 1-Lipschitz (its gradient has norm 1
  almost everywhere) and reaches W1 on the two samples it was solved on.
- The trivial baselines, which ignore every mode: the best radial cone s ||x - c|| (s = +-1, the centre c fitted)
  and the best linear function w . x (w the unit difference of the two means). Both are 1-Lipschitz.

numpy, scipy and POT only, on float64 arrays (n, 2): the study (runs/studies.py, FixedGenerator) and the claim's
known-answer controls (claims/g3.py) compute them with the same code.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import ot
from scipy import optimize
from scipy.spatial.distance import cdist

Function = Callable[[np.ndarray], np.ndarray]  # (n, d) points -> (n,) values
CHUNK = 2048  # points per block of the c-transform's distance matrix (2,048 x 4,000 float64: 66 MB)


def estimate(f: Function, real: np.ndarray, fake: np.ndarray) -> float:
    """E f(real) - E f(fake): what a critic f estimates of W1 (a lower bound when f is 1-Lipschitz)."""
    return float(f(real).mean() - f(fake).mean())


def exact_potential(real: np.ndarray, fake: np.ndarray) -> tuple[float, Function]:
    """The exact W1 between the empirical measures of `real` and `fake` (uniform weights, Euclidean cost: the value
    transport.exact_w1 gives) and its Kantorovich potential, c-transformed from the fake side into a 1-Lipschitz
    function of the plane. The duals satisfy u_i + v_j <= ||x_i - y_j||, so f(x_i) >= u_i and f(y_j) <= -v_j: its
    estimate on the two samples is at least mean(u) + mean(v) = W1."""
    cost = ot.dist(real, fake, metric="euclidean")
    a, b = np.full(len(real), 1.0 / len(real)), np.full(len(fake), 1.0 / len(fake))
    w1, log = ot.emd2(a, b, cost, numItermax=1_000_000, log=True)
    centres, v = np.array(fake, dtype=float), np.asarray(log["v"], dtype=float)

    def potential(z: np.ndarray) -> np.ndarray:
        return np.concatenate([(cdist(z[i:i + CHUNK], centres) - v).min(axis=1) for i in range(0, len(z), CHUNK)])

    return float(w1), potential


def cone(centre: np.ndarray, sign: float) -> Function:
    """sign ||x - centre||: radial, 1-Lipschitz, blind to any direction."""
    return lambda z: sign * np.linalg.norm(z - centre, axis=1)


def best_cone(real: np.ndarray, fake: np.ndarray) -> Function:
    """The radial cone s ||x - c|| with the largest estimate on these samples: both signs, the centre fitted by
    Nelder-Mead from each sample's mean (two parameters: no room to overfit thousands of points)."""
    fits = []
    for sign in (-1.0, 1.0):
        loss = lambda c: -estimate(cone(c, sign), real, fake)  # noqa: E731
        for start in (real.mean(axis=0), fake.mean(axis=0)):
            fit = optimize.minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
            fits.append((-fit.fun, sign, fit.x))
    _, sign, centre = max(fits, key=lambda f: f[0])
    return cone(centre, sign)


def best_linear(real: np.ndarray, fake: np.ndarray) -> Function:
    """The linear function w . x, ||w|| = 1, with the largest estimate on these samples: w along mean(real) -
    mean(fake) (its estimate is the norm of that difference)."""
    gap = real.mean(axis=0) - fake.mean(axis=0)
    norm = float(np.linalg.norm(gap))
    w = gap / norm if norm > 0 else np.eye(real.shape[1])[0]
    return lambda z: z @ w


def trivial_baseline(real: np.ndarray, fake: np.ndarray) -> Function:
    """The better, on these samples, of the best radial cone and the best linear function: what a critic reaches
    without modelling a single mode. Fit it on one pair of samples and evaluate it on another, as a critic is."""
    return max((best_cone(real, fake), best_linear(real, fake)), key=lambda f: estimate(f, real, fake))
