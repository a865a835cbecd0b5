"""G1 (WGAN-GP Sec. 3.2, Figure 1b): with weight clipping the gradient of a deep critic's loss explodes or vanishes
layer by layer; with the gradient penalty it stays flat.

Per run (WGAN on the Swiss roll, 12-layer ReLU MLPs without batch norm, He initialisation): at each evaluation the
norm of the gradient of the critic's loss at each hidden layer's activations (train.critic_diagnostics); the
statistic is the least-squares slope of log10(norm) over the layer index counted from the input, in decades per
layer, averaged over the last evaluations. Moving back towards the input, a gradient that explodes grows: a
negative slope; one that vanishes shrinks: a positive slope. Expected, from the paper's figure and from the
clipped layer's gain (weights at +-c, width w: about c sqrt(w) per layer, 2.3 at c = 0.1 and w = 512, 0.23 at
0.01): c = 0.1 explodes, c = 0.01 and c = 0.001 vanish, the penalty is flat.
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
from wgan_repro.claims.engine import Claim, Gate, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, per_run
from wgan_repro.claims.stats import geometric_mean
from wgan_repro.evaluate import metrics as M

LAYER_KEY = M.GRAD_NORM_LAYER.prefix
UNDERFLOW = 1e-30  # a norm that underflowed to 0 in float32 counts as this (it vanished beyond measure)


@dataclass(frozen=True, kw_only=True)
class G1Thresholds(Thresholds):
    explode_arms: list[str] = need("arms whose gradients should grow towards the input (slope < 0)")
    vanish_arms: list[str] = need("arms whose gradients should shrink towards the input (slope > 0)")
    flat_arms: list[str] = need("arms whose gradients should stay flat (|slope| < margin)")
    last: int = need("the slope averaged over this many last evaluations", ge=1)
    margin: float = need("smallest effect of interest, decades per layer: a factor 10 over the 11 steps between "
                         "12 layers, the least the paper's log-scale figure would show", gt=0)
    learned_ratio: float = need("gate: the penalty's final W1 under this times its first (it trained: He "
                                "initialisation alone keeps gradients flat)", gt=0, le=1)


def slope(norms: np.ndarray) -> float:
    """Least-squares slope of log10(norm) over layer index 1..L (decades per layer)."""
    y = np.log10(np.maximum(norms, UNDERFLOW))
    return float(np.polyfit(np.arange(1, len(y) + 1), y, 1)[0])


class G1(Claim):
    thresholds = G1Thresholds
    variants = {
        "primary": {},
        "final evaluation only": {"last": 1},
        "every layer including the output": {"output": True},
        "exact signed-rank": {"kind": "signed_rank"},
        "the first and the last hidden layer only": {"ends": True},
    }
    strips = ("slope", "w1_over_floor")

    def table(self, data: ClaimData, t: G1Thresholds, last: int | None = None, output: bool = False,
              ends: bool = False, **_: Any) -> pd.DataFrame:
        runs = finished(data.runs)
        slopes = {}
        for i, r in runs.iterrows():
            keys = sorted(k for k in data.curves["key"].unique() if k.startswith(LAYER_KEY))
            curves = [data.curve(r.run_id, k) for k in keys]
            if not curves or not len(curves[0]):
                slopes[i] = math.nan
                continue
            hidden = curves if output else curves[:-1]  # the last layer is the score: its gradient is a constant
            k = last or t.last
            per_eval = np.array([c.iloc[-k:].to_numpy() for c in hidden]).T  # (evaluations, layers)
            if ends:  # the simplest reading: log(first) - log(last) over the layers between, per layer
                per_eval = np.log10(np.maximum(per_eval, UNDERFLOW))
                s = -(per_eval[:, 0] - per_eval[:, -1]) / (per_eval.shape[1] - 1)
                slopes[i] = float(np.mean(s))
            else:
                slopes[i] = float(np.mean([slope(row) for row in per_eval]))
        table = per_run(runs, {"slope": pd.Series(slopes, dtype=float),
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
        arm = lambda a: table[table["arm"] == a]["slope"].to_numpy(dtype=float)  # noqa: E731
        tests = [SubTest(a, f"{a}: slope of log10 gradient norm over layers (decades per layer)", (arm(a),), kind,
                         "identity", 0.0, "below", t.margin, "decades/layer") for a in t.explode_arms]
        tests += [SubTest(a, f"{a}: slope of log10 gradient norm over layers (decades per layer)", (arm(a),), kind,
                          "identity", 0.0, "above", t.margin, "decades/layer") for a in t.vanish_arms]
        tests += [SubTest(a, f"{a}: slope of log10 gradient norm over layers (decades per layer)", (arm(a),), "mean",
                          "identity", 0.0, "inside", t.margin, "decades/layer", power_effect=0.0)
                  for a in t.flat_arms]
        return tests

    def extra_tables(self, data: ClaimData, t: G1Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["slope", "w1_over_floor"], {"w1_over_floor": ("log", None, 0.0)})}

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


CLAIM = G1()
