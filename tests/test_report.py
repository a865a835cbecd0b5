"""Reports from a small store of short real runs: tables match MLflow's numbers, figures exist, HTML embeds them."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY, compose
from wgan_repro.report import tables
from wgan_repro.runner import run

IMAGE = ["arch=dcgan", "critic=dcgan", "data=digits", "data.image_size=16", "arch.nz=8", "arch.ngf=8",
         "critic.ndf=8", "train.batch_size=8", "train.iterations=4", "train.warmup=false", "eval.every=2",
         "eval.classifier_samples=32", "train.progress=false"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow_uri) -> tuple[str, list[str]]:
    """Two objectives x two seeds on the toy, one image run, in their own experiment of the shared store."""
    out = tmp_path_factory.mktemp("report_runs")
    ids = []
    for objective in ("wgan", "gan"):
        for seed in (0, 1):
            cfg, choices = compose(*TINY, "train.iterations=6", "eval.every=3", f"objective={objective}",
                                   f"train.seed={seed}", f"tracking.uri={mlflow_uri}", "tracking.experiment=report")
            ids.append(run(cfg, choices, out / f"{objective}{seed}", command=f"test {objective} {seed}")["run_id"])
    cfg, choices = compose(*IMAGE, f"tracking.uri={mlflow_uri}", "tracking.experiment=report")
    ids.append(run(cfg, choices, out / "image")["run_id"])
    return mlflow_uri, ids


def first_number(cell: str) -> float:
    return float(re.match(r"\s*(-?[\d.]+(?:e[+-]?\d+)?)", str(cell)).group(1))


def test_report_tables_match_mlflow(store, tmp_path) -> None:
    uri, ids = store
    out = subprocess.run([sys.executable, "-m", "wgan_repro.report", f"tracking.uri={uri}",
                          "tracking.experiment=report",
                          f"report.out_dir={tmp_path}", "report.name=test"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    client = MlflowClient(uri)
    t1 = pd.read_csv(tmp_path / "t1_toy.csv")
    for objective in ("wgan", "gan"):
        row = t1[t1["objective"] == objective].iloc[0]
        finals = [client.get_run(i).data for i in ids[:4]]
        w1 = [d.metrics["eval/w1"] for d in finals if d.tags["objective"] == objective]
        modes = [d.metrics["eval/modes"] for d in finals if d.tags["objective"] == objective]
        assert row["runs"] == 2
        assert first_number(row["exact W1"]) == pytest.approx(np.mean(w1), rel=5e-3)
        assert first_number(row["modes"]) == pytest.approx(np.mean(modes), rel=5e-3)
        assert row["exact W1"].endswith("(n=2)")
    t3 = pd.read_csv(tmp_path / "t3_architecture.csv")
    image = client.get_run(ids[4]).data.metrics
    assert first_number(t3.iloc[0]["digit FID"]) == pytest.approx(image["eval/fid_digits"], rel=5e-3)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["run id"]) == set(ids) and "test wgan 0" in set(runs["command"])
    for png in ("fig_curves_toy.png", "fig_curves_images.png", "fig_grids.png", "fig_toy_panels.png",
                "fig_toy_over_time.png"):
        assert (tmp_path / png).stat().st_size > 1000, png
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "<table" in html
    md = (tmp_path / "report.md").read_text()
    assert "![" in md and "T4" in md and "No run in this report logs what this table needs" in md


def test_report_refuses_an_empty_selection(store, tmp_path) -> None:
    uri, _ = store
    out = subprocess.run([sys.executable, "-m", "wgan_repro.report", f"tracking.uri={uri}",
                          "tracking.experiment=report",
                          f"report.out_dir={tmp_path}", "report.sweep=nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "sweep 'nope'" in out.stderr


def test_bootstrap_interval() -> None:
    mean, lo, hi, n = tables.bootstrap([1.0, 2.0, 3.0, float("nan")])
    assert (mean, n) == (2.0, 3) and 1.0 <= lo < 2.0 < hi <= 3.0
    assert tables.cell([]) == "—" and tables.cell([0.5]) == "0.5 (n=1)"


def test_meaningful_loss_on_a_literal() -> None:
    steps = np.arange(1, 301)
    est = pd.DataFrame({"run_id": "r", "key": "estimate/em", "step": steps, "value": 1.0 / steps})
    qual = pd.DataFrame({"run_id": "r", "key": "eval/w1", "step": [100, 200, 300], "value": [0.5, 0.3, 0.1]})
    rho_q, rho_t = tables.meaningful_loss(pd.concat([est, qual]), "r", "estimate/em", "eval/w1")
    assert rho_q == pytest.approx(1.0) and rho_t == pytest.approx(-1.0)
