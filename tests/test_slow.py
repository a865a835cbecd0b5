"""Long end-to-end runs of the real CLI (deselected by default: `./test.sh -m slow`, about 15 minutes on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient


def _cli(tmp_path, *overrides: str):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = subprocess.run([sys.executable, "-m", "wgan_repro", *overrides, f"hydra.run.dir={tmp_path}/out"],
                         cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, capture_output=True, text=True,
                         timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("wgan_repro").experiment_id])
    assert run.info.status == "FINISHED"
    return client, run


@pytest.mark.slow
def test_default_run_covers_all_eight_modes(tmp_path) -> None:
    """`python -m wgan_repro` reaches 8/8 modes (Fig. 2: no mode collapse). Measured with seed 0: 8 at 2,000,
    5,000, 8,000 and 9,000 iterations, 7 at the final 10,000 (one mode's samples hover just past 3 std)."""
    client, run = _cli(tmp_path)
    history = [m.value for m in client.get_metric_history(run.info.run_id, "eval/modes")]
    assert len(history) == 10 and max(history) == 8 and history[-1] >= 7
    assert run.data.metrics["eval/high_quality"] > 0.3


@pytest.mark.slow
def test_small_gan_preset_finishes_with_samples(tmp_path) -> None:
    _, run = _cli(tmp_path, "experiment=fig7_nobn_small", "objective=gan")
    assert "estimate/js" in run.data.metrics
    assert (tmp_path / "out" / "samples" / "samples_final.png").exists()
