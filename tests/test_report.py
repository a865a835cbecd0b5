"""Reports from a small store of short real runs: tables match MLflow's numbers, figures exist, HTML embeds them."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, compose
from mlflow.tracking import MlflowClient

from wgan_repro.report import tables
from wgan_repro.runs.runner import run

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
        assert row["runs"] == 2  # the CSV is numeric: mean, interval ends (none below 5 runs), n
        assert row["exact W1 mean"] == pytest.approx(np.mean(w1), rel=1e-9) and row["exact W1 n"] == 2
        assert np.isnan(row["exact W1 lo"]) and row["modes mean"] == pytest.approx(np.mean(modes))
    md = (tmp_path / "report.md").read_text()
    assert all(f"{v:.3g}" in md for v in w1)  # below 5 runs the cell shows each run's value
    t3 = pd.read_csv(tmp_path / "t3_architecture.csv")
    image = client.get_run(ids[4]).data.metrics
    assert t3.iloc[0]["digit FID mean"] == pytest.approx(image["eval/fid_digits"], rel=1e-9)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["run id"]) == set(ids) and "test wgan 0" in set(runs["command"])
    for png in ("fig_curves_toy.png", "fig_curves_images.png", "fig_grids.png", "fig_toy_panels.png",
                "fig_toy_over_time.png"):
        assert (tmp_path / png).stat().st_size > 1000, png
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "<table" in html
    md = (tmp_path / "report.md").read_text()
    assert "![" in md and "T4" in md and "No run in this report logs what this table needs" in md


@pytest.mark.parametrize("selection,needle", [
    (["tracking.experiment=report", "report.sweep=nope"], "sweep 'nope'"),
    (["tracking.experiment=report", "report.filter=\"tags.data = 'nope'\""], "matching \"tags.data = 'nope'\""),
    (["tracking.experiment=nope"], "no runs in experiment 'nope'"),
])
def test_report_refuses_an_empty_selection_and_leaves_no_folder(store, tmp_path, selection, needle) -> None:
    uri, _ = store
    out = subprocess.run([sys.executable, "-m", "wgan_repro.report", f"tracking.uri={uri}", *selection],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and needle in out.stderr, out.stderr[-2000:]
    assert len(out.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())  # no reports/latest/


def test_cells_show_runs_below_five_and_an_interval_from_five() -> None:
    assert tables.cell([]) == "—" and tables.cell([0.5]) == "0.5" and tables.cell([1.0, 2.0, 3.0]) == "1, 2, 3"
    assert tables.cell([1, 2, 3, 4, 5]).endswith("(t 95%, n=5)")


def toy_frame(iterations: list[int], modes: list[float], hq: list[float]) -> pd.DataFrame:
    n = len(iterations)
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "status": "FINISHED", "tags.objective": "wgan",
                         "tags.data": "eight_gaussians", "tags.experiment": "", "params.data.n_modes": "8",
                         "tags.optimizer": "rmsprop", "params.optimizer.lr": "5e-05",
                         "params.train.iterations": [str(i) for i in iterations],
                         "params.train.seed": [str(i) for i in range(n)],  # not a setting: runs pool over seeds
                         "params.tracking.uri": [f"sqlite:///{i}.db" for i in range(n)],  # nor is the store
                         "metrics.eval/modes": modes, "metrics.eval/high_quality": hq})


def test_runs_of_different_lengths_are_separate_rows_and_bounded_intervals_stay_in_bounds() -> None:
    """A 7,000-iteration run was pooled with 200-iteration ones into one row, whose intervals left their bounds
    (modes up to 9.1 of 8, a high-quality share from -8.51%): every differing setting now splits the rows, named in
    a column of its own, and a bounded measure's interval is computed on the logit scale between its bounds."""
    runs = toy_frame([200] * 6 + [7000], [8, 8, 5, 8, 6, 8, 8], [0.95, 0.99, 0.02, 0.97, 0.4, 0.99, 1.0])
    t1 = tables.t1_toy(runs)
    assert list(t1["train.iterations"]) == ["200", "7000"] and list(t1["runs"]) == [6, 1], t1
    short = t1.attrs["numeric"].iloc[0]
    assert 0 <= short["modes lo"] < short["modes mean"] < short["modes hi"] <= 8
    assert 0 <= short["high quality % lo"] < short["high quality % hi"] <= 100
    pooled = tables.S.summarise([8, 8, 5, 8, 6, 8])  # what the identity scale gave: past the 8 modes there are
    assert pooled.hi > 8
    assert "seed" not in t1 and "tracking.uri" not in t1


def test_a_table_without_its_spearman_columns_says_why() -> None:
    runs = toy_frame([200] * 2, [8, 8], [0.9, 0.9])
    curves = pd.DataFrame({"run_id": "r0", "key": "estimate/em", "step": [1, 2, 3], "value": [3.0, 2.0, 1.0]})
    t2 = tables.t2_meaningful_loss(runs, curves)
    assert len(t2) == 1 and not any(c.startswith("Spearman") for c in t2)
    assert "none of these runs has the 20 evaluations" in t2.attrs["note"]


def test_meaningful_loss_on_a_literal() -> None:
    steps = np.arange(1, 3001)
    est = pd.DataFrame({"run_id": "r", "key": "estimate/em", "step": steps, "value": 1.0 / steps})
    evals = np.arange(100, 3001, 100)  # 30 evaluations
    qual = pd.DataFrame({"run_id": "r", "key": "eval/w1", "step": evals, "value": 1.0 / evals})
    rho, rho_diff = tables.meaningful_loss(pd.concat([est, qual]), "r", "estimate/em", "eval/w1")
    assert rho == pytest.approx(1.0) and rho_diff == pytest.approx(1.0)
    few = pd.concat([est, qual[qual["step"] <= 400]])  # 4 evaluations: no correlation
    assert all(np.isnan(v) for v in tables.meaningful_loss(few, "r", "estimate/em", "eval/w1"))


def test_t5_compares_constraints_by_each_runs_own_measures(mlflow_uri, tmp_path) -> None:
    """T5 takes the runs of the constraint sweep (and only those), reads each run's own quality and collapse
    measures and its estimate (EM, hinge) from its tags, and counts a failed run instead of averaging it."""
    from wgan_repro.report import collect

    ids = {}
    for constraint, objective, extra in (("clip", "wgan", []), ("gp", "hinge", []),
                                         ("spectral", "wgan", ["train.divergence_threshold=1e-12"])):
        cfg, choices = compose(*TINY, "train.iterations=20", "eval.every=1", "eval.figures=false",
                               f"constraint={constraint}", f"objective={objective}", "sweep=constraint_x_objective",
                               f"tracking.uri={mlflow_uri}", "tracking.experiment=report_t5", *extra)
        ids[constraint] = run(cfg, choices, tmp_path / constraint)["run_id"]
    cfg, choices = compose(*TINY, f"tracking.uri={mlflow_uri}", "tracking.experiment=report_t5")
    run(cfg, choices, tmp_path / "other")  # not of the sweep: left out
    runs = collect.search(mlflow_uri, "report_t5")
    keys = {*collect.CURVE_KEYS, *tables.estimate_key(runs), *tables.quality_key(runs)}
    t5 = tables.t5_constraints(runs, collect.histories(mlflow_uri, runs["run_id"], sorted(keys)))
    assert sorted(t5["constraint"]) == ["clip", "gp", "spectral"] and t5["runs"].sum() == 3
    gp = t5[t5["constraint"] == "gp"].iloc[0]
    final = MlflowClient(mlflow_uri).get_run(ids["gp"]).data
    assert (gp["objective"], gp["quality"], gp["collapse"]) == ("hinge", "eval/w1", "eval/modes")
    assert first_number(gp["final quality"]) == pytest.approx(final.metrics["eval/w1"], rel=1e-2)
    assert np.isfinite(first_number(gp["Spearman(estimate, quality)"]))  # 20 evaluations of estimate/hinge
    assert first_number(gp["ms per generator iteration"]) == pytest.approx(
        1000 / final.metrics["perf/gen_iters_per_s"], rel=1e-2)
    spectral = t5[t5["constraint"] == "spectral"].iloc[0]
    assert spectral["failed"] == "1/1" and spectral["final quality"] == "—"
