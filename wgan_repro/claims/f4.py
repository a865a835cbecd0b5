"""F4 (Figure 4): the WGAN critic's EM estimate falls as the samples improve, with an MLP and a DCGAN generator.

Per run, the first-difference correlation of the filtered estimate with quality (tracking.py), averaged per
generator on Fisher's z scale: each generator is a stratum and must show it (two sub-tests, both at alpha), with a
smallest effect of interest of 0.2 (the correlation F5 calls "no meaningful correlation"). Gate: each generator's
runs learned (quality halved), since an estimate cannot track a quality that does not move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import Claim, Gate
from wgan_repro.claims.meaningful_loss import FILTER_VARIANTS, TrackingThresholds, learning_gates, tracking_table, z
from wgan_repro.claims.runs import finished, group_table


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


CLAIM = F4()
