"""F6 (Sec. 4.4, Figures 6-8): with a weak generator (no batch norm and constant filters, Figure 7; a 4 x 512 MLP,
Figure 8) WGAN still produces samples while the standard GAN collapses; with the DCGAN generator (Figure 6) both
learn.

Per run: the classifier's FID (quality, lower is better; a run that failed counts as worse than any that finished)
and its class histogram (classes covered, KL to uniform). For each weak generator and each GAN arm (equal
iterations, and equal network updates), the log-quality difference GAN - WGAN with Welch's interval, smallest
effect of interest a factor 2: four sub-tests, all at alpha. Gates: the control learns with both objectives, and
WGAN learns on each weak generator (the paper's point is that it "still produces samples": a test that ranks two
failures shows nothing).
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
from wgan_repro.claims.runs import group_table, metric, per_run
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F6Thresholds(Thresholds):
    control: str = need("the generator both objectives must learn with (Figure 6's DCGAN)")
    weak: list[str] = need("the weak generators (Figures 7 and 8)")
    gan_arms: list[str] = need("GAN arms: equal generator iterations, equal network updates")
    learned_share: float = need("gate: an arm learned when this share of its runs did", gt=0, le=1)
    min_classes: int = need("a run learned: finished, measured, at least this many classes ...", ge=1)
    max_kl: float = need("... and KL(class histogram || uniform) at most this", gt=0)
    sesoi_factor: float = need("smallest effect of interest: the GAN's classifier FID this many times WGAN's "
                                    "(Figures 7-8 contrast collapse against recognisable digits)", gt=1)
    sesoi_classes: float = need("variant's smallest effect of interest: one class", gt=0)
    sesoi_kl: float = need("variant's smallest effect of interest: 0.23 nats, a tenth of one-class KL (log 10)",
                           gt=0)
    sesoi_prdc: float = need("variants' smallest effect of interest in recall and coverage (Naeem et al. 2020, "
                             "classifier features): a share of the real data's neighbourhoods, on [0, 1]", gt=0, le=1)


class F6(Claim):
    thresholds = F6Thresholds
    variants = {
        "primary": {"measure": "quality"},
        "classes covered": {"measure": "classes"},
        "KL of the class histogram": {"measure": "kl_classes"},
        "rank test (Hodges-Lehmann shift of log FID)": {"measure": "quality", "kind": "rank_shift"},
        "recall": {"measure": "recall"},
        "coverage": {"measure": "coverage"},
    }
    strips = ("quality", "kl_classes")

    def table(self, data: ClaimData, t: F6Thresholds, **_: Any) -> pd.DataFrame:
        runs = data.runs[data.runs["status"].isin(["FINISHED", "FAILED"])]
        quality = pd.Series({i: r.get(M.column(r["tags.quality"]), math.nan) for i, r in runs.iterrows()},
                            dtype=float)
        floor = pd.Series({i: r.get(M.column(r["tags.quality_floor"]), math.nan) for i, r in runs.iterrows()},
                          dtype=float)
        table = per_run(runs, {"quality": quality, "floor": floor, "classes": metric(runs, M.CLASSES.key),
                               "kl_classes": metric(runs, M.KL_CLASSES.key),
                               "recall": metric(runs, M.prdc("recall", "_mnist").key),
                               "coverage": metric(runs, M.prdc("coverage", "_mnist").key)})
        failed = table["status"] != "FINISHED"  # worse than any run that finished: stand-ins set per comparison
        table.loc[failed, ["quality", "classes", "kl_classes", "recall", "coverage"]] = [math.inf, 0, math.log(10),
                                                                                        0.0, 0.0]
        table["generator"], table["objective"] = table["arm"].str.split("/").str[0], table["arm"].str.split("/").str[1]
        measured = np.isfinite(table[["quality", "classes", "kl_classes"]].astype(float)).all(axis=1)
        table["learned"] = (measured & (table["status"] == "FINISHED") & (table["classes"] >= t.min_classes)
                            & (table["kl_classes"] <= t.max_kl))
        return table

    def gates(self, data: ClaimData, t: F6Thresholds, table: pd.DataFrame) -> list[Gate]:
        arms = [f"{t.control}/wgan", *(f"{t.control}/{g}" for g in t.gan_arms), *(f"{w}/wgan" for w in t.weak)]
        gates = []
        for arm in arms:
            g = table[table["arm"] == arm]
            share = float(g["learned"].mean()) if len(g) else math.nan
            gates.append(Gate(arm, bool(share >= t.learned_share),
                              f"{arm}: learned in {int(g['learned'].sum())}/{len(g)} runs (>= {t.min_classes} classes, "
                              f"KL <= {t.max_kl}; gate >= {t.learned_share:.0%})"))
        return gates

    def subtests(self, data: ClaimData, t: F6Thresholds, table: pd.DataFrame, measure: str = "quality",
                 kind: str = "diff") -> list[SubTest]:
        tests = []
        for weak in t.weak:
            w = table[table["arm"] == f"{weak}/wgan"]
            for gan in t.gan_arms:
                g = table[table["arm"] == f"{weak}/{gan}"]
                if measure == "quality":  # a failed run: twice the worst finished run of this comparison (worst rank)
                    both = np.r_[g["quality"], w["quality"]].astype(float)
                    worst = 2 * both[np.isfinite(both)].max() if np.isfinite(both).any() else math.nan
                    a, b = (np.log(np.where(np.isfinite(x), x, worst)) for x in (g["quality"].to_numpy(dtype=float),
                                                                                 w["quality"].to_numpy(dtype=float)))
                    tests.append(SubTest(f"{weak}/{gan}", f"{weak}: classifier FID, {gan} / wgan", (a, b), kind, "log",
                                         0.0, "above", math.log(t.sesoi_factor)))
                elif measure == "classes":  # WGAN covers more classes
                    tests.append(SubTest(f"{weak}/{gan}", f"{weak}: classes covered, wgan - {gan}",
                                         (w["classes"].to_numpy(dtype=float), g["classes"].to_numpy(dtype=float)),
                                         "diff", "identity", 0.0, "above", t.sesoi_classes, "classes", (-10, 10)))
                elif measure in ("recall", "coverage"):  # WGAN's samples reach more of the real data's neighbourhoods
                    tests.append(SubTest(f"{weak}/{gan}", f"{weak}: {measure}, wgan - {gan}",
                                         (w[measure].to_numpy(dtype=float), g[measure].to_numpy(dtype=float)),
                                         "diff", "identity", 0.0, "above", t.sesoi_prdc, "share", (-1, 1)))
                else:  # the GAN's class histogram further from uniform
                    tests.append(SubTest(f"{weak}/{gan}", f"{weak}: KL(classes || uniform), {gan} - wgan",
                                         (g["kl_classes"].to_numpy(dtype=float), w["kl_classes"].to_numpy(dtype=float)),
                                         "diff", "identity", 0.0, "above", t.sesoi_kl, "nats",
                                         (-math.log(10), math.log(10))))
        return tests

    def extra_tables(self, data: ClaimData, t: F6Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["quality", "kl_classes", "classes", "learned"],
                                      {"quality": ("log", None, 0.0), "classes": ("logit", (0.0, 10.0), 0.05),
                                       "kl_classes": ("log1p", None, 0.0),
                                       "learned": ("share", None, 0.0)})}


CLAIM = F6()
