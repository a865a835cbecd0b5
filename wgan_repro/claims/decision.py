"""How a verdict earns its word: decisions on intervals, sub-tests that must all pass, and robustness over analyses.

A claim's analysis reduces its runs to one or more `SubTest`s: per-unit values (runs, or pairs of runs) on the
analysis scale, a threshold and the side the claim is on. `decide` computes the test's interval (two-sided at
1 - 2 alpha, so each end is a one-sided bound at alpha) and gives the word:

- reproduced: the interval lies on the claim's side of the threshold (past the null), whatever its size;
- an equivalence claim (side "inside": flat, equal) is reproduced when the interval lies inside threshold +- margin,
  not reproduced when it lies beyond;
- not reproduced: it lies on the other side, or (where the claim names its smallest effect of interest, SESOI) it
  lies short of threshold + SESOI without being past the null (for a claim "above"; "below" mirrors it): a
  one-sided test that the effect is smaller than the claim's, whichever way it goes (an interval reaching far to the
  other side no longer reads inconclusive where one nearer the claim read "not reproduced");
- the size, where the claim names a SESOI: a reproduced interval past the SESOI too says nothing more; one inside the
  SESOI reads "reproduced (smaller than the smallest effect of interest)" (a real effect, smaller than the claim);
  one that crosses the SESOI reads "reproduced (size unresolved)". The words are monotone: moving an interval
  towards the claim's side never gives a worse word, and a wider interval never earns "reproduced" where a narrower
  one inside it does not (an earlier rule read an interval past the null and inside the SESOI as "not reproduced"
  while a wider one crossing the SESOI read "reproduced": more noise earned the better word). One consequence, by
  design: a true effect between the null and the SESOI can read "not reproduced" with few seeds (the interval still
  reaches the null) and "reproduced (smaller than the smallest effect of interest)" with many; both say it is
  smaller than the claim, and the qualifier, not the word, carries that;
- inconclusive otherwise, saying which bound is missing; and inconclusive whatever its interval when a value is
  not finite (a run without its statistic: NaN, or an infinite stand-in the claim did not replace), which a test
  would otherwise drop without a word.

Sub-tests that must all pass (an intersection-union test) are each tested at alpha with no correction for
"reproduced": the claim is reproduced when all are. Any one of them can decide "not reproduced", so that branch is
Holm-corrected (`holm`): a sub-test's "not reproduced" counts only where Holm's step-down over the claim's sub-tests
keeps it; one that does not keep it reads inconclusive. Inconclusive otherwise. The analysis variants are not
corrected: the primary decides the word and the variants measure how much it depends on our choices
(`robustness`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from scipy import stats

from wgan_repro.claims.stats import SCALES

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
SMALLER = "smaller than the smallest effect of interest"  # the size of a reproduced word inside the SESOI
UNRESOLVED = "size unresolved"  # the size of a reproduced word whose interval crosses the SESOI
SIZES = (SMALLER, UNRESOLVED)  # the qualifiers a reproduced word can carry, the smaller first
KINDS = ("mean", "diff", "signed_rank", "rank_shift", "fisher")  # t (one-sample, paired), Welch, signed-rank,
#                                                                  Mann-Whitney, Fisher's exact (counts of runs)


@dataclass(frozen=True)
class SubTest:
    """One test a claim's word rests on. `samples`: one array (kind mean or signed_rank: runs, or paired
    differences) or two (kind diff: a - b), already on `scale`; threshold and margin on that scale too."""

    name: str
    label: str  # what the statistic is, in words ("WGAN - GAN final modes")
    samples: tuple[np.ndarray, ...]
    kind: str = "mean"
    scale: str = "identity"
    threshold: float = 0.0
    side: str = "above"  # the claim's side of the threshold; "inside": the claim is threshold +- margin (flat, equal)
    margin: float | None = None  # SESOI on the analysis scale: equivalence when the interval is inside +- margin
    unit: str = ""  # how the back-transformed value reads ("ratio", "modes", "rho")
    bounds: tuple[float, float] | None = None  # the natural-scale range the shown interval is kept in
    power_effect: float | None = None  # how far past the threshold power is computed (analysis scale); None: margin


@dataclass(frozen=True)
class Outcome:
    """One sub-test decided (or a claim's combination of them): its word, statistic and interval on the natural
    scale, and the reason in words."""

    name: str
    word: str
    label: str
    value: float
    lo: float
    hi: float
    threshold: float
    side: str
    n: int
    method: str
    detail: str = ""  # which bound is missing, or the size of a reproduced word (SIZES)
    p: float = math.nan
    equivalence: tuple[float, float] | None = None
    parts: tuple["Outcome", ...] = field(default_factory=tuple)

    def text(self) -> str:
        f = lambda v: f"{v:.3g}"  # noqa: E731
        bounds = f"[{f(self.lo)}, {f(self.hi)}]" if np.isfinite(self.lo) or np.isfinite(self.hi) else "(no interval)"
        where = {"above": ">", "below": "<", "inside": "within the margin of"}[self.side]
        eq = (f"; equivalence region [{f(self.equivalence[0])}, {f(self.equivalence[1])}]"
              if self.equivalence else "")
        tail = f": {self.detail}" if self.detail else ""
        return (f"{self.label} {f(self.value)} {bounds} ({self.method}, n={self.n}; claim: {where} "
                f"{f(self.threshold)}{eq}) -> {self.word}{tail}")


# --------------------------------------------------------------------------- intervals
def t_interval(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """(mean, lo, hi) of a one-sample t interval, two-sided at 1 - 2 alpha."""
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan), math.nan, math.nan
    mean, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))
    q = float(stats.t.ppf(1 - alpha, len(x) - 1))
    return mean, mean - q * se, mean + q * se


def welch_interval(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """(mean(a) - mean(b), lo, hi): Welch's interval, two-sided at 1 - 2 alpha."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    q = float(stats.t.ppf(1 - alpha, df))
    return diff, diff - q * se, diff + q * se


def signed_rank_counts(n: int) -> np.ndarray:
    """The number of sign assignments of ranks 1..n giving each signed-rank sum T+ = 0 .. n(n+1)/2 (exact null)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return counts


def sign_flip_p(d: np.ndarray) -> float:
    """The exact one-sided p (centre > 0) of the signed-rank statistic under sign flips: midranks of |d| for ties,
    zeros ranked with the others but never signed (Pratt), every assignment of signs to the non-zero ones counted
    (a distribution over half-integers, on a doubled integer grid)."""
    ranks = stats.rankdata(np.abs(d))
    signed = np.rint(2 * ranks[d != 0]).astype(int)  # doubled ranks: midranks become integers
    observed = int(signed[d[d != 0] > 0].sum())
    counts = np.zeros(int(signed.sum()) + 1)
    counts[0] = 1
    for r in signed:
        counts[r:] = counts[r:] + counts[:-r].copy()
    return float(counts[observed:].sum() / counts.sum()) if len(signed) else 1.0


def signed_rank(d: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """(Hodges-Lehmann estimate, lo, hi, one-sided p that the centre is > 0): the exact signed-rank test (sign_flip_p)
    and its interval, two-sided at 1 - 2 alpha, read from the Walsh averages' order statistics (exact for continuous
    data); with too few units to reach alpha its ends are infinite (5 units are needed at alpha 0.05)."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    cdf = np.cumsum(signed_rank_counts(n)) / 2.0 ** n
    k = int(np.searchsorted(cdf, alpha, side="right"))  # P(T+ <= k - 1) <= alpha: the test rejects at T+ >= N - k + 1
    lo = float(walsh[k - 1]) if k > 0 else -math.inf
    hi = float(walsh[len(walsh) - k]) if k > 0 else math.inf
    return float(np.median(walsh)), lo, hi, sign_flip_p(d)


def rank_sum_counts(m: int, n: int) -> np.ndarray:
    """The number of arrangements giving each Mann-Whitney U = 0 .. m n (the exact null of two samples of m and n)."""
    table = np.zeros((m + 1, n + 1, m * n + 1))
    table[:, :, 0] = 1
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            table[i, j] = table[i, j - 1]
            table[i, j, j:] += table[i - 1, j, : m * n + 1 - j]
    return table[m, n]


def rank_shift(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """(Hodges-Lehmann shift a - b, lo, hi, one-sided p that a exceeds b): the exact Mann-Whitney test and its
    interval, two-sided at 1 - 2 alpha, from the order statistics of the m n pairwise differences. Ranks only: a
    worst-rank stand-in moves it no further than any run worse than the rest would."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return math.nan, math.nan, math.nan, math.nan
    diffs = np.sort((a[:, None] - b[None, :]).ravel())
    cdf = np.cumsum(rank_sum_counts(m, n)) / math.comb(m + n, m)
    k = int(np.searchsorted(cdf, alpha, side="right"))
    lo = float(diffs[k - 1]) if k > 0 else -math.inf
    hi = float(diffs[len(diffs) - k]) if k > 0 else math.inf
    p = float(stats.mannwhitneyu(a, b, alternative="greater", method="exact" if m + n < 40 else "asymptotic").pvalue)
    return float(np.median(diffs)), lo, hi, p


def fisher(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """(log conditional odds ratio of an event in a against b, lo, hi, one-sided p that a's odds are higher): Fisher's
    exact test and the exact conditional interval that inverts it (Cornfield), two-sided at 1 - 2 alpha, on the log
    scale (an end may be infinite: no event in an arm). a and b: one 0/1 value per run."""
    from scipy.stats.contingency import odds_ratio

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan, math.nan
    table = np.array([[int(a.sum()), int(len(a) - a.sum())], [int(b.sum()), int(len(b) - b.sum())]])
    result = odds_ratio(table, kind="conditional")
    ci = result.confidence_interval(confidence_level=1 - 2 * alpha)
    with np.errstate(divide="ignore"):
        lo, hi, value = np.log(ci.low), np.log(ci.high), np.log(result.statistic)
    p = float(stats.fisher_exact(table, alternative="greater")[1])
    return float(value), float(lo), float(hi), p


# --------------------------------------------------------------------------- deciding
def one_sided_p(test: SubTest, alpha: float) -> float:
    """The p-value of the claim's side (beside the interval, which decides)."""
    if test.side == "inside":  # an equivalence claim decides on its interval alone
        return math.nan
    alternative = "greater" if test.side == "above" else "less"
    xs = [np.asarray(s, dtype=float) for s in test.samples]
    xs = [x[np.isfinite(x)] for x in xs]
    if min(len(x) for x in xs) < 2:
        return math.nan
    with warnings.catch_warnings():  # scipy warns on units that barely differ; p is reported, not decided on
        warnings.simplefilter("ignore", RuntimeWarning)
        return _p(test, xs, alternative, alpha)


def _p(test: SubTest, xs: list[np.ndarray], alternative: str, alpha: float) -> float:
    if test.kind == "diff":
        return float(stats.ttest_ind(xs[0] - test.threshold, xs[1], equal_var=False, alternative=alternative).pvalue)
    if test.kind == "fisher":
        return fisher(*xs, alpha)[3] if test.side == "above" else fisher(xs[1], xs[0], alpha)[3]
    if test.kind == "rank_shift":
        sign = 1 if test.side == "above" else -1
        return rank_shift(sign * (xs[0] - test.threshold), sign * xs[1], alpha)[3]
    if test.kind == "signed_rank":
        sign = 1 if test.side == "above" else -1
        return signed_rank(sign * (xs[0] - test.threshold), alpha)[3]
    return float(stats.ttest_1samp(xs[0], test.threshold, alternative=alternative).pvalue)


def decide(test: SubTest, alpha: float, with_p: bool = True) -> Outcome:
    """The sub-test's interval and word (module docstring), shown on the natural scale: a difference of logs as a
    ratio, other differences on their analysis scale, one-sample statistics back-transformed. with_p=False leaves
    the p-value out (power simulations need the word only)."""
    level = f"{(1 - 2 * alpha) * 100:.4g}%"  # 90%, or a sequential look's 99.98%
    scale = "" if test.scale == "identity" else f", {test.scale.replace('_', ' ')} scale"
    if test.kind in ("diff", "rank_shift", "fisher"):
        a, b = (np.asarray(s, dtype=float) for s in test.samples)
        if test.kind == "diff":
            value, lo, hi = welch_interval(a, b, alpha)
            method = f"Welch t {level}{scale}"
        elif test.kind == "fisher":
            value, lo, hi, _ = fisher(a, b, alpha)
            method = f"Fisher's exact test, conditional odds ratio {level}"
        else:
            value, lo, hi, _ = rank_shift(a, b, alpha)
            method = f"exact Mann-Whitney, Hodges-Lehmann shift {level}{scale}"
        n = int(np.isfinite(a).sum() + np.isfinite(b).sum())
        show = SCALES["log"][1] if test.scale == "log" else (lambda v: v)
    else:
        x = np.asarray(test.samples[0], dtype=float)
        n = int(np.isfinite(x).sum())
        if test.kind == "signed_rank":
            value, lo, hi, _ = signed_rank(x, alpha)
            method = f"exact signed-rank, Hodges-Lehmann {level}{scale}"
        else:
            value, lo, hi = t_interval(x, alpha)
            method = f"t {level}{scale}"
        show = SCALES[test.scale][1]
    word, detail = judge_interval(lo, hi, test.threshold, test.side, test.margin)
    undefined = sum(int((~np.isfinite(np.asarray(s, dtype=float))).sum()) for s in test.samples)
    total = sum(len(np.asarray(s)) for s in test.samples)
    if 0 < undefined < total:  # never dropped without a word (none finite: no interval, as said above)
        word, detail = INCONCLUSIVE, (f"{undefined} of {total} values not finite: a run without its statistic is "
                                      "neither dropped nor counted")
    equivalence = None
    if test.margin is not None:
        equivalence = (float(show(test.threshold - test.margin)), float(show(test.threshold + test.margin)))
    shown_lo, shown_hi = float(show(lo)), float(show(hi))
    if test.bounds is not None:  # a bounded measure's interval stays in its range (the word is decided above)
        shown_lo, shown_hi = max(shown_lo, test.bounds[0]), min(shown_hi, test.bounds[1])
    return Outcome(test.name, word, test.label, float(show(value)), shown_lo, shown_hi,
                   float(show(test.threshold)), test.side, n, method, detail,
                   one_sided_p(test, alpha) if with_p else math.nan, equivalence)


def judge_interval(lo: float, hi: float, threshold: float, side: str, margin: float | None) -> tuple[str, str]:
    """The word an interval [lo, hi] earns against a threshold (module docstring); with the detail that says why."""
    if math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE, "no interval (fewer than 2 units)"
    if side == "inside":  # an equivalence claim: two one-sided tests against +- margin
        if threshold - margin < lo and hi < threshold + margin:
            return REPRODUCED, ""
        if lo > threshold + margin or hi < threshold - margin:
            return NOT_REPRODUCED, "the interval lies beyond the margin"
        return INCONCLUSIVE, "the interval crosses the margin"
    claim_side = lo > threshold if side == "above" else hi < threshold
    other_side = hi < threshold if side == "above" else lo > threshold
    inside = margin is not None and threshold - margin < lo and hi < threshold + margin
    short = margin is not None and (hi < threshold + margin if side == "above" else lo > threshold - margin)
    if claim_side:  # past the null: reproduced, the size said where the claim names one
        if inside:
            return REPRODUCED, f"{SMALLER} (a real effect, smaller than the claim: the interval lies inside the SESOI)"
        past_sesoi = margin is None or (lo > threshold + margin if side == "above" else hi < threshold - margin)
        return (REPRODUCED, "") if past_sesoi else (REPRODUCED, f"{UNRESOLVED} (the interval crosses the SESOI)")
    if other_side:
        return NOT_REPRODUCED, "the interval lies on the other side of the threshold"
    if short:  # not past the null, and short of the SESOI: the effect is smaller than the claim's, either way
        return NOT_REPRODUCED, ("equivalent: the interval lies short of the SESOI, not past the null (one-sided: "
                                "smaller than the claim's effect)")
    bound = "lower" if side == "above" else "upper"
    return INCONCLUSIVE, f"the {bound} bound does not clear the threshold"


def holm(tests: Sequence[SubTest], parts: Sequence[Outcome], alpha: float) -> list[Outcome]:
    """Holm's step-down on the "not reproduced" branch of sub-tests that must all pass: with m sub-tests, those
    "not reproduced" at alpha / m are kept, then, the k kept set aside, those at alpha / (m - k), and so on until a
    step keeps none (the interval version of ordering their p-values: a word at a level holds at every larger one).
    A sub-test "not reproduced" at alpha but not kept reads inconclusive, saying so. One sub-test: unchanged."""
    m, parts = len(parts), list(parts)
    open_ = [i for i, p in enumerate(parts) if p.word == NOT_REPRODUCED]
    if m < 2 or not open_:
        return parts
    kept = 0
    while open_:
        level = alpha / (m - kept)
        hits = [i for i in open_ if decide(tests[i], level, False).word == NOT_REPRODUCED]
        if not hits:
            break
        kept += len(hits)
        open_ = [i for i in open_ if i not in hits]
    for i in open_:
        parts[i] = replace(parts[i], word=INCONCLUSIVE, detail=(
            f"not reproduced at its own level ({parts[i].detail}), not after Holm's correction over {m} sub-tests "
            f"(one-sided level {alpha / (m - kept):.3g} needed)"))
    return parts


def judge(name: str, tests: Sequence[SubTest], alpha: float, with_p: bool = True) -> Outcome:
    """An analysis's word: every sub-test decided at alpha, the "not reproduced" branch Holm-corrected, combined."""
    return combine(name, holm(tests, [decide(t, alpha, with_p) for t in tests], alpha))


def combine(name: str, parts: Sequence[Outcome]) -> Outcome:
    """Sub-tests that must all pass (intersection-union): reproduced when every one is, not reproduced when any
    one is not, inconclusive otherwise (`judge` Holm-corrects the second branch first). The result shows the
    sub-test that decided it: the first that is not reproduced, else the first inconclusive one, else the first
    with a size qualifier (the claim is as large as its least part: smaller than the SESOI before unresolved), else
    the first (the claim's own statistic)."""
    words = [p.word for p in parts]
    sized = {size: [p for p in parts if p.detail.startswith(size)] for size in SIZES}
    size = next((s for s in SIZES if sized[s]), None)
    if all(w == REPRODUCED for w in words):
        word, deciding = REPRODUCED, sized[size][0] if size else parts[0]
    elif NOT_REPRODUCED in words:
        word, deciding = NOT_REPRODUCED, parts[words.index(NOT_REPRODUCED)]
    else:
        word, deciding = INCONCLUSIVE, parts[words.index(INCONCLUSIVE)]
    others = [p for p in parts if p is not deciding and p.word == word != REPRODUCED]
    detail = "; ".join(f"{p.name}: {p.detail or p.word}" for p in [deciding, *others] if p.detail or
                       p.word != REPRODUCED) if len(parts) > 1 else deciding.detail
    if word == REPRODUCED and size and len(parts) > 1:  # the size of a reproduced word is its least part's
        detail = f"{size} ({', '.join(p.name for p in sized[size])})"
    return replace(deciding, name=name, word=word, detail=detail, parts=tuple(parts))


# --------------------------------------------------------------------------- robustness over analyses
OPPOSITE = {REPRODUCED: NOT_REPRODUCED, NOT_REPRODUCED: REPRODUCED}


def robustness(primary: str, variants: Sequence[str], share: float) -> str:
    """robust: no variant gives the opposite definite word and at least `share` of the variants give the primary's;
    contested: a variant gives the opposite definite word (or, the primary being inconclusive, the variants give
    both); fragile (k of n agree) otherwise."""
    n, k = len(variants), sum(w == primary for w in variants)
    opposite = OPPOSITE.get(primary)
    both = {REPRODUCED, NOT_REPRODUCED} <= set(variants)
    if (opposite and opposite in variants) or (primary == INCONCLUSIVE and both):
        return "contested"
    if n == 0 or k / n >= share:
        return "robust"
    return f"fragile ({k} of {n} agree)"
