"""The paper's curves: a running median over training, in one home for the report, the claims and the MLflow UI.

The official code plots "a median filter of width 101" over the critic's loss logged at every generator iteration.
A width is therefore counted in generator iterations: `running_median` takes a series indexed by step and a width
in iterations, so a series logged at every iteration and one binned to every other iteration are filtered over the
same stretch of training. Two implementations a second analyst might reach for are offered by name:

- `centred` (the house's): the median of the points whose step lies within the centred window; at the ends, of the
  points that exist (pandas' rolling median over a time window, min_periods=1).
- `medfilt`: scipy.signal.medfilt over the points, its kernel the odd number of points nearest the width; it pads
  the ends with zeros, so the first and last half-windows are pulled towards 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAPER_WIDTH = 101  # iterations: the official code's median filter over -Loss_D, logged once per generator iteration
KINDS = ("centred", "medfilt", "none")


def median_filter(values: np.ndarray, width: int = PAPER_WIDTH) -> np.ndarray:
    """A running median of `width` points centred on each (at most the series' length); at the ends, the median of
    the points that exist (pandas' centred rolling median, min_periods=1). Not scipy's mode="nearest", which repeats
    the end value: half the window plus one are then copies of it, so the "filtered" last point is the raw one."""
    w = min(width, len(values))
    if w < 3:
        return np.asarray(values, dtype=float)
    return pd.Series(np.asarray(values, dtype=float)).rolling(w, center=True, min_periods=1).median().to_numpy()


def spacing(series: pd.Series) -> float:
    """The median number of iterations between consecutive points (1 for a series logged every iteration)."""
    steps = np.asarray(series.index, dtype=float)
    return float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0


def running_median(series: pd.Series, width: int = PAPER_WIDTH, kind: str = "centred") -> pd.Series:
    """`series` (indexed by generator iteration) through a running median `width` iterations wide, as `kind` computes
    it (KINDS; "none" returns it unfiltered). A series binned to one point per k iterations is filtered over about
    width / k points: the same stretch of training, approximated to whole points."""
    if kind not in KINDS:
        raise ValueError(f"filter kind {kind!r}; allowed: {', '.join(KINDS)}")
    values = series.to_numpy(dtype=float)
    if kind == "none" or len(values) < 3 or width < 3:
        return series.astype(float)
    if kind == "medfilt":
        from scipy.signal import (
            medfilt,  # scipy.signal (about 0.5 s to import) only for the medfilt variant; runs use the centred one
        )

        points = int(round(width / spacing(series)))
        points = max(3, points + (points % 2 == 0))  # medfilt's kernel is odd
        return pd.Series(medfilt(values, min(points, len(values) - (len(values) % 2 == 0))), index=series.index)
    at = pd.Series(values, index=pd.to_timedelta(np.asarray(series.index, dtype=float), unit="s"))
    filtered = at.rolling(pd.Timedelta(seconds=width), center=True, min_periods=1).median()
    return pd.Series(filtered.to_numpy(), index=series.index)
