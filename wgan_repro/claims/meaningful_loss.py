"""What F4 and F5 share: does a run's loss estimate follow its sample quality over training?

Per run: the estimate (its `estimate` tag) through a running median `width` iterations wide (curves.py; the paper's
width is 101 iterations), read at the evaluations; Spearman's correlation of its first differences with quality's
(lower quality numbers are better, so > 0 means a falling estimate goes with better samples; first differences,
because both trend with time), and whether quality improved (final under `improve_ratio` x first). Correlations
are averaged on Fisher's z scale.

F4 ("tracks") and F5 ("does not track") read this one estimand, so they share its thresholds (a test in
tests/test_rules.py holds their YAMLs to it): a meaningful correlation of 0.2 ("tracks": the lower bound above it;
"does not track": the upper bound below it) and one learning gate.

Their known-answer controls are built here (`world`): quality over training from a formula, and an estimate that
follows it exactly, moves against it, falls with time alone or is noise independent of it, plus per-iteration noise
as measured on the committed exports (PROFILES).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from wgan_repro.claims import stats as S
from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.engine import Gate, Thresholds, need
from wgan_repro.curves import running_median
from wgan_repro.evaluate import metrics as M
from wgan_repro.schema import knob

# The filter choices a second analyst could make, each a variant of F4 and F5. No "no filter" variant (dropped, issue
# 41): one iteration's estimate carries noise (its SD about the running median, on the committed F5 runs, 1.1-1.3
# times the running median's change between evaluations for the GAN's JS estimate, 0.4-0.9 for WGAN's EM estimate)
# that biases an unfiltered correlation towards 0: towards F5's word and against F4's. Corrected for attenuation
# (split-half reliability), it would need two readings of each evaluation with independent noise, which neighbouring
# iterations are not (the noise's autocorrelation at one iteration: 0.3 for the GAN, 0.75-0.9 for WGAN).
FILTER_VARIANTS = {
    "running median of 51 iterations": {"width": 51},
    "running median of 201 iterations": {"width": 201},
}  # no scipy.signal.medfilt: its zero-padded ends bring back the end defect fixed on 2026-11-27 (a fixed defect is a
#   rule change, not a variant: issue 45's review); curves.running_median still offers it by name


@dataclass(frozen=True, kw_only=True)
class TrackingThresholds(Thresholds):
    width: int = need("the running median's width in generator iterations (the paper's curves: 101)",
                      ge=1)
    improve_ratio: float = need("a run learned when its final quality is under this times its first", gt=0,
                                le=1)
    improved_share: float = need("gate: at least this share of an arm's runs learned", gt=0, le=1)
    rho_meaningful: float = need("a first-difference correlation below this is 'no meaningful correlation' (and "
                                      "the smallest effect of interest)", gt=0, le=1)
    floor_factor: float | None = knob(None, "a run learned only when its final quality is also within this factor "
                                            "of its floor (the distance between two real halves); unset: no such "
                                            "condition", gt=1)


def tracking_table(data: ClaimData, runs: pd.DataFrame, width: int, kind: str = "centred") -> pd.DataFrame:
    """Per run: evaluations, first and final quality, final filtered estimate, raw and first-difference Spearman."""
    rows = []
    for _, r in runs.iterrows():
        est, q = data.curve(r.run_id, r["tags.estimate"]), data.curve(r.run_id, r["tags.quality"])
        floor_key = r.get("tags.quality_floor")
        row = {"run_id": r.run_id, "arm": r["tags.arm"], "seed": int(r["tags.seed"]), "evaluations": len(q),
               "first_quality": q.iloc[0] if len(q) else math.nan, "final_quality": q.iloc[-1] if len(q) else math.nan,
               "final_estimate": math.nan, "rho": math.nan, "rho_diff": math.nan,
               "quality_floor": float(r.get(f"metrics.{floor_key}", math.nan)) if isinstance(floor_key, str)
               else math.nan}
        if len(est) >= 3 and len(q):
            filtered = running_median(est, width, kind)
            at = filtered.reindex(q.index, method="nearest")
            row["final_estimate"] = float(filtered.iloc[-1])
            c = S.over_training(at.to_numpy(), q.to_numpy())
            if c is not None:
                row.update(rho=c.rho, rho_diff=c.rho_diff)
        rows.append(row)
    return pd.DataFrame(rows)


def learned(table: pd.DataFrame, t: TrackingThresholds) -> pd.Series:
    """Quality improved (final under improve_ratio x first) and, with floor_factor, came near the floor (a run
    without a floor fails that condition: the gate cannot see it)."""
    improved = table["final_quality"] < t.improve_ratio * table["first_quality"]
    if t.floor_factor is None:
        return improved
    return improved & (table["final_quality"] <= t.floor_factor * table["quality_floor"])


def learning_gates(table: pd.DataFrame, t: TrackingThresholds, arms: list[str]) -> list[Gate]:
    """Each arm learned: at least improved_share of its runs ended under improve_ratio x their first quality."""
    gates = []
    for arm in arms:
        g = table[table["arm"] == arm]
        ok = learned(g, t)
        share = float(ok.mean()) if len(g) else math.nan
        ratio = S.geometric_mean(g["final_quality"] / g["first_quality"])
        seen, rule = f"final / first quality {ratio:.3g}", f"under {t.improve_ratio}"
        if t.floor_factor is not None:
            over = S.geometric_mean(g["final_quality"] / g["quality_floor"])
            seen, rule = seen + f", final / floor {over:.3g}", rule + f" x first and {t.floor_factor:g} x floor"
        gates.append(Gate(arm, bool(share >= t.improved_share), f"{arm}: learned in {int(ok.sum())}/{len(g)} runs "
                          f"({seen}, geometric mean; gate: >= {t.improved_share:.0%} {rule})"))
    return gates


def z(values: pd.Series | np.ndarray) -> np.ndarray:
    """Fisher's z of correlations (NaN kept: a run without 20 evaluations has none)."""
    return np.arctanh(np.clip(np.asarray(values, dtype=float), -0.999999, 0.999999))


# --------------------------------------------------------------------------- known-answer controls
@dataclass(frozen=True)
class Profile:
    """An arm of the committed runs as the controls rebuild it: its schedule (iterations, evaluated every `every`),
    its quality's time constant (iterations, a range) and wiggle (SD of log quality around that curve), and its
    estimate's noise: `noise`, noise_ratio, and `lag1`, the noise's autocorrelation at one iteration (AR(1))."""

    iterations: int
    every: int
    tau: tuple[float, float]
    wiggle: float
    noise: float
    lag1: float


# Measured on the committed exports (reports/reference/F4, F5), per arm, each rounded towards the harder case: the
# time constant of a fit of a + b exp(-iteration / tau) to quality and the SD of log quality around it; noise_ratio
# (the noisiest run's) and the autocorrelation at lag 1 of the raw estimate minus its 101-iteration running median.
PROFILES = {
    "gan": Profile(4000, 100, (670, 730), 0.08, 0.33, 0.32),  # F5's GAN, JS estimate: noise 0.26-0.33, lag-1 0.26-0.32
    "wgan": Profile(4000, 100, (580, 700), 0.09, 0.13, 0.9),  # F5's WGAN, EM estimate: 0.09-0.13, lag-1 0.75-0.90
    "dcgan": Profile(2000, 50, (445, 520), 0.06, 0.16, 0.92),  # F4's DCGAN generator: 0.10-0.16, lag-1 0.80-0.92
    "mlp_g": Profile(10000, 250, (9500, 14700), 0.12, 0.46, 0.89),  # F4's MLP generator: 0.44-0.46, lag-1 0.88-0.89
}
FOLLOWS = ("quality", "against", "time", "independent")  # what a constructed estimate follows


def noise_ratio(estimate: pd.Series, width: int = 101) -> float:
    """The SD of the estimate about its running median over the SD of that running median over the run: its noise
    from one iteration to the next against the spread of what it follows (the measure of PROFILES' noise; against
    the running median's changes between evaluations instead, the issue's measure, it depends on the spacing)."""
    filtered = running_median(estimate, width)
    return float((estimate - filtered).std() / filtered.std())


def _smooth(rng: np.random.Generator, n: int, width: float) -> np.ndarray:
    """A smooth random process of n iterations with SD 1: white noise through a Gaussian kernel of SD `width`."""
    kernel = np.exp(-0.5 * (np.arange(-4 * width, 4 * width + 1) / width) ** 2)
    x = np.convolve(rng.normal(size=n + len(kernel)), kernel, "same")[len(kernel) // 2:][:n]
    return (x - x.mean()) / x.std()


def _ar1(rng: np.random.Generator, n: int, lag1: float) -> np.ndarray:
    """AR(1) noise of n iterations with SD 1 and autocorrelation `lag1` at one iteration."""
    e = rng.normal(size=n) * math.sqrt(1 - lag1 ** 2)
    x = np.empty(n)
    x[0] = rng.normal()
    for i in range(1, n):
        x[i] = lag1 * x[i - 1] + e[i]
    return x


def _noise_scale(quality: np.ndarray, noise: np.ndarray, ratio: float) -> float:
    """s such that quality + s x noise reads about `ratio` on noise_ratio, as the exports' estimates do (s from the
    spread of quality, corrected once for what the running median keeps of the noise). An estimate that does not
    follow quality gets the same s: noise as large as a tracking estimate's."""
    its = np.arange(1, len(quality) + 1)
    s = ratio * float(quality.std())
    return s * ratio / noise_ratio(pd.Series(quality + s * noise, index=its))


def world(arms: Mapping[str, Sequence[int]], follows: Mapping[str, str], profiles: Mapping[str, Profile],
          estimates: Mapping[str, str]) -> ClaimData:
    """Constructed runs of the F4/F5 form for these arms and seeds, each arm as its profile (PROFILES) has it.
    Quality (classifier FID, lower is better), from a formula: the run's floor (4-7, as the exports' floors) times a
    fall from 180-250 at the first iteration to 18-24 at the last (these runs end in the regime the gate asks for),
    exp(-iteration / tau) in shape, times exp(a smooth wiggle whose correlation from one evaluation to the next is
    0.89, as the exports' 0.6-0.95). The arm's estimate (key `estimates[arm]`) per iteration follows
    (`follows[arm]`): "quality" exactly (it is quality), "against" it (minus quality), "time" alone (a straight fall
    from quality's first evaluation to its last, whatever the samples do), or "independent" (a wiggle of its own, no
    trend); plus AR(1) noise as large as makes an estimate that follows quality read the profile's noise_ratio. Each
    run's randomness from its arm's name and its seed."""
    runs, curves = [], []
    for arm, seeds in arms.items():
        follow, p, key = follows[arm], profiles[arm], estimates[arm]
        its = np.arange(1, p.iterations + 1)
        at = np.arange(p.every, p.iterations + 1, p.every) - 1  # the evaluations' positions in `its`
        for seed in seeds:
            rng = np.random.default_rng([zlib.crc32(arm.encode()), int(seed)])
            floor, start, end, tau = (float(rng.uniform(*r)) for r in ((4, 7), (180, 250), (18, 24), p.tau))
            shape = (np.exp(-its / tau) - math.exp(-its[-1] / tau)) / (math.exp(-1 / tau) - math.exp(-its[-1] / tau))
            wiggle = p.wiggle * _smooth(rng, len(its), 1.5 * p.every)
            quality = floor * (end + (start - end) * shape) * np.exp(wiggle)
            fall = np.interp(its, its[at[[0, -1]]], quality[at[[0, -1]]])
            signal = {"quality": quality, "against": -quality, "time": fall,
                      "independent": quality.mean() * np.exp(p.wiggle * _smooth(rng, len(its), 1.5 * p.every))}[follow]
            noise = _ar1(rng, len(its), p.lag1)
            estimate = signal + _noise_scale(quality, noise, p.noise) * noise
            run_id = f"{arm}-{seed}"
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed, "tags.estimate": key,
                         "tags.quality": M.FID_MNIST.key, "tags.quality_floor": M.FID_MNIST_FLOOR.key,
                         f"metrics.{M.FID_MNIST.key}": float(quality[at[-1]]),
                         f"metrics.{M.FID_MNIST_FLOOR.key}": floor})
            curves += [{"run_id": run_id, "key": M.FID_MNIST.key, "step": int(its[i]), "value": float(quality[i])}
                       for i in at]
            curves += [{"run_id": run_id, "key": key, "step": int(s), "value": float(v)} for s, v in zip(its, estimate)]
    return constructed(runs, curves)
