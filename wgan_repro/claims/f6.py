"""F6 (Sec. 4.4, Figures 6-8): with a weak generator (no batch norm and constant filters, Figure 7; a 4 x 512 MLP,
Figure 8) WGAN still produces samples while the standard GAN fails or collapses; with the DCGAN generator (Figure 6)
both learn.

Per run: the classifier's FID (quality, lower is better; a run that failed counts as worse than any that finished),
its class histogram (classes covered, KL to uniform), recall and coverage, and whether it collapsed: it failed, or
its class histogram is not that of a run that learned (every class, KL at most a stated bound). The claim has two
halves, each tested for each weak generator and each GAN arm (equal iterations, and equal network updates), all
eight sub-tests at alpha (an intersection-union test):

- quality: the log-FID ratio GAN / WGAN, Welch's interval, smallest effect of interest a factor 2;
- collapse: the count of collapsed runs, GAN against WGAN, Fisher's exact test (the conditional odds ratio's exact
  interval). A weak generator's GAN arm is bimodal (runs collapse or learn), which a count fits and a mean does not.
  The count has no equivalence branch: with a few runs an exact test cannot show two rates equal.

Gates: the control learns with both objectives, and WGAN learns on each weak generator (the paper's point is that it
"still produces samples": a test that ranks two failures shows nothing). Variants measure the collapse half by the
classes covered, the KL of the class histogram, recall or coverage (Welch), or test the quality half by ranks.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, Thresholds, need
from wgan_repro.claims.runs import group_table, metric, per_run
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F6Thresholds(Thresholds):
    control: str = need("the generator both objectives must learn with (Figure 6's DCGAN)")
    weak: list[str] = need("the weak generators (Figures 7 and 8)")
    gan_arms: list[str] = need("GAN arms: equal generator iterations, equal network updates")
    learned_share: float = need("gate: an arm learned when this share of its runs did", gt=0, le=1)
    min_classes: int = need("a run learned: finished, measured, at least this many classes ...", ge=1)
    max_kl: float = need("... and KL(class histogram || uniform) at most this; a run that did not learn collapsed",
                         gt=0)
    sesoi_factor: float = need("smallest effect of interest: the GAN's classifier FID this many times WGAN's "
                                    "(Figures 7-8 contrast collapse against recognisable digits)", gt=1)
    power_collapse: list[float] = need("the collapse rates (GAN, WGAN) the plan computes the count's power at: "
                                       "issue 41's contrast of a collapsing GAN against WGAN, 80% against 5%")
    sesoi_classes: float = need("variant's smallest effect of interest: one class", gt=0)
    sesoi_kl: float = need("variant's smallest effect of interest: 0.23 nats, a tenth of one-class KL (log 10)",
                           gt=0)
    sesoi_prdc: float = need("variants' smallest effect of interest in recall and coverage (classifier features): "
                             "one real sample of the 2,000 they are shares of (eval.classifier_samples), the smallest "
                             "difference they show; a run that collapsed onto one image scores 0", gt=0, le=1)


class F6(Claim):
    thresholds = F6Thresholds
    variants = {
        "primary": {"collapse": "count"},
        "classes covered": {"collapse": "classes"},
        "KL of the class histogram": {"collapse": "kl_classes"},
        "rank test (Hodges-Lehmann shift of log FID)": {"collapse": "count", "kind": "rank_shift"},
        "recall": {"collapse": "recall"},
        "coverage": {"collapse": "coverage"},
    }
    strips = ("quality", "kl_classes")
    scores_diverged = True  # a diverged run is scored as the worst outcome (its rule); any other failure is not

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
        table["collapsed"] = ~table["learned"]  # failed, or a class histogram unlike a run that learned
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

    def subtests(self, data: ClaimData, t: F6Thresholds, table: pd.DataFrame, collapse: str = "count",
                 kind: str = "diff", **_: Any) -> list[SubTest]:
        pairs = [(weak, gan) for weak in t.weak for gan in t.gan_arms]
        arm = lambda name: table[table["arm"] == name]  # noqa: E731
        return ([self.quality(arm(f"{weak}/wgan"), arm(f"{weak}/{gan}"), weak, gan, t, kind) for weak, gan in pairs]
                + [self.collapse(arm(f"{weak}/wgan"), arm(f"{weak}/{gan}"), weak, gan, t, collapse)
                   for weak, gan in pairs])

    @staticmethod
    def quality(w: pd.DataFrame, g: pd.DataFrame, weak: str, gan: str, t: F6Thresholds, kind: str) -> SubTest:
        """The log-FID ratio GAN / WGAN; a failed run counts as twice the worst finished run of this comparison (its
        worst rank)."""
        both = np.r_[g["quality"], w["quality"]].astype(float)
        worst = 2 * both[np.isfinite(both)].max() if np.isfinite(both).any() else math.nan
        a, b = (np.log(np.where(np.isfinite(x), x, worst)) for x in (g["quality"].to_numpy(dtype=float),
                                                                     w["quality"].to_numpy(dtype=float)))
        return SubTest(f"{weak}/{gan} quality", f"{weak}: classifier FID, {gan} / wgan", (a, b), kind, "log", 0.0,
                       "above", math.log(t.sesoi_factor))

    @staticmethod
    def collapse(w: pd.DataFrame, g: pd.DataFrame, weak: str, gan: str, t: F6Thresholds, measure: str) -> SubTest:
        """The GAN collapses where WGAN does not, by the count of collapsed runs or a per-run measure."""
        name = f"{weak}/{gan} collapse"
        if measure == "count":  # Fisher's exact test: the odds of a collapsed run, GAN against WGAN
            a, b = (x["collapsed"].to_numpy(dtype=float) for x in (g, w))
            gan_power, wgan_power = t.power_collapse
            odds = math.log(gan_power / (1 - gan_power)) - math.log(wgan_power / (1 - wgan_power))
            return SubTest(name, f"{weak}: odds of a collapsed run, {gan} ({int(a.sum())}/{len(a)}) / wgan "
                           f"({int(b.sum())}/{len(b)})", (a, b), "fisher", "log", 0.0, "above", None, "odds ratio",
                           power_effect=odds)
        if measure == "classes":  # WGAN covers more classes
            return SubTest(name, f"{weak}: classes covered, wgan - {gan}", (
                w["classes"].to_numpy(dtype=float), g["classes"].to_numpy(dtype=float)), "diff", "identity", 0.0,
                "above", t.sesoi_classes, "classes", (-10, 10))
        if measure in ("recall", "coverage"):  # WGAN's samples reach more of the real data's neighbourhoods
            return SubTest(name, f"{weak}: {measure}, wgan - {gan}", (
                w[measure].to_numpy(dtype=float), g[measure].to_numpy(dtype=float)), "diff", "identity", 0.0,
                "above", t.sesoi_prdc, "share", (-1, 1))
        return SubTest(name, f"{weak}: KL(classes || uniform), {gan} - wgan", (  # the GAN's further from uniform
            g["kl_classes"].to_numpy(dtype=float), w["kl_classes"].to_numpy(dtype=float)), "diff", "identity", 0.0,
            "above", t.sesoi_kl, "nats", (-math.log(10), math.log(10)))

    def extra_tables(self, data: ClaimData, t: F6Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"by_arm": group_table(table, "arm", ["quality", "kl_classes", "classes", "learned"],
                                      {"quality": ("log", None, 0.0), "classes": ("logit", (0.0, 10.0), 0.05),
                                       "kl_classes": ("log1p", None, 0.0),
                                       "learned": ("share", None, 0.0)})}

    def controls(self, t: F6Thresholds) -> list[Control]:
        gan = [f"{w}/{g}" for w in t.weak for g in t.gan_arms]
        return [
            Control("collapse 80% against 5%", "scripted generators in a classifier's feature space (10 classes): on "
                    "each weak generator the GAN arms collapse onto one image in 80% of their runs and otherwise "
                    "produce blurred samples of every class, WGAN collapses in 5%; on the control every arm "
                    "produces samples", POSITIVE, lambda arms: scripted(arms, {a: COLLAPSING for a in gan})),
            Control("the GAN survives too", "the same generators, every arm producing blurred samples of every "
                    "class in every run (no collapse)", NEGATIVE, lambda arms: scripted(arms, {})),
        ]


CLAIM = F6()


# --------------------------------------------------------------------------- scripted generators (the controls)
COLLAPSING, SURVIVING = 0.8, 0.05  # the collapse rates of issue 41's positive control: a GAN arm, WGAN
FEATURES, SEPARATION, BLUR = 16, 3.0, 1.5  # the feature space, its class means' distance from 0, a sample's blur
CLASSIFIER_SAMPLES, CLASS_SAMPLES = 2000, 10000  # the cpu budget's eval.classifier_samples and eval.n_samples


def scripted(arms: Mapping[str, Sequence[int]], rates: Mapping[str, float]) -> ClaimData:
    """Each arm's runs from scripted generators in a classifier's feature space: a run collapses onto one image or
    produces samples of every class, at the arm's rate (`rates`; WGAN at SURVIVING on a weak generator whose GAN arms
    collapse; else none), as its nearest whole number of runs (the first of its seeds). Each run is
    measured as the study measures one (evaluate/images.py): the FID against real features at its seed, the class
    histogram from the classifier's logits, and recall and coverage on a weak generator (the only runs a variant reads
    them from: the slow part)."""
    rows = []
    weak = {a.split("/")[0] for a in rates}
    for arm, seeds in arms.items():
        rate = rates.get(arm, SURVIVING if arm.endswith("/wgan") and arm.split("/")[0] in weak else 0.0)
        collapsed = math.floor(rate * len(seeds) + 0.5)
        for i, seed in enumerate(sorted(seeds)):
            measured = scripted_run(arm, int(seed), i < collapsed, arm.split("/")[0] != "control")
            rows.append({"run_id": f"{arm}-{seed}-{'collapsed' if i < collapsed else 'samples'}", "tags.arm": arm,
                         "tags.seed": seed, "tags.quality": M.classifier_fid("mnist").key,
                         "tags.quality_floor": M.classifier_fid("mnist", floor=True).key,
                         **{f"metrics.{k}": v for k, v in measured.items()}})
    return constructed(rows)


@lru_cache(maxsize=None)
def scripted_run(arm: str, seed: int, collapsed: bool, shares: bool) -> dict[str, float]:
    """One scripted run's final metrics. The real data: 10 classes, each a unit Gaussian around its mean (a class
    mean SEPARATION along its own axis); the classifier: the nearest class mean. A run that produces samples draws
    every class, blurred (BLUR x the data's spread); one that collapsed repeats one image (a point drawn from one
    class)."""
    import torch
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    from wgan_repro.evaluate.digits import class_metrics
    from wgan_repro.evaluate.prdc import prdc

    means = np.zeros((10, FEATURES))
    means[np.arange(10), np.arange(10)] = SEPARATION
    data = np.random.default_rng([seed, 0])  # the real features at a seed are the same for every arm, as the study's
    half_a, half_b = (means[data.integers(10, size=CLASSIFIER_SAMPLES)]
                      + data.standard_normal((CLASSIFIER_SAMPLES, FEATURES)) for _ in range(2))
    rng = np.random.default_rng([seed, 1 + zlib.crc32(arm.encode())])

    def generated(n: int) -> np.ndarray:
        if collapsed:
            return np.repeat(means[[rng.integers(10)]] + rng.standard_normal((1, FEATURES)), n, axis=0)
        return means[rng.integers(10, size=n)] + BLUR * rng.standard_normal((n, FEATURES))

    def fid(x: np.ndarray, y: np.ndarray) -> float:
        stats = [fid_features_to_statistics(torch.from_numpy(v).double()) for v in (x, y)]
        return float(fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID])

    fake = generated(CLASS_SAMPLES)
    logits = -0.5 * ((torch.from_numpy(fake)[:, None, :] - torch.from_numpy(means)[None]) ** 2).sum(-1)
    out = {M.classifier_fid("mnist").key: fid(fake[:CLASSIFIER_SAMPLES], half_a),
           M.classifier_fid("mnist", floor=True).key: fid(half_b, half_a), **class_metrics(logits)}
    if shares:
        measured = prdc(torch.from_numpy(fake[:CLASSIFIER_SAMPLES]), torch.from_numpy(half_a))
        out |= {M.prdc(k, "_mnist").key: measured[k] for k in ("recall", "coverage")}
    return out
