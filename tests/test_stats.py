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
