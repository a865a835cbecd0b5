"""The claim registry and the engine that judges a claim: one module per claim (claims/f1.py ... f7.py, found from
conf/claim/<ID>.yaml by its id), each holding an instance `CLAIM` of a `Claim` subclass with its typed thresholds,
its per-run measures, its regime gates, its sub-tests and its analysis variants. The engine is shared:

1. the YAML's `rule:` is checked against the claim's thresholds (an unknown key or a value out of range is a
   ConfigError naming it, before any run);
2. the gates say whether each arm reached the regime the claim is about;
3. every analysis (the primary, then the variants declared before the runs) is decided on intervals
   (decision.py): the primary gives the word, the variants its robustness;
4. an arm that missed its gate makes the word "inconclusive (budget: ...)", never "not reproduced";
5. a run that ended FAILED is neither dropped nor counted for the claim: the word is "inconclusive (failed runs:
   ...)" naming them, unless the claim scores a run that diverged as its worst outcome (`Claim.scores_diverged`,
   a stand-in its rule declares) and the run diverged. A sub-test value that is not finite (a run without its
   statistic) makes that sub-test inconclusive in the same way (decision.decide).

`verdict` is the one place a claim's word and its qualifiers are decided: gates, the primary's word, robustness,
the size (reproduced, smaller than the smallest effect of interest, or size unresolved), the power the plan gave
before the runs and a sequential claim's cap. A sequential budget is judged look by look (`judge_sequential`: each
look at its nominal level from claims/sequential.py, the first definite word stopping it).

Each claim also declares known-answer controls (`Claim.controls`): constructed runs whose truth is known without
the harness's training (formulas, exact solutions, scripted generators or critics), at least one that must read
"reproduced" (positive) and one that must read "not reproduced" (negative). `check_controls` puts each through
`judge` (the whole decision: primary, every variant, gates, robustness) at the budget's own arms and seeds; a
design whose controls fail cannot decide its claim, and `reproduce` refuses to run it.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import importlib
import math
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy
import pandas as pd
import scipy
from omegaconf import DictConfig, OmegaConf

from wgan_repro.claims import REPO, looks_of
from wgan_repro.claims import decision as D
from wgan_repro.claims import sequential as S
from wgan_repro.claims.data import ClaimData, export, load_export
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
NOT_JUDGED_FAILED = ("not judged (failed runs: the rule neither drops nor counts a run that did not finish)"
                     )  # robustness when failed runs decide the word


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

    controls: list["Checked"] = field(default_factory=list)  # the claim's controls at its budget (render_claim)
    looks: list["Look"] = field(default_factory=list)  # a sequential claim's looks up to the one it stopped at

    @property
    def headline(self) -> str:
        """The word with its qualifier, as the index shows it: "inconclusive (budget: ...)", "inconclusive
        (underpowered: ...)", "reproduced (smaller than the smallest effect of interest)", "reproduced (size
        unresolved)"."""
        if self.word == D.INCONCLUSIVE and self.detail.startswith(("budget", "underpowered", "failed runs")):
            return f"{self.word} ({self.detail})"
        if self.word == D.INCONCLUSIVE and self.detail.startswith("cap"):
            return f"{self.word} (cap)"
        size = next((s for s in D.SIZES if self.detail.startswith(s)), None)
        if self.word == D.REPRODUCED and size:
            return f"{self.word} ({size})"
        return self.word

    def reason(self) -> str:
        gates = "; ".join(g.text for g in self.gates)
        return (f"{self.primary.text()}" + (f". Gates: {gates}" if gates else "")
                + f". Robustness over {len(self.variants)} analyses: {self.robustness}")


POSITIVE, NEGATIVE = D.REPRODUCED, D.NOT_REPRODUCED  # what a positive and a negative control must read


@dataclass(frozen=True)
class Control:
    """A known-answer control: runs built for the budget's arms and seeds (arm -> seeds) whose truth is known
    without training, and the word the claim's whole decision must give on them."""

    name: str  # short, unique within the claim ("exact potential", "radial cone")
    what: str  # what it is, in words, for the section and the plan
    expect: str  # POSITIVE or NEGATIVE
    build: Callable[[Mapping[str, Sequence[int]]], ClaimData]

    @property
    def kind(self) -> str:
        return "positive" if self.expect == POSITIVE else "negative"


class Claim:
    """A claim's analysis. Subclasses set `thresholds` (a Thresholds dataclass) and `variants` (name -> the
    choices `subtests` takes; "primary" first, fixed before the runs) and implement `table`, `gates`, `subtests`."""

    thresholds: type[Thresholds] = Thresholds
    variants: dict[str, dict[str, Any]] = {"primary": {}}
    strips: tuple[str, ...] = ()  # per-run columns the section draws per arm
    scores_diverged: bool = False  # `table` scores a run that diverged as the claim's worst outcome (its rule says so)
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

    def controls(self, t: Any) -> list[Control]:
        """The claim's known-answer controls (at least one positive and one negative), built with its thresholds
        at hand (a gate's factor, a floor), never from them: each control's truth is what it was built to be."""
        return []

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
    """One analysis (the primary or a variant) decided: its sub-tests judged together (all must pass)."""
    choices = claim.variants[name]
    table = claim.table(data, t, **choices)
    return D.judge(name, claim.subtests(data, t, table, **choices), t.alpha), table


@dataclass(frozen=True)
class Verdict:
    """A claim's word, why (the qualifier a headline shows), its robustness, and notes for the reader."""

    word: str
    detail: str
    robustness: str
    notes: tuple[str, ...] = ()


def unscored_failures(claim: Claim, runs: pd.DataFrame) -> list[str]:
    """The runs that ended FAILED and that the rule does not score, each as "<arm> seed <s> (<reason>)": all of them,
    but those that diverged where the claim scores a diverged run as its worst outcome (Claim.scores_diverged)."""
    failed = runs[runs["status"] == "FAILED"]
    reasons = (failed["tags.status_reason"] if "tags.status_reason" in failed else pd.Series("", index=failed.index))
    reasons = reasons.fillna("").astype(str)
    if claim.scores_diverged:
        unscored = ~reasons.str.startswith("diverged")
        failed, reasons = failed[unscored], reasons[unscored]
    return [f"{arm} seed {seed}" + (f" ({why[:100]})" if why else "")
            for arm, seed, why in zip(failed["tags.arm"], failed["tags.seed"], reasons)]


def verdict(primary: D.Outcome, variants: list[D.Outcome], gates: list[Gate], agree_share: float,
            power: Power | None = None, cap: int | None = None, failed: Sequence[str] = ()) -> Verdict:
    """The claim's word and qualifiers, decided here only:
    - runs that ended FAILED and that the rule does not score (`failed`: unscored_failures): "inconclusive (failed
      runs: ...)", robustness not judged: a failed run is neither dropped (its arm would look better) nor counted;
    - an arm that missed its regime: "inconclusive (budget: ...)", robustness not judged (the analyses' own words
      stay shown);
    - else the primary's word, robust or not over the variants (decision.robustness);
    - runs made under force=true below the target power (80%): an inconclusive word reads "underpowered", a
      reproduced one carries the warning that its effect size is likely exaggerated;
    - a sequential claim's last look (`cap`: its seeds per arm) still inconclusive: "inconclusive (cap: ...)", or
      "underpowered" when the plan gave the cap under 80% power."""
    if failed:
        return Verdict(D.INCONCLUSIVE, f"failed runs: {'; '.join(failed)}", NOT_JUDGED_FAILED)
    missed = [g for g in gates if not g.passed]
    if missed:
        return Verdict(D.INCONCLUSIVE, "budget: " + "; ".join(f"arm {g.arm} did not reach its regime" for g in missed),
                       NOT_JUDGED)
    robust = D.robustness(primary.word, [v.word for v in variants], agree_share)
    if power is None or not power.power < TARGET:
        if cap is not None and primary.word == D.INCONCLUSIVE:
            return Verdict(primary.word, f"cap: {cap} seeds per arm reached, {primary.detail}", robust)
        return Verdict(primary.word, primary.detail, robust)
    if primary.word == D.INCONCLUSIVE:
        return Verdict(primary.word, f"underpowered: {power.need()}", robust)
    if primary.word == D.REPRODUCED:
        return Verdict(primary.word, primary.detail, robust, (
            f"significant at {power.power:.0%} power: its effect size is likely exaggerated ({power.need()} for 80%)",))
    return Verdict(primary.word, primary.detail, robust)


def judge(claim_id: str, rule: Mapping[str, Any], data: ClaimData, power: Power | None = None,
          level: float | None = None, cap: int | None = None) -> Result:
    """The claim's word from its data: gates, the primary analysis, every variant, robustness (verdict), and the
    power the plan gave before the runs when there was a plan. `level`: a sequential look's nominal one-sided level
    in place of the rule's alpha (every sub-test and variant at it); `cap`: this is a sequential claim's last look."""
    claim, t = claim_module(claim_id), thresholds(claim_id, rule)
    if level is not None:
        t = dataclasses.replace(t, alpha=level)
    primary, table = analyse(claim, data, t, "primary")
    variants = [analyse(claim, data, t, name)[0] for name in claim.variants if name != "primary"]
    gates = claim.gates(data, t, table)
    said = verdict(primary, variants, gates, t.agree_share, power, cap, unscored_failures(claim, data.runs))
    numbers = {"statistic": primary.value, "lo": primary.lo, "hi": primary.hi, "threshold": primary.threshold,
               "p": primary.p if not math.isnan(primary.p) else None}
    tables = {"per_run": table, **claim.extra_tables(data, t, table)}
    return Result(said.word, said.detail, primary, variants, said.robustness, gates, tables, numbers,
                  list(said.notes))


# --------------------------------------------------------------------------- claims that run until decided
@dataclass(frozen=True)
class Design:
    """A budget's looks: the seeds per arm at each (the last is the cap; one look is a fixed design) and the
    spending function of its level over them (sequential.SPENDING)."""

    looks: tuple[int, ...]
    spending: str = "obrien_fleming"

    def levels(self, alpha: float) -> list[float]:
        """Each look's nominal one-sided level: the repeated confidence intervals of the symmetric design at 2 alpha
        (a fixed design: alpha itself)."""
        if len(self.looks) == 1:
            return [alpha]
        cap = self.looks[-1]
        return S.nominal_levels(S.spending_bounds([n / cap for n in self.looks], 2 * alpha, self.spending))


def design_of(claim: DictConfig, budget: str) -> Design:
    """A claim's budget as a sequential design (one look: a fixed design)."""
    return Design(looks_of(claim, budget), str(claim.budgets[budget].spending))


@dataclass(frozen=True)
class Look:
    """A look's decision: its seeds per arm, its nominal level and the claim judged on its runs."""

    n: int
    level: float
    result: Result


def at_look(data: ClaimData, arms: Mapping[str, Sequence[int]], n: int) -> ClaimData:
    """The runs of the first `n` seeds of each arm (in the budget's order): a look's data."""
    keep = {(arm, str(seed)) for arm, seeds in arms.items() for seed in list(seeds)[:n]}
    runs = data.runs[[(a, str(s)) in keep for a, s in zip(data.runs["tags.arm"], data.runs["tags.seed"])]]
    ids = set(runs["run_id"])
    samples = data.samples[data.samples["run_id"].isin(ids)] if len(data.samples) else data.samples
    return ClaimData(runs.reset_index(drop=True), data.curves[data.curves["run_id"].isin(ids)], samples,
                     data.sample_dir)


def complete(data: ClaimData, arms: Mapping[str, Sequence[int]], n: int) -> bool:
    """Whether every run of a look's round has ended (a look waits for all of them)."""
    have = {(a, str(s)) for a, s in zip(data.runs["tags.arm"], data.runs["tags.seed"])}
    return all((arm, str(seed)) in have for arm, seeds in arms.items() for seed in list(seeds)[:n])


def judge_sequential(claim_id: str, rule: Mapping[str, Any], data: ClaimData, arms: Mapping[str, Sequence[int]],
                     design: Design, power: Power | None = None) -> tuple[Result | None, list[Look]]:
    """The claim judged at each look whose round has ended, at that look's nominal level, until a definite word
    (either side: the repeated intervals allow stopping for either) or the cap. The variants are judged at the look
    where the primary stopped, at its level. (None, []) when no look's round has ended yet."""
    t = thresholds(claim_id, rule)
    looks: list[Look] = []
    levels = design.levels(t.alpha)
    for k, (n, level) in enumerate(zip(design.looks, levels)):
        if not complete(data, arms, n):
            break
        last = k == len(design.looks) - 1
        if level <= 0 and not last:  # the spending function spends nothing this early: the look cannot stop
            continue
        result = judge(claim_id, rule, at_look(data, arms, n), power if last else None, level,
                       n if last and len(design.looks) > 1 else None)
        looks.append(Look(n, level, result))
        if result.word in (D.REPRODUCED, D.NOT_REPRODUCED):
            break
    if not looks:
        return None, []
    return dataclasses.replace(looks[-1].result, looks=looks), looks  # (its looks' results hold none: no cycle)


# --------------------------------------------------------------------------- known-answer controls
@dataclass(frozen=True)
class Checked:
    """A control put through the claim's whole decision: the result, and what is wrong with it (nothing: it passed).
    A positive control must read "reproduced" under the primary and every variant (a variant that cannot give its
    primary's word there is no valid variant); a negative one "not reproduced", with no variant reading
    "reproduced"."""

    control: Control
    result: Result

    @property
    def failures(self) -> list[str]:
        c, r = self.control, self.result
        out = [] if r.word == c.expect else [f"read '{r.headline}', expected '{c.expect}' ({r.primary.text()})"]
        for v in r.variants:
            if c.expect == POSITIVE and v.word != POSITIVE:
                out.append(f"variant '{v.name}' read '{v.word}' ({v.detail or v.text()}): a variant must give the "
                           "primary's word on the positive control")
            if c.expect == NEGATIVE and v.word == POSITIVE:
                out.append(f"variant '{v.name}' read 'reproduced' on a negative control")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        """One line for a section or a plan: kind, name, what it is, the word it got, robustness, pass or fail."""
        c, r = self.control, self.result
        verdict_ = f"{r.headline}, {r.robustness}"
        return (f"{c.kind} control '{c.name}' ({c.what}): {verdict_} -> "
                + ("passes" if self.ok else "FAILS: " + "; ".join(self.failures)))


CONTROL_CACHE = REPO / "outputs" / "cache" / "controls"  # built controls, keyed by the code and the arms


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """The package's source and the versions of the libraries control builders compute with, hashed once per
    process (every control of every claim asks: the code does not change under a running process)."""
    digest = hashlib.sha256(repr([numpy.__version__, scipy.__version__, pd.__version__, platform.python_version()])
                            .encode())
    for package in ("torch", "pot", "torch-fidelity", "prdc", "scikit-learn"):  # what builders compute with
        try:
            digest.update(metadata.version(package).encode())
        except metadata.PackageNotFoundError:
            digest.update(b"absent")
    for path in sorted((REPO / "wgan_repro").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def built(claim_id: str, control: Control, arms: Mapping[str, Sequence[int]]) -> ClaimData:
    """A control's runs, built once per version of the code: some take a minute (exact transport plans, FIDs of
    scripted generators), and a section, a plan and the tests each need them. The key is the claim's YAML, every
    source file of the package, the library versions the numbers depend on and the arms; the data are the export
    format, whose floats round-trip exactly."""
    key = hashlib.sha256(repr((claim_id, control.name, sorted((a, list(s)) for a, s in arms.items()),
                               code_digest())).encode())
    key.update((REPO / "conf" / "claim" / f"{claim_id}.yaml").read_bytes())
    folder = CONTROL_CACHE / claim_id / key.hexdigest()[:20]
    if (folder / "runs.csv").is_file():
        return load_export(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process building it (a test worker beside): wait for it, once
        if not (folder / "runs.csv").is_file():
            staging = Path(tempfile.mkdtemp(dir=folder.parent))  # whole or absent, whoever reads it
            try:
                export(control.build(arms), staging)
                staging.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return load_export(folder)


def check_controls(claim_id: str, rule: Mapping[str, Any], arms: Mapping[str, Sequence[int]],
                   design: Design | None = None) -> list[Checked]:
    """Each of the claim's controls built at the budget's arms and seeds (built: cached) and judged by its committed
    rule, look by look when the budget is sequential (the word it stops at)."""
    claim, t = claim_module(claim_id), thresholds(claim_id, rule)
    sequential = design is not None and len(design.looks) > 1
    return [Checked(c, judge_sequential(claim_id, rule, built(claim_id, c, arms), arms, design)[0] if sequential
                    else judge(claim_id, rule, built(claim_id, c, arms))) for c in claim.controls(t)]


def controls_refusal(claim_id: str, checked: Sequence[Checked]) -> str | None:
    """Why a claim's design cannot decide it (None: it can): a missing positive or negative control, or a control
    that did not give its word."""
    kinds = {c.control.kind for c in checked}
    missing = [k for k in ("positive", "negative") if k not in kinds]
    if missing:
        return (f"claim {claim_id} declares no {' and no '.join(missing)} control (wgan_repro/claims/"
                f"{claim_id.lower()}.py, Claim.controls): its test is not shown able to give each word")
    failed = [c for c in checked if not c.ok]
    if failed:
        return (f"claim {claim_id}: its design cannot decide the claim: "
                + "; ".join(f"{c.control.kind} control '{c.control.name}' {'; '.join(c.failures)}" for c in failed))
    return None
