"""G2 (WGAN-GP Sec. 3.1, Figure 1c): weight clipping pushes the critic's weights to the two ends of the clipping
range; the gradient penalty does not.

Per run (the deep critics of G1's experiment, clipping against the penalty), layer by layer: the share of each
hidden layer's weights at its bound, within 5% of the layer's largest absolute weight once clipping's projection is
applied (M.WEIGHTS_AT_BOUND_LAYER: a clipped layer's largest is c once any weight reaches it, the penalty's layer its
own largest), at iteration 0 (eval.at_start: the initialisation, clipped) and at the final evaluation. The
statistic is how much training moved it: the change of its log odds from iteration 0, averaged over the hidden
layers (every layer but the score's). Two sub-tests, both must pass: the clipped arm's growth minus the penalty's
(Welch on that scale, shown as the ratio of the odds' growths), and the clipped arm's own growth (a one-sample t,
shown as the odds' growth): each past 1, smallest effect of interest a factor 2. Holm's correction on "not
reproduced" (decision.holm).

Why per layer (issue 45's review, before the third edition's runs): the whole critic's share, within 5% of its one
largest weight, held the penalty to the few weights of one layer near that weight (about 26 of the first layer's)
while the clipped critic's reached every layer (about 274,000): two scales, so "reproduced" could follow from the
penalty's share falling while the clipped one fell too. Why the clipped arm's own growth must pass: the claim is
that clipping pushes its weights to the bound, not only that it moves them more than the penalty does.

Why from iteration 0: He initialisation clipped at c = 0.01 already puts about 0.93 of the weights at +-c, before
any step (every hidden weight outside +-0.0095, of a uniform +-0.153), and the first runs measured 0.9336 to 0.9345
at every evaluation: a share at the end measured the initialisation, not training (issue 41). Why log odds: a
share that starts at 0.93 cannot double, while its odds can (0.93 to 0.97 doubles them); for small shares, the
odds' ratio is the shares'. The arm judged is c = 0.1, whose critic trains (a clipped layer's gain 0.1 sqrt(256) =
1.6, G1); c = 0.01, the figure's, is shown beside it.

Known-answer controls (`controls`): scripted critics built from the experiment's own initialisation (He uniform,
12 layers of width 256 and the score's), their shares computed by the function the runs log them with: clipped
weights pushed to +-c over training while the penalty's wander (positive); an untrained critic, clipped weights
pulled towards 0, both arms' weights pushed to their layers' largest, and an untouched clipped critic beside a
penalty whose weights spread (negative: the clipped arm's own growth must pass alone).
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
from torch.nn.utils import skip_init

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.diagnostics import NEAR_MAX, weights_at_bound_by_layer
from wgan_repro.evaluate import metrics as M

HIST_KEY = M.WEIGHT_HIST_BIN.prefix  # shares of w / max|w| in equal bins over [-1, 1] (diagnostics.py)
LAYER = M.WEIGHTS_AT_BOUND_LAYER  # each layer's share at its bound (diagnostics.weights_at_bound_by_layer)
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
                               "from iteration 0 this many times more than the penalty's, and this many times "
                               "themselves", gt=1)


class G2(Claim):
    thresholds = G2Thresholds
    variants = {
        "primary": {},
        # the contrast's (the clipped arm's own growth keeps its t: 5 runs' exact signed-rank cannot reach 0.01)
        "exact Mann-Whitney": {"kind": "rank_shift"},
        "median over the layers": {"over": "median"},
        "first and last hidden layer": {"over": "ends"},
    }
    strips = ("at_start", "at_end", "growth")

    def table(self, data: ClaimData, t: G2Thresholds, over: str = "mean", **_: Any) -> pd.DataFrame:
        """Per run: each hidden layer's share at its bound at iteration 0 and at the final evaluation, its log odds'
        change (growth), and over the hidden layers (every layer but the last, the score's) the mean share at 0
        and at the end and the growth: their mean (over="median": median; "ends": the first and last hidden
        layer's mean). NaN without an evaluation at step 0, or without the per-layer shares (runs before them).
        Beside them, for the reader, the whole critic's final share near its largest weight without the projection
        (M.WEIGHTS_NEAR_MAX, what the first edition judged)."""
        runs = finished(data.runs)
        curves = data.curves[data.curves["key"].astype(str).map(LAYER.matches)].sort_values("step")
        keys = sorted(curves["key"].unique())
        pick = lambda x: curves[x].drop_duplicates(["run_id", "key"], keep="last").pivot(  # noqa: E731
            index="run_id", columns="key", values="value").reindex(index=runs["run_id"], columns=keys)
        first = pick(curves["step"] == 0).to_numpy(dtype=float)
        last = pick(curves["step"] > 0).to_numpy(dtype=float)  # the final evaluation's, NaN kept as NaN
        reduce = {"mean": np.mean, "median": np.median, "ends": lambda g: np.mean(g[[0, -1]])}[over]
        start, end, growth = {}, {}, {}
        for row, i in enumerate(runs.index):
            logged = np.flatnonzero(~(np.isnan(first[row]) & np.isnan(last[row])))  # this run's layers
            hidden = logged[:-1]  # every layer but its last, the score's (each run's own depth)
            a, b = first[row, hidden], last[row, hidden]
            start[i], end[i] = (float(np.mean(x)) if len(x) else math.nan for x in (a, b))
            with np.errstate(all="ignore"):  # a missing share: NaN growth, said by decide
                growth[i] = float(reduce(log_odds(b) - log_odds(a))) if len(hidden) else math.nan
        return per_run(runs, {"at_start": pd.Series(start, dtype=float), "at_end": pd.Series(end, dtype=float),
                              "growth": pd.Series(growth, dtype=float),
                              "near_max": metric(runs, M.WEIGHTS_NEAR_MAX.key)})  # shown: the unprojected share

    def subtests(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame, kind: str = "diff",
                 **_: Any) -> list[SubTest]:
        arm = lambda a: table[table["arm"] == a]["growth"].to_numpy(dtype=float)  # noqa: E731
        margin = math.log(t.sesoi_factor)
        return [test for c in t.clip_arms for test in (
            SubTest(c, f"{c} / {t.penalty_arm}: growth of the odds of a weight at the bound from iteration 0",
                    (arm(c), arm(t.penalty_arm)), kind, "log", 0.0, "above", margin, "ratio"),
            SubTest(f"{c} itself", f"{c}: growth of the odds of a weight at the bound from iteration 0",
                    (arm(c),), "mean", "log", 0.0, "above", margin, "ratio"))]

    def extra_tables(self, data: ClaimData, t: G2Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        shares = {c: ("logit", (0.0, 1.0), FLOOR) for c in ("at_start", "at_end", "near_max")}
        return {"by_arm": group_table(table, "arm", ["at_start", "at_end", "growth", "near_max"], shares)}

    def controls(self, t: G2Thresholds) -> list[Control]:
        init = "the experiment's He initialisation (12 layers of width 256 and the score's), clipped at each arm's c"
        return [
            Control("clipped weights pushed to the bound",
                    f"{init}; over training 90% of the clipped weights not yet at +-c move there, the penalty's "
                    "weights wander (N(0, 0.01) by the end)", POSITIVE,
                    lambda arms: weights_control(arms, clipped="pushed")),
            Control("untrained critic",
                    f"{init}, the same at every evaluation (no step taken), in every arm", NEGATIVE,
                    lambda arms: weights_control(arms, clipped="untrained", penalty="still")),
            Control("clipped weights pulled inwards",
                    f"{init}; over training 90% of the clipped weights shrink to a uniform 0-50% of themselves, the "
                    "penalty's weights wander", NEGATIVE, lambda arms: weights_control(arms, clipped="pulled")),
            Control("both pushed to their largest",
                    f"{init}; over training 90% of every arm's weights move to their layer's largest (+-c clipped): "
                    "the clipped arm grows, no more than the penalty's", NEGATIVE,
                    lambda arms: weights_control(arms, clipped="pushed", penalty="pushed")),
            Control("clipped untouched, the penalty's spreading",
                    f"{init}; the clipped weights never move, the penalty's spread (N(0, 0.1) by the end, the tails "
                    "leaving the rest behind): the contrast alone would pass, the clipped arm's own growth must not",
                    NEGATIVE, lambda arms: weights_control(arms, clipped="untrained", penalty="spread")),
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
            ax.set_ylabel(f"hidden layers' mean share within {NEAR_MAX:.0%} of the bound")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        else:
            ax.text(0.5, 0.5, f"no {LAYER.key_pattern} logged\n(the runs predate it)", ha="center",
                    va="center", fontsize=9, transform=ax.transAxes)
            ax.set_axis_off()
        fig.suptitle("G2: the critic's weights at the end of training, and at the bound from iteration 0", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


# --------------------------------------------------------------------------- known-answer controls
CONTROL_WIDTH, CONTROL_LAYERS, CONTROL_INPUT = 256, 12, 2  # the cpu budget's critic (critic.hidden=256) on 2-D data
CONTROL_STEPS = (0, 1500, 3000)  # iteration 0, the middle and the end (the rule reads iteration 0 and the end)
CONTROL_CLIP = {"clip_0.1": 0.1, "clip_0.01": 0.01}  # the budget's clipped arms' c
PUSHED = 0.9  # the share of the weights not at the bound that training moves by the end (pushed or pulled)
WANDER, SPREAD = 0.01, 0.1  # the penalty's weights' standard deviation of movement by the end (wander, spread)


def he_initialisation(rng: np.random.Generator) -> list[np.ndarray]:
    """The experiment's critic at initialisation (models/mlp.py, init=he), each layer's weight matrix: each hidden
    layer's uniform +-sqrt(6 / fan_in), the score's +-sqrt(3 / fan_in) (the biases, 0, are not in the measure)."""
    shapes = [(CONTROL_WIDTH, CONTROL_INPUT)] + [(CONTROL_WIDTH, CONTROL_WIDTH)] * (CONTROL_LAYERS - 1)
    return [rng.uniform(-b, b, shape).astype(np.float32) for i, shape in enumerate([*shapes, (1, CONTROL_WIDTH)])
            for b in [math.sqrt((3.0 if i == len(shapes) else 6.0) / shape[1])]]


def shares_at_bound(layers: Sequence[np.ndarray], c: float | None) -> dict[str, float]:
    """M.WEIGHTS_AT_BOUND_LAYER of these weights, by the function the runs log it with."""
    critic = nn.Sequential(*(skip_init(nn.Linear, w.shape[1], w.shape[0], bias=False) for w in layers))
    for m, w in zip(critic, layers):
        m.weight = nn.Parameter(torch.from_numpy(w), requires_grad=False)
    return weights_at_bound_by_layer(critic, bound=c)


def weights_control(arms: Mapping[str, Sequence[int]], clipped: str, penalty: str = "wander") -> ClaimData:
    """Scripted critics for the budget's arms and seeds, each layer's share at its bound logged at CONTROL_STEPS.
    Every run starts from its own He initialisation (its seed's); a clipped arm (CONTROL_CLIP) starts from it
    clipped at +-c, the penalty from it as drawn. Over training, PUSHED of the weights move at random times:
    `clipped` "untrained" none; "pushed" each clipped weight not at the bound to +-c (its sign); "pulled" shrunk to a
    uniform 0-50% of itself. `penalty` "still" none; "wander" / "spread" every weight drifts as sqrt(step / last)
    N(0, WANDER / SPREAD); "pushed" to its layer's largest absolute weight (its sign)."""
    runs, curves = [], []
    last = CONTROL_STEPS[-1]
    for a, (arm, seeds) in enumerate(sorted(arms.items())):
        c = CONTROL_CLIP.get(arm)
        how = clipped if c is not None else penalty
        for seed in seeds:
            rng = np.random.default_rng([int(seed), a])
            start = [np.clip(w, -c, c) for w in he_initialisation(rng)] if c is not None else he_initialisation(rng)
            when = [rng.uniform(0, last / PUSHED, w.shape) for w in start]  # when each weight moves
            if how == "pushed":
                target = [np.sign(w) * np.abs(w).max() for w in start]
            elif how == "pulled":
                target = [w * rng.uniform(0, 0.5, w.shape).astype(np.float32) for w in start]
            else:
                sd = {"wander": WANDER, "spread": SPREAD}.get(how, 0.0)
                drift = [rng.normal(0, sd, w.shape).astype(np.float32) for w in start]
            run_id = f"{arm}-s{seed}"
            for step in CONTROL_STEPS:
                if how in ("pushed", "pulled"):
                    layers = [np.where(t < step, x, w) for w, x, t in zip(start, target, when)]
                else:
                    layers = [w + np.float32(math.sqrt(step / last)) * d for w, d in zip(start, drift)]
                curves += [{"run_id": run_id, "key": key, "step": step, "value": value}
                           for key, value in shares_at_bound(layers, c).items()]
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed})
    return constructed(runs, curves)


CLAIM = G2()
