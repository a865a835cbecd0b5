"""Helpers the claims' analyses share: reading a run's final metrics, arms, finished runs, tidy per-run and per-arm
tables (with intervals on each measure's scale)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from wgan_repro.claims import stats as S


def metric(runs: pd.DataFrame, name: str) -> pd.Series:
    col = f"metrics.{name}"
    return runs[col].astype(float) if col in runs else pd.Series(np.nan, index=runs.index)


def arm(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    return runs[runs["tags.arm"] == name]


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "FINISHED"]


def per_run(runs: pd.DataFrame, columns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """A tidy table: run id, arm, seed, then the given columns (aligned on the runs' index)."""
    out = pd.DataFrame({"run_id": runs["run_id"], "arm": runs["tags.arm"], "seed": runs["tags.seed"].astype(int),
                        "status": runs["status"]})
    for name, values in columns.items():
        out[name] = values.reindex(runs.index).to_numpy()
    return out.reset_index(drop=True)


def group_table(table: pd.DataFrame, by: str, columns: list[str],
                scales: Mapping[str, tuple[str, tuple[float, float] | None, float]] | None = None) -> pd.DataFrame:
    """Per group: n, and for each column mean, t-interval ends (NaN below 5 runs; on the column's scale from
    `scales`: name -> (scale, bounds, pad), so that a bounded measure's interval stays in its range) and the
    per-run values."""
    rows = []
    for key, g in table.groupby(by, sort=False):
        row: dict[str, Any] = {by: key, "n": len(g)}
        for c in columns:
            scale, bounds, pad = (scales or {}).get(c, ("identity", None, 0.0))
            s = S.summarise(g[c].tolist(), scale, bounds, pad)
            row.update({f"{c}_mean": s.mean, f"{c}_lo": s.lo, f"{c}_hi": s.hi,
                        f"{c}_values": " ".join(f"{v:.6g}" for v in s.values)})
        rows.append(row)
    return pd.DataFrame(rows)


def fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
