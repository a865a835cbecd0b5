"""G1 (WGAN-GP Sec. 3.2, Figure 1b): with weight clipping the gradient of a deep critic's loss explodes or vanishes
layer by layer; with the gradient penalty it stays flat.

Per run (WGAN on the Swiss roll, 12-layer ReLU MLPs without batch norm, He initialisation): at each evaluation the
norm of the gradient of the critic's loss at each hidden layer's activations (train.critic_diagnostics); the
statistic is the least-squares slope of log10(norm) over the layer index counted from the input, in decades per
layer, averaged over the last evaluations. Moving back towards the input, a gradient that explodes grows: a
negative slope; one that vanishes shrinks: a positive slope. Expected, from the paper's figure and from the
clipped layer's gain (weights at +-c, width w: about c sqrt(w) per layer, 2.3 at c = 0.1 and w = 512, 0.23 at
0.01): c = 0.1 explodes, c = 0.01 and c = 0.001 vanish, the penalty is flat.

"Flat" is judged against the penalty's own profile at iteration 0 (eval.at_start), not against 0: He
initialisation alone keeps a ReLU network's gradients flat (slope 0.000 before any step), so the question is
whether training under the penalty moved the profile from where the initialisation put it, not whether it sits near
0. The flat arms' statistic is the change of the slope from iteration 0 (issue 41: the first runs' penalty
drifted from -0.006 to -0.044 in 300 iterations, so the cpu budget runs 3,000).

Known-answer controls (`controls`): the clipped layers' gain c sqrt(w) as a formula, the penalty at its
iteration-0 slope (positive); the penalty drifting as far as clipping's explosion, and clipping as flat as He
initialisation (negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, per_run
from wgan_repro.claims.stats import geometric_mean
from wgan_repro.evaluate import metrics as M

LAYER_KEY = M.GRAD_NORM_LAYER.prefix
UNDERFLOW = 1e-30  # a norm that underflowed to 0 in float32 counts as this (it vanished beyond measure)


@dataclass(frozen=True, kw_only=True)
class G1Thresholds(Thresholds):
    explode_arms: list[str] = need("arms whose gradients should grow towards the input (slope < 0)")
    vanish_arms: list[str] = need("arms whose gradients should shrink towards the input (slope > 0)")
    flat_arms: list[str] = need("arms whose gradients should stay as flat as at iteration 0 (|change of the slope "
                                "from iteration 0| < margin)")
    last: int = need("the slope averaged over this many last evaluations", ge=1)
    margin: float = need("smallest effect of interest, decades per layer: a factor 10 over the 11 steps between "
                         "12 layers, the least the paper's log-scale figure would show", gt=0)
    learned_ratio: float = need("gate: the penalty's final W1 under this times its first (it trained: He "
                                "initialisation alone keeps gradients flat)", gt=0, le=1)


def slope(norms: np.ndarray) -> float:
    """Least-squares slope of log10(norm) over layer index 1..L (decades per layer)."""
    y = np.log10(np.maximum(norms, UNDERFLOW))
    return float(np.polyfit(np.arange(1, len(y) + 1), y, 1)[0])


def profile_slope(norms: np.ndarray, ends: bool = False) -> float:
    """One evaluation's profile (norms over the layers, from the input) as decades per layer: the least-squares
    slope, or (ends) the first and the last layer's difference over the layers between; NaN when a layer is missing."""
    if not np.isfinite(norms).all():
        return math.nan
    if ends:
        y = np.log10(np.maximum(norms, UNDERFLOW))
        return float((y[-1] - y[0]) / (len(y) - 1))
    return slope(norms)


def layer_profiles(data: ClaimData) -> pd.DataFrame:
    """Every run's gradient norms per evaluation: rows (run_id, step), one column per layer from the input."""
    layers = data.curves[data.curves["key"].astype(str).str.startswith(LAYER_KEY)]
    if layers.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["run_id", "step"]))
    return layers.pivot_table(index=["run_id", "step"], columns="key", values="value").sort_index(axis=1)


class G1(Claim):
    thresholds = G1Thresholds
    variants = {
        "primary": {},
        "final evaluation only": {"last": 1},
        "every layer including the output": {"output": True},
        "exact signed-rank": {"kind": "signed_rank"},
        "the first and the last hidden layer only": {"ends": True},
    }
    strips = ("slope", "slope_change", "w1_over_floor")

    def table(self, data: ClaimData, t: G1Thresholds, last: int | None = None, output: bool = False,
              ends: bool = False, **_: Any) -> pd.DataFrame:
        """Per run: the slope averaged over the last evaluations, the slope at iteration 0 (NaN without an
        evaluation at step 0) and the change between them; W1 over its floor and over its first evaluation."""
        runs = finished(data.runs)
        profiles = layer_profiles(data)
        at_end, at_start = {}, {}
        for i, r in runs.iterrows():
            if r.run_id not in profiles.index.get_level_values(0):
                at_end[i] = at_start[i] = math.nan
                continue
            norms = profiles.loc[r.run_id]  # (evaluations, layers)
            if not output:
                norms = norms.iloc[:, :-1]  # the last layer is the score: its gradient is a constant
            at_end[i] = float(np.mean([profile_slope(row, ends) for row in norms.iloc[-(last or t.last):].to_numpy()]))
            at_start[i] = profile_slope(norms.loc[0].to_numpy(), ends) if 0 in norms.index else math.nan
        end, start = pd.Series(at_end, dtype=float), pd.Series(at_start, dtype=float)
        table = per_run(runs, {"slope": end, "slope_at_start": start, "slope_change": end - start,
                               "w1": runs.get(M.column(M.W1), pd.Series(np.nan, index=runs.index)).astype(float),
                               "w1_floor": runs.get(M.column(M.W1_FLOOR),
                                                    pd.Series(np.nan, index=runs.index)).astype(float)})
        table["w1_over_floor"] = table["w1"] / table["w1_floor"]
        first = pd.Series({i: (lambda c: float(c.iloc[0]) if len(c) else math.nan)(data.curve(r.run_id, M.W1.key))
                           for i, r in runs.iterrows()}, dtype=float)
        table["w1_over_first"] = (table["w1"] / first.reindex(runs.index).to_numpy()).to_numpy()
        return table

    def gates(self, data: ClaimData, t: G1Thresholds, table: pd.DataFrame) -> list[Gate]:
        out = []
        for arm in t.flat_arms:
            g = table[table["arm"] == arm]["w1_over_first"]
            ratio = geometric_mean(g)
            out.append(Gate(arm, bool(ratio <= t.learned_ratio),
                            f"{arm}: final W1 {ratio:.3g} x its first evaluation's (gate <= {t.learned_ratio:g}: the "
                            "penalty's critic trained, so flatness is not an untrained network's)"))
        return out

    def subtests(self, data: ClaimData, t: G1Thresholds, table: pd.DataFrame, kind: str = "mean",
                 **_: Any) -> list[SubTest]:
        arm = lambda a, c="slope": table[table["arm"] == a][c].to_numpy(dtype=float)  # noqa: E731
        tests = [SubTest(a, f"{a}: slope of log10 gradient norm over layers (decades per layer)", (arm(a),), kind,
                         "identity", 0.0, "below", t.margin, "decades/layer") for a in t.explode_arms]
        tests += [SubTest(a, f"{a}: slope of log10 gradient norm over layers (decades per layer)", (arm(a),), kind,
                          "identity", 0.0, "above", t.margin, "decades/layer") for a in t.vanish_arms]
        tests += [SubTest(a, f"{a}: change of the slope from iteration 0 (decades per layer)",
                          (arm(a, "slope_change"),), kind, "identity", 0.0, "inside", t.margin, "decades/layer",
                          power_effect=0.0)
                  for a in t.flat_arms]
        return tests

    def extra_tables(self, data: ClaimData, t: G1Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["slope", "slope_at_start", "slope_change", "w1_over_floor"],
                                      {"w1_over_floor": ("log", None, 0.0)})}

    def controls(self, t: G1Thresholds) -> list[Control]:
        clipped = "each clipped layer's gain c sqrt(256) as a formula (c = 0.1 explodes, 0.01 and 0.001 vanish)"
        return [
            Control("clipping's gain, the penalty as at iteration 0",
                    f"{clipped}; the penalty's profile stays at its iteration-0 slope while its W1 falls 4x",
                    POSITIVE, lambda arms: profiles_control(arms, penalty_slope=None)),
            Control("the penalty drifts as clipping explodes",
                    f"{clipped}; the penalty's slope drifts from its iteration-0 value to c = 0.1's, "
                    f"{clipped_slope(0.1):.3f} decades per layer", NEGATIVE,
                    lambda arms: profiles_control(arms, penalty_slope=clipped_slope(0.1))),
            Control("clipping as flat as He initialisation",
                    "every arm's profile stays at its iteration-0 slope (a clipped layer's gain of 1), the penalty's "
                    "W1 falls 4x", NEGATIVE, lambda arms: profiles_control(arms, penalty_slope=None, clip_gain=False)),
        ]

    def figure(self, data: ClaimData, t: G1Thresholds, table: pd.DataFrame, path: Any) -> Any:
        """WGAN-GP Figure 1b from the export: every run's gradient norm per layer at its final evaluation (one line
        per run, a colour per arm; a norm that underflowed drawn at 1e-30), and W1 over training (the gate)."""
        runs = finished(data.runs)
        keys = sorted(k for k in data.curves["key"].unique() if k.startswith(LAYER_KEY))
        if runs.empty or not keys:
            return None
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        colour = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(runs["tags.arm"]))}
        labelled = set()
        for _, r in runs.iterrows():
            arm = r["tags.arm"]
            norms = [data.curve(r.run_id, k) for k in keys]
            final = np.array([float(c.iloc[-1]) if len(c) else np.nan for c in norms])
            label = None if arm in labelled else arm
            labelled.add(arm)
            axes[0].plot(range(1, len(keys) + 1), np.maximum(final, UNDERFLOW), "o-", ms=3, lw=1, alpha=0.7,
                         color=colour[arm], label=label)
            w1 = data.curve(r.run_id, M.W1.key)
            axes[1].plot(w1.index, w1.to_numpy(), lw=1, alpha=0.7, color=colour[arm], label=label)
        axes[0].set_xlabel("layer (1: next to the input; last: the score)")
        axes[0].set_ylabel("gradient norm of the critic's loss\nat the layer's activations")
        axes[0].set_xticks(range(1, len(keys) + 1))
        axes[1].set_xlabel("generator iteration")
        axes[1].set_ylabel(M.W1.words)
        for ax in axes:
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("G1: final evaluation of every run (left), W1 over training (right)", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


# --------------------------------------------------------------------------- known-answer controls
CONTROL_WIDTH = 256  # the cpu budget's critic width (critic.hidden=256)
CONTROL_STEPS = tuple(range(0, 3001, 50))  # the cpu budget's evaluations: iteration 0, then every 50 to 3,000
CONTROL_CLIP = {"clip_0.1": 0.1, "clip_0.01": 0.01, "clip_0.001": 0.001}  # the budget's clipped arms' c
CONTROL_LAYERS = 13  # 12 hidden layers and the score
SETTLE = 300.0  # iterations over which a profile moves from its iteration-0 slope to where it settles


def clipped_slope(c: float, width: int = CONTROL_WIDTH) -> float:
    """Where a clipped critic's profile settles: a layer of weights at +-c and `width` inputs multiplies the
    gradient by about c sqrt(width) on the way back, so log10(norm) falls by log10(c sqrt(width)) per layer from the
    input (negative: explodes towards the input; positive: vanishes)."""
    return -math.log10(c * math.sqrt(width))


def profiles_control(arms: Mapping[str, Sequence[int]], penalty_slope: float | None,
                     clip_gain: bool = True) -> ClaimData:
    """Scripted profiles for the budget's arms and seeds: at iteration 0 every run is He-initialised (flat: slope
    N(0, 0.01), as the first runs measured, -0.013 to 0.014); over training a clipped arm settles at
    clipped_slope(c) (clip_gain; else it stays) and a penalty arm at `penalty_slope` (None: it stays), each run
    +- N(0, 0.02), every norm with N(0, 0.02) decades of noise. W1 falls to a quarter of its start in every run (the
    penalty's critic trained: its gate)."""
    runs, curves = [], []
    for a, (arm, seeds) in enumerate(sorted(arms.items())):
        c = CONTROL_CLIP.get(arm)
        for seed in seeds:
            rng = np.random.default_rng([int(seed), a])
            run_id = f"{arm}-s{seed}"
            start = rng.normal(0, 0.01)
            target = clipped_slope(c) if c is not None and clip_gain else penalty_slope if c is None else None
            end = start if target is None else target + rng.normal(0, 0.02)
            w1_start = 1.5 * math.exp(rng.normal(0, 0.3))
            for step in CONTROL_STEPS:
                settled = math.exp(-step / SETTLE)
                s = end + (start - end) * settled
                logs = 0.1 + s * (np.arange(1, CONTROL_LAYERS + 1) - CONTROL_LAYERS) + rng.normal(0, 0.02,
                                                                                                  CONTROL_LAYERS)
                curves += [{"run_id": run_id, "key": M.GRAD_NORM_LAYER.key(i), "step": step, "value": 10 ** y}
                           for i, y in enumerate(logs, 1)]
                w1 = w1_start * (0.25 + 0.75 * settled)
                curves.append({"run_id": run_id, "key": M.W1.key, "step": step, "value": w1})
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed, M.column(M.W1): w1,
                         M.column(M.W1_FLOOR): 0.02})
    return constructed(runs, curves)


CLAIM = G1()
