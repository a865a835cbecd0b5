"""Power before the runs: the claim's whole primary rule simulated on a pilot's residuals.

Each sub-test of the primary analysis is simulated on the analysis scale from its pilot's SD, taken at its 80% upper
confidence limit (SDs from few seeds are very uncertain): normal draws of the design's number of units, centred at
the sub-test's effect past its threshold (the distance its module names, else its SESOI; a sub-test with neither
keeps the pilot's mean, which the plan flags: pilot effects are biased upwards). Normal draws, not a resampling of
the pilot's few residuals: 5 skewed residuals resampled with replacement often give samples with no spread, and the
simulated rule then rejects at 10-30% where it should at 5% (`level` checks it). A simulated run of the rule is
reproduced when every sub-test's interval is (decision.py), so power is the rule's, its tests and transforms all.
The minimum detectable effect and the equivalence margin the design can establish come from the same simulation.
Power assumes every gate passes; the plan prints the gates on the pilot beside it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wgan_repro.claims import decision as D
from wgan_repro.claims.stats import sd_interval, sd_upper

SIMULATIONS = 1000
TARGET = 0.8
MOST_SEEDS = 200  # seeds_needed searches no further: beyond it, 'more than 200'


@dataclass(frozen=True)
class Pilot:
    """One sub-test's pilot: its units' values and SD on the analysis scale."""

    name: str
    n: int
    sd: float
    sd_lo: float
    sd_hi: float
    sd_used: float  # the 80% upper confidence limit
    effect: float | None  # distance past the threshold power is computed at (analysis scale)


def pilot(test: D.SubTest, effect: float | None) -> Pilot:
    xs = [np.asarray(s, dtype=float)[np.isfinite(np.asarray(s, dtype=float))] for s in test.samples]
    resid = np.concatenate([x - x.mean() for x in xs if len(x)]) if any(len(x) for x in xs) else np.array([])
    n = int(sum(len(x) for x in xs))
    df = n - len(xs)
    sd = float(np.sqrt((resid ** 2).sum() / df)) if df > 0 else math.nan
    lo, hi = sd_interval(sd, df + 1)
    return Pilot(test.name, n, sd, lo, hi, sd_upper(sd, df + 1), effect)


def shifted(test: D.SubTest, effect: float | None, scale_n: float, rng: np.random.Generator,
            sd: float | None = None) -> D.SubTest:
    """One simulated replicate of `test` at `scale_n` times its units: normal draws with the pilot SD's upper limit
    (or `sd`), centred at threshold +- effect (None: the pilot's mean; a difference keeps b's mean)."""
    sign = 1.0 if test.side == "above" else -1.0
    xs = [np.asarray(s, dtype=float)[np.isfinite(np.asarray(s, dtype=float))] for s in test.samples]
    if test.kind == "fisher":  # counts of runs: Bernoulli draws, b at its pilot share, a at effect's log odds past it
        return dataclasses.replace(test, samples=events(xs, test.threshold + sign * effect if effect is not None
                                                        else None, scale_n, rng))
    sd = pilot(test, effect).sd_used if sd is None else sd
    two = len(xs) == 2
    out = []
    for i, x in enumerate(xs):
        n = max(2, int(round(len(x) * scale_n)))
        if two and i == 1:
            centre = xs[1].mean()
        elif two:
            centre = xs[1].mean() + (test.threshold + sign * effect if effect is not None else x.mean() - xs[1].mean())
        else:
            centre = test.threshold + sign * effect if effect is not None else x.mean()
        out.append(centre + rng.normal(0.0, sd if np.isfinite(sd) else 0.0, n))
    return dataclasses.replace(test, samples=tuple(out))


def events(xs: Sequence[np.ndarray], log_odds: float | None, scale_n: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, ...]:
    """Simulated 0/1 outcomes per run of two arms: b's share its pilot's (kept inside [0.05, 0.95]: a share of 0 in 5
    runs is not a rate of 0), a's that share's log odds plus `log_odds` (None: a's pilot share)."""
    share_b = float(np.clip(xs[1].mean(), 0.05, 0.95))
    share_a = (float(np.clip(xs[0].mean(), 0.05, 0.95)) if log_odds is None else
               1 / (1 + math.exp(-(math.log(share_b / (1 - share_b)) + log_odds))))
    return tuple((rng.random(max(2, int(round(len(x) * scale_n)))) < share).astype(float)
                 for x, share in zip(xs, (share_a, share_b)))


def measured(tests: Sequence[D.SubTest]) -> bool:
    """Whether the pilot holds the sub-tests' measures: at least 2 finite units in every sample (a pilot from before
    a redesign may hold none: power, level and the stops are then unknown, NaN)."""
    return all(np.isfinite(np.asarray(s, dtype=float)).sum() >= 2 for t in tests for s in t.samples)


def effects(tests: Sequence[D.SubTest]) -> list[float | None]:
    """The effect each sub-test is simulated at: the one its module names, else its SESOI margin."""
    return [t.power_effect if t.power_effect is not None else t.margin for t in tests]


def power(tests: Sequence[D.SubTest], alpha: float, scale_n: float, simulations: int = SIMULATIONS, seed: int = 0,
          effect_factor: float = 1.0, word: str = D.REPRODUCED) -> float:
    """P(the whole rule gives `word`) at `scale_n` times the pilot's units, each sub-test at effect_factor x its
    effect."""
    rng = np.random.default_rng(seed)
    es = effects(tests)
    if not measured(tests):
        return math.nan
    sds = [pilot(t, e).sd_used for t, e in zip(tests, es)]  # once, not per simulation
    hits = 0
    for _ in range(simulations):
        sims = [shifted(t, None if e is None else e * effect_factor, scale_n, rng, sd)
                for t, e, sd in zip(tests, es, sds)]
        hits += D.judge("sim", sims, alpha, False).word == word
    return hits / simulations


def level(test: D.SubTest, alpha: float, scale_n: float = 1.0, simulations: int = 2000) -> float:
    """How often the sub-test says "reproduced" with no effect (the data at its threshold): about alpha or less
    for a sound simulation and test."""
    if not measured([test]):
        return math.nan
    rng = np.random.default_rng(7)
    sd = pilot(test, 0.0).sd_used
    hits = sum(D.decide(shifted(test, 0.0, scale_n, rng, sd), alpha, False).word == D.REPRODUCED
               for _ in range(simulations))
    return hits / simulations


def seeds_needed(tests: Sequence[D.SubTest], alpha: float, seeds: int, cap: int = MOST_SEEDS,
                 simulations: int = 400, target: float = TARGET) -> int | None:
    """The fewest seeds per arm giving `target` power to a fixed design (None beyond `cap`), by doubling then
    bisection; `seeds`: the pilot's."""
    if not np.isfinite(power(tests, alpha, 1.0, 50)):
        return None
    at = lambda s: power(tests, alpha, s / seeds, simulations)  # noqa: E731
    hi = seeds
    while at(hi) < target:
        if hi >= cap:
            return None
        hi = min(cap, hi * 2)
    lo = max(2, hi // 2) if hi > seeds else 2
    while lo < hi:
        mid = (lo + hi) // 2
        if at(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return hi


def minimum_detectable(tests: Sequence[D.SubTest], alpha: float, scale_n: float, simulations: int = 400
                       ) -> float | None:
    """The factor on every sub-test's effect at which power reaches TARGET (1: the SESOI itself), or None."""
    at = lambda f: power(tests, alpha, scale_n, simulations, effect_factor=f)  # noqa: E731
    lo, hi = 0.0, 1.0
    while at(hi) < TARGET:
        hi *= 2
        if hi > 64:
            return None
    for _ in range(8):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if at(mid) >= TARGET else (mid, hi)
    return hi


def equivalence_margin(test: D.SubTest, alpha: float, scale_n: float, simulations: int = 400) -> float | None:
    """The smallest margin (analysis scale) at which the rule reads "not reproduced" short of it (decision.py: one-sided
    for a claim above or below, two one-sided tests for one inside) with TARGET power when the true effect is 0, at
    `alpha` (the plan passes Holm's first-step level where several sub-tests share the claim)."""
    if not measured([test]):
        return None
    sd = pilot(test, None).sd_used
    if not np.isfinite(sd) or sd == 0:
        return None

    def at(margin: float) -> float:
        candidate = dataclasses.replace(test, margin=margin)
        rng = np.random.default_rng(1)
        hits = 0
        for _ in range(simulations):
            sim = D.decide(shifted(candidate, 0.0, scale_n, rng, sd), alpha, False)
            if test.side == "inside":  # the claim is the equivalence: it reads "reproduced"
                hits += sim.word == D.REPRODUCED
            else:  # "not reproduced" short of the margin, not from the other side
                hits += sim.word == D.NOT_REPRODUCED and sim.detail.startswith("equivalent")
        return hits / simulations
    lo, hi = 0.0, sd
    while at(hi) < TARGET:
        hi *= 2
        if hi > 64 * sd:
            return None
    for _ in range(8):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if at(mid) >= TARGET else (mid, hi)
    return hi


def floor_p(test: D.SubTest, scale_n: float) -> tuple[float, str]:
    """The smallest one-sided p an exact test can reach at `scale_n` times the pilot's units, and how (0: a t test,
    no floor): a look whose level is below it cannot stop on that test."""
    n = int(round(sum(np.isfinite(np.asarray(s, dtype=float)).sum() for s in test.samples) * scale_n))
    if test.kind == "signed_rank":
        return 0.5 ** n, f"exact signed-rank, {n} pairs: 2^-{n}"
    if test.kind in ("fisher", "rank_shift"):  # the most extreme arrangement of two arms of m and k units
        m = int(round(np.isfinite(np.asarray(test.samples[0], dtype=float)).sum() * scale_n))
        name = "Fisher's exact" if test.kind == "fisher" else "exact Mann-Whitney"
        return 1 / math.comb(n, m), f"{name}, {m} against {n - m}: 1 / C({n}, {m})"
    return 0.0, "t test"


def smallest_p(test: D.SubTest, scale_n: float) -> str:
    """The floor an exact test puts on p at the design's size, in words."""
    p, how = floor_p(test, scale_n)
    return f"{p:.3g} ({how})" if p else "no floor (t test)"


# --------------------------------------------------------------------------- a sequential design's operating figures
@dataclass(frozen=True)
class Stops:
    """How a sequential rule ends at one truth: P(stopping at each look with "reproduced"), with "not reproduced",
    and P(reaching the cap undecided)."""

    reproduced: tuple[float, ...]
    not_reproduced: tuple[float, ...]
    undecided: float

    @property
    def power(self) -> float:
        """P("reproduced" at any look)."""
        return float(sum(self.reproduced))


def sequential_stops(tests: Sequence[D.SubTest], levels: Sequence[float], looks: Sequence[int], pilot_seeds: int,
                     effect_factor: float | None, simulations: int = SIMULATIONS, seed: int = 0) -> Stops:
    """The whole primary rule run look by look on simulated data: normal draws at the cap's size (each sub-test's
    units scaled from the pilot's, its SD at the pilot's 80% upper limit, as `power`), each look deciding on the
    first units of its seeds at its nominal level, the first definite word stopping it. effect_factor: the truth at
    that multiple of each sub-test's effect past its threshold (0: at the threshold); None: the pilot's own means."""
    if not measured(tests):
        nan = (math.nan,) * len(looks)  # the pilot cannot say (fewer than 2 units of a sub-test): unknown, as `power`
        return Stops(nan, nan, math.nan)
    rng = np.random.default_rng(seed)
    es = effects(tests)
    sds = [pilot(t, e).sd_used for t, e in zip(tests, es)]
    cap = looks[-1]
    rep, notrep = np.zeros(len(looks)), np.zeros(len(looks))
    for _ in range(simulations):
        sims = [shifted(t, None if effect_factor is None or e is None else e * effect_factor, cap / pilot_seeds, rng,
                        sd) for t, e, sd in zip(tests, es, sds)]
        for k, (n, level) in enumerate(zip(looks, levels)):
            word = D.judge("sim", [dataclasses.replace(s, samples=tuple(x[:max(2, int(round(len(x) * n / cap)))]
                                                                       for x in s.samples)) for s in sims],
                           level, False).word
            if word == D.REPRODUCED:
                rep[k] += 1
            elif word == D.NOT_REPRODUCED:
                notrep[k] += 1
            if word != D.INCONCLUSIVE:
                break
    return Stops(tuple(rep / simulations), tuple(notrep / simulations),
                 1 - float((rep.sum() + notrep.sum()) / simulations))
