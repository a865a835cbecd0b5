"""The paper's comparisons as tables: pure functions of DataFrames (runs from `collect.search`, curves from
`collect.histories`), so that they are tested on literals. Each cell: the per-run values below 5 runs, from 5 a mean
with its Student t 95% interval (claims/stats.py)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from wgan_repro.claims import stats as S
from wgan_repro.curves import median_filter
from wgan_repro.evaluate import metrics as M
from wgan_repro.report.collect import sweep_names

TOY_DATA = ("eight_gaussians", "twenty_five_gaussians", "swiss_roll", "ring_pacgan", "grid_pacgan", "ring_metz")
DIGIT_DATA = ("digits", "stacked_digits")
OPTIMIZER_SWEEP = "lr_x_optimizer"  # T4's grid (its runs get curves, not per-run toy panels)
CONSTRAINT_SWEEP = "constraint_x_objective"  # T5's grid
OWN_TABLE = (OPTIMIZER_SWEEP, CONSTRAINT_SWEEP)  # sweeps compared in their own table, not pooled into T1-T3
COLLAPSE_DIVERSITY = 0.25  # collapsed: final samples' mean pairwise distance < 25% of real samples' (figures.py)

# Published numbers whose protocol matches ours (2,500 samples, 3-std high quality: PacGAN, VEEGAN)
PUBLISHED = {
    ("gan", "ring_pacgan"): "PacGAN T1 (GAN): 6.3 ± 0.5 modes; VEEGAN's GAN run: 1 mode",
    ("gan", "grid_pacgan"): "PacGAN T1 (GAN): 17.3 ± 0.8 modes",
}


# Params that say nothing about a run's outcome: runs that differ only in them share a row
NOT_SETTINGS = ("params.train.seed", "params.tracking.", "params.sweep", "params.train.resume", "params.train.progress",
                "params.train.checkpoint_every", "params.train.heartbeat_stale", "params.train.take_over")


def cell(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> str:
    """Per-run values below 5 runs, from 5 a mean with its t interval (claims/stats.py: the house's rule)."""
    summary = S.summarise([v * scale for v in values if v is not None])
    return summary.text(digits)


def column(runs: pd.DataFrame, name: str) -> pd.Series:
    """A column of `runs`, or NaNs when no run logged it."""
    return runs[name] if name in runs else pd.Series(np.nan, index=runs.index)


Bounds = Callable[[pd.DataFrame], tuple[float, float, float]]  # a group -> (lo, hi, pad) of a bounded measure


def settings_that_differ(runs: pd.DataFrame, by: list[str]) -> list[str]:
    """The params (settings) that differ between runs of one group of `by`: the run length, a learning rate...
    Runs that differ in them are not pooled into one row."""
    params = [c for c in runs.columns if c.startswith("params.") and c not in by and not c.startswith(NOT_SETTINGS)]
    if not params or runs.empty:
        return []
    counts = runs[by + params].astype(str).groupby(by, dropna=False)[params].nunique()
    return [c for c in params if (counts[c] > 1).any()]


def summarise(runs: pd.DataFrame, by: list[str], measures: dict[str, tuple[str, float]],
              extra: dict[str, Callable[[pd.DataFrame], str]] | None = None,
              bounded: dict[str, Bounds] | None = None) -> pd.DataFrame:
    """One row per group of `by` columns and of every setting that differs within them (settings_that_differ: a
    7,000-iteration run is not pooled with 200-iteration ones; such a setting gets its own column, named as its
    key); measures: label -> (column, scale). Columns no run logged are left out. A measure in `bounded` has its
    interval (from MIN_INTERVAL_RUNS runs) on the logit scale between the group's bounds (modes of 8 stay within
    [0, 8]); below that, its mean is the plain mean of the runs shown. The cells are formatted
    for reading ("4, 5, 7" or "mean [lo, hi] (t 95%, n=k)"); the tidy numeric table (mean, interval ends, n per
    measure) is `table.attrs["numeric"]`, which the report writes as CSV."""
    present = {label: (col, scale) for label, (col, scale) in measures.items() if column(runs, col).notna().any()}
    differ = settings_that_differ(runs, by)
    labels = [b.split(".")[-1] for b in by] + [c.removeprefix("params.") for c in differ]
    by = by + differ
    rows, numeric = [], []
    for key, group in runs.groupby(by, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(labels, key))
        row["runs"] = len(group)
        number = dict(row)
        for label, (col, scale) in present.items():
            values = (column(group, col).astype(float) * scale).tolist()
            if bounded and label in bounded and len(S.finite(values)) >= S.MIN_INTERVAL_RUNS:  # an interval
                lo, hi, pad = bounded[label](group)
                summary = S.summarise(values, "logit", (lo, hi), pad)
            else:
                summary = S.summarise(values)
            row[label] = summary.text()
            number.update({f"{label} mean": summary.mean, f"{label} lo": summary.lo, f"{label} hi": summary.hi,
                           f"{label} n": summary.n})
        for label, fn in (extra or {}).items():
            row[label] = number[label] = fn(group)
        rows.append(row)
        numeric.append(number)
    table = pd.DataFrame(rows)
    table.attrs["numeric"] = pd.DataFrame(numeric)
    return table


def trained(runs: pd.DataFrame) -> pd.Series:
    """Runs that trained a generator (not a study of Figures 1 and 3): no `study` tag ("None" in stores written
    before empty tags were left out)."""
    return column(runs, "tags.study").fillna("").isin(["None", ""])


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "FINISHED"]


def outside_own_tables(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of T4's optimiser x learning-rate grid and T5's constraint x objective grid are compared there, not
    pooled into T1-T3's rows."""
    return runs[~sweep_names(runs).isin(OWN_TABLE)]


def modes_of(group: pd.DataFrame) -> tuple[float, float, float]:
    """A toy group's mode count bounds: (0, its mixture's modes, half a mode of padding on the fraction's logit)."""
    n = column(group, "params.data.n_modes").astype(float).max()
    if not n > 0:
        n = column(group, "params.data.side").astype(float).max() ** 2
    if not n > 0:
        n = column(group, M.column(M.MODES)).astype(float).max()  # a mixture whose size the params do not say
    return 0.0, float(n), 0.5 / (float(n) + 1)


BOUNDED: dict[str, Bounds] = {"modes": modes_of, "high quality %": lambda g: (0.0, 100.0, 1e-4)}


def t1_toy(runs: pd.DataFrame) -> pd.DataFrame:
    """T1 (F2): objective x data -> modes, high-quality %, reverse KL, exact W1 beside its floor, final estimate."""
    runs = outside_own_tables(runs)
    toy = finished(runs[column(runs, "tags.data").isin(TOY_DATA) & trained(runs)])
    if toy.empty:
        return pd.DataFrame()
    table = summarise(toy, ["tags.objective", "tags.data", "tags.experiment"], {
        "modes": (M.column(M.MODES), 1), "high quality %": (M.column(M.HIGH_QUALITY), 100),
        "reverse KL": (M.column(M.KL_MODES), 1), "exact W1": (M.column(M.W1), 1),
        "W1 floor": (M.column(M.W1_FLOOR), 1), "final EM estimate": (M.column(M.EM), 1),
        "final JS estimate": (M.column(M.JS), 1)}, bounded=BOUNDED)
    table["published (same protocol)"] = [PUBLISHED.get((o, d), "") for o, d in zip(table["objective"], table["data"])]
    return table


def meaningful_loss(curves: pd.DataFrame, run_id: str, estimate: str, quality: str) -> tuple[float, float]:
    """(Spearman(median-filtered estimate at the evaluation steps, quality), the same on first differences): > 0
    when a lower estimate goes with better (lower) quality numbers; NaN below 20 evaluations (claims/stats.py), and
    the second is what a common trend in time cannot produce."""
    c = curves[curves["run_id"] == run_id]
    est = c[c["key"] == estimate].sort_values("step")
    qual = c[c["key"] == quality].sort_values("step")
    if len(est) < 3 or len(qual) < 3:
        return math.nan, math.nan
    filtered = pd.Series(median_filter(est["value"].to_numpy()), index=est["step"].to_numpy())
    at_eval = filtered.reindex(qual["step"].to_numpy(), method="nearest")
    corr = S.over_training(at_eval.to_numpy(), qual["value"].to_numpy())
    return (corr.rho, corr.rho_diff) if corr else (math.nan, math.nan)


def quality_key(runs: pd.DataFrame) -> pd.Series:
    """Per run, the quality metric its evaluator named (tag `quality`); for runs older than that tag: exact W1 on
    toys, digit FID or FID on images."""
    data = column(runs, "tags.data")
    old = pd.Series(np.where(data.isin(TOY_DATA), M.W1.key,
                             np.where(data.isin(DIGIT_DATA), M.FID_DIGITS.key, M.FID.key)), index=runs.index)
    return column(runs, "tags.quality").where(column(runs, "tags.quality").notna(), old)


def estimate_key(runs: pd.DataFrame) -> pd.Series:
    """Per run, the metric of its objective's estimate (tag `estimate`; older runs: by objective)."""
    old = pd.Series(np.where(column(runs, "tags.objective") == "wgan", M.EM.key, M.JS.key), index=runs.index)
    return column(runs, "tags.estimate").where(column(runs, "tags.estimate").notna(), old)


def t2_meaningful_loss(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """T2 (F4/F5): configuration -> Spearman(estimate, quality) over training, and how the estimate moves."""
    runs = outside_own_tables(runs)
    done = finished(runs[trained(runs)]).copy()
    if done.empty:
        return pd.DataFrame()
    done["quality"], done["estimate"] = quality_key(done), estimate_key(done)
    rho = [meaningful_loss(curves, r.run_id, r.estimate, r.quality) for _, r in done.iterrows()]
    done["rho_quality"], done["rho_diff"] = [r[0] for r in rho], [r[1] for r in rho]
    table = summarise(done, ["tags.experiment", "tags.objective", "tags.data", "tags.optimizer",
                                "params.optimizer.lr", "quality"], {
        f"Spearman(estimate, quality), >= {S.MIN_CURVE_POINTS} evaluations": ("rho_quality", 1),
        "the same on first differences": ("rho_diff", 1)})
    if done["rho_quality"].isna().all():  # the rows stand, without the columns they are here for: say why
        table.attrs["note"] = (f"No Spearman columns: none of these runs has the {S.MIN_CURVE_POINTS} evaluations a "
                               "correlation over training needs (more train.iterations, or a smaller eval.every, "
                               "give them).")
    return table


def t3_architecture(runs: pd.DataFrame, diversity: pd.Series | None = None) -> pd.DataFrame:
    """T3 (F6): generator x objective -> final quality, collapse rate over seeds (diversity < COLLAPSE_DIVERSITY)."""
    runs = outside_own_tables(runs)
    images = finished(runs[~column(runs, "tags.data").isin(TOY_DATA) & trained(runs)]).copy()
    if images.empty:
        return pd.DataFrame()
    images["diversity"] = diversity.reindex(images["run_id"]).to_numpy() if diversity is not None else np.nan
    collapse = lambda g: (f"{int((g['diversity'] < COLLAPSE_DIVERSITY).sum())}/{int(g['diversity'].notna().sum())}"  # noqa: E731
                          if g["diversity"].notna().any() else "—")
    return summarise(images, ["tags.experiment", "tags.arch", "tags.objective"], {
        "FID": (M.column(M.FID), 1), "digit FID": (M.column(M.FID_DIGITS), 1),
        "MNIST FID": (M.column(M.FID_MNIST), 1),
        # quality and coverage apart (Inception space, then the classifiers'): recall and coverage say collapse
        **{M.prdc(name, suffix).label: (M.column(M.prdc(name, suffix)), 1) for suffix in ("", "_digits", "_mnist")
           for name in ("precision", "recall", "coverage")},
        "modes (of 1,000)": (M.column(M.MODES), 1), "sample diversity": ("diversity", 1)},
        extra={"collapsed": collapse})


def t4_optimizer(runs: pd.DataFrame) -> pd.DataFrame:
    """T4 (F7): optimiser x learning rate -> diverged/runs, final quality, negative-cosine share of critic steps."""
    swept = runs[column(runs, "params.optimizer._target_").notna()].copy()
    swept = swept[(sweep_names(swept) == OPTIMIZER_SWEEP) & swept["status"].isin(["FINISHED", "FAILED"])]
    if swept.empty:
        return pd.DataFrame()
    swept["params.optimizer.lr"] = swept["params.optimizer.lr"].astype(float)  # sorted as numbers
    diverged = lambda g: f"{int((g['status'] == 'FAILED').sum())}/{len(g)}"  # noqa: E731
    return summarise(swept, ["tags.optimizer", "params.optimizer.lr"], {
        "modes": (M.column(M.MODES), 1), "high quality %": (M.column(M.HIGH_QUALITY), 100),
        "exact W1": (M.column(M.W1), 1), "negative-cosine share %": ("negative_share", 100),
        "mean cosine": ("mean_cosine", 1)}, extra={"diverged": diverged},
        bounded={**BOUNDED, "negative-cosine share %": lambda g: (0.0, 100.0, 1e-4)})


def own_value(runs: pd.DataFrame, keys: pd.Series) -> pd.Series:
    """Per run, the final value of the metric its row names in `keys` (e.g. its `quality` tag)."""
    return pd.Series([r.get(M.column(k), np.nan) if isinstance(k, str) else np.nan
                      for (_, r), k in zip(runs.iterrows(), keys)], index=runs.index, dtype=float)


def t5_constraints(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """T5 (Lipschitz constraints): constraint x objective x data -> final quality (the run's `quality` metric),
    collapse (its `collapse` metric), Spearman(estimate, quality) over training, ms per generator iteration; failed
    runs counted, not averaged."""
    swept = runs[(sweep_names(runs) == CONSTRAINT_SWEEP) & runs["status"].isin(["FINISHED", "FAILED"])].copy()
    if swept.empty:
        return pd.DataFrame()
    swept["quality"], swept["estimate"] = quality_key(swept), estimate_key(swept)
    swept["collapse"] = column(swept, "tags.collapse")
    done = swept["status"] == "FINISHED"
    swept["final quality"] = own_value(swept, swept["quality"]).where(done)
    swept["final collapse"] = own_value(swept, swept["collapse"]).where(done)
    rho = [meaningful_loss(curves, r.run_id, r.estimate, r.quality) if r.status == "FINISHED" else (np.nan, np.nan)
           for _, r in swept.iterrows()]
    swept["rho"], swept["rho_diff"] = [r[0] for r in rho], [r[1] for r in rho]
    swept["ms_per_it"] = 1000 / column(swept, M.column(M.ITERS_PER_S)).astype(float)
    failed = lambda g: f"{int((g['status'] == 'FAILED').sum())}/{len(g)}"  # noqa: E731
    return summarise(swept, ["tags.data", "tags.constraint", "tags.objective", "quality", "collapse"], {
        "final quality": ("final quality", 1), "final collapse measure": ("final collapse", 1),
        "Spearman(estimate, quality)": ("rho", 1), "the same on first differences": ("rho_diff", 1),
        "ms per generator iteration": ("ms_per_it", 1)}, extra={"failed": failed})


def cosine_summary(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the mean over generator iterations of the negative-cosine share and of the step's cosine
    (M.NEGATIVE_COSINE, M.STEP_COSINE)."""
    out = runs.copy()
    for key, name in ((M.NEGATIVE_COSINE.key, "negative_share"), (M.STEP_COSINE.key, "mean_cosine")):
        means = curves[curves["key"] == key].groupby("run_id")["value"].mean()
        out[name] = out["run_id"].map(means)
    return out


def missing(expected: dict[str, str], runs: pd.DataFrame, n_seeds: int = 3) -> list[str]:
    """Configurations (label -> command prefix) with fewer than n_seeds finished runs, with the command to run."""
    notes = []
    for label, command in expected.items():
        have = int((finished(runs)["tags.experiment"] == label).sum()) if "tags.experiment" in runs else 0
        if have < n_seeds:
            notes.append(f"{label}: {have} of {n_seeds} seeds finished; run `{command}`")
    return notes
