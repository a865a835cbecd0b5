"""F2 (Figure 2, Sec. 4.1): on a mixture of 8 Gaussians WGAN covers the modes where the standard GAN collapses.

Per run: the modes covered (VEEGAN/PacGAN: a mode is covered when a high-quality sample, within 3 standard
deviations, is nearest to it), read as the mean of the last evaluations (a single evaluation of a rotating GAN is a
coin toss), and W1 against its floor. The claim's statistic is WGAN's mean minus the GAN's (Welch's interval), with
a smallest effect of interest of one mode: the smallest difference the count can show. Gate: WGAN trained into its
regime (its W1 within a stated factor of the floor). Rotations and collapse shares are reported, not tested: the
"collapsed or rotating" criterion fired on WGAN's covering runs too (5 of 5 in the first edition), so it is no
evidence either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import Claim, Gate, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.claims.stats import geometric_mean, to_scale
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F2Thresholds(Thresholds):
    all_modes: int = need("modes of the mixture", ge=1)
    last: int = need("final modes: the mean over this many last evaluations", ge=1)
    sesoi_modes: float = need("smallest effect of interest, in modes: the smallest difference a count shows",
                              gt=0)
    w1_gate_factor: float = need("gate: WGAN's final W1 (geometric mean over runs) within this factor of its "
                                       "floor; 10 x the 1,000-point floor (0.11) is about half the W1 of a generator "
                                       "collapsed onto one of the 8 modes (1.78)", gt=1)
    collapsed_share: float = need("reported: a run is collapsed at an evaluation when one mode holds this share "
                                       "of its high-quality samples", gt=0, le=1)


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

    def table(self, data: ClaimData, t: F2Thresholds, last: int | None = None, **_: Any) -> pd.DataFrame:
        runs, k = finished(data.runs), last or t.last
        curve = {i: data.curve(r.run_id, M.MODES.key) for i, r in runs.iterrows()}
        w1 = {i: data.curve(r.run_id, M.W1.key) for i, r in runs.iterrows()}
        rot = {i: rotations(data.curve(r.run_id, M.DOMINANT_MODE.key), data.curve(r.run_id, M.DOMINANT_SHARE.key),
                            t.collapsed_share) for i, r in runs.iterrows()}
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
        if scale == "logit":  # fractions of the modes, kept half a mode from 0 and from all
            pad = 0.5 / (t.all_modes + 1)
            on = lambda x: to_scale(x, "logit", (0, t.all_modes), pad)  # noqa: E731
            margin = float(on(np.array([t.all_modes / 2 + t.sesoi_modes / 2]))[0]
                           - on(np.array([t.all_modes / 2 - t.sesoi_modes / 2]))[0])  # one mode at the middle
            return [SubTest("modes", "WGAN - GAN final modes (logit of the fraction covered)", (on(w), on(g)), "diff",
                            "logit", 0.0, "above", margin)]
        return [SubTest("modes", f"WGAN - GAN final modes (of {t.all_modes})", (w, g), "diff", "identity", 0.0,
                        "above", t.sesoi_modes, "modes", (-t.all_modes, t.all_modes))]

    def extra_tables(self, data: ClaimData, t: F2Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        table = table.assign(collapsed=(table["dominant_share"] >= t.collapsed_share) | (table["rotations"] >= 1))
        modes = ("logit", (0.0, float(t.all_modes)), 0.5 / (t.all_modes + 1))
        return {"by_arm": group_table(table, "arm", ["modes_last", "high_quality", "w1_over_floor", "rotations",
                                                    "collapsed"],
                                      {"modes_last": modes, "high_quality": ("logit", (0.0, 1.0), 1e-4),
                                       "w1_over_floor": ("log", None, 0.0), "collapsed": ("share", None, 0.0),
                                       "rotations": ("log1p", None, 0.0)})}


CLAIM = F2()
