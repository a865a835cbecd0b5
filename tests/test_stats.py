"""The house's statistics on literals (claims/stats.py): what a cell shows, small-sample tests against scipy,
correlations over training, instability events."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from wgan_repro.claims import stats as S


def test_no_interval_below_five_runs_and_a_t_interval_from_five() -> None:
    three = S.summarise([4.0, 5.0, 7.0])
    assert math.isnan(three.lo) and three.text() == "4, 5, 7"
    five = S.summarise([1, 2, 3, 4, 5])
    half = sp.t.ppf(0.975, 4) * np.std([1, 2, 3, 4, 5], ddof=1) / math.sqrt(5)
    assert (five.lo, five.hi) == pytest.approx((3 - half, 3 + half))
    assert "t 95%, n=5" in five.text() and "[" in five.text()


def test_a_series_of_four_points_gives_no_correlation() -> None:
    assert S.over_training([1, 2, 3, 4], [1, 2, 3, 4]) is None


def test_two_monotone_series_correlate_over_time_but_not_on_first_differences() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(60.0)
    a, b = t + rng.normal(size=60), t + rng.normal(size=60)  # both trend with time, independent noise
    c = S.over_training(a, b)
    assert c.rho > 0.95 and abs(c.rho_diff) < 0.3 and c.n == 60


def test_instability_fires_on_a_blow_up_relative_to_the_best_and_not_on_a_smooth_curve() -> None:
    smooth = 1.0 / np.arange(1, 40)
    assert S.instability_events(smooth, factor=2.0, persist=2) == []
    blow = [5, 4, 3, 2, 2.5, 9, 12, 2, 1.9, 1.8, 30, 1.7]
    assert S.instability_events(blow, factor=2.0, persist=2) == [5]  # 30 alone does not persist
    assert S.instability_events([1.0, 0.5, math.nan, math.inf], factor=2.0, persist=2) == [2]
    noisy = [0.05, 0.04, 0.09, 0.09]  # doubles its best, but stays within 2x of what a perfect generator scores
    assert S.instability_events(noisy, 2.0, 2) == [2] and S.instability_events(noisy, 2.0, 2, floor=0.06) == []


def test_fisher_and_permutation_match_scipy() -> None:
    odds, p = S.fisher(7, 9, 1, 9)
    ref = sp.fisher_exact([[7, 2], [1, 8]], alternative="greater")
    assert (odds, p) == pytest.approx((ref.statistic, ref.pvalue))
    a, b = [8, 9, 7, 10, 11], [1, 3, 2, 4, 2]
    diff, p = S.permutation_diff(a, b)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert p == pytest.approx(1 / math.comb(10, 5))  # exact: the observed split is the most extreme of 252
    positives, n, p = S.sign_test([1, 2, 3, -1, 4, 5])
    assert (positives, n) == (5, 6) and p == pytest.approx(sp.binomtest(5, 6, 0.5, alternative="greater").pvalue)
    rho, p, n = S.spearman_permutation([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / math.factorial(6)) and n == 6


def test_window_permutation_finds_a_signal_before_events() -> None:
    rng = np.random.default_rng(1)
    series, events = [], []
    for _ in range(6):
        s = rng.uniform(0, 0.1, 40)
        e = int(rng.integers(10, 38))
        s[e - 2: e + 1] += 1.0  # the three points ending at the event are high
        series.append(s)
        events.append([e])
    inside, outside, p = S.window_permutation(series, events, window=3, permutations=500)
    assert inside > outside + 0.5 and p < 0.01
    flat = [rng.uniform(0, 1, 40) for _ in range(6)]
    assert S.window_permutation(flat, events, window=3, permutations=500)[2] > 0.05


def test_holm() -> None:
    assert S.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


# --------------------------------------------------------------------------- decisions on intervals (decision.py)
def test_an_interval_of_a_bounded_measure_stays_in_its_range() -> None:
    modes = S.summarise([0, 1, 1, 0, 0], "logit", (0, 8), 0.5 / 9)  # the first edition's GAN: 0.4 [-0.28, 1.08]
    assert 0 <= modes.lo < modes.mean < modes.hi <= 8
    share = S.summarise([1, 1, 1, 1, 1], "share")
    assert share.mean == 1 and share.hi == 1 and share.lo == pytest.approx(sp.beta.ppf(0.025, 5, 1))
    assert S.wilson(5, 5)[1] == pytest.approx(1.0) and 0.5 < S.wilson(5, 5)[0] < 0.6


def test_the_signed_rank_interval_and_p_are_wilcoxon_s() -> None:
    from wgan_repro.claims.decision import signed_rank

    d = np.array([0.5, -1.2, 0.3, 2.0, 0.8, 1.1, -0.2, 0.9])
    centre, lo, hi, p = signed_rank(d, 0.05)
    assert p == pytest.approx(sp.wilcoxon(d, alternative="greater", method="exact").pvalue)
    walsh = sorted((d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d)))
    assert centre == pytest.approx(np.median(walsh))
    sums = [sum(r for r, s in zip(range(1, 9), f"{m:08b}") if s == "1") for m in range(2 ** 8)]  # T+ of every sign
    k = sum(np.mean(np.array(sums) <= t) <= 0.05 for t in range(37))  # T+ values rejected at 0.05, brute force
    assert (lo, hi) == (walsh[k - 1], walsh[len(walsh) - k])
    four = signed_rank(np.array([1.0, 2.0, 3.0, 4.0]), 0.05)  # 4 pairs cannot reach 0.05: no finite bound
    assert four[1] == -math.inf and four[3] == pytest.approx(1 / 16)


@pytest.mark.parametrize("values,word,detail", [
    ([3.0, 3.2, 2.9, 3.1, 3.0], "reproduced", ""),
    ([0.3, 0.5, 0.4, 0.45, 0.35], "reproduced", "smaller than the smallest effect of interest (a real effect"),
    ([0.5, 1.5, 0.8, 1.2, 1.0], "reproduced", "size unresolved"),
    ([-0.1, 0.1, 0.05, -0.05, 0.0], "not reproduced", "equivalent"),
    ([-3.0, -3.2, -2.9, -3.1, -3.0], "not reproduced", "other side"),
    ([-2.0, 3.0, 0.5, 4.0, -1.0], "inconclusive", "lower bound"),
])
def test_each_word_from_an_interval(values: list[float], word: str, detail: str) -> None:
    from wgan_repro.claims.decision import SubTest, decide

    outcome = decide(SubTest("x", "effect", (np.array(values),), margin=1.0), 0.05)
    assert outcome.word == word and detail in outcome.detail
    assert outcome.lo < outcome.value < outcome.hi and outcome.equivalence == (-1.0, 1.0)


def test_robustness_words() -> None:
    from wgan_repro.claims.decision import robustness

    assert robustness("reproduced", ["reproduced"] * 3 + ["inconclusive"], 0.75) == "robust"
    assert robustness("reproduced", ["reproduced"] * 2 + ["inconclusive"] * 2, 0.75) == "fragile (2 of 4 agree)"
    assert robustness("reproduced", ["reproduced"] * 4 + ["not reproduced"], 0.75) == "contested"
    assert robustness("inconclusive", ["reproduced", "not reproduced", "inconclusive"], 0.75) == "contested"
    assert robustness("inconclusive", ["inconclusive"] * 3, 0.75) == "robust"


def test_power_grows_with_seeds_and_the_simulated_rule_holds_its_level() -> None:
    """At the threshold (no effect) the simulated rule says "reproduced" about alpha of the time, whatever the
    pilot's residuals look like (a skewed pilot of 5: the resampling it replaced rejected 10-30%)."""
    from wgan_repro.claims import power as P
    from wgan_repro.claims.decision import SubTest

    skewed = SubTest("x", "effect", (np.array([1.0, 1.1, 1.2, 1.05, 6.0]),), margin=0.5)
    assert P.level(skewed, 0.05) == pytest.approx(0.05, abs=0.015)
    two = SubTest("y", "a - b", (np.array([3.0, 3.1, 3.2, 9.0, 3.05]), np.array([1.0, 1.2, 0.9, 1.1, 1.0])), "diff",
                  margin=1.0)
    assert P.level(two, 0.05) == pytest.approx(0.05, abs=0.015)
    low, high = (P.power([skewed], 0.05, k, simulations=300) for k in (1, 8))
    assert 0 < low < high <= 1
    assert S.sd_upper(1.0, 5, 0.8) > 1.0  # the SD a plan assumes exceeds the pilot's


def test_the_mann_whitney_shift_interval_and_p() -> None:
    from wgan_repro.claims.decision import rank_shift

    a, b = np.array([3.0, 4, 5, 6, 7]), np.array([1.0, 2, 2.5, 3.5, 1.5])
    shift, lo, hi, p = rank_shift(a, b, 0.05)
    assert p == pytest.approx(sp.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue)
    assert shift == np.median(np.subtract.outer(a, b)) and lo < shift < hi
    # the bounds are where the exact test stops rejecting: shifting b by lo (just under) still rejects at 5%
    assert sp.mannwhitneyu(a, b + lo - 1e-9, alternative="greater", method="exact").pvalue <= 0.05
    assert sp.mannwhitneyu(a, b + lo + 1e-9, alternative="greater", method="exact").pvalue > 0.05


def test_the_signed_rank_p_is_exact_with_ties_and_zeros() -> None:
    from wgan_repro.claims.decision import sign_flip_p

    assert sign_flip_p(np.array([2.0, 0, -2, 0, 2, 0])) == 0.5  # midranks, zeros ranked but never signed (Pratt)


def test_fishers_interval_clears_an_odds_ratio_of_one_exactly_when_its_one_sided_p_is_below_alpha() -> None:
    """Every pair of counts of 5 runs: the exact conditional interval inverts Fisher's test (one-sided p < alpha iff
    the lower end is above 1), and 4 of 5 against 0 of 5 collapsed runs (80% against 0%) reads reproduced at 0.05
    (p = 5/210)."""
    from wgan_repro.claims import decision as D

    for k in range(6):
        for j in range(6):
            a, b = np.r_[np.ones(k), np.zeros(5 - k)], np.r_[np.ones(j), np.zeros(5 - j)]
            value, lo, hi, p = D.fisher(a, b, 0.05)
            assert (lo > 0) == (p < 0.05), (k, j, lo, p)
    out = D.decide(D.SubTest("c", "collapsed", (np.r_[1.0, 1, 1, 1, 0], np.zeros(5)), "fisher", "log", 0.0, "above"),
                   0.05)
    assert out.word == D.REPRODUCED and out.p == pytest.approx(5 / 210) and out.lo > 1


def test_the_reachable_equivalence_margin_follows_the_rule_on_each_side() -> None:
    """plan=true's "equivalence the design can establish": for a claim above or below, the margin at which
    "not reproduced" short of it has 80% power at no effect (one-sided); for a claim inside +-margin (F5's GAN,
    G1's penalty), the margin at which "reproduced" has it (two one-sided tests: wider on the same runs); a
    stricter level (Holm's alpha / m) needs a wider one."""
    from wgan_repro.claims import decision as D
    from wgan_repro.claims import power as P

    x = np.random.default_rng(0).normal(0.0, 0.1, 7)
    up, inside = (D.SubTest("x", "x", (x,), "mean", "identity", 0.0, side, 0.2) for side in ("above", "inside"))
    one, two = P.equivalence_margin(up, 0.05, 1.0, 200), P.equivalence_margin(inside, 0.05, 1.0, 200)
    assert one is not None and two is not None and one < two
    assert P.equivalence_margin(up, 0.025, 1.0, 200) > one
