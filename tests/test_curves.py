"""The paper's curves (wgan_repro/curves.py): a running median whose width is counted in generator iterations, so a
series logged every iteration and the same series binned to every other iteration are filtered over the same
stretch of training; the ends are the median of the points that exist; scipy's medfilt is offered by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wgan_repro.curves import median_filter, running_median


def test_the_running_median_filters_the_ends_too() -> None:
    """At the last point the filter gives the median of the last (width + 1) / 2 points, not the last raw value (which
    repeating the end value, scipy's mode="nearest", returns: it fills half the window plus one)."""
    values = np.r_[np.arange(200, dtype=float), -50.0]  # a rising series whose last point is an outlier
    out = median_filter(values, 101)
    assert out[-1] == np.median(values[-51:]) == 174.0  # not -50
    assert out[100] == 100.0 and out[0] == np.median(values[:51]) == 25.0
    assert np.array_equal(median_filter(values, 2), values)  # below 3 points a window is no filter


def test_a_width_in_iterations_covers_the_same_stretch_whatever_the_spacing() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1, 2001)
    raw = pd.Series(np.sqrt(steps) + rng.normal(0, 1, len(steps)), index=steps)
    every = running_median(raw, 101)
    assert np.array_equal(every.to_numpy(), median_filter(raw.to_numpy(), 101))  # one point per iteration: 101 points
    binned = raw.iloc[1::2]  # every other iteration: about 51 points span the same 101 iterations
    on_binned = running_median(binned, 101)
    assert on_binned.loc[1000] == pytest.approx(np.median(binned.loc[950:1050]))
    assert len(binned.loc[950:1050]) == 51
    assert running_median(raw, 101, "none").equals(raw.astype(float))


def test_medfilt_pads_the_ends_with_zeros() -> None:
    """scipy.signal.medfilt, a choice another analyst may make: its ends are pulled towards 0 (zero padding), where
    the house's filter takes the median of the points that exist."""
    series = pd.Series(np.arange(1.0, 301.0), index=np.arange(1, 301))  # rising 1 .. 300
    centred, medfilt = running_median(series, 101), running_median(series, 101, "medfilt")
    assert centred.iloc[150] == medfilt.iloc[150] == 151.0  # inside, the same median
    assert centred.iloc[0] == 26.0 and medfilt.iloc[0] == 1.0  # median of 1..51, and of 50 zeros with 1..51
    with pytest.raises(ValueError, match="allowed: centred, medfilt, none"):
        running_median(series, 101, "gaussian")
