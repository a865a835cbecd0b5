"""G2 (WGAN-GP Sec. 3.1, Figure 1c): weight clipping pushes the critic's weights to the two ends of the clipping
range; the gradient penalty does not.

Per run (the deep critics of G1's experiment, c = 0.01 against the penalty): the share of the critic's parameters
within 5% of its largest absolute one at the final evaluation (critic/weights_near_max). For the clipped critic
that largest is c once weights reach the bound, so the share is the share pushed to +-c; the penalty's critic has
no c, so the same relative distance of its own largest weight is its comparator. The statistic is the ratio of
geometric means clipped / penalty (Welch on the log scale), smallest effect of interest a factor 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import Claim, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run

FLOOR = 1e-6  # a share of 0 (no weight near the maximum but the maximum itself) counts as this on the log scale


@dataclass(frozen=True, kw_only=True)
class G2Thresholds(Thresholds):
    clip_arm: str = need("the clipped critic's arm (Figure 1c: c = 0.01)")
    penalty_arm: str = need("the gradient penalty's arm")
    sesoi_factor: float = need("smallest effect of interest: the clipped share this many times the penalty's", gt=1)


class G2(Claim):
    thresholds = G2Thresholds
    variants = {
        "primary": {},
        "logit scale": {"scale": "logit"},
        "exact Mann-Whitney": {"kind": "rank_shift"},
        "mean over the evaluations": {"over": "all"},
    }
    strips = ("near_max",)

    def table(self, data: ClaimData, t: G2Thresholds, over: str = "final", **_: Any) -> pd.DataFrame:
        runs = finished(data.runs)
        share = metric(runs, "critic/weights_near_max")
        if over == "all":
            share = pd.Series({i: float(data.curve(r.run_id, "critic/weights_near_max").mean())
                               for i, r in runs.iterrows()}, dtype=float)
        return per_run(runs, {"near_max": share})

    def subtests(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame, scale: str = "log",
                 kind: str = "diff", **_: Any) -> list[SubTest]:
        clip, gp = (table[table["arm"] == a]["near_max"].to_numpy(dtype=float) for a in (t.clip_arm, t.penalty_arm))
        if scale == "logit":
            on = lambda s: np.log(np.clip(s, FLOOR, 1 - FLOOR)) - np.log1p(-np.clip(s, FLOOR, 1 - FLOOR))  # noqa
            return [SubTest("weights", f"{t.clip_arm} - {t.penalty_arm}: logit share of weights near the largest",
                            (on(clip), on(gp)), kind, "logit", 0.0, "above", math.log(t.sesoi_factor))]
        on = lambda s: np.log(np.maximum(s, FLOOR))  # noqa: E731
        return [SubTest("weights", f"{t.clip_arm} / {t.penalty_arm}: share of weights near the largest",
                        (on(clip), on(gp)), kind, "log", 0.0, "above", math.log(t.sesoi_factor), "ratio")]

    def extra_tables(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["near_max"], {"near_max": ("logit", (0.0, 1.0), FLOOR)})}


CLAIM = G2()
