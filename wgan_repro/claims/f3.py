"""F3 (Figure 3): the optimal discriminator saturates and vanishes where the fakes are; the critic does not saturate,
is nearly linear and keeps a clean gradient.

Per study run (a discriminator and a clipped critic each trained to optimality on two 1-D Gaussians, N(2, 0.3^2)
real and N(-2, 0.3^2) fake), three sub-tests that must all pass, each on its interval over runs (log scale: the
ratios span orders of magnitude), each against a reference the problem itself gives, none a cut of our own:

- saturation: the minimax generator's gradient at the fakes over the critic's is below `ratio_max` (vanishing: two
  orders of magnitude below);
- clean gradient: the critic's gradient at the fakes over the exact optimal critic's at the critic's own estimate is
  above `ratio_max` (the same meaning of vanishing). The exact optimal critic of a translation is the Kantorovich
  potential f*(x) = x (f*' = sign(F_fake - F_real) = 1 everywhere: the fake CDF lies above the real one), W1 = 4; a
  critic with estimate E f(real) - E f(fake) = e is matched by (e / W1) f*, whose gradient is e / W1 at every fake.
  A critic that saturates over the fakes reads about 0; one whose estimate is not positive (it points the fakes
  away from the reals, or nowhere) reads 0, counted as 1e-300 on the log scale;
- linearity: the critic's deviation from the exact potential between the two means, 1 - R^2 of the critic against
  f* (the logged linearity R^2: f* is linear, so R^2 against it is R^2 against x), is below the exact optimal
  discriminator's own, D* = sigmoid(log p_real / p_fake), on the study's grid (0.233): the critic is nearer the
  optimal critic than the saturating discriminator of Figure 3 is. R^2 alone is blind to saturation (tanh(x) has
  1 - R^2 0.033 and a gradient at the fakes 7% of its centre's), hence the clean-gradient sub-test beside it.

Known-answer controls (`controls`): the exact optima, D* and f* (positive); a discriminator that has not saturated,
the saturating D* used as the critic, and f* reversed (negative); every one built per seed from samples of the two
Gaussians drawn with a seeded generator, its measures computed as the study computes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Thresholds, need
from wgan_repro.claims.runs import finished, metric, per_run
from wgan_repro.evaluate import metrics as M

# Figure 3's problem: the study's defaults (schema/study.py, OptimalCriticConfig; a test checks they agree)
REAL_MEAN, FAKE_MEAN, STD = 2.0, -2.0, 0.3
W1 = abs(REAL_MEAN - FAKE_MEAN)  # a translation: W1 is the distance between the means
FLOOR = 1e-300  # a ratio of 0 (no gradient, or one pointing away from the reals) on the log scale


def grid() -> np.ndarray:
    """The study's grid between the two means, where it fits the critic's line (runs/studies.py, OptimalCritic)."""
    lo, hi = sorted((REAL_MEAN, FAKE_MEAN))
    x = np.linspace(lo - 4 * STD - 1, hi + 4 * STD + 1, 801)
    return x[(x >= lo) & (x <= hi)]


def linear_r2(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares line through (x, y), as the study computes it (runs/studies.py linear_r2)."""
    slope, intercept = np.polyfit(x, y, 1)
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - (slope * x + intercept)) ** 2).sum() / total) if total > 0 else 0.0


def optimal_logit(x: np.ndarray) -> np.ndarray:
    """log p_real(x) / p_fake(x), the logit of the optimal discriminator D* (equal variances: linear in x)."""
    return (REAL_MEAN - FAKE_MEAN) * (x - (REAL_MEAN + FAKE_MEAN) / 2) / STD ** 2


def discriminator_bend() -> float:
    """1 - R^2 of the optimal discriminator D* against the exact optimal critic on the study's grid: how far from
    linear the saturating function of Figure 3 is (0.233)."""
    x = grid()
    return 1 - linear_r2(x, expit(optimal_logit(x)))


@dataclass(frozen=True, kw_only=True)
class F3Thresholds(Thresholds):
    ratio_max: float = need("vanishing: a gradient at the fakes below this share of its reference (the minimax "
                            "generator's against the critic's; the critic's against the exact optimal critic's)",
                            gt=0, le=1)
    power_factor: float = need("power is computed at a gradient ratio this many times past its bound", gt=1)


class F3(Claim):
    thresholds = F3Thresholds
    variants = {
        "primary": {},
        "intervals on the raw scale": {"scale": "identity"},
        "exact signed-rank": {"kind": "signed_rank"},
    }
    strips = ("minimax_over_critic", "nonsat_over_critic")

    def table(self, data: ClaimData, t: F3Thresholds, **choices: Any) -> pd.DataFrame:
        runs = finished(data.runs)
        crit = metric(runs, M.FIG3_CRITIC_GRAD.key)
        estimate = metric(runs, M.EM.key)
        over_exact = (crit * W1 / estimate).mask(estimate <= 0, 0.0)  # over e / W1, the exact critic's gradient
        return per_run(runs, {"critic_grad": crit, "minimax_grad": metric(runs, M.FIG3_MINIMAX_GRAD.key),
                              "nonsat_grad": metric(runs, M.FIG3_NONSAT_GRAD.key),
                              "minimax_over_critic": metric(runs, M.FIG3_MINIMAX_GRAD.key) / crit,
                              "nonsat_over_critic": metric(runs, M.FIG3_NONSAT_GRAD.key) / crit,
                              "critic_over_exact": over_exact,
                              "critic_r2": metric(runs, M.FIG3_LINEARITY.key),
                              "critic_slope_share_of_max": crit / metric(runs, M.FIG3_SLOPE_MAX.key)})

    def subtests(self, data: ClaimData, t: F3Thresholds, table: pd.DataFrame, scale: str = "log",
                 kind: str = "mean") -> list[SubTest]:
        log = scale == "log"
        on = (lambda x: np.log(np.clip(x, FLOOR, None))) if log else (lambda x: x)
        column = lambda c: on(table[c].to_numpy(dtype=float))  # noqa: E731
        vanishing, bend = float(on(np.array(t.ratio_max))), discriminator_bend()
        past = math.log(t.power_factor) if log else t.ratio_max * (t.power_factor - 1)  # power: a factor past the bound
        return [SubTest("saturation", "minimax gradient at the fakes / critic's", (column("minimax_over_critic"),),
                        kind, scale, vanishing, "below",
                        power_effect=math.log(t.power_factor) if log else t.ratio_max * (1 - 1 / t.power_factor)),
                SubTest("clean gradient", "critic's gradient at the fakes / the exact optimal critic's",
                        (column("critic_over_exact"),), kind, scale, vanishing, "above", power_effect=past),
                SubTest("linearity", "1 - critic's R^2 against the exact optimal critic",
                        (on(1 - table["critic_r2"].to_numpy(dtype=float)),), kind, scale, float(on(np.array(bend))),
                        "below", power_effect=math.log(2) if log else bend / 2)]

    def controls(self, t: F3Thresholds) -> list[Control]:
        exact = "the exact optimal critic f*(x) = x (the Kantorovich potential, W1 = 4)"
        optimal = "the optimal discriminator D* = sigmoid(log p_real / p_fake)"
        return [
            Control("the exact optima", f"{optimal}; {exact}", POSITIVE,
                    lambda arms: optimal_critic(arms, optimal_logit, lambda x: x, lambda x: np.ones_like(x))),
            Control("a discriminator that has not saturated",
                    f"D = sigmoid(x), the optimal direction at unit slope (D = 0.12 at the fake mean); {exact}",
                    NEGATIVE, lambda arms: optimal_critic(arms, lambda x: x, lambda x: x, lambda x: np.ones_like(x))),
            Control("a saturating critic", f"{optimal}; D* itself as the critic (flat over both modes)", NEGATIVE,
                    lambda arms: optimal_critic(arms, optimal_logit, lambda x: expit(optimal_logit(x)),
                                                lambda x: sigmoid_slope(optimal_logit(x)) * optimal_slope())),
            Control("the exact critic reversed", f"{optimal}; -f*, pointing the fakes away from the reals", NEGATIVE,
                    lambda arms: optimal_critic(arms, optimal_logit, lambda x: -x, lambda x: -np.ones_like(x))),
        ]


# --------------------------------------------------------------------------- known-answer controls
Function = Callable[[np.ndarray], np.ndarray]
SAMPLES, GRADIENT_SAMPLES = 8192, 4096  # the study's: its estimate on 8,192 a side, its gradients at 4,096 fakes


def optimal_slope() -> float:
    """d/dx of the optimal logit (a constant: equal variances)."""
    return (REAL_MEAN - FAKE_MEAN) / STD ** 2


def sigmoid_slope(logit: np.ndarray) -> np.ndarray:
    return expit(logit) * expit(-logit)


def optimal_critic(arms: Mapping[str, Sequence[int]], logit: Function, critic: Function, slope: Function) -> ClaimData:
    """Study runs for the budget's seeds, measured as the study measures them, in float64: a discriminator given by
    its logit (linear in x, so its slope is logit(1) - logit(0)) and a critic with its derivative `slope`; each seed
    draws its real and fake samples from a generator seeded by it."""
    runs = []
    for arm, seeds in arms.items():
        for seed in seeds:
            rng = np.random.default_rng([int(seed), 3])
            real = rng.normal(REAL_MEAN, STD, SAMPLES)
            fake = rng.normal(FAKE_MEAN, STD, SAMPLES)
            at = rng.normal(FAKE_MEAN, STD, GRADIENT_SAMPLES)
            z, dz = logit(at), float(logit(np.array(1.0)) - logit(np.array(0.0)))
            runs.append({
                "run_id": f"{arm}-s{seed}", "tags.arm": arm, "tags.seed": seed,
                M.column(M.FIG3_CRITIC_GRAD): float(np.abs(slope(at)).mean()),
                M.column(M.FIG3_DISC_GRAD): float((sigmoid_slope(z) * abs(dz)).mean()),
                M.column(M.FIG3_MINIMAX_GRAD): float((expit(z) * abs(dz)).mean()),  # |d/dx log(1 - D)|
                M.column(M.FIG3_NONSAT_GRAD): float((expit(-z) * abs(dz)).mean()),  # |d/dx -log D|
                M.column(M.FIG3_LINEARITY): linear_r2(grid(), critic(grid())),
                M.column(M.FIG3_SLOPE_MAX): 0.01 * (512 * 0.01) ** 3,  # c (h c)^L, 3 x 512 clipped at 0.01
                M.column(M.EM): float(critic(real).mean() - critic(fake).mean())})
    return constructed(runs)


CLAIM = F3()
