"""Claims as code: each claim is one YAML (conf/claim/<ID>.yaml: the sentence it tests, the runs per budget, the
smallest effect of interest, the rule's thresholds and the changes made after its runs) and one module
(claims/<id>.py: the typed thresholds, per-run measures, gates, sub-tests and analysis variants), judged by the
shared engine (engine.py decides the word, decision.py each sub-test's interval) and rendered into a section
(section.py) from data a reader can re-load (data.py). The pipeline lives here too: launch.py checks a budget and
runs it, render.py judges and writes the section, plan.py and power.py say what a budget can decide before its runs;
`python -m wgan_repro.reproduce` (reproduce.py) only parses, plans or runs, and prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from wgan_repro.config import CONF_DIR, ConfigError

REPO = CONF_DIR.parent  # the checkout: conf/, reports/, outputs/ and README.md, which sections update
BUDGETS = ("smoke", "pilot", "cpu", "full")
REQUIRED_BUDGETS = ("smoke", "cpu", "full")  # every claim's; a pilot budget is optional
EXPLORATORY = ("smoke", "pilot")  # on PILOT_SEEDS: they decide nothing (no verdict, no controls, no ledger entry)
SPENDINGS = ("obrien_fleming", "pocock")  # Lan-DeMets spending functions (claims/sequential.py SPENDING)
PILOT_SEEDS = range(10_000, 20_000)  # pilots' and smoke runs' seeds, never a confirmatory budget's (claims/ledger.py)
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


@dataclass
class BudgetConfig:
    """The runs of one budget: every arm (a list of overrides of `python -m wgan_repro`) at every seed."""

    arms: dict[str, list[str]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    arm_seeds: dict[str, list[int]] = field(default_factory=dict)  # arms run at other seeds than `seeds` (sub-claims)
    common: list[str] = field(default_factory=list)
    jobs: int = 2  # runs in parallel, one thread each (the cpu budget's 2-core machine)
    looks: list[int] = field(default_factory=list)  # seeds per arm at each look, the last = len(seeds), the cap; empty:
    #                                                 one look at every seed (a fixed design)
    spending: str = "obrien_fleming"  # how the level is spent over the looks (claims/sequential.py: SPENDINGS)
    wall: str = ""  # the measured wall time of the whole budget, with the machine
    needs: str = ""  # data or hardware the budget needs (full: data roots, a GPU)


@dataclass
class ChangeConfig:
    """A change to a claim's rule made after its runs (a bug, a measure that measured the wrong thing): the section
    shows it beside the verdict, with the verdict the rule gave before it."""

    runs_commit: str = ""  # the commit of the runs it came after (a prefix); runs made later are not marked
    date: str = ""
    what: str = ""  # the rule as it was and the change
    why: str = ""
    before: str = ""  # the verdict word and line the rule gave before the change (its section's verdict.json then)
    after: str = ""  # the word it gives after (the newest change's is the section's own verdict: a test checks it)


@dataclass
class ClaimConfig:
    id: str = "?"
    title: str = ""
    paper: str = ""  # the sentence it tests, with section and figure
    measures: str = ""
    statistic: str = ""
    sesoi: str = ""  # the smallest effect of interest in the measure's units, with its source ("none: ..." if none)
    rule: dict[str, Any] = field(default_factory=dict)  # name: the claim's module (claims/<id>.py), its thresholds
    rule_text: str = ""  # the rule in words, as printed in the section
    curves: list[str] = field(default_factory=list)  # metric histories the rule reads
    params: list[str] = field(default_factory=list)  # run params the rule reads
    budgets: dict[str, BudgetConfig] = field(default_factory=dict)
    changes: list[ChangeConfig] = field(default_factory=list)  # after the runs, newest last (empty: none)


@dataclass(frozen=True)
class Job:
    arm: str
    seed: int
    overrides: tuple[str, ...]

    def command(self) -> str:
        return "python -m wgan_repro " + " ".join(self.overrides)


def claim_path(claim_id: str) -> Path:
    return CONF_DIR / "claim" / f"{claim_id}.yaml"


def claim_ids() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "claim").glob("*.yaml") if p.stem != "all")


def load_claim(claim_id: str) -> DictConfig:
    """conf/claim/<id>.yaml through its typed schema; an unknown id names the allowed ones."""
    path = claim_path(claim_id)
    if not path.is_file():
        raise ConfigError(f"claim={claim_id}: no such claim; allowed: {', '.join(claim_ids())}, all")
    claim = OmegaConf.merge(OmegaConf.structured(ClaimConfig), OmegaConf.load(path))
    for name, budget in claim.budgets.items():
        if name not in BUDGETS:
            raise ConfigError(f"{path}: budgets.{name} is not a budget; allowed: {', '.join(BUDGETS)}")
        claim.budgets[name] = OmegaConf.merge(OmegaConf.structured(BudgetConfig), budget)
        b = claim.budgets[name]
        seeds = {int(x) for x in [*b.seeds, *[x for xs in b.arm_seeds.values() for x in xs]]}
        wrong = sorted(seeds - set(PILOT_SEEDS)) if name in EXPLORATORY else sorted(seeds & set(PILOT_SEEDS))
        if wrong:
            span = f"{PILOT_SEEDS.start}-{PILOT_SEEDS.stop - 1}"
            allowed = {"smoke": f"{span} (a smoke run is a prefix of the same training: its seeds are spent)",
                       "pilot": f"{span} (a pilot's runs never enter a verdict: its seeds are no confirmatory budget's)"
                       }.get(name, f"seeds outside {span} (the pilots' and smoke runs')")
            raise ConfigError(f"{path}: budgets.{name} seeds {', '.join(map(str, wrong))}; allowed: {allowed}")
        check_looks(path, name, b)
        unknown = set(claim.budgets[name].arm_seeds) - set(claim.budgets[name].arms)
        if unknown:
            raise ConfigError(f"{path}: budgets.{name}.arm_seeds names {', '.join(sorted(unknown))}, not arms; "
                              f"allowed: {', '.join(claim.budgets[name].arms)}")
    return claim


def check_looks(path: Path, name: str, b: DictConfig) -> None:
    """A budget's looks rise, are positive and end at its seeds (the cap); its spending function is known."""
    looks = list(b.looks)
    if looks and (any(int(n) < 2 for n in looks) or looks != sorted(set(looks)) or looks[-1] != len(b.seeds)):
        raise ConfigError(f"{path}: budgets.{name}.looks={looks}; allowed: rising seeds per arm, each >= 2 (an "
                          f"interval needs 2 runs), the last the budget's {len(b.seeds)} seeds (the cap)")
    longer = [arm for arm, seeds in b.arm_seeds.items() if looks and len(seeds) > looks[-1]]
    if longer:
        raise ConfigError(f"{path}: budgets.{name}.arm_seeds.{longer[0]} has {len(b.arm_seeds[longer[0]])} seeds, "
                          f"more than the cap {looks[-1]}; allowed: at most the cap (a look judges the first seeds "
                          "of each arm: the others would run and never be judged)")
    if b.spending not in SPENDINGS:
        raise ConfigError(f"{path}: budgets.{name}.spending={b.spending}; allowed: {', '.join(SPENDINGS)}")


def looks_of(claim: DictConfig, budget: str) -> tuple[int, ...]:
    """The budget's looks (seeds per arm at each); a fixed design has one, at all its seeds."""
    b = claim.budgets[budget]
    return tuple(int(n) for n in b.looks) or (len(b.seeds),)


def jobs(claim: DictConfig, budget: str) -> list[Job]:
    """Every (arm, seed) of the budget, with the overrides that run it."""
    if budget not in claim.budgets:
        raise ConfigError(f"budget={budget}: claim {claim.id} has budgets {', '.join(claim.budgets)}")
    b = claim.budgets[budget]
    return [Job(arm, seed, (*b.common, *overrides, f"train.seed={seed}"))
            for arm, overrides in b.arms.items() for seed in b.arm_seeds.get(arm, b.seeds)]


def budget_arms(claim: DictConfig, budget: str) -> dict[str, list[int]]:
    """Each arm of the budget and the seeds it runs at: what a claim's controls are built for."""
    out: dict[str, list[int]] = {}
    for job in jobs(claim, budget):
        out.setdefault(job.arm, []).append(job.seed)
    return out


def fields_of(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def shown_command(command: str) -> str:
    """The command a reader would type: without the store and output folder of the machine it ran on."""
    return " ".join(w for w in command.split() if not w.startswith(("tracking.uri=", "report.out_dir=")))


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it is under it (no machine's absolute path in a section)."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
