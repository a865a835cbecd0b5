"""G2 (WGAN-GP Sec. 3.1, Figure 1c): weight clipping pushes the critic's weights to the two ends of the clipping
range; the gradient penalty does not.

Per run (the deep critics of G1's experiment, c = 0.01 against the penalty): the share of the critic's parameters
within 5% of its largest absolute one at the final evaluation (M.WEIGHTS_NEAR_MAX). For the clipped critic
that largest is c once weights reach the bound, so the share is the share pushed to +-c; the penalty's critic has
no c, so the same relative distance of its own largest weight is its comparator. The statistic is the ratio of
geometric means clipped / penalty (Welch on the log scale), smallest effect of interest a factor 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import Claim, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.diagnostics import NEAR_MAX
from wgan_repro.evaluate import metrics as M

HIST_KEY = M.WEIGHT_HIST_BIN.prefix  # shares of w / max|w| in equal bins over [-1, 1] (diagnostics.py)
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
        share = metric(runs, M.WEIGHTS_NEAR_MAX.key)
        if over == "all":
            share = pd.Series({i: float(data.curve(r.run_id, M.WEIGHTS_NEAR_MAX.key).mean())
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

    def figure(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame, path: Any) -> Any:
        """WGAN-GP Figure 1c from the export: each arm's weight histogram at seed 0's final evaluation (a fixed
        rule, never the best run), and every run's share near the largest weight (the statistic)."""
        runs = finished(data.runs)
        keys = sorted(k for k in data.curves["key"].unique() if k.startswith(HIST_KEY))
        arms = [a for a in (t.clip_arm, t.penalty_arm) if a in set(runs["tags.arm"])]
        if runs.empty or not arms:
            return None
        panels = len(arms) if keys else 0
        fig, axes = plt.subplots(1, panels + 1, figsize=(4.2 * (panels + 1), 3.8), squeeze=False)
        edges = np.linspace(-1, 1, len(keys) + 1)
        for ax, arm in zip(axes[0][:panels], arms):
            at = runs[runs["tags.arm"] == arm]
            first = at[at["tags.seed"].astype(str) == "0"] if (at["tags.seed"].astype(str) == "0").any() else at
            r = first.iloc[0]
            shares = [float(c.iloc[-1]) if len(c) else 0.0 for c in (data.curve(r.run_id, k) for k in keys)]
            ax.bar(edges[:-1], shares, width=np.diff(edges), align="edge", color="C0" if arm == t.clip_arm else "C1",
                   edgecolor="white")
            ax.set_title(f"{arm}, seed {r['tags.seed']}, final", fontsize=9)
            ax.set_xlabel("weight / largest absolute weight")
            ax.set_ylabel("share of the critic's weights")
            ax.grid(alpha=0.3)
        ax = axes[0][-1]
        for i, arm in enumerate(arms):
            y = table.loc[table["arm"] == arm, "near_max"].astype(float).to_numpy()
            ax.plot(np.full(len(y), i) + np.linspace(-0.15, 0.15, len(y)), np.maximum(y, FLOOR), "o", ms=5,
                    color="C0" if arm == t.clip_arm else "C1")
        ax.set_xticks(range(len(arms)), arms)
        ax.set_xlim(-0.5, len(arms) - 0.5)
        ax.set_yscale("log")
        ax.set_ylabel(f"share within {NEAR_MAX:.0%} of the largest weight")
        ax.grid(alpha=0.3)
        fig.suptitle("G2: the critic's weights at the end of training", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


CLAIM = G2()
