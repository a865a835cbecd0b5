"""G3 (WGAN-GP Sec. 3.1, Figure 1a): a clipped critic trained to optimality uses little of its capacity: it models
far simpler functions than the optimal one; the penalty's critic does not.

Per run (study=fixed_generator: a critic against the real data plus unit-variance noise, on 8 Gaussians, 25
Gaussians and the Swiss roll): the critic's fraction of W1 (its estimate over its Lipschitz constant, bounded from
below by the largest sampled gradient norm, over the exact W1), placed on the scale that two references give on the
same samples: the best trivial function, which ignores every mode (the better of the best radial cone and the best
linear function), at 0, and the exact Kantorovich potential between the two distributions at 1. The share of that
gap the critic closes is (fraction - baseline) / (exact - baseline). Per data set, two sub-tests, all six must pass:
penalty - clipping of the mean share (Welch), above 0 and past the smallest effect of interest, half the gap; and
the penalty's own share above 0 (a one-sample t, the same smallest effect), since the claim is that the penalty's
critic models more than a simple function, not only more than clipping's (issue 45's review: with clipping's share
at -1.3, a penalty critic itself below the cone would clear the contrast). Holm on "not reproduced".

Why the references (issue 41): at the paper's unit-variance noise the radial cone -||x - mean|| already reaches 0.49,
0.80 and 0.82 of W1 on the three data sets, as much as the committed clipped critics; even a perfect penalty critic
(fraction 1) would have read at most 2.04, 1.29 and 1.44 times clipping's fraction, against the factor 2 the design
before asked for. The share puts the cone at 0 and the optimum at 1 on every data set.

Known-answer controls (`controls`): the exact potential of the critic's own samples against the cone (positive), the
cone on both sides, the exact potential on both sides and the two reversed (negative), each run built as the study
logs it.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, Thresholds, need
from wgan_repro.claims.runs import finished, group_table, metric, per_run
from wgan_repro.evaluate import metrics as M

NOT_LOGGED = " (not logged: these runs predate the references it is computed from)"


@dataclass(frozen=True, kw_only=True)
class G3Thresholds(Thresholds):
    datasets: list[str] = need("the data sets, each a pair of arms <data>/clip and <data>/gp")
    sesoi_share: float = need("smallest effect of interest: penalty - clipping in the share of the gap closed between "
                              "the best trivial function (0) and the exact potential (1)", gt=0, le=1)
    floor_share: float = need("gate: W1's floor under this share of W1 (the two distributions are told apart)",
                              gt=0, le=1)


class G3(Claim):
    thresholds = G3Thresholds
    variants = {
        "primary": {"top": "exact"},
        "exact Mann-Whitney": {"top": "exact", "kind": "rank_shift"},
        "the gap pooled over the data set's runs": {"top": "exact", "pooled": True},
    }
    strips = ("share", "fraction")

    def table(self, data: ClaimData, t: G3Thresholds, top: str = "exact", pooled: bool = False,
              **_: Any) -> pd.DataFrame:
        """Per run: the share of the gap closed, between the best trivial function and the top: the exact
        potential's fraction (top "exact") or the exact W1 itself (top "w1": fraction 1). The gap is the run's own,
        or (pooled) its mean over the data set's runs: the references depend on the data and the noise, never on
        the critic, so every run of a data set measures the same gap."""
        runs = finished(data.runs)
        fraction, baseline, exact = (metric(runs, m.key) for m in (M.G3_FRACTION_SAMPLED, M.G3_FRACTION_BASELINE,
                                                                    M.G3_FRACTION_EXACT))
        gap = (exact if top == "exact" else pd.Series(1.0, index=runs.index)) - baseline
        if pooled:
            gap = gap.groupby(runs["tags.arm"].str.split("/").str[0]).transform("mean")
        table = per_run(runs, {"share": (fraction - baseline) / gap, "fraction": fraction,
                               "baseline": baseline, "exact": exact,
                               "fraction_bound": metric(runs, M.G3_FRACTION_BOUND.key),
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
            gp, clip = (table[table["arm"] == f"{name}/{c}"]["share"].to_numpy(dtype=float) for c in ("gp", "clip"))
            logged = bool(np.isfinite(np.concatenate([gp, clip])).any())
            said = "" if logged else NOT_LOGGED
            tests += [SubTest(name, f"{name}: share of the gap closed, penalty - clipping{said}", (gp, clip), kind,
                              "identity", 0.0, "above", t.sesoi_share, "of the gap"),
                      SubTest(f"{name} penalty", f"{name}: share of the gap closed by the penalty's critic{said}",
                              (gp,), "mean", "identity", 0.0, "above", t.sesoi_share, "of the gap")]
        #   (its t in every variant: an exact signed-rank test of 5 runs cannot reach a first look's 0.01)
        return tests

    def extra_tables(self, data: ClaimData, t: G3Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["share", "fraction", "baseline", "exact", "fraction_bound",
                                                     "estimate", "lipschitz", "w1"],
                                      {"fraction": ("log", None, 0.0), "fraction_bound": ("log", None, 0.0)})}

    def controls(self, t: G3Thresholds) -> list[Control]:
        return [
            Control("exact potential against the cone",
                    f"the penalty's critic is the exact Kantorovich potential of its own {CONTROL_POINTS:,} real and "
                    "noisy points (POT's duals, c-transformed: it models every mode), clipping's the radial cone "
                    "-||x - mean|| (it models none)", POSITIVE, control({"gp": "exact", "clip": "cone"})),
            Control("radial cone on both sides",
                    "both critics the radial cone -||x - mean||: the penalty's models no more than clipping's",
                    NEGATIVE, control({"gp": "cone", "clip": "cone"})),
            Control("exact potential on both sides",
                    "both critics the exact potential of their own points: clipping's models the optimal function "
                    "as well as the penalty's", NEGATIVE, control({"gp": "exact", "clip": "exact"})),
            Control("reversed",
                    "the penalty's critic the radial cone, clipping's the exact potential: the claim the other way "
                    "round", NEGATIVE, control({"gp": "cone", "clip": "exact"})),
        ]


# --------------------------------------------------------------------------- known-answer controls
CONTROL_POINTS = 2000  # W1, its floor and each control critic's fit, a side (the study: study.w1_points, 4,000 at
#   budget=cpu). 2,000 builds the 18 runs in about a minute on 2 cores (three POT solves a run) and keeps W1's floor
#   at most 0.15 of W1 (25 Gaussians), under the gate's 0.2; at 1,000 it reaches 0.19.
ESTIMATE_POINTS = 8192  # every estimate, a side: the study's
NOISE = 1.0  # the fixed generator's noise (study.noise_std: WGAN-GP's unit variance)
TOY = {  # conf/data's presets as data/toy.py draws them: (mode centres before scaling, std, scale)
    "eight_gaussians": (2.0 * np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)],
                                       axis=1), 0.02, 0.7072135785007072),
    "twenty_five_gaussians": (np.stack(np.meshgrid(2.0 * np.arange(-2, 3), 2.0 * np.arange(-2, 3), indexing="ij"),
                                       axis=-1).reshape(-1, 2), 0.05, 0.35360678925035356),
    "swiss_roll": (None, 0.25, 0.13333333333333333),  # sklearn make_swiss_roll(noise=0.25)[:, [0, 2]] / 7.5
}


def toy(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n points (n, 2) of a toy data set, as data/toy.py draws them (Ring, Grid, SwissRoll at conf/data's values)."""
    centres, std, scale = TOY[name]
    if centres is None:
        angle = 1.5 * np.pi * (1 + 2 * rng.random(n))
        return (np.stack([angle * np.cos(angle), angle * np.sin(angle)], axis=1) + std * rng.standard_normal((n, 2))) \
            * scale
    return (centres[rng.integers(len(centres), size=n)] + std * rng.standard_normal((n, 2))) * scale


@functools.lru_cache(maxsize=None)
def control_run(arm: str, seed: int) -> dict[str, dict[str, float]]:
    """One run of the study at an arm and seed, for each critic a control puts there ("exact": the exact potential
    of the critic's own points; "cone": -||x - mean|| about their real mean): the metrics FixedGenerator logs,
    computed as it computes them (evaluate/potentials.py), from draws seeded by the run's seed and arm. Both critics
    are 1-Lipschitz with unit gradient almost everywhere: both bounds of the Lipschitz constant are 1."""
    from wgan_repro.evaluate import potentials as P  # POT and scipy's optimiser (~1 s) only when a control is built

    rng = np.random.default_rng([seed, zlib.crc32(arm.encode())])
    name = arm.split("/")[0]
    real = lambda n: toy(name, rng, n)  # noqa: E731
    fake = lambda n: toy(name, rng, n) + NOISE * rng.standard_normal((n, 2))  # noqa: E731
    w1_real, w1_fake = real(CONTROL_POINTS), fake(CONTROL_POINTS)
    w1, exact = P.exact_potential(w1_real, w1_fake)
    baseline = P.trivial_baseline(w1_real, w1_fake)
    floor = P.exact_potential(real(CONTROL_POINTS), real(CONTROL_POINTS))[0]
    own_real, own_fake = real(CONTROL_POINTS), fake(CONTROL_POINTS)  # the critic's own points, as its batches are
    critics = {"exact": P.exact_potential(own_real, own_fake)[1], "cone": P.cone(own_real.mean(axis=0), -1.0)}
    x, y = real(ESTIMATE_POINTS), fake(ESTIMATE_POINTS)
    shared = {M.G3_W1.key: w1, M.G3_W1_FLOOR.key: floor, M.G3_STEPS.key: 0.0,
              M.G3_FRACTION_BASELINE.key: P.estimate(baseline, x, y) / w1,
              M.G3_FRACTION_EXACT.key: P.estimate(exact, x, y) / w1}
    out = {}
    for kind, f in critics.items():
        value = P.estimate(f, x, y)
        out[kind] = {**shared, M.G3_ESTIMATE.key: value, M.G3_LIPSCHITZ_SAMPLED.key: 1.0,
                     M.G3_LIPSCHITZ_BOUND.key: 1.0, M.G3_FRACTION_SAMPLED.key: value / w1,
                     M.G3_FRACTION_BOUND.key: value / w1}
    return out


def control(critic: Mapping[str, str]) -> Callable[[Mapping[str, Sequence[int]]], ClaimData]:
    """A control's runs: at each arm <data>/<constraint> and seed, the critic `critic[constraint]` names."""
    def build(arms: Mapping[str, Sequence[int]]) -> ClaimData:
        runs = []
        for arm, seeds in arms.items():
            for seed in seeds:
                logged = control_run(arm, int(seed))[critic[arm.split("/")[1]]]
                runs.append({"run_id": f"{arm}-{seed}", "tags.arm": arm, "tags.seed": seed,
                             **{M.column(k): v for k, v in logged.items()}})
        return constructed(runs)

    return build


CLAIM = G3()
