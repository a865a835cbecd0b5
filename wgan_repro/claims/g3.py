"""G3 (WGAN-GP Sec. 3.1, Figure 1a): a clipped critic trained to optimality uses little of its capacity: it models
far simpler functions than the optimal one; the penalty's critic does not.

Per run (study=fixed_generator: a critic against the real data plus unit-variance noise, on 8 Gaussians, 25
Gaussians and the Swiss roll): its estimate over its Lipschitz constant (bounded from below by the largest sampled
gradient norm), as a fraction of the exact W1 between the two distributions. Per data set, the ratio of geometric
means penalty / clipping of that fraction (Welch on the log scale), smallest effect of interest a factor 2: three
sub-tests, all at alpha. The fraction with the Lipschitz constant's upper bound (the product of the layers'
spectral norms) is a variant.
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
from wgan_repro.evaluate import metrics as M

FLOOR = 1e-6  # a critic whose estimate is 0 or negative reached nothing: it counts as this fraction (log scale)


@dataclass(frozen=True, kw_only=True)
class G3Thresholds(Thresholds):
    datasets: list[str] = need("the data sets, each a pair of arms <data>/clip and <data>/gp")
    sesoi_factor: float = need("smallest effect of interest: the penalty's fraction this many times clipping's",
                               gt=1)
    floor_share: float = need("gate: W1's floor under this share of W1 (the two distributions are told apart)",
                              gt=0, le=1)


class G3(Claim):
    thresholds = G3Thresholds
    variants = {
        "primary": {"fraction": M.G3_FRACTION_SAMPLED.key},
        "Lipschitz constant's upper bound": {"fraction": M.G3_FRACTION_BOUND.key},
        "exact Mann-Whitney": {"fraction": M.G3_FRACTION_SAMPLED.key, "kind": "rank_shift"},
        "between the bounds (geometric mean of both fractions)": {"fraction": "between"},
    }
    strips = ("fraction", "fraction_bound")

    def table(self, data: ClaimData, t: G3Thresholds, fraction: str = M.G3_FRACTION_SAMPLED.key,
              **_: Any) -> pd.DataFrame:
        runs = finished(data.runs)
        chosen = np.sqrt(metric(runs, M.G3_FRACTION_SAMPLED.key) * metric(runs, M.G3_FRACTION_BOUND.key)) \
            if fraction == "between" else metric(runs, fraction)
        table = per_run(runs, {"fraction": chosen, "fraction_bound": metric(runs, M.G3_FRACTION_BOUND.key),
                               "estimate": metric(runs, M.G3_ESTIMATE.key), "w1": metric(runs, M.G3_W1.key),
                               "w1_floor": metric(runs, M.G3_W1_FLOOR.key),
                               "lipschitz": metric(runs, M.G3_LIPSCHITZ_SAMPLED.key)})
        table["data"], table["constraint"] = table["arm"].str.split("/").str[0], table["arm"].str.split("/").str[1]
        return table

    def gates(self, data: ClaimData, t: G3Thresholds, table: pd.DataFrame) -> list[Gate]:
        out = []
        for name in t.datasets:
            g = table[table["data"] == name]
            share = float((g["w1_floor"] / g["w1"]).max()) if len(g) else math.nan
            out.append(Gate(name, bool(share < t.floor_share), f"{name}: W1's floor at most {share:.3g} of W1 (gate < "
                                                              f"{t.floor_share:g}: the noise moved the distribution)"))
        return out

    def subtests(self, data: ClaimData, t: G3Thresholds, table: pd.DataFrame, kind: str = "diff",
                 **_: Any) -> list[SubTest]:
        tests = []
        for name in t.datasets:
            gp, clip = (table[table["arm"] == f"{name}/{c}"]["fraction"].to_numpy(dtype=float) for c in ("gp", "clip"))
            tests.append(SubTest(name, f"{name}: fraction of W1 reached, penalty / clipping",
                                 (np.log(np.maximum(gp, FLOOR)), np.log(np.maximum(clip, FLOOR))), kind, "log", 0.0,
                                 "above", math.log(t.sesoi_factor), "ratio"))
        return tests

    def extra_tables(self, data: ClaimData, t: G3Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["fraction", "fraction_bound", "estimate", "lipschitz", "w1"],
                                      {"fraction": ("log", None, 0.0), "fraction_bound": ("log", None, 0.0)})}


CLAIM = G3()
