"""A multirun sweep through the real CLI: every job is tracked, and a diverged job does not stop the sweep."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import TINY
from mlflow.tracking import MlflowClient


def test_multirun_goes_on_past_a_diverged_job(tmp_path) -> None:
    """Two parallel joblib workers on a fresh store: the store and the sweep's parent run are prepared once, before
    the jobs start; every job is a child of that parent, which ends FAILED with the counts."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "wgan_repro", "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
           "train.divergence_threshold=1e-12,1e6",
           "optimizer=rmsprop,adam", *TINY, "eval.figures=false", "sweep=test", f"hydra.sweep.dir={tmp_path}/multirun"]
    out = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("wgan_repro").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweep_parent") == "true"]
    tag = parent.data.tags["sweep"]
    assert tag.startswith("test@") and parent.info.run_name == tag
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    seen = sorted((r.data.tags["optimizer"], r.data.params["train.divergence_threshold"], r.info.status,
                   r.data.tags["sweep"]) for r in children)
    assert seen == [("adam", "1000000.0", "FINISHED", tag), ("adam", "1e-12", "FAILED", tag),
                    ("rmsprop", "1000000.0", "FINISHED", tag), ("rmsprop", "1e-12", "FAILED", tag)]
    assert parent.info.status == "FAILED"  # not every child FINISHED; the counts say which
    assert (parent.data.tags["sweep.runs"], parent.data.tags["sweep.finished"], parent.data.tags["sweep.failed"]) \
        == ("4", "2", "2")
    assert parent.data.params["sweep.launcher"] == "JoblibLauncher"
    assert "--multirun" in parent.data.tags["mlflow.note.content"]


def test_a_single_run_that_diverges_exits_non_zero_and_says_why(tmp_path) -> None:
    """Outside a sweep a run that ends FAILED is a failed command: exit 1 and its reason on the last line (a sweep
    goes on past it and exits 0, above)."""
    cmd = [sys.executable, "-m", "wgan_repro", "train.divergence_threshold=1e-12", *TINY, "eval.figures=false",
           "tracking.enabled=false", f"hydra.run.dir={tmp_path}/out"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1].startswith("failed: diverged at generator iteration 1")
