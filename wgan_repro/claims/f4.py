"""F4 (Figure 4): the WGAN critic's EM estimate falls as the samples improve, with an MLP and a DCGAN generator.

Per run, the first-difference correlation of the filtered estimate with quality (meaningful_loss.py), averaged per
generator on Fisher's z scale: each generator is a stratum and must show it (two sub-tests, both at alpha), against
0 with a smallest effect of interest of 0.2, the meaningful correlation F5 shares: "reproduced" when a generator's
lower bound clears 0.2, "reproduced (smaller than the smallest effect of interest)" when its interval lies inside
(0, 0.2), "reproduced (size unresolved)" when it clears 0 and crosses 0.2 (decision.py). Gate: each
generator's runs learned (quality halved, and within F5's factor of the floor), since an estimate cannot track a
quality that does not move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate
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


class F4(Claim):
    thresholds = TrackingThresholds
    variants = {"primary": {}, **FILTER_VARIANTS, "exact signed-rank per generator": {"kind": "signed_rank"}}
    strips = ("rho_diff", "final_quality")
    curves_figure = True

    def table(self, data: ClaimData, t: TrackingThresholds, width: int | None = None, filter: str = "centred",
              **_: Any) -> pd.DataFrame:
        return tracking_table(data, finished(data.runs), width or t.width, filter)

    def gates(self, data: ClaimData, t: TrackingThresholds, table: pd.DataFrame) -> list[Gate]:
        return learning_gates(table, t, list(dict.fromkeys(table["arm"])))

    def subtests(self, data: ClaimData, t: TrackingThresholds, table: pd.DataFrame, kind: str = "mean",
                 **_: Any) -> list[SubTest]:
        margin = float(np.arctanh(t.rho_meaningful))
        return [SubTest(arm, f"{arm}: first-difference Spearman(estimate, quality)",
                        (z(table[table["arm"] == arm]["rho_diff"]),), kind, "fisher_z", 0.0, "above", margin, "rho")
                for arm in dict.fromkeys(table["arm"])]

    def extra_tables(self, data: ClaimData, t: TrackingThresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["rho_diff", "final_quality"],
                                      {"rho_diff": ("fisher_z", None, 0.0), "final_quality": ("log", None, 0.0)})}

    def controls(self, t: TrackingThresholds) -> list[Control]:
        """Each generator's runs rebuilt from formulas (meaningful_loss.world: its schedule, its quality's course and
        its EM estimate's noise as the committed runs have them; an unknown arm as the DCGAN generator), with an
        estimate that is quality exactly, minus quality, or a straight fall in time."""
        def build(follow: str):
            return lambda arms: world(arms, dict.fromkeys(arms, follow), {a: PROFILES.get(a, PROFILES["dcgan"])
                                                                          for a in arms}, dict.fromkeys(arms, M.EM.key))
        noise = "plus per-iteration noise as measured on the committed runs"
        return [Control("tracks quality", f"each generator's estimate is its quality exactly, {noise}", POSITIVE,
                        build("quality")),
                Control("moves against quality", f"each generator's estimate is minus its quality, {noise}", NEGATIVE,
                        build("against")),
                Control("falls with time only", "each generator's estimate falls in a straight line from quality's "
                        f"first value to its last, whatever the samples do, {noise}", NEGATIVE, build("time"))]


CLAIM = F4()
