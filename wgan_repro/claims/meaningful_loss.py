"""What F4 and F5 share: does a run's loss estimate follow its sample quality over training?

Per run: the estimate (its `estimate` tag) through a running median `width` iterations wide (curves.py; the paper's
width is 101 iterations), read at the evaluations; Spearman's correlation of its first differences with quality's
(lower quality numbers are better, so > 0 means a falling estimate goes with better samples; first differences,
because both trend with time), and whether quality improved (final under `improve_ratio` x first). Correlations
are averaged on Fisher's z scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wgan_repro.claims import stats as S
from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.engine import Gate, Thresholds, need
from wgan_repro.claims.runs import metric
from wgan_repro.curves import running_median
from wgan_repro.schema import knob

FILTER_VARIANTS = {  # the filter choices a second analyst could make, each a variant of F4 and F5
    "no filter": {"filter": "none"},
    "running median of 51 iterations": {"width": 51},
    "running median of 201 iterations": {"width": 201},
    "scipy.signal.medfilt, 101 iterations": {"filter": "medfilt"},
}


@dataclass(frozen=True, kw_only=True)
class TrackingThresholds(Thresholds):
    width: int = need("the running median's width in generator iterations (the paper's curves: 101)",
                      ge=1)
    improve_ratio: float = need("a run learned when its final quality is under this times its first", gt=0,
                                le=1)
    improved_share: float = need("gate: at least this share of an arm's runs learned", gt=0, le=1)
    rho_meaningful: float = need("a first-difference correlation below this is 'no meaningful correlation' (and "
                                      "the smallest effect of interest)", gt=0, le=1)
    floor_factor: float | None = knob(None, "a run learned only when its final quality is also within this factor "
                                            "of its floor (the distance between two real halves); unset: no such "
                                            "condition", gt=1)


def tracking_table(data: ClaimData, runs: pd.DataFrame, width: int, kind: str = "centred") -> pd.DataFrame:
    """Per run: evaluations, first and final quality, final filtered estimate, raw and first-difference Spearman."""
    rows = []
    for i, r in runs.iterrows():
        est, q = data.curve(r.run_id, r["tags.estimate"]), data.curve(r.run_id, r["tags.quality"])
        floor_key = r.get("tags.quality_floor")
        row = {"run_id": r.run_id, "arm": r["tags.arm"], "seed": int(r["tags.seed"]), "evaluations": len(q),
               "first_quality": q.iloc[0] if len(q) else math.nan, "final_quality": q.iloc[-1] if len(q) else math.nan,
               "final_estimate": math.nan, "rho": math.nan, "rho_diff": math.nan,
               "quality_floor": metric(runs, floor_key)[i] if isinstance(floor_key, str) else math.nan}
        if len(est) >= 3 and len(q):
            filtered = running_median(est, width, kind)
            at = filtered.reindex(q.index, method="nearest")
            row["final_estimate"] = float(filtered.iloc[-1])
            c = S.over_training(at.to_numpy(), q.to_numpy())
            if c is not None:
                row.update(rho=c.rho, rho_diff=c.rho_diff)
        rows.append(row)
    return pd.DataFrame(rows)


def learned(table: pd.DataFrame, t: TrackingThresholds) -> pd.Series:
    """Quality improved (final under improve_ratio x first) and, with floor_factor, came near the floor (a run
    without a floor fails that condition: the gate cannot see it)."""
    improved = table["final_quality"] < t.improve_ratio * table["first_quality"]
    if t.floor_factor is None:
        return improved
    return improved & (table["final_quality"] <= t.floor_factor * table["quality_floor"])


def learning_gates(table: pd.DataFrame, t: TrackingThresholds, arms: list[str]) -> list[Gate]:
    """Each arm learned: at least improved_share of its runs ended under improve_ratio x their first quality."""
    gates = []
    for arm in arms:
        g = table[table["arm"] == arm]
        ok = learned(g, t)
        share = float(ok.mean()) if len(g) else math.nan
        ratio = S.geometric_mean(g["final_quality"] / g["first_quality"])
        seen, rule = f"final / first quality {ratio:.3g}", f"under {t.improve_ratio}"
        if t.floor_factor is not None:
            over = S.geometric_mean(g["final_quality"] / g["quality_floor"])
            seen, rule = seen + f", final / floor {over:.3g}", rule + f" x first and {t.floor_factor:g} x floor"
        gates.append(Gate(arm, bool(share >= t.improved_share), f"{arm}: learned in {int(ok.sum())}/{len(g)} runs "
                          f"({seen}, geometric mean; gate: >= {t.improved_share:.0%} {rule})"))
    return gates


def z(values: pd.Series | np.ndarray) -> np.ndarray:
    """Fisher's z of correlations (NaN kept: a run without 20 evaluations has none)."""
    return np.arctanh(np.clip(np.asarray(values, dtype=float), -0.999999, 0.999999))
