"""F5 (Figures 5 and 9): the standard GAN's JS estimate does not track sample quality, even while the samples
improve; WGAN's EM estimate does.

Per run, the first-difference correlation of the filtered estimate with quality (meaningful_loss.py), on Fisher's z
scale. Two sub-tests, both at alpha: the GAN's mean correlation lies inside +-"meaningful" (0.2, the threshold F4
shares from the other side: an equivalence test, since a strong anti-correlation is a meaningful correlation too,
issue 45's review), and WGAN's exceeds the GAN's. Gate: both arms learned (quality halved and within a
factor of the floor, F4's too: Figure 9's situation, samples improving).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, need
from wgan_repro.claims.meaningful_loss import (
    FILTER_VARIANTS,
    PROFILES,
    TrackingThresholds,
    learning_gates,
    tracking_table,
    world,
    z,
)
from wgan_repro.claims.runs import finished, group_table
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F5Thresholds(TrackingThresholds):
    gan_arm: str = need("the arm whose JS estimate should not track quality")
    wgan_arm: str = need("the arm whose EM estimate should")


class F5(Claim):
    thresholds = F5Thresholds
    variants = {"primary": {}, **FILTER_VARIANTS, "exact signed-rank for the GAN": {"kind": "signed_rank"}}
    strips = ("rho_diff", "final_quality")
    curves_figure = True

    def table(self, data: ClaimData, t: F5Thresholds, width: int | None = None, filter: str = "centred",
              **_: Any) -> pd.DataFrame:
        return tracking_table(data, finished(data.runs), width or t.width, filter)

    def gates(self, data: ClaimData, t: F5Thresholds, table: pd.DataFrame) -> list[Gate]:
        return learning_gates(table, t, [t.gan_arm, t.wgan_arm])

    def subtests(self, data: ClaimData, t: F5Thresholds, table: pd.DataFrame, kind: str = "mean",
                 **_: Any) -> list[SubTest]:
        gan, wgan = (z(table[table["arm"] == a]["rho_diff"]) for a in (t.gan_arm, t.wgan_arm))
        meaningful = float(np.arctanh(t.rho_meaningful))
        # power: the GAN's correlation at 0, WGAN's a meaningful 0.2 above it
        return [SubTest("gan", "GAN: first-difference Spearman(JS estimate, quality)", (gan,), kind, "fisher_z",
                        0.0, "inside", meaningful, "rho", power_effect=0.0),
                SubTest("contrast", "WGAN - GAN first-difference correlation (Fisher z)", (wgan, gan), "diff",
                        "fisher_z", 0.0, "above", power_effect=meaningful)]

    def extra_tables(self, data: ClaimData, t: F5Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["rho_diff", "final_quality"],
                                      {"rho_diff": ("fisher_z", None, 0.0), "final_quality": ("log", None, 0.0)})}

    def controls(self, t: F5Thresholds) -> list[Control]:
        """Both arms rebuilt from formulas (meaningful_loss.world: the schedule, quality's course and each estimate's
        noise as the committed GAN and WGAN runs have them): WGAN's EM estimate is its quality exactly; the GAN's JS
        estimate is noise independent of quality (the claim), or its quality exactly too (the claim false: the
        issue's control, which every variant must read as tracking)."""
        def build(gan_follows: str):
            return lambda arms: world(
                arms, {a: gan_follows if a == t.gan_arm else "quality" for a in arms},
                {a: PROFILES["gan"] if a == t.gan_arm else PROFILES["wgan"] for a in arms},
                {a: M.JS.key if a == t.gan_arm else M.EM.key for a in arms})
        noise = "each plus per-iteration noise as measured on the committed runs"
        return [Control("only WGAN's tracks", f"WGAN's estimate is its quality exactly, the GAN's a wiggle independent "
                        f"of quality, {noise}", POSITIVE, build("independent")),
                Control("both track", f"WGAN's and the GAN's estimates are their quality exactly, {noise} (the GAN's "
                        "noisier than WGAN's)", NEGATIVE, build("quality"))]


CLAIM = F5()
