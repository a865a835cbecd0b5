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


@pytest.mark.slow
def test_fig1_parallel_lines_as_measured(tmp_path) -> None:
    """Measured (seed 0, default settings): slope K = 0.163, EM estimate 2e-8 at theta = 0 and 0.168 / 0.177 at
    theta = -1 / 1; JS lower bound 0.6931 at every theta != 0 and 0 at theta = 0."""
    import math

    client, run = _cli(tmp_path, "experiment=fig1_parallel_lines")
    rid = run.info.run_id
    em = [m.value for m in sorted(client.get_metric_history(rid, "estimate/em"), key=lambda m: m.step)]
    js = [m.value for m in sorted(client.get_metric_history(rid, "estimate/js"), key=lambda m: m.step)]
    assert 0.12 < run.data.metrics["fig1/em_slope"] < 0.22
    assert abs(em[10]) < 1e-3 and min(em[0], em[20]) > 0.12
    assert all(abs(v - math.log(2)) < 1e-3 for i, v in enumerate(js) if i != 10) and abs(js[10]) < 1e-3


@pytest.mark.slow
def test_fig3_optimal_critic_as_measured(tmp_path) -> None:
    """Measured (seed 0): discriminator gradient at the fakes 5.8e-8, critic's 0.092, critic linearity R^2 0.968."""
    _, run = _cli(tmp_path, "experiment=fig3_optimal_critic")
    m = run.data.metrics
    assert m["fig3/disc_grad_at_fake"] < 1e-5 * m["fig3/critic_grad_at_fake"]
    assert m["fig3/critic_linearity_r2"] > 0.95


@pytest.mark.slow
def test_fig2_gan_collapses_in_metz_setting(tmp_path) -> None:
    """Measured (10,000 iterations, seeds 0-2): modes per 1,000 iterations never above 1 of 8."""
    client, run = _cli(tmp_path, "experiment=fig2_gan", "train.iterations=10000", "eval.every=1000")
    modes = [m.value for m in client.get_metric_history(run.info.run_id, "eval/modes")]
    assert len(modes) == 10 and max(modes) <= 2
