"""MLflow -> pandas: the runs behind a report and their metric histories. The only module of the report that
talks to MLflow; everything downstream takes DataFrames."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from wgan_repro.evaluate import metrics as M
from wgan_repro.store import mlflow_client

CURVE_KEYS = tuple(m.key for m in (M.EM, M.JS, M.W1, M.FID, M.FID_DIGITS, M.MODES, M.HIGH_QUALITY, M.STEP_COSINE,
                                   M.NEGATIVE_COSINE, M.FIG1_THETA))


OPTIONAL_TAGS = ("experiment", "sweep", "study")  # tags a run has only when they say something


def search(uri: str, experiment: str, filter_string: str | None = None, sweep: str | None = None) -> pd.DataFrame:
    """One row per run: run_id, status, start_time, params.*, metrics.* (last values), tags.*. `sweep`: one launch
    (its tag, name@id) or every launch of a sweep (its name)."""
    import mlflow  # mlflow (~1 s) only to read a store: tables' tests pass DataFrames

    mlflow.set_tracking_uri(uri)
    clauses = [c for c in (filter_string, f"tags.sweep LIKE '{sweep.split('@')[0]}%'" if sweep else None) if c]
    from mlflow.exceptions import MlflowException  # mlflow (~1 s) only to read a store: tables' tests pass DataFrames

    if mlflow_client(uri).get_experiment_by_name(experiment) is None:  # one line (MLflow would warn, then find none)
        names = [e.name for e in mlflow_client(uri).search_experiments()]
        raise ValueError(f"no runs in experiment {experiment!r} of {uri}: no such experiment; allowed: "
                         f"{', '.join(names) or 'none yet (the store is empty)'}")

    try:
        runs = mlflow.search_runs(experiment_names=[experiment], filter_string=" and ".join(clauses),
                                  output_format="pandas", max_results=50_000)
    except MlflowException as exc:
        raise ValueError(f"report.filter={filter_string!r}: not an MLflow filter string ({exc.message}); e.g. "
                         f"\"tags.data = 'digits'\" or \"metrics.`{M.W1.key}` < 0.2\"") from None
    for name in OPTIONAL_TAGS:  # runs leave them out when empty (no empty tags on the run page): "" again here
        runs[f"tags.{name}"] = runs[f"tags.{name}"].fillna("") if f"tags.{name}" in runs else ""
    if "tags.sweep_parent" in runs:  # a sweep's parent run holds no results of its own
        runs = runs[runs["tags.sweep_parent"] != "true"]
    if sweep and not runs.empty:
        runs = runs[runs["tags.sweep"] == sweep] if "@" in sweep else runs[sweep_names(runs) == sweep]
    return runs.reset_index(drop=True)


def sweep_names(runs: pd.DataFrame) -> pd.Series:
    """The sweep each run belongs to, without the launch id (tag sweep is name@id; older runs: the name alone)."""
    tags = runs["tags.sweep"] if "tags.sweep" in runs else pd.Series("", index=runs.index)
    return tags.fillna("").str.split("@").str[0]


def histories(uri: str, run_ids: Iterable[str], keys: Iterable[str] = CURVE_KEYS) -> pd.DataFrame:
    """Long table (run_id, key, step, value) of every logged point of `keys`."""
    client = mlflow_client(uri)
    rows = [(rid, key, m.step, m.value) for rid in run_ids for key in keys
            for m in client.get_metric_history(rid, key)]
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])


def log_to_parent(uri: str, runs: pd.DataFrame, sweep: str | None, out_dir: Path) -> str | None:
    """Log the report folder into the sweep's parent run, when the sweep has one (tag sweep_parent=true)."""
    if not sweep or runs.empty or "tags.mlflow.parentRunId" not in runs:
        return None
    parents = runs["tags.mlflow.parentRunId"].dropna().unique()
    if len(parents) != 1:
        return None

    mlflow_client(uri).log_artifacts(parents[0], str(out_dir), "report")
    return str(parents[0])
