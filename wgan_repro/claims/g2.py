"""G2 (WGAN-GP Sec. 3.1, Figure 1c): weight clipping pushes the critic's weights to the two ends of the clipping
range; the gradient penalty does not.

Per run (the deep critics of G1's experiment, clipping against the penalty): the share of the critic's parameters at
the bound, within 5% of its largest absolute one once clipping's projection is applied (M.WEIGHTS_AT_BOUND; the
penalty's critic has no c, so the same relative distance of its own largest weight is its comparator), at iteration
0 (eval.at_start: the initialisation, clipped) and at the final evaluation. The statistic is how much training
moved it: the change of its log odds from iteration 0, clipped arm against penalty (Welch on that scale, shown as
the ratio of the odds' growths), smallest effect of interest a factor 2.

Why from iteration 0: He initialisation clipped at c = 0.01 already puts about 0.93 of the weights at +-c, before
any step (every hidden weight outside +-0.0095, of a uniform +-0.153), and the first runs measured 0.9336 to 0.9345
at every evaluation: a share at the end measured the initialisation, not training (issue 41). Why log odds: a
share that starts at 0.93 cannot double, while its odds can (0.93 to 0.97 doubles them); for small shares, the
odds' ratio is the shares'. The arm judged is c = 0.1, whose critic trains (a clipped layer's gain 0.1 sqrt(256) =
1.6, G1); c = 0.01, the figure's, is shown beside it.

Known-answer controls (`controls`): scripted critics built from the experiment's own initialisation (He uniform,
12 layers of width 256): clipped weights pushed to +-c over training while the penalty's wander (positive); an
untrained critic, the clipped initialisation at every evaluation, and clipped weights pulled towards 0 (negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.diagnostics import NEAR_MAX, weights_near_max
from wgan_repro.evaluate import metrics as M

HIST_KEY = M.WEIGHT_HIST_BIN.prefix  # shares of w / max|w| in equal bins over [-1, 1] (diagnostics.py)
FLOOR = 1e-6  # shares are kept this far from 0 and 1 on the log-odds scale (a share of 1: every weight at the bound)


def log_odds(share: np.ndarray | pd.Series | float) -> Any:
    """log(s / (1 - s)), s kept inside [FLOOR, 1 - FLOOR]."""
    s = np.clip(share, FLOOR, 1 - FLOOR)
    return np.log(s) - np.log1p(-s)


@dataclass(frozen=True, kw_only=True)
class G2Thresholds(Thresholds):
    clip_arms: list[str] = need("the clipped critics' arms judged, each against the penalty (all must pass)")
    penalty_arm: str = need("the gradient penalty's arm")
    sesoi_factor: float = need("smallest effect of interest: the clipped critic's odds of a weight at the bound grow "
                               "from iteration 0 this many times more than the penalty's", gt=1)


class G2(Claim):
    thresholds = G2Thresholds
    variants = {
        "primary": {},
        "exact Mann-Whitney": {"kind": "rank_shift"},
        "mean over the evaluations": {"over": "all"},
    }
    strips = ("at_start", "at_end", "growth")

    def table(self, data: ClaimData, t: G2Thresholds, over: str = "final", **_: Any) -> pd.DataFrame:
        """Per run: the share at the bound at iteration 0 (NaN without an evaluation at step 0) and at the end (the
        final evaluation, or over="all": the mean log odds over every evaluation after iteration 0), and growth, the
        change of its log odds from iteration 0; beside them, for the reader, the final share near the largest weight
        without the projection (M.WEIGHTS_NEAR_MAX, what the first edition judged)."""
        runs = finished(data.runs)
        start, end, growth = {}, {}, {}
        for i, r in runs.iterrows():
            c = data.curve(r.run_id, M.WEIGHTS_AT_BOUND.key)
            start[i] = float(c.loc[0]) if 0 in c.index else math.nan
            after = c[c.index > 0]
            end[i] = float(after.iloc[-1]) if len(after) else math.nan
            at_end = float(np.mean(log_odds(after.to_numpy()))) if over == "all" and len(after) else log_odds(end[i])
            growth[i] = at_end - log_odds(start[i])
        return per_run(runs, {"at_start": pd.Series(start, dtype=float), "at_end": pd.Series(end, dtype=float),
                              "growth": pd.Series(growth, dtype=float),
                              "near_max": metric(runs, M.WEIGHTS_NEAR_MAX.key)})  # shown: the unprojected share

    def subtests(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame, kind: str = "diff",
                 **_: Any) -> list[SubTest]:
        arm = lambda a: table[table["arm"] == a]["growth"].to_numpy(dtype=float)  # noqa: E731
        return [SubTest(c, f"{c} / {t.penalty_arm}: growth of the odds of a weight at the bound from iteration 0",
                        (arm(c), arm(t.penalty_arm)), kind, "log", 0.0, "above", math.log(t.sesoi_factor), "ratio")
                for c in t.clip_arms]

    def extra_tables(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        shares = {c: ("logit", (0.0, 1.0), FLOOR) for c in ("at_start", "at_end", "near_max")}
        return {"by_arm": group_table(table, "arm", ["at_start", "at_end", "growth", "near_max"], shares)}

    def controls(self, t: G2Thresholds) -> list[Control]:
        init = "the experiment's He initialisation (12 layers of width 256), clipped at each arm's c"
        return [
            Control("clipped weights pushed to the bound",
                    f"{init}; over training 90% of the clipped weights not yet at +-c move there, the penalty's "
                    "weights wander (N(0, 0.01) by the end)", POSITIVE,
                    lambda arms: weights_control(arms, clipped="pushed")),
            Control("untrained critic",
                    f"{init}, the same at every evaluation (no step taken), in every arm", NEGATIVE,
                    lambda arms: weights_control(arms, clipped="untrained", penalty_moves=False)),
            Control("clipped weights pulled inwards",
                    f"{init}; over training 90% of the clipped weights shrink to a uniform 0-50% of themselves, the "
                    "penalty's weights wander", NEGATIVE, lambda arms: weights_control(arms, clipped="pulled")),
        ]

    def figure(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame, path: Any) -> Any:
        """WGAN-GP Figure 1c from the export: each arm's weight histogram at seed 0's final evaluation (a fixed
        rule, never the best run), and every run's share at the bound at iteration 0 and at the end (the change is
        the statistic)."""
        runs = finished(data.runs)
        keys = sorted(k for k in data.curves["key"].unique() if k.startswith(HIST_KEY))
        arms = [a for a in dict.fromkeys([*t.clip_arms, *sorted(set(runs["tags.arm"]) - {t.penalty_arm}),
                                          t.penalty_arm]) if a in set(runs["tags.arm"])]
        if runs.empty or not arms:
            return None
        colour = {a: f"C{i}" for i, a in enumerate(arms)}
        panels = len(arms) if keys else 0
        fig, axes = plt.subplots(1, panels + 1, figsize=(4.2 * (panels + 1), 3.8), squeeze=False)
        edges = np.linspace(-1, 1, len(keys) + 1)
        for ax, arm in zip(axes[0][:panels], arms):
            at = runs[runs["tags.arm"] == arm]
            first = at[at["tags.seed"].astype(str) == "0"] if (at["tags.seed"].astype(str) == "0").any() else at
            r = first.iloc[0]
            shares = [float(c.iloc[-1]) if len(c) else 0.0 for c in (data.curve(r.run_id, k) for k in keys)]
            ax.bar(edges[:-1], shares, width=np.diff(edges), align="edge", color=colour[arm], edgecolor="white")
            ax.set_title(f"{arm}, seed {r['tags.seed']}, final", fontsize=9)
            ax.set_xlabel("weight / largest absolute weight")
            ax.set_ylabel("share of the critic's weights")
            ax.grid(alpha=0.3)
        ax = axes[0][-1]
        shown = arms if np.isfinite(table[["at_start", "at_end"]].to_numpy(dtype=float)).any() else []
        for i, arm in enumerate(shown):
            at = table[table["arm"] == arm]
            x = np.full(len(at), i) + np.linspace(-0.15, 0.15, len(at))
            for col, marker in (("at_start", "o"), ("at_end", "s")):
                y = at[col].astype(float).to_numpy()
                ax.plot(x, np.clip(y, FLOOR, 1 - FLOOR), marker, ms=5, color=colour[arm], mfc="none" if marker == "o"
                        else colour[arm], label=("iteration 0" if col == "at_start" else "end") if i == 0 else None)
        if shown:
            ax.set_xticks(range(len(shown)), shown)
            ax.set_xlim(-0.5, len(shown) - 0.5)
            ax.set_yscale("logit")
            ax.set_ylabel(f"share within {NEAR_MAX:.0%} of the bound")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        else:
            ax.text(0.5, 0.5, f"no {M.WEIGHTS_AT_BOUND.key} logged\n(the runs predate it)", ha="center",
                    va="center", fontsize=9, transform=ax.transAxes)
            ax.set_axis_off()
        fig.suptitle("G2: the critic's weights at the end of training, and at the bound from iteration 0", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


# --------------------------------------------------------------------------- known-answer controls
CONTROL_WIDTH, CONTROL_LAYERS, CONTROL_INPUT = 256, 12, 2  # the cpu budget's critic (critic.hidden=256) on 2-D data
CONTROL_STEPS = tuple(range(0, 3001, 500))  # iteration 0, then a coarser schedule than the budget's (the rule reads
#                                             iteration 0, the end, and the mean over the evaluations between)
CONTROL_CLIP = {"clip_0.1": 0.1, "clip_0.01": 0.01}  # the budget's clipped arms' c
PUSHED = 0.9  # the share of the clipped weights not at the bound that training moves by the end (pushed or pulled)
WANDER = 0.01  # the penalty's weights' standard deviation of movement by the end


def he_initialisation(rng: np.random.Generator) -> np.ndarray:
    """The experiment's critic at initialisation (models/mlp.py, init=he), every parameter in one float32 vector:
    each hidden layer's weights uniform +-sqrt(6 / fan_in), the score's +-sqrt(3 / fan_in), every bias 0."""
    shapes = [(CONTROL_WIDTH, CONTROL_INPUT)] + [(CONTROL_WIDTH, CONTROL_WIDTH)] * (CONTROL_LAYERS - 1)
    params = []
    for i, shape in enumerate([*shapes, (1, CONTROL_WIDTH)]):
        bound = math.sqrt((3.0 if i == len(shapes) else 6.0) / shape[1])
        params += [rng.uniform(-bound, bound, shape).ravel(), np.zeros(shape[0])]
    return np.concatenate(params).astype(np.float32)


def share_at_bound(params: np.ndarray, c: float | None) -> float:
    """M.WEIGHTS_AT_BOUND of these parameters, by the function the runs log it with."""
    critic = nn.Module()
    critic.weights = nn.Parameter(torch.from_numpy(params), requires_grad=False)
    return weights_near_max(critic, bound=c)


def weights_control(arms: Mapping[str, Sequence[int]], clipped: str, penalty_moves: bool = True) -> ClaimData:
    """Scripted critics for the budget's arms and seeds, their share at the bound logged at CONTROL_STEPS. Every run
    starts from its own He initialisation (its seed's); a clipped arm (CONTROL_CLIP) starts from it clipped at +-c,
    the penalty from it as drawn. Over training (`clipped`): "untrained" nothing moves; "pushed" each clipped weight
    not at the bound moves to +-c (its sign; a zero bias a random one) at a random time, PUSHED of them by the end;
    "pulled" the same share shrink to a uniform 0-50% of themselves. The penalty's weights (penalty_moves) drift as
    sqrt(step / last) N(0, WANDER) each."""
    runs, curves = [], []
    last = CONTROL_STEPS[-1]
    for a, (arm, seeds) in enumerate(sorted(arms.items())):
        c = CONTROL_CLIP.get(arm)
        for seed in seeds:
            rng = np.random.default_rng([int(seed), a])
            start = he_initialisation(rng)
            run_id = f"{arm}-s{seed}"
            if c is not None:
                start = np.clip(start, -c, c)
                when = rng.uniform(0, last / PUSHED, start.shape)  # when each weight moves
                sign = np.where(start != 0, np.sign(start), rng.choice([-1.0, 1.0], start.shape))
                target = (sign * c if clipped == "pushed" else start * rng.uniform(0, 0.5, start.shape))
                target = target.astype(np.float32)
            else:
                drift = rng.normal(0, WANDER, start.shape).astype(np.float32)
            for step in CONTROL_STEPS:
                if c is None:
                    params = start + np.float32(math.sqrt(step / last)) * drift if penalty_moves else start
                elif clipped == "untrained":
                    params = start
                else:
                    params = np.where(when < step, target, start)
                curves.append({"run_id": run_id, "key": M.WEIGHTS_AT_BOUND.key, "step": step,
                               "value": share_at_bound(params, c)})
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed,
                         M.column(M.WEIGHTS_AT_BOUND): curves[-1]["value"]})
    return constructed(runs, curves)


CLAIM = G2()
