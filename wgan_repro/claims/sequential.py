"""Group-sequential boundaries: the critical value of each look of a claim that runs its seeds in rounds, so that the
chance of a false word over all looks stays at the claim's level (Jennison and Turnbull, "Group Sequential Methods
with Applications to Clinical Trials", 2000: J&T below).

A design is symmetric and two-sided: at look k the standardised statistic Z_k (canonical joint distribution:
Z_k ~ N(theta sqrt(I_k), 1), Cov(Z_j, Z_k) = sqrt(I_j / I_k)) crosses when |Z_k| >= c_k. The claims decide on
intervals, two-sided at 1 - 2 alpha, so a sequential claim uses the two-sided design at level 2 alpha and the
repeated confidence intervals it gives (J&T ch. 9): at look k each end of the interval is a one-sided bound at the
nominal level 1 - Phi(c_k), and the intervals cover the truth at every look at once with probability 1 - 2 alpha, so
either word ("reproduced" past the threshold, "not reproduced" on the other side or inside the smallest effect of
interest) may stop the claim at any look, under any stopping rule. Small samples use that nominal level in their own
test (a t quantile at that level, an exact test's p-value against it: J&T sec. 3.8's significance-level approach).

Boundaries come from alpha spending (Lan and DeMets 1983: `LanDeMets`, O'Brien-Fleming-type by default, which
barely spends at early looks; Pocock-type) or from the Wang-Tsiatis family of the classical designs
(O'Brien-Fleming 1979, Pocock 1977: `classical`). The probabilities are integrated numerically on gsDesign's grid
(the `gsdesign` package: Simpson's rule on J&T ch. 19's recursion), and tests check them against J&T's tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from gsdesign import h1, hupdate
from scipy import optimize, stats

from wgan_repro.claims import SPENDINGS

GRID = 32  # gsDesign's r (its default 18 gives J&T's tables to 3 decimals; 32 to 5)
WIDE = 12.0  # a critical value beyond which crossing has probability below 1e-32: an infinite boundary's stand-in


def crossing(bounds: Sequence[float], info: Sequence[float], theta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """P(the first crossing is at look k, above +c_k) and (below -c_k), k = 1..K, for the symmetric design with critical
    values `bounds` at information `info`, drift theta (0: no effect)."""
    upper, lower = np.zeros(len(bounds)), np.zeros(len(bounds))
    grid = None
    bounds = [min(c, WIDE) for c in bounds]  # a look that cannot stop (nothing spent): no crossing, the grid carried on
    for k, (c, i) in enumerate(zip(bounds, info)):
        if k == 0:
            up, low, grid = (h1(GRID, theta, i, a=c, b=math.inf), h1(GRID, theta, i, a=-math.inf, b=-c),
                             h1(GRID, theta, i, a=-c, b=c))
        else:
            prev = info[k - 1]
            up = hupdate(GRID, theta, i, c, math.inf, theta, prev, grid)
            low = hupdate(GRID, theta, i, -math.inf, -c, theta, prev, grid)
            grid = hupdate(GRID, theta, i, -c, c, theta, prev, grid)
        upper[k], lower[k] = float(up[2].sum()), float(low[2].sum())
    return upper, lower


def classical(fractions: Sequence[float], level: float, delta: float) -> list[float]:
    """The Wang-Tsiatis design c_k = C t_k^(delta - 1/2) of two-sided `level` at information fractions t_k:
    delta 0 is O'Brien and Fleming's, delta 0.5 Pocock's."""
    t = np.asarray(fractions, dtype=float)

    def excess(big_c: float) -> float:
        bounds = big_c * t ** (delta - 0.5)
        up, low = crossing(bounds, t)
        return float(up.sum() + low.sum()) - level

    big_c = optimize.brentq(excess, 0.5, 10.0, xtol=1e-10)
    return [float(c) for c in big_c * t ** (delta - 0.5)]


@dataclass(frozen=True)
class Spending:
    """A Lan-DeMets alpha-spending function: the two-sided level spent by information fraction t."""

    name: str
    spend: Callable[[float, float], float]  # (t, level) -> cumulative level spent

    def __call__(self, t: float, level: float) -> float:
        return self.spend(min(max(t, 0.0), 1.0), level)


SPENDING = {
    # O'Brien-Fleming-type: 2 - 2 Phi(z_{1 - level/2} / sqrt(t)); spends almost nothing at early looks
    "obrien_fleming": Spending("O'Brien-Fleming-type (Lan-DeMets)", lambda t, a: 0.0 if t <= 0 else float(
        2 * stats.norm.sf(stats.norm.isf(a / 2) / math.sqrt(t)))),
    # Pocock-type: level log(1 + (e - 1) t); spends evenly
    "pocock": Spending("Pocock-type (Lan-DeMets)", lambda t, a: float(a * math.log(1 + (math.e - 1) * t))),
}


assert tuple(SPENDING) == SPENDINGS  # the names a claim file may give (checked when it loads, without scipy)


def spending_bounds(fractions: Sequence[float], level: float, spending: str = "obrien_fleming") -> list[float]:
    """Critical values c_k of the symmetric two-sided design that spends `spending`'s level by each look (each c_k
    solved in turn given the looks before it: the looks need not be equally spaced or planned in full)."""
    spend = SPENDING[spending]
    bounds: list[float] = []
    spent = 0.0
    for k, t in enumerate(fractions):
        target = spend(t, level) - spent
        if target <= 1e-15:  # nothing to spend at this look: it cannot stop (an infinite boundary)
            bounds.append(math.inf)
            continue

        def excess(c: float) -> float:
            up, low = crossing([*bounds, c], fractions[:k + 1])
            return float(up[k] + low[k]) - target

        bounds.append(float(optimize.brentq(excess, 0.01, 40.0, xtol=1e-10)))
        spent = spend(t, level)
    return bounds


def nominal_levels(bounds: Sequence[float]) -> list[float]:
    """Each look's nominal one-sided level 1 - Phi(c_k): the level each end of its repeated confidence interval, or an
    exact test's p-value, is judged at."""
    return [float(stats.norm.sf(c)) for c in bounds]
