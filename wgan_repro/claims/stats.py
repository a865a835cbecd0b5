"""The house's statistics (docs/claims.md) as functions of plain numbers, so that every claim is judged
the same way and every function is tested on literals.

- A cell that pools fewer than MIN_INTERVAL_RUNS runs shows the per-run values, no interval; from that many on, a
  mean with a Student t 95% interval on the measure's scale (log for W1, FID and ratios; logit for shares and mode
  fractions; Fisher's z for correlations), back-transformed, so that a bounded measure's interval stays in range.
- Decisions are made on intervals (`SubTest`, `decide`): a one-sample or paired t interval, Welch's interval of a
  difference of means, or an exact signed-rank (Hodges-Lehmann) interval, each two-sided at 1 - 2 alpha (so each end
  is a one-sided bound at alpha), on the analysis scale.
- Small-sample tests from scipy.stats: sign test (binomtest), exact permutation test of a difference of means,
  Fisher's exact test for counts, Spearman with a permutation p-value across runs; Wilson and Clopper-Pearson
  intervals for shares of runs.
- Correlations over training only with at least MIN_CURVE_POINTS evaluation points, also on first differences so
  that two series that merely trend with time cannot produce it.
- Instability events relative to the run: quality worse than `factor` times its running best for `persist`
  evaluations in a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

MIN_INTERVAL_RUNS = 5
MIN_CURVE_POINTS = 20
PERMUTATIONS = 9999  # resamples when an exact permutation test has too many arrangements
SEED = 0


def finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)


# --------------------------------------------------------------------------- scales
def geometric_mean(values: Sequence[float] | np.ndarray) -> float:
    """scipy's gmean; NaN for no values (an arm without runs)."""
    return float(stats.gmean(np.asarray(values, dtype=float))) if len(values) else math.nan


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


SCALES = {  # name: (to the analysis scale, back), for measures that are roughly symmetric on it
    "identity": (lambda x: x, lambda y: y),
    "log": (np.log, np.exp),  # W1, FID, ratios (> 0)
    "log1p": (np.log1p, np.expm1),  # counts and other measures >= 0 that can be 0 (rotations, KL, instability)
    "logit": (_logit, lambda y: 1 / (1 + np.exp(-y))),  # shares and fractions in (0, 1)
    "fisher_z": (lambda r: np.arctanh(np.clip(r, -0.999999, 0.999999)), np.tanh),  # correlations in (-1, 1)
}


def to_scale(values: Sequence[float] | np.ndarray, scale: str, bounds: tuple[float, float] | None = None,
             pad: float = 0.0) -> np.ndarray:
    """Values on the analysis scale. A measure bounded by (lo, hi) on the logit scale is first mapped to (0, 1) and
    kept `pad` away from the ends (a mode count of 0 of 8 needs it: logit(0) is -inf)."""
    x = np.asarray(values, dtype=float)
    if scale == "logit":
        lo, hi = bounds or (0.0, 1.0)
        x = np.clip((x - lo) / (hi - lo), pad, 1 - pad)
    return SCALES[scale][0](x)


def from_scale(y: float, scale: str, bounds: tuple[float, float] | None = None) -> float:
    value = float(SCALES[scale][1](y))
    if scale == "logit" and bounds is not None:
        value = bounds[0] + value * (bounds[1] - bounds[0])
    return value


@dataclass(frozen=True)
class Summary:
    """Per-run values and, from MIN_INTERVAL_RUNS runs on, a mean with a Student t 95% interval computed on `scale`
    and back-transformed (the mean shown is the back-transformed mean of the transformed values: a geometric mean on
    the log scale)."""

    n: int
    mean: float
    lo: float  # NaN below MIN_INTERVAL_RUNS
    hi: float
    values: tuple[float, ...]
    scale: str = "identity"

    def text(self, digits: int = 3) -> str:
        f = lambda v: f"{v:.{digits}g}"  # noqa: E731
        if self.n == 0:
            return "—"
        if self.n < MIN_INTERVAL_RUNS and self.scale != "share":
            return ", ".join(f(v) for v in self.values)
        if self.scale == "share":
            return f"{round(self.mean * self.n)}/{self.n} [{f(self.lo)}, {f(self.hi)}] (Clopper-Pearson 95%)"
        where = "" if self.scale == "identity" else f", {self.scale.replace('_', ' ')} scale"
        return f"{f(self.mean)} [{f(self.lo)}, {f(self.hi)}] (t 95%{where}, n={self.n})"


def summarise(values: Sequence[float], scale: str = "identity", bounds: tuple[float, float] | None = None,
              pad: float = 0.0) -> Summary:
    """The cell of a table: per-run values, and from MIN_INTERVAL_RUNS runs a t 95% interval on `scale`."""
    x = finite(values)
    if len(x) == 0:
        return Summary(0, math.nan, math.nan, math.nan, (), scale)
    raw = tuple(float(v) for v in x)
    if scale == "share":  # a share of runs (0/1 per run): the exact Clopper-Pearson interval, from any n
        lo, hi = clopper_pearson(int((x > 0.5).sum()), len(x))
        return Summary(len(x), float((x > 0.5).mean()), lo, hi, raw, scale)
    if scale == "log" and (x <= 0).any():
        scale = "identity"  # a log interval needs positive values
    y = to_scale(x, scale, bounds, pad)
    mean = from_scale(float(y.mean()), scale, bounds)
    if len(x) < MIN_INTERVAL_RUNS:
        return Summary(len(x), mean, math.nan, math.nan, raw, scale)
    half = float(stats.t.ppf(0.975, len(x) - 1) * y.std(ddof=1) / math.sqrt(len(x)))
    return Summary(len(x), mean, from_scale(y.mean() - half, scale, bounds), from_scale(y.mean() + half, scale, bounds),
                   raw, scale)


def wilson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a share of runs (statsmodels' proportion_confint)."""
    from statsmodels.stats.proportion import (
        proportion_confint,  # statsmodels (about 0.7 s to import) only for the intervals of shares of runs
    )

    return tuple(float(v) for v in proportion_confint(hits, n, alpha=1 - level, method="wilson"))  # type: ignore


def clopper_pearson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a share of runs: all of 5 passing bounds it only above 0.55 at 90%."""
    from statsmodels.stats.proportion import (
        proportion_confint,  # statsmodels (about 0.7 s to import) only for the intervals of shares of runs
    )

    return tuple(float(v) for v in proportion_confint(hits, n, alpha=1 - level, method="beta"))  # type: ignore


def sd_upper(sd: float, n: int, level: float = 0.8) -> float:
    """The `level` upper confidence limit of a standard deviation estimated from n values (chi-square): what a power
    analysis should assume, since SDs from few seeds are very uncertain."""
    if n < 2 or not np.isfinite(sd):
        return math.nan
    return float(sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - level, n - 1)))


def sd_interval(sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The chi-square interval of a standard deviation from n values."""
    if n < 2 or not np.isfinite(sd):
        return math.nan, math.nan
    a = (1 - level) / 2
    return (float(sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - a, n - 1))),
            float(sd * math.sqrt((n - 1) / stats.chi2.ppf(a, n - 1))))


# --------------------------------------------------------------------------- tests across runs
def sign_test(differences: Sequence[float], alternative: str = "greater") -> tuple[int, int, float]:
    """(positives, non-zero count, p) of the sign test on paired differences (zeros dropped), scipy's binomtest."""
    d = finite(differences)
    d = d[d != 0]
    if len(d) == 0:
        return 0, 0, 1.0
    positives = int((d > 0).sum())
    return positives, len(d), float(stats.binomtest(positives, len(d), 0.5, alternative=alternative).pvalue)


def permutation_diff(a: Sequence[float], b: Sequence[float], alternative: str = "greater") -> tuple[float, float]:
    """(mean(a) - mean(b), p) of the permutation test on the difference of means; exact when the arrangements are
    few enough (scipy.stats.permutation_test, independent samples)."""
    x, y = finite(a), finite(b)
    if len(x) == 0 or len(y) == 0:
        return math.nan, math.nan
    if len(x) < 2 or len(y) < 2:  # no permutation distribution to speak of
        return float(x.mean() - y.mean()), math.nan
    res = stats.permutation_test((x, y), lambda u, v, axis: u.mean(axis) - v.mean(axis), vectorized=True,
                                 alternative=alternative, n_resamples=PERMUTATIONS, rng=SEED)
    return float(x.mean() - y.mean()), float(res.pvalue)


def fisher(hits_a: int, n_a: int, hits_b: int, n_b: int, alternative: str = "greater") -> tuple[float, float]:
    """(odds ratio, p) of Fisher's exact test that group a has more hits than group b (scipy.stats.fisher_exact)."""
    res = stats.fisher_exact([[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]], alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def spearman_permutation(x: Sequence[float], y: Sequence[float], alternative: str = "greater"
                         ) -> tuple[float, float, int]:
    """(rho, permutation p, n) of Spearman's rank correlation across runs (x, y paired, NaN pairs dropped)."""
    pairs = np.asarray([(u, v) for u, v in zip(x, y) if np.isfinite(u) and np.isfinite(v)], dtype=float)
    if len(pairs) < 3:
        return math.nan, math.nan, len(pairs)
    u, v = pairs[:, 0], pairs[:, 1]
    res = stats.permutation_test((u,), lambda s: stats.spearmanr(s, v).statistic, vectorized=False,
                                 permutation_type="pairings", alternative=alternative, n_resamples=PERMUTATIONS,
                                 rng=SEED)
    return float(stats.spearmanr(u, v).statistic), float(res.pvalue), len(pairs)


# --------------------------------------------------------------------------- within a run
@dataclass(frozen=True)
class Correlation:
    """Spearman between two series over training: raw, and on first differences (what time alone cannot give)."""

    n: int
    rho: float
    rho_diff: float
    p_diff: float


def over_training(x: Sequence[float], y: Sequence[float]) -> Correlation | None:
    """Spearman(x, y) and Spearman(diff x, diff y) over one run's evaluation points; None below MIN_CURVE_POINTS."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < MIN_CURVE_POINTS:
        return None
    raw = stats.spearmanr(x, y).statistic
    diff = stats.spearmanr(np.diff(x), np.diff(y))
    return Correlation(len(x), float(raw), float(diff.statistic), float(diff.pvalue))


def instability_events(quality: Sequence[float], factor: float, persist: int, floor: float = 0.0) -> list[int]:
    """Indices i where an instability event starts: quality (lower is better) is worse than `factor` times
    max(its running best up to i - 1, floor) at i and at the persist - 1 evaluations after it; NaN or inf count as
    worse. `floor` is what a perfect generator scores (e.g. W1 between two real samples): noise around it is no
    event. Events do not overlap: the next may start only after the quality has come back under the bar."""
    q = np.asarray(quality, dtype=float)
    events, best, inside = [], math.inf, False
    for i, value in enumerate(q):
        bar = factor * max(best, floor)
        bad = lambda j: not np.isfinite(q[j]) or q[j] > bar  # noqa: E731
        if np.isfinite(best) and not inside and i + persist <= len(q) and all(bad(j) for j in range(i, i + persist)):
            events.append(i)
            inside = True
        elif inside and not bad(i):
            inside = False
        if np.isfinite(value) and not inside:
            best = min(best, value)
    return events


def window_permutation(series: Sequence[Sequence[float]], events: Sequence[Sequence[int]], window: int,
                       persist: int = 2, permutations: int = 2000, seed: int = SEED) -> tuple[float, float, float]:
    """(mean inside, mean outside, one-sided p) for "the series is higher in the `window` points ending at each
    event than elsewhere", pooled over runs (NaN points left out); the p-value shuffles each run's event positions
    uniformly over where an event can start (index 1 .. len - persist: it needs a running best before it and
    `persist` points from it), windows cut short at the start as the observed ones are."""
    rng = np.random.default_rng(seed)

    def split(positions: Sequence[Sequence[int]]) -> tuple[float, float, float]:
        inside, outside = [], []
        for s, ev in zip(series, positions):
            values = np.asarray(s, dtype=float)
            mask = np.zeros(len(values), dtype=bool)
            for e in ev:
                mask[max(0, e - window + 1): e + 1] = True
            inside.append(values[mask])
            outside.append(values[~mask])
        a, b = np.concatenate(inside), np.concatenate(outside)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        mean_a = float(a.mean()) if len(a) else math.nan
        mean_b = float(b.mean()) if len(b) else math.nan
        return mean_a, mean_b, mean_a - mean_b

    mean_in, mean_out, observed = split(events)
    if not np.isfinite(observed):
        return mean_in, mean_out, math.nan
    count = 0
    for _ in range(permutations):
        shuffled = [sorted(rng.choice(np.arange(1, max(2, len(s) - persist + 1)), size=len(ev), replace=False))
                    if ev else [] for s, ev in zip(series, events)]
        count += split(shuffled)[2] >= observed
    return mean_in, mean_out, (count + 1) / (permutations + 1)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (for claims with several sub-tests)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()
