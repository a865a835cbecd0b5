"""The claim registry and the engine that judges a claim: one module per claim (claims/f1.py ... f7.py, found from
conf/claim/<ID>.yaml by its id), each holding an instance `CLAIM` of a `Claim` subclass with its typed thresholds,
its per-run measures, its regime gates, its sub-tests and its analysis variants. The engine is shared:

1. the YAML's `rule:` is checked against the claim's thresholds (an unknown key or a value out of range is a
   ConfigError naming it, before any run);
2. the gates say whether each arm reached the regime the claim is about;
3. every analysis (the primary, then the variants declared before the runs) is decided on intervals
   (decision.py): the primary gives the word, the variants its robustness;
4. an arm that missed its gate makes the word "inconclusive (budget: ...)", never "not reproduced".

`verdict` is the one place a claim's word and its qualifiers are decided: gates, the primary's word, robustness,
and the power the plan gave before the runs. Checks to come (controls, sequential stopping) join it there.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from wgan_repro.claims import decision as D
from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.power import MOST_SEEDS, TARGET
from wgan_repro.schema import ConfigError, knob


def need(doc: str, *, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    """A threshold with a one-line doc and an optional range, and no default: its value is written once, in the
    claim's YAML (`rule:`), fixed before the runs."""
    return field(metadata={"doc": doc, "gt": gt, "ge": ge, "le": le})


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """What every claim's rule has; a claim's own thresholds extend it (one dataclass per claim module)."""

    alpha: float = knob(0.05, "each sub-test's one-sided level (intervals are two-sided at 1 - 2 alpha)", gt=0,
                        le=0.25)
    agree_share: float = knob(0.75, "robust needs at least this share of the variants to give the primary's word "
                                    "and none the opposite", gt=0, le=1)


NOT_JUDGED = "not judged (an arm missed its regime)"  # robustness when a gate decides the word


@dataclass(frozen=True)
class Power:
    """What the plan said before the runs: the primary rule's power at the smallest effect of interest and the seeds
    it needs for 80% (None: more than the plan searched)."""

    power: float
    seeds_needed: int | None

    def need(self) -> str:
        """The seeds it needs, in words ("about 12 seeds needed", "more than 200 seeds needed")."""
        return f"about {self.seeds_needed} seeds needed" if self.seeds_needed else \
            f"more than {MOST_SEEDS} seeds needed"


@dataclass(frozen=True)
class Gate:
    """Whether an arm reached the regime the claim is about, and why (the numbers)."""

    arm: str
    passed: bool
    text: str


@dataclass
class Result:
    """A claim judged: the word (gated), the primary analysis, the variants, the robustness over them."""

    word: str
    detail: str
    primary: D.Outcome
    variants: list[D.Outcome]
    robustness: str
    gates: list[Gate]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """The word with its qualifier, as the index shows it: "inconclusive (budget: ...)", "inconclusive
        (underpowered: ...)"."""
        if self.word == D.INCONCLUSIVE and self.detail.startswith(("budget", "underpowered")):
            return f"{self.word} ({self.detail})"
        return self.word

    def reason(self) -> str:
        gates = "; ".join(g.text for g in self.gates)
        return (f"{self.primary.text()}" + (f". Gates: {gates}" if gates else "")
                + f". Robustness over {len(self.variants)} analyses: {self.robustness}")


class Claim:
    """A claim's analysis. Subclasses set `thresholds` (a Thresholds dataclass) and `variants` (name -> the
    choices `subtests` takes; "primary" first, fixed before the runs) and implement `table`, `gates`, `subtests`."""

    thresholds: type[Thresholds] = Thresholds
    variants: dict[str, dict[str, Any]] = {"primary": {}}
    strips: tuple[str, ...] = ()  # per-run columns the section draws per arm
    curves_figure: bool = False  # draw each run's estimate and quality over training

    def table(self, data: ClaimData, t: Any, **choices: Any) -> pd.DataFrame:
        """The per-run measures under these choices (one row per run)."""
        raise NotImplementedError

    def gates(self, data: ClaimData, t: Any, table: pd.DataFrame) -> list[Gate]:
        return []

    def subtests(self, data: ClaimData, t: Any, table: pd.DataFrame, **choices: Any) -> list[D.SubTest]:
        """The sub-tests that must all pass, on the analysis scale; the first one's statistic is the claim's."""
        raise NotImplementedError

    def extra_tables(self, data: ClaimData, t: Any, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {}

    def describe_variants(self) -> dict[str, str]:
        """Each variant's choices in words (the section's list and the plan)."""
        return {name: ", ".join(f"{k}={v}" for k, v in c.items()) or "as declared" for name, c in self.variants.items()}


# --------------------------------------------------------------------------- the registry
def claim_module(claim_id: str) -> Claim:
    """The analysis of claim `claim_id`: `CLAIM` in wgan_repro/claims/<id in lower case>.py."""
    try:
        module = importlib.import_module(f"wgan_repro.claims.{claim_id.lower()}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"claim {claim_id}: no analysis module wgan_repro/claims/{claim_id.lower()}.py (one module "
                          "and one conf/claim YAML per claim)") from exc
    return module.CLAIM


def thresholds(claim_id: str, rule: Mapping[str, Any]) -> Any:
    """The claim's typed thresholds from its YAML's `rule:` (its `name` aside): an unknown key, a wrong type or a
    value out of range is refused naming the key, the value and what is allowed."""
    cls = claim_module(claim_id).thresholds
    fields = {f.name: f for f in dataclasses.fields(cls)}
    rule = OmegaConf.to_container(rule) if isinstance(rule, DictConfig) else dict(rule)
    given = {k: v for k, v in rule.items() if k != "name"}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigError(f"conf/claim/{claim_id}.yaml: rule.{unknown[0]} is not a threshold of claim {claim_id}; "
                          f"allowed: {', '.join(sorted(fields))}")
    name = rule.get("name", claim_id.lower())
    if name != claim_id.lower():
        raise ConfigError(f"conf/claim/{claim_id}.yaml: rule.name={name}; allowed: {claim_id.lower()} (the module "
                          f"wgan_repro/claims/{claim_id.lower()}.py)")
    missing = [k for k, f in fields.items() if k not in given and f.default is dataclasses.MISSING]
    if missing:
        doc = fields[missing[0]].metadata["doc"]
        raise ConfigError(f"conf/claim/{claim_id}.yaml: rule.{missing[0]} is missing ({doc})")
    for key, value in given.items():
        meta = fields[key].metadata
        if any(meta.get(b) is not None for b in ("gt", "ge", "le")):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"conf/claim/{claim_id}.yaml: rule.{key}={value!r}: expected a number "
                                  f"({meta.get('doc', '')})")
            for bound, ok, words in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                                     ("le", lambda v, b: v <= b, "<=")):
                if meta.get(bound) is not None and not ok(value, meta[bound]):
                    raise ConfigError(f"conf/claim/{claim_id}.yaml: rule.{key} must be {words} {meta[bound]}, got "
                                      f"{value!r} ({meta.get('doc', '')})")
    return cls(**given)


# --------------------------------------------------------------------------- judging
def analyse(claim: Claim, data: ClaimData, t: Any, name: str) -> tuple[D.Outcome, pd.DataFrame]:
    """One analysis (the primary or a variant) decided: its sub-tests combined (all must pass)."""
    choices = claim.variants[name]
    table = claim.table(data, t, **choices)
    parts = [D.decide(s, t.alpha) for s in claim.subtests(data, t, table, **choices)]
    return D.combine(name, parts), table


@dataclass(frozen=True)
class Verdict:
    """A claim's word, why (the qualifier a headline shows), its robustness, and notes for the reader."""

    word: str
    detail: str
    robustness: str
    notes: tuple[str, ...] = ()


def verdict(primary: D.Outcome, variants: list[D.Outcome], gates: list[Gate], agree_share: float,
            power: Power | None = None) -> Verdict:
    """The claim's word and qualifiers, decided here only:
    - an arm that missed its regime: "inconclusive (budget: ...)", robustness not judged (the analyses' own words
      stay shown);
    - else the primary's word, robust or not over the variants (decision.robustness);
    - runs made under force=true below the target power (80%): an inconclusive word reads "underpowered", a
      reproduced one carries the warning that its effect size is likely exaggerated."""
    failed = [g for g in gates if not g.passed]
    if failed:
        return Verdict(D.INCONCLUSIVE, "budget: " + "; ".join(f"arm {g.arm} did not reach its regime" for g in failed),
                       NOT_JUDGED)
    robust = D.robustness(primary.word, [v.word for v in variants], agree_share)
    if power is None or not power.power < TARGET:
        return Verdict(primary.word, primary.detail, robust)
    if primary.word == D.INCONCLUSIVE:
        return Verdict(primary.word, f"underpowered: {power.need()}", robust)
    if primary.word == D.REPRODUCED:
        return Verdict(primary.word, primary.detail, robust, (
            f"significant at {power.power:.0%} power: its effect size is likely exaggerated ({power.need()} for 80%)",))
    return Verdict(primary.word, primary.detail, robust)


def judge(claim_id: str, rule: Mapping[str, Any], data: ClaimData, power: Power | None = None) -> Result:
    """The claim's word from its data: gates, the primary analysis, every variant, robustness (verdict), and the
    power the plan gave before the runs when there was a plan."""
    claim, t = claim_module(claim_id), thresholds(claim_id, rule)
    primary, table = analyse(claim, data, t, "primary")
    variants = [analyse(claim, data, t, name)[0] for name in claim.variants if name != "primary"]
    gates = claim.gates(data, t, table)
    said = verdict(primary, variants, gates, t.agree_share, power)
    numbers = {"statistic": primary.value, "lo": primary.lo, "hi": primary.hi, "threshold": primary.threshold,
               "p": primary.p if not math.isnan(primary.p) else None}
    tables = {"per_run": table, **claim.extra_tables(data, t, table)}
    return Result(said.word, said.detail, primary, variants, said.robustness, gates, tables, numbers,
                  list(said.notes))
