"""`python -m wgan_repro.reproduce claim=F7 budget=cpu plan=true`: what a budget can decide, before its runs.

From a pilot (by default the claim's committed export, reports/reference/<ID>/data: runs that never enter the
confirmatory verdict), for the budget's design: the arms, seeds and runs; each sub-test with its test, alpha and the
smallest p it can reach; the pilot's SD with its interval and the value used (its 80% upper confidence limit); power
at the smallest effect of interest and the seeds needed for 80%; the minimum detectable effect; the equivalence
margin the design can establish; each gate's verdict on the pilot; the analysis variants; the wall time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy import stats

from wgan_repro.claims import jobs, shown_path
from wgan_repro.claims import power as P
from wgan_repro.claims.data import ClaimData, load_export
from wgan_repro.claims.decision import SubTest
from wgan_repro.claims.engine import Design, claim_module, design_of, thresholds
from wgan_repro.claims.sequential import SPENDING
from wgan_repro.claims.stats import SCALES


@dataclass
class Plan:
    claim: str
    budget: str
    lines: list[str] = field(default_factory=list)
    power: float = math.nan  # of the whole primary rule at the smallest effect of interest
    seeds_needed: int | None = None
    wall_min: float = math.nan
    expected_runs: float = math.nan  # a sequential design's at the pilot's estimate
    expected_wall: float = math.nan
    cap_runs: int = 0
    fixed_runs: int | None = None  # the runs of the fixed design with the sequential design's power (None: unknown)

    def text(self) -> str:
        return "\n".join(self.lines)

    def numbers(self) -> dict[str, float | int | None]:
        """What a re-render reads back (plan.json beside plan.txt); NaN, a power the pilot cannot give, as None."""
        shown = lambda v: None if v != v else round(v, 1)  # noqa: E731
        return {"power": None if self.power != self.power else self.power, "seeds_needed": self.seeds_needed,
                "wall_min": shown(self.wall_min), "expected_runs": shown(self.expected_runs),
                "expected_wall_min": shown(self.expected_wall), "cap_runs": self.cap_runs or None,
                "fixed_runs": self.fixed_runs}


def natural(test: SubTest, effect: float | None) -> str:
    """An effect on the analysis scale, in the measure's own words."""
    if effect is None:
        return "the pilot's own mean (no effect named: biased upwards)"
    if test.scale == "log":
        return f"a factor {math.exp(effect):.3g}"
    if test.scale == "fisher_z":
        return f"{effect:.3g} on Fisher's z (rho {math.tanh(effect):.3g} from the threshold)"
    return f"{effect:.3g}{' ' + test.unit if test.unit else ''}" + (" on the logit scale" if test.scale == "logit"
                                                                   else "")


def wall_minutes(data: ClaimData, claim: DictConfig, budget: str) -> tuple[float, str]:
    """The budget's wall time from the pilot's run durations (median per arm) over its parallel jobs."""
    runs = data.runs
    if runs.empty or "start_time" not in runs:
        return math.nan, "no pilot runs to time"
    minutes = (pd.to_datetime(runs["end_time"], utc=True) - pd.to_datetime(runs["start_time"], utc=True)
               ).dt.total_seconds() / 60
    per_arm = minutes.groupby(runs["tags.arm"]).median()
    todo = jobs(claim, budget)
    known = [per_arm.get(j.arm, math.nan) for j in todo]
    total = float(np.nansum(known)) / max(1, int(claim.budgets[budget].jobs))
    missing = sum(1 for k in known if not np.isfinite(k))
    how = (f"the pilot's median run time per arm (one thread per run, {claim.budgets[budget].jobs} runs at a time, "
           "each on its own core), not an uncontended benchmark") + (f"; {missing} runs of arms the pilot lacks "
                                                                      "are not counted" if missing else "")
    return total, how


def make(claim: DictConfig, budget: str, pilot_dir: Path | None) -> Plan:
    """The plan of `claim` at `budget` from the pilot in `pilot_dir` (None or absent: design and variants only)."""
    module, t = claim_module(claim.id), thresholds(claim.id, claim.rule)
    todo = jobs(claim, budget)
    b = claim.budgets[budget]
    plan = Plan(claim.id, budget)
    say = plan.lines.append
    say(f"== {claim.id} ({budget}): {claim.title}")
    other = "".join(f"; {arm} at {len(seeds)} seeds" for arm, seeds in b.arm_seeds.items())
    say(f"design: {len(b.arms)} arms ({', '.join(b.arms)}) x {len(b.seeds)} seeds{other} = {len(todo)} runs, "
        f"{b.jobs} at a time; alpha {t.alpha} per sub-test (intervals two-sided at {1 - 2 * t.alpha:.0%}); robust "
        f"needs >= {t.agree_share:.0%} of the variants")
    say(f"smallest effect of interest: {claim.sesoi or 'none named (threshold claim: power at the module distance)'}")
    if pilot_dir is None or not (pilot_dir / "runs.csv").is_file():
        say("pilot: none found (reports/reference/<ID>/data or pilot=<folder>): power unknown")
    else:
        data = load_export(pilot_dir)
        table = module.table(data, t, **module.variants["primary"])
        tests = module.subtests(data, t, table, **module.variants["primary"])
        pilot_seeds = max(1, data.runs["tags.seed"].nunique())
        scale = len(b.seeds) / pilot_seeds
        say(f"pilot: {shown_path(pilot_dir)} ({len(data.runs)} runs, {pilot_seeds} seeds; the seeds line below says "
            f"whether the design's seeds were run before); the design has {scale:.3g} x its units")
        for test, effect in zip(tests, P.effects(tests)):
            p = P.pilot(test, effect)
            say(f"  sub-test {test.name}: {test.label}; {test.kind} on the {test.scale} scale, claim "
                f"{'>' if test.side == 'above' else '<'} threshold; smallest p: {P.smallest_p(test, scale)}")
            say(f"    pilot SD {p.sd:.3g} [{p.sd_lo:.3g}, {p.sd_hi:.3g}] (95%, n={p.n}), used: {p.sd_used:.3g} "
                f"(its 80% upper limit); power computed at {natural(test, effect)} past the threshold; level at no "
                f"effect {P.level(test, t.alpha, scale, 500):.1%} (alpha {t.alpha})")
            if test.margin is not None:  # "not reproduced" short of it, at Holm's first step with several sub-tests
                level = t.alpha / len(tests)
                margin = P.equivalence_margin(test, level, scale)
                say(f"    equivalence the design can establish (80% power at no effect, one-sided level {level:.3g}"
                    f"{' (Holm: alpha / ' + str(len(tests)) + ')' if len(tests) > 1 else ''}): +-"
                    f"{natural(test, margin) if margin is not None else 'none within 64 SDs'} "
                    f"(SESOI {natural(test, test.margin)})")
        plan.power = P.power(tests, t.alpha, scale)
        plan.seeds_needed = P.seeds_needed(tests, t.alpha, pilot_seeds)
        mde = P.minimum_detectable(tests, t.alpha, scale)
        if plan.power != plan.power:  # the pilot lacks the measure (a rule redesigned after its runs)
            plan.seeds_needed = None
            say("power of the whole primary rule: unknown (the pilot's runs do not hold the measure the rule reads; "
                "a pilot that does, pilot=<export>, gives it)")
        else:
            fixed = " (a fixed design: every seed, one look)" if b.looks else ""
            say(f"power of the whole primary rule at the smallest effects, every gate passing{fixed}: {plan.power:.0%} "
                f"with {len(b.seeds)} seeds; "
                f"seeds needed for 80%: {plan.seeds_needed or f'more than {P.MOST_SEEDS}'}; minimum detectable effect: "
                + (f"{mde:.3g} x the smallest effects" if mde is not None else "beyond 64 x the smallest effects"))
        for gate in module.gates(data, t, table):
            say(f"  gate on the pilot: {'pass' if gate.passed else 'FAIL'}: {gate.text}")
        plan.wall_min, how = wall_minutes(data, claim, budget)
        say(f"wall: about {plan.wall_min:.0f} min ({how})")
        design = design_of(claim, budget)
        if len(design.looks) > 1 and plan.power == plan.power:  # (a pilot that cannot give power: unknown as well)
            sequential(plan, claim, budget, t, tests, design, pilot_seeds)
    say("variants (each decided the same way; the primary decides the word):")
    for name, what in module.describe_variants().items():
        say(f"  - {name}: {what}")
    return plan


def runs_at_looks(claim: DictConfig, budget: str, looks: Sequence[int]) -> list[int]:
    """The runs a claim has made by each look, or a fixed design would make at that many seeds (arms at their own,
    fewer seeds stop early)."""
    b = claim.budgets[budget]
    return [sum(min(n, len(b.arm_seeds[arm])) if arm in b.arm_seeds else n for arm in b.arms) for n in looks]


def boundary(test: SubTest, level: float, n: int, pilot_seeds: int) -> str:
    """Where a look's interval would clear the threshold, on the statistic's own scale, at the pilot's SD (its 80%
    upper limit): the estimate a look needs to stop for "reproduced"."""
    if test.kind not in ("mean", "diff"):
        return f"an exact one-sided p below {level:.2g}"
    units = max(2, int(round(len(np.asarray(test.samples[0])) * n / pilot_seeds)))
    sd = P.pilot(test, None).sd_used
    half = float(stats.t.ppf(1 - level, units - 1)) * sd * math.sqrt((2 if test.kind == "diff" else 1) / units)
    past = test.threshold + half if test.side == "above" else test.threshold - half
    back = SCALES["log"][1] if test.scale == "log" else (SCALES[test.scale][1] if test.kind == "mean"
                                                          else (lambda v: v))
    return f"an estimate {'>' if test.side == 'above' else '<'} {float(back(past)):.3g} (at the pilot's SD)"


def sequential(plan: Plan, claim: DictConfig, budget: str, t: Any, tests: list[SubTest], design: Design,
               pilot_seeds: int) -> None:
    """The plan of a sequential budget: each look's level and boundary, the chance of stopping at each look at three
    truths, the expected runs and wall under each, the cap and the power at the cap (which the refusal reads)."""
    say = plan.lines.append
    levels = design.levels(t.alpha)
    runs = runs_at_looks(claim, budget, design.looks)
    say(f"sequential: looks at {', '.join(map(str, design.looks))} seeds per arm (cap {design.looks[-1]}: "
        f"{runs[-1]} runs), {SPENDING[design.spending].name} spending of {2 * t.alpha:g} (two-sided repeated "
        "intervals: either word may stop it)")
    for n, level, r in zip(design.looks, levels, runs):
        say(f"  look at {n} seeds ({r} runs): nominal one-sided level {level:.2g}; {tests[0].name} stops "
            f"'reproduced' at {boundary(tests[0], level, n, pilot_seeds)}")
        for test in tests:  # an exact test whose floor is above the level: this look cannot stop on it
            floor, how = P.floor_p(test, n / pilot_seeds)
            if floor > level:
                say(f"    {test.name} cannot decide at this look: its smallest p is {floor:.2g} ({how}); the "
                    "look judges it, and it stays inconclusive")
    truths = {"at the threshold (no effect)": 0.0, "at the smallest effect of interest": 1.0,
              "at the pilot's estimate": None}
    per_run = plan.wall_min / runs[-1] if plan.wall_min == plan.wall_min and runs[-1] else math.nan
    for name, factor in truths.items():
        stops = P.sequential_stops(tests, levels, design.looks, pilot_seeds, factor)
        expected = sum((a + b) * r for a, b, r in zip(stops.reproduced, stops.not_reproduced, runs)) + \
            stops.undecided * runs[-1]
        say(f"  truth {name}: stops " + ", ".join(
            f"look {k + 1} {a + b:.0%}" for k, (a, b) in enumerate(zip(stops.reproduced, stops.not_reproduced)))
            + f", cap undecided {stops.undecided:.0%}; reproduced {stops.power:.0%}; expected runs {expected:.1f} of "
            f"{runs[-1]}, wall about {expected * per_run:.0f} min")
        if factor == 1.0:
            plan.power = stops.power
        if factor is None:
            plan.expected_runs, plan.expected_wall = float(expected), float(expected * per_run)
    plan.cap_runs = runs[-1]
    say(f"power at the cap (reproduced by the last look, truth at the smallest effect): {plan.power:.0%}")
    fixed = P.seeds_needed(tests, t.alpha, pilot_seeds, target=plan.power) if plan.power > 0 else None
    if fixed is None:
        say("the fixed design with this power: unknown (none within "
            f"{P.MOST_SEEDS} seeds, or a power of 0)")
        return
    plan.fixed_runs = runs_at_looks(claim, budget, [fixed])[0]
    saved = 1 - plan.expected_runs / plan.fixed_runs
    say(f"the fixed design with this power: {fixed} seeds per arm, {plan.fixed_runs} runs; this design's expected "
        f"runs at the pilot's estimate, {plan.expected_runs:.1f}, are {abs(saved):.0%} "
        f"{'fewer' if saved >= 0 else 'more'}")
def default_pilot(claim_id: str, repo: Path) -> Path:
    """The claim's own pilot (budget=pilot's export, reports/claims-pilot/<ID>/data) where it has one, else its
    committed reference export."""
    own = repo / "reports" / "claims-pilot" / claim_id / "data"
    return own if (own / "runs.csv").is_file() else repo / "reports" / "reference" / claim_id / "data"

