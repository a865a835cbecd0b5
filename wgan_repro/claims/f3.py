"""F3 (Figure 3): the optimal discriminator saturates and vanishes where the fakes are; the optimal critic is
nearly linear there and keeps a clean gradient.

Per study run (a discriminator and a clipped critic each trained to optimality on two 1-D Gaussians): the
minimax generator's gradient at the fakes over the critic's, and the critic's linearity R^2 between the modes. Two
sub-tests that must both pass, each on its interval over runs (log scale: the ratio spans orders of magnitude).
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
from wgan_repro.claims.runs import finished, metric, per_run
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F3Thresholds(Thresholds):
    ratio_max: float = need("the minimax generator's gradient at the fakes over the critic's must be below this",
                            gt=0)
    r2_min: float = need("the critic's linearity R^2 between the modes must be above this", gt=0, le=1)
    r2_min_loose: float = need("variant: a looser reading of 'nearly linear'", gt=0, le=1)
    r2_min_strict: float = need("variant: a stricter reading of 'nearly linear'", gt=0, le=1)
    power_factor: float = need("power is computed at a gradient ratio this many times below its bound", gt=1)


class F3(Claim):
    thresholds = F3Thresholds
    variants = {
        "primary": {},
        "intervals on the raw scale": {"scale": "identity"},
        "exact signed-rank": {"kind": "signed_rank"},
        "linearity R^2 >= 0.9": {"r2": "loose"},
        "linearity R^2 >= 0.98": {"r2": "strict"},
    }
    strips = ("minimax_over_critic", "nonsat_over_critic")

    def table(self, data: ClaimData, t: F3Thresholds, **choices: Any) -> pd.DataFrame:
        runs = finished(data.runs)
        crit = metric(runs, M.FIG3_CRITIC_GRAD.key)
        return per_run(runs, {"critic_grad": crit, "minimax_grad": metric(runs, M.FIG3_MINIMAX_GRAD.key),
                              "nonsat_grad": metric(runs, M.FIG3_NONSAT_GRAD.key),
                              "minimax_over_critic": metric(runs, M.FIG3_MINIMAX_GRAD.key) / crit,
                              "nonsat_over_critic": metric(runs, M.FIG3_NONSAT_GRAD.key) / crit,
                              "critic_r2": metric(runs, M.FIG3_LINEARITY.key),
                              "critic_slope_share_of_max": crit / metric(runs, M.FIG3_SLOPE_MAX.key)})

    def subtests(self, data: ClaimData, t: F3Thresholds, table: pd.DataFrame, scale: str = "log",
                 kind: str = "mean", r2: str = "declared") -> list[SubTest]:
        r2_min = {"loose": t.r2_min_loose, "strict": t.r2_min_strict}.get(r2, t.r2_min)
        ratio = table["minimax_over_critic"].to_numpy(dtype=float)
        bend = 1 - table["critic_r2"].to_numpy(dtype=float)  # the critic's deviation from a line
        on = (lambda x: np.log(np.clip(x, 1e-300, None))) if scale == "log" else (lambda x: x)
        log = scale == "log"
        return [SubTest("saturation", "minimax gradient at the fakes / critic's", (on(ratio),), kind, scale,
                        float(on(np.array(t.ratio_max))), "below",
                        power_effect=math.log(t.power_factor) if log else t.ratio_max * (1 - 1 / t.power_factor)),
                SubTest("linearity", "1 - critic linearity R^2", (on(bend),), kind, scale,
                        float(on(np.array(1 - r2_min))), "below",
                        power_effect=math.log(2) if log else (1 - r2_min) / 2)]



CLAIM = F3()
