"""F7 (Sec. 4.3): with a momentum optimiser (Adam, beta1 > 0) on the critic WGAN training becomes unstable, where
RMSProp is not.

Per run, an instability measure that counts every run, rare events or not: U, the mean over evaluations of
max(0, increase of log W1 from one evaluation to the next). A run whose W1 over its last third stays above
`broken_factor` x its floor never trained; it takes the worst value (worse than every measured run: a worst-rank
composite), so a run broken from its first evaluations counts as unstable instead of as "no event"; a run that only
improves (U = 0) takes the best (better than every measured run). Units are pairs: at each learning rate and seed,
the mean over the momentum arms of log U minus RMSProp's. High learning rates, where RMSProp itself is expected to
break, test nothing about momentum: named in the rule before the runs (`high_rates`), they are left out of the
primary and reported as the sub-claim "high learning rates"; RMSProp must train at every other rate (the gate:
choosing the rates by whether RMSProp broke chose them from the outcome, issue 45's review). The
decision is the exact signed-rank test's Hodges-Lehmann interval of the ratio of U, smallest effect of interest a
factor 2 in U itself (the first design's U + offset read a true doubling of U as 1.65 x at offset 0.01 and 1.16 x at
0.1: the threshold's meaning moved with the offset). Adam's beta1 = 0 (no momentum) is reported as a control. The
paper's other sentence, that the step's cosine with the gradient turns negative, is not part of the claim: its share
of negative steps is reported per arm, not tested (RMSProp's is positive by construction).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from wgan_repro.claims.data import ClaimData, constructed
from wgan_repro.claims.decision import SubTest, decide
from wgan_repro.claims.engine import NEGATIVE, POSITIVE, Claim, Control, Gate, Thresholds, need
from wgan_repro.claims.runs import group_table, metric, per_run
from wgan_repro.evaluate import metrics as M


@dataclass(frozen=True, kw_only=True)
class F7Thresholds(Thresholds):
    quality: str = need("the quality series (lower is better)")
    floor: str = need("its floor (two real samples)")
    momentum_arms: list[str] = need("the arms with momentum (Adam, beta1 > 0)")
    baseline_arm: str = need("the arm without (RMSProp)")
    control_arm: str = need("reported: Adam with beta1 = 0")
    every: int = need("use every k-th evaluation (a variant thins them)", ge=1)
    broken_factor: float = need("a run whose last-third median W1 is above this x its floor never trained "
                                      "(worst rank)", gt=1)
    high_rates: list[float] = need("learning rates fixed before the runs as high (RMSProp expected to break too): "
                                   "a sub-claim, never in the primary, which tests every other rate")
    baseline_share: float = need("gate: RMSProp trains at each tested learning rate (at least this share of its "
                                      "runs there not broken)", gt=0, le=1)
    sesoi_factor: float = need("smallest effect of interest: momentum's U this many times RMSProp's", gt=1)


def instability(w1: pd.Series, every: int) -> float:
    """U: the mean over evaluations of max(0, the increase of log W1 since the previous evaluation)."""
    q = np.log(np.clip(w1.to_numpy(dtype=float)[::every], 1e-12, None))
    return float(np.clip(np.diff(q), 0, None).mean()) if len(q) > 1 else math.nan


EVALUATIONS = 31  # the cpu design's: iteration 0, then every 50 to 1,500


def instability_world(arms: Mapping[str, Sequence[int]], t: F7Thresholds, factor: float) -> ClaimData:
    """Constructed runs of the F7 form for these arms ("<optimiser>@<learning rate>") and seeds, whose instability
    is known: W1 falls from about 44 to 4 times its floor (0.04-0.08, as the committed runs') over 31 evaluations,
    and worsens K times (2 to 5, drawn per run) by a factor exp(h) for two evaluations before it recovers, h drawn
    per event around 0.4 (lognormal, SD 0.3 on the log). The momentum arms' h is `factor` times as large, so their U
    is `factor` times (a little more: the fall beneath a spike is the same) RMSProp's and Adam beta1 = 0's in
    expectation. Every run trains (its last third is near its floor). Each run's randomness from its arm and seed."""
    runs, curves = [], []
    steps = np.arange(EVALUATIONS) * 50
    for arm, seeds in arms.items():
        group, lr = arm.split("@")[0], float(arm.split("@")[1])
        for seed in seeds:
            rng = np.random.default_rng([zlib.crc32(arm.encode()), int(seed)])
            floor = float(rng.uniform(0.04, 0.08))
            log_w1 = np.log(floor * (4 + 40 * np.exp(-np.arange(EVALUATIONS) / 5)))
            starts = 2 + 3 * rng.choice(9, size=int(rng.integers(2, 6)), replace=False)  # 2, 5, ..., 26: apart
            for start in starts:
                h = float(np.exp(rng.normal(math.log(0.4), 0.3))) * (factor if group in t.momentum_arms else 1.0)
                log_w1[start:start + 2] += h
            w1 = np.exp(log_w1)
            run_id = f"{arm}-{seed}"
            runs.append({"run_id": run_id, "tags.arm": arm, "tags.seed": seed, "params.optimizer.lr": lr,
                         f"metrics.{t.quality}": float(w1[-1]), f"metrics.{t.floor}": floor})
            curves += [{"run_id": run_id, "key": t.quality, "step": int(s), "value": float(v)}
                       for s, v in zip(steps, w1)]
    return constructed(runs, curves)


class F7(Claim):
    thresholds = F7Thresholds
    variants = {  # no offset variants (issue 41): U + offset changed the estimand's scale, not a choice of analysis
        "primary": {},
        "every second evaluation": {"every": 2},
        "paired t test": {"kind": "mean"},
    }
    strips = ("log_u", "w1_over_floor")
    scores_diverged = True  # a diverged run is scored as the worst outcome (its rule); any other failure is not

    def table(self, data: ClaimData, t: F7Thresholds, every: int | None = None, **_: Any) -> pd.DataFrame:
        runs = data.runs[data.runs["status"].isin(["FINISHED", "FAILED"])]
        u, tail, negative = {}, {}, {}
        for i, r in runs.iterrows():
            share = data.curve(r.run_id, M.NEGATIVE_COSINE.key)
            negative[i] = float(share.mean()) if len(share) else math.nan
            w1 = data.curve(r.run_id, t.quality)
            u[i] = instability(w1, every or t.every) if r["status"] == "FINISHED" else math.inf
            last = w1.iloc[-max(1, len(w1) // 3):] if len(w1) else w1
            tail[i] = float(last.median()) if r["status"] == "FINISHED" and len(last) else math.inf
        table = per_run(runs, {"u": pd.Series(u, dtype=float), "w1_tail": pd.Series(tail, dtype=float),
                               "w1_floor": metric(runs, t.floor),
                               "negative_share": pd.Series(negative, dtype=float)})
        table["lr"] = runs["params.optimizer.lr"].astype(float).to_numpy()
        table["group"] = table["arm"].str.split("@").str[0]
        table["w1_over_floor"] = table["w1_tail"] / table["w1_floor"]
        table["broken"] = ~(table["w1_over_floor"] <= t.broken_factor)
        u = table["u"].to_numpy(dtype=float)
        measured = pd.Series(np.log(np.where(u > 0, u, np.nan)), index=table.index)  # U = 0 and inf: ranked below
        ok = measured[~table["broken"] & np.isfinite(measured)]
        worst = (float(ok.max()) if len(ok) else 0.0) + 1.0  # worse than every measured run
        best = (float(ok.min()) if len(ok) else 0.0) - 1.0  # a run that never worsened (U = 0): better than every one
        table["log_u"] = np.where(table["broken"] | ~(u < math.inf), worst, np.where(u > 0, measured, best))
        return table

    def tested_rates(self, table: pd.DataFrame, t: F7Thresholds) -> list[float]:
        """The learning rates the primary tests: every rate the runs have but the high ones, fixed before the runs
        (issue 45's review: choosing them by whether RMSProp broke chose them from the outcome)."""
        return sorted(float(lr) for lr in table["lr"].unique() if not np.isclose(lr, t.high_rates).any())

    def pairs(self, table: pd.DataFrame, t: F7Thresholds, arms: list[str], rates: list[float]) -> np.ndarray:
        """Per (learning rate, seed): the mean over `arms` of log U minus RMSProp's."""
        at = table[table["lr"].isin(rates)].pivot_table(index=["lr", "seed"], columns="group", values="log_u")
        if t.baseline_arm not in at or not set(arms) <= set(at.columns):
            return np.array([])
        return (at[arms].mean(axis=1) - at[t.baseline_arm]).dropna().to_numpy()

    def gates(self, data: ClaimData, t: F7Thresholds, table: pd.DataFrame) -> list[Gate]:
        """RMSProp trained at every tested rate: momentum's instability is judged against a baseline that trains."""
        rates = self.tested_rates(table, t)
        base = table[table["group"] == t.baseline_arm]
        ok = (~base["broken"]).groupby(base["lr"]).mean()
        shares = {r: float(ok.get(r, math.nan)) for r in rates}
        return [Gate(t.baseline_arm, bool(rates) and all(s >= t.baseline_share for s in shares.values()),
                     f"{t.baseline_arm}: trained (last-third W1 <= {t.broken_factor:g} x floor) in "
                     + (", ".join(f"{s:.0%} of runs at {r:g}" for r, s in shares.items()) or "no tested rate")
                     + f" (gate >= {t.baseline_share:.0%} at each tested rate; high, not tested: "
                     f"{', '.join(f'{r:g}' for r in t.high_rates)})")]

    def subtests(self, data: ClaimData, t: F7Thresholds, table: pd.DataFrame, kind: str = "signed_rank",
                 **_: Any) -> list[SubTest]:
        d = self.pairs(table, t, list(t.momentum_arms), self.tested_rates(table, t))
        return [SubTest("momentum", "momentum / RMSProp, U", (d,), kind, "log", 0.0, "above",
                        math.log(t.sesoi_factor), "ratio")]

    def extra_tables(self, data: ClaimData, t: F7Thresholds, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Sub-claims (other estimands, each decided the same way) and the arms' summaries."""
        rates = self.tested_rates(table, t)
        high = sorted(set(table["lr"]) - set(rates))
        rows = []
        for name, arms, lrs in [*((f"{a} alone", [a], rates) for a in t.momentum_arms),
                                (f"{t.control_arm} (no momentum: a control)", [t.control_arm], rates),
                                ("high learning rates (named before the runs)", list(t.momentum_arms), high)]:
            if not lrs:
                continue
            d = self.pairs(table, t, arms, lrs)
            o = decide(SubTest(name, "ratio of U", (d,), "signed_rank", "log", 0.0, "above",
                               math.log(t.sesoi_factor)), t.alpha)
            rows.append({"sub_claim": name, "learning_rates": " ".join(f"{r:g}" for r in lrs), "pairs": o.n,
                         "ratio": o.value, "lo": o.lo, "hi": o.hi, "p": o.p, "word": o.word, "detail": o.detail})
        by = group_table(table.sort_values(["group", "lr"]), "arm", ["u", "w1_over_floor", "broken",
                                                                      "negative_share"],
                         {"w1_over_floor": ("log", None, 0.0), "broken": ("share", None, 0.0),
                          "u": ("log1p", None, 0.0), "negative_share": ("logit", (0.0, 1.0), 1e-4)})
        return {"sub_claims": pd.DataFrame(rows), "by_arm": by}

    def controls(self, t: F7Thresholds) -> list[Control]:
        """Runs built with a known ratio of instability, momentum's U to RMSProp's (instability_world)."""
        what = ("W1 curves from a formula, every run trained, momentum's spikes of W1 {} RMSProp's (and Adam beta1 = "
                "0's), as many of them: U {}")
        return [Control("momentum triples U", what.format("three times as high as", "tripled"), POSITIVE,
                        lambda arms: instability_world(arms, t, 3.0)),
                Control("momentum doubles U", what.format("twice as high as", "doubled, the smallest effect of "
                                                          "interest"), POSITIVE,
                        lambda arms: instability_world(arms, t, 2.0)),
                Control("equal instability", what.format("as high as", "equal"), NEGATIVE,
                        lambda arms: instability_world(arms, t, 1.0))]


    def figure(self, data: ClaimData, t: F7Thresholds, table: pd.DataFrame, path: Any) -> Any:
        """W1 over training at each learning rate, a colour per optimiser and a line per seed (the instability the
        claim is about, as it happened), and the paired ratios of U, momentum / RMSProp, per learning rate
        and seed (what the rule decides on), against 1 and the smallest effect of interest."""
        if table.empty:
            return None
        rates = sorted(table["lr"].unique())
        groups = list(dict.fromkeys([t.baseline_arm, t.control_arm, *t.momentum_arms,
                                     *sorted(table["group"].unique())]))
        colour = {g: f"C{i}" for i, g in enumerate(groups)}
        fig, axes = plt.subplots(1, len(rates) + 1, figsize=(4.3 * (len(rates) + 1), 3.9), squeeze=False)
        for ax, lr in zip(axes[0], rates):
            labelled = set()
            for _, r in table[table["lr"] == lr].sort_values(["group", "seed"]).iterrows():
                w1 = data.curve(r.run_id, t.quality)
                ax.plot(w1.index, w1.to_numpy(), lw=0.9, alpha=0.75, color=colour[r["group"]],
                        label=None if r["group"] in labelled else r["group"])
                labelled.add(r["group"])
            ax.set_yscale("log")
            ax.set_title(f"learning rate {lr:g}", fontsize=9)
            ax.set_xlabel("generator iteration", fontsize=9)
            ax.set_ylabel("exact W1 to the data", fontsize=9)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        ax = axes[0][-1]
        tested = self.tested_rates(table, t)
        at = table.pivot_table(index=["lr", "seed"], columns="group", values="log_u")
        for i, lr in enumerate(rates):
            if t.baseline_arm not in at or not set(t.momentum_arms) <= set(at.columns) or lr not in at.index:
                continue
            d = (at.loc[lr][list(t.momentum_arms)].mean(axis=1) - at.loc[lr][t.baseline_arm]).dropna().to_numpy()
            ax.plot(np.full(len(d), i) + np.linspace(-0.15, 0.15, len(d)), np.exp(d), "o", ms=5,
                    color="C3" if lr in tested else "0.6")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhline(t.sesoi_factor, color="k", lw=0.8, ls="--",
                   label=f"smallest effect of interest ({t.sesoi_factor:g}x)")
        ax.set_yscale("log")
        ax.set_xticks(range(len(rates)), [f"{lr:g}" + ("" if lr in tested else "\n(high: a sub-claim)")
                                          for lr in rates], fontsize=8)
        ax.set_xlim(-0.5, len(rates) - 0.5)
        ax.set_xlabel("learning rate", fontsize=9)
        ax.set_ylabel("U, momentum / RMSProp\n(one point per seed; > 1: less stable)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.suptitle("F7: W1 over training per learning rate (left), the paired ratios the rule decides on (right)",
                     fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path


CLAIM = F7()
