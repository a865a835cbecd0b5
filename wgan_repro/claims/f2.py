"""F2 (Figure 2, Sec. 4.1): on a mixture of 8 Gaussians WGAN covers the modes where the standard GAN collapses onto
one mode and rotates between modes.

Per run: the modes covered (VEEGAN/PacGAN: a mode is covered when a high-quality sample, within 3 standard
deviations, is nearest to it), read as the mean of the last evaluations (a single evaluation of a rotating GAN is a
coin toss), W1 against its floor, and the rotations: how often the dominant mode changes between consecutive
evaluations at which the run is collapsed. Collapse comes first: an evaluation is collapsed when one mode holds every
high-quality sample ("collapses onto one mode"), so a generator that samples the mixture, whose dominant mode changes
by chance from one evaluation to the next (its share about 1/8), never rotates. Three sub-tests, all at alpha (an
intersection-union test):

- modes: WGAN's mean minus the GAN's (Welch), smallest effect of interest one mode (the smallest difference a count
  shows): the GAN covers fewer;
- coverage: WGAN's own mean above all the modes but one (7 of 8): "WGAN covers the modes", tested on its own;
- rotations: the GAN's mean rotations above 0, smallest effect of interest one rotation: it collapses and rotates.

Gate: WGAN trained into its regime (its W1 within a stated factor of the floor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.claims.stats import geometric_mean, to_scale
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F2Thresholds(Thresholds):
    all_modes: int = need("modes of the mixture", ge=1)
    last: int = need("final modes: the mean over this many last evaluations", ge=1)
    sesoi_modes: float = need("smallest effect of interest, in modes: the smallest difference a count shows; WGAN "
                              "covers the modes when its mean is above all of them less this", gt=0)
    sesoi_rotations: float = need("smallest effect of interest, in rotations: one change of the dominant mode, the "
                                  "smallest a count shows", gt=0)
    w1_gate_factor: float = need("gate: WGAN's final W1 (geometric mean over runs) within this factor of its "
                                 "floor; 10 x the 1,000-point floor (0.09-0.15) is under half the W1 of a generator "
                                 "collapsed onto one of the 8 modes (2.5 on this ring of radius 2)", gt=1)
    collapsed_share: float = need("a run is collapsed at an evaluation when one mode holds this share of its "
                                  "high-quality samples (1: every one, 'collapses onto one mode'); rotations are "
                                  "counted between collapsed evaluations only", gt=0, le=1)


def rotations(modes: pd.Series, shares: pd.Series, collapsed: float) -> int:
    """How often the dominant mode changes between consecutive evaluations at which the run is collapsed
    (dominant share of high-quality samples >= `collapsed`)."""
    both = pd.concat([modes, shares], axis=1, keys=["mode", "share"]).dropna()
    held = both[both["share"] >= collapsed]["mode"].to_numpy()
    return int((held[1:] != held[:-1]).sum())


def last_mean(series: pd.Series, k: int) -> float:
    return float(series.iloc[-k:].mean()) if len(series) else math.nan


class F2(Claim):
    thresholds = F2Thresholds
    variants = {
        "primary": {"last": None},
        "final evaluation only": {"last": 1},
        "mean of the last 10 evaluations": {"last": 10},
        "logit scale (mode fractions)": {"last": None, "scale": "logit"},
    }
    strips = ("modes_last", "w1_over_floor")

    def table(self, data: ClaimData, t: F2Thresholds, last: int | None = None, collapsed: float | None = None,
              **_: Any) -> pd.DataFrame:
        runs, k = finished(data.runs), last or t.last
        curve = {i: data.curve(r.run_id, M.MODES.key) for i, r in runs.iterrows()}
        w1 = {i: data.curve(r.run_id, M.W1.key) for i, r in runs.iterrows()}
        rot = {i: rotations(data.curve(r.run_id, M.DOMINANT_MODE.key), data.curve(r.run_id, M.DOMINANT_SHARE.key),
                            collapsed or t.collapsed_share) for i, r in runs.iterrows()}
        series = lambda d: pd.Series(d, dtype=float)  # noqa: E731
        table = per_run(runs, {
            "modes_last": series({i: last_mean(c, k) if len(c) else metric(runs, M.MODES.key)[i]
                                  for i, c in curve.items()}),
            "modes_final": metric(runs, M.MODES.key), "high_quality": metric(runs, M.HIGH_QUALITY.key),
            "w1": series({i: last_mean(c, k) if len(c) else metric(runs, M.W1.key)[i] for i, c in w1.items()}),
            "w1_floor": metric(runs, M.W1_FLOOR.key), "dominant_share": metric(runs, M.DOMINANT_SHARE.key),
            "rotations": series(rot)})
        table["w1_over_floor"] = table["w1"] / table["w1_floor"]
        return table

    def gates(self, data: ClaimData, t: F2Thresholds, table: pd.DataFrame) -> list[Gate]:
        w = table[table["arm"] == "wgan"]["w1_over_floor"].astype(float)
        ratio = geometric_mean(w)
        return [Gate("wgan", bool(ratio <= t.w1_gate_factor),
                     f"wgan: final W1 {ratio:.3g} x its floor (geometric mean of {len(w)} runs; gate <= "
                     f"{t.w1_gate_factor:g} x)")]

    def subtests(self, data: ClaimData, t: F2Thresholds, table: pd.DataFrame, scale: str = "identity",
                 **_: Any) -> list[SubTest]:
        w = table[table["arm"] == "wgan"]["modes_last"].to_numpy(dtype=float)
        g = table[table["arm"] == "gan"]["modes_last"].to_numpy(dtype=float)
        cover = t.all_modes - t.sesoi_modes  # "covers the modes": all of them, less the one mode a count just shows
        rotating = SubTest("rotations", "GAN rotations while collapsed", (
            table[table["arm"] == "gan"]["rotations"].to_numpy(dtype=float),), "mean", "identity", 0.0, "above",
            t.sesoi_rotations, "rotations", (0.0, math.inf))
        if scale == "logit":  # fractions of the modes, kept half a mode from 0 and from all
            pad = 0.5 / (t.all_modes + 1)
            on = lambda x: to_scale(np.asarray(x, dtype=float), "logit", (0, t.all_modes), pad)  # noqa: E731
            margin = float(on([t.all_modes / 2 + t.sesoi_modes / 2])[0] - on([t.all_modes / 2 - t.sesoi_modes / 2])[0])
            return [SubTest("modes", "WGAN - GAN final modes (logit of the fraction covered)", (on(w), on(g)), "diff",
                            "logit", 0.0, "above", margin),
                    SubTest("coverage", "WGAN final fraction of the modes covered", (on(w),), "mean", "logit",
                            float(on([cover])[0]), "above", None, "fraction", (0.0, 1.0),
                            power_effect=float(on([t.all_modes])[0] - on([cover])[0])),
                    rotating]
        return [SubTest("modes", f"WGAN - GAN final modes (of {t.all_modes})", (w, g), "diff", "identity", 0.0,
                        "above", t.sesoi_modes, "modes", (-t.all_modes, t.all_modes)),
                SubTest("coverage", f"WGAN final modes (of {t.all_modes})", (w,), "mean", "identity", cover, "above",
                        None, "modes", (0.0, float(t.all_modes)), power_effect=t.sesoi_modes),
                rotating]

    def extra_tables(self, data: ClaimData, t: F2Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        table = table.assign(collapsed=(table["dominant_share"] >= t.collapsed_share) | (table["rotations"] >= 1))
        modes = ("logit", (0.0, float(t.all_modes)), 0.5 / (t.all_modes + 1))
        return {"by_arm": group_table(table, "arm", ["modes_last", "high_quality", "w1_over_floor", "rotations",
                                                    "collapsed"],
                                      {"modes_last": modes, "high_quality": ("logit", (0.0, 1.0), 1e-4),
                                       "w1_over_floor": ("log", None, 0.0), "collapsed": ("share", None, 0.0),
                                       "rotations": ("log1p", None, 0.0)})}

    def controls(self, t: F2Thresholds) -> list[Control]:
        return [
            Control("true mixture against a hopping GAN", "WGAN: samples of the 8-Gaussian mixture itself at every "
                    "evaluation; GAN: a scripted one-mode generator (its mode's own Gaussian) that moves to another "
                    "mode at about a quarter of its evaluations", POSITIVE,
                    lambda arms: scripted(arms, "mixture", "hopping")),
            Control("half the modes", "WGAN: samples of 4 of the 8 modes (every other one) at every evaluation, "
                    "within the W1 gate but covering half the ring; GAN: the hopping one-mode generator", NEGATIVE,
                    lambda arms: scripted(arms, "half", "hopping")),
            Control("the GAN covers the modes too", "both arms: samples of the mixture itself (neither collapses "
                    "nor rotates)", NEGATIVE, lambda arms: scripted(arms, "mixture", "mixture")),
            Control("a GAN collapsed that never moves", "WGAN: samples of the mixture; GAN: a one-mode generator held "
                    "on one mode for the whole run (collapsed, not rotating)", NEGATIVE,
                    lambda arms: scripted(arms, "mixture", "stuck")),
        ]


CLAIM = F2()


# --------------------------------------------------------------------------- scripted generators (the controls)
EVALUATIONS = tuple(range(500, 25_001, 500))  # the cpu budget's: every 500 of 25,000 generator iterations
W1_LAST = 10  # WGAN's W1 (an exact transport solve, the slow part) at its last 10 evaluations: the most the gate reads
HOP = 0.25  # the hopping generator moves to another mode at about a quarter of its evaluations
KINDS = ("mixture", "half", "hopping", "stuck")


def scripted(arms: Mapping[str, Sequence[int]], wgan: str, gan: str) -> ClaimData:
    """Each arm's runs from a scripted generator, measured at every evaluation as the study measures a run
    (evaluate/toy.py: mode metrics on 2,500 samples; exact W1 on 1,000 points against as many real ones and its floor
    once, for WGAN, whose W1 the gate reads)."""
    runs, curves = [], []
    for arm, seeds in arms.items():
        kind = {"wgan": wgan, "gan": gan}[arm]
        for seed in seeds:
            final, points = scripted_run(kind, int(seed), arm == "wgan")
            run_id = f"{kind}-{arm}-{seed}"
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed,
                         **{f"metrics.{k}": v for k, v in final.items()}})
            curves += [{"run_id": run_id, "key": k, "step": step, "value": v} for k, step, v in points]
    return constructed(runs, curves)


@lru_cache(maxsize=None)
def scripted_run(kind: str, seed: int, with_w1: bool) -> tuple[dict[str, float], tuple[tuple[str, int, float], ...]]:
    """One scripted run's final metrics and its curve points (key, step, value), from its own random stream (W1 and
    its floor drawn after every sample, so that with or without them the samples are the same)."""
    import torch

    from wgan_repro.data.toy import Ring
    from wgan_repro.evaluate.modes import mode_metrics
    from wgan_repro.evaluate.transport import exact_w1
    from wgan_repro.schema.data import RingDataConfig
    from wgan_repro.schema.eval import ToyEvalConfig

    ring, evaluation = RingDataConfig(), ToyEvalConfig()  # the study's mixture (conf/data/ring_metz) and protocol
    centres = Ring(**{f.name: getattr(ring, f.name) for f in fields(ring) if f.name != "_target_"}).modes
    centres, std = centres.double().numpy(), ring.std * ring.scale
    rng = np.random.default_rng([seed, KINDS.index(kind)])

    def draw(n: int, modes: np.ndarray) -> np.ndarray:
        return centres[modes] + std * rng.standard_normal((n, 2))

    def mixture(n: int) -> np.ndarray:
        return draw(n, rng.integers(len(centres), size=n))

    mode, points, n, fakes = int(rng.integers(len(centres))), [], evaluation.n_samples, []
    for i, step in enumerate(EVALUATIONS):
        if kind == "hopping" and i and rng.random() < HOP:
            mode = int((mode + rng.integers(1, len(centres))) % len(centres))
        if kind == "mixture":
            fake = mixture(n)
        elif kind == "half":
            fake = draw(n, 2 * rng.integers(len(centres) // 2, size=n))
        else:  # hopping or stuck: one mode's own Gaussian
            fake = draw(n, np.full(n, mode))
        measured = mode_metrics(torch.from_numpy(fake), torch.from_numpy(centres), std, evaluation.hq_threshold)
        points += [(k, step, float(measured[k])) for k in (M.MODES.key, M.DOMINANT_MODE.key, M.DOMINANT_SHARE.key)]
        fakes.append(fake[: evaluation.w1_points])
    final = {k: float(v) for k, v in measured.items()}
    if with_w1:
        w1 = lambda a, b: exact_w1(torch.from_numpy(a), torch.from_numpy(b))  # noqa: E731
        final[M.W1_FLOOR.key] = w1(mixture(evaluation.w1_points), mixture(evaluation.w1_points))
        for step, fake in list(zip(EVALUATIONS, fakes))[-W1_LAST:]:
            points.append((M.W1.key, step, w1(fake, mixture(evaluation.w1_points))))
        final[M.W1.key] = points[-1][2]
    return final, tuple(points)
