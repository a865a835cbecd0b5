"""The metric registry (wgan_repro/evaluate/metrics.py): every key a tiny run logs is registered and within its
bounds, every entry is complete, no key is spelled outside it, docs/metrics.md's table is its rendering, and
importing it loads no torch."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import pytest
import torch
from conftest import TINY, compose

from wgan_repro import objectives
from wgan_repro.evaluate import metrics as M
from wgan_repro.runs.runner import run
from wgan_repro.tracking import NullTracker

REPO = Path(__file__).resolve().parents[1]
DIGITS = ["data=digits", "data.image_size=8", "arch=mlp", "critic=mlp", "arch.hidden=16", "critic.hidden=16",
          "train.batch_size=8", "train.iterations=2", "train.warmup=false", "eval.every=2",
          "eval.classifier_samples=16", "eval.classes=true", "eval.n_samples=32", "eval.prc=true",
          "train.progress=false"]
STUDIES = {"fig1_parallel_lines": ["study.n_theta=3", "study.max_steps=5"],
           "fig3_optimal_critic": ["study.max_steps=5"],
           "g3_fixed_generator": ["study.max_steps=5", "eval.w1_points=50"]}


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[float]]:
    """Every value runs log through the null tracker (tracking.enabled=false), by key."""
    seen: dict[str, list[float]] = {}

    def log_metrics(self: NullTracker, metrics: Mapping[str, Any], step: int) -> None:
        for key, value in metrics.items():
            seen.setdefault(key, []).append(float(value))

    monkeypatch.setattr(NullTracker, "log_metrics", log_metrics)
    return seen


def assert_registered_within_bounds(logged: Mapping[str, list[float]]) -> None:
    """Every key registered; every finite value inside its metric's [lo, hi] (a float's rounding allowed)."""
    unknown = sorted(k for k in logged if not M.known(k))
    assert not unknown, f"logged but not registered in wgan_repro/evaluate/metrics.py: {unknown}"
    outside = {k: v for k, values in logged.items() for v in values if math.isfinite(v) and not
               M.get(k).lo - 1e-9 <= v <= M.get(k).hi + 1e-9}
    assert not outside, f"outside their registered bounds: {outside}"


def test_a_toy_run_logs_only_registered_keys(tmp_path: Path, logged: dict[str, list[float]]) -> None:
    cfg, choices = compose(*TINY, "constraint=gp", "optimizer=adam", "train.critic_diagnostics=true",
                           "train.log_step_cosine=true", "eval.prc=true", "eval.figures=false",
                           "tracking.enabled=false")
    assert run(cfg, choices, tmp_path)["status"] == "FINISHED"
    expected = [M.W1, M.W1_FLOOR, M.MODES, M.HIGH_QUALITY, M.DOMINANT_SHARE, M.EM, M.SCORE_REAL, M.LOSS_CRITIC,
                M.LOSS_PENALTY, M.STEP_COSINE, M.NEGATIVE_COSINE, M.ITERS_PER_S, M.EVAL_SHARE, M.WEIGHTS_NEAR_MAX,
                M.prdc("coverage", "_2d"), M.prdc("density", "_2d", floor=True)]
    assert {m.key for m in expected} <= set(logged), sorted(logged)
    assert M.GRAD_NORM_LAYER.key(1) in logged and M.WEIGHT_HIST_BIN.key(0) in logged
    assert_registered_within_bounds(logged)


def test_an_image_run_on_digits_logs_only_registered_keys(tmp_path: Path, logged: dict[str, list[float]]) -> None:
    cfg, choices = compose(*DIGITS, "tracking.enabled=false")
    assert run(cfg, choices, tmp_path)["status"] == "FINISHED"
    expected = [M.FID_DIGITS, M.FID_DIGITS_FLOOR, M.CLASSES, M.KL_CLASSES, M.prdc("recall", "_digits"),
                M.prdc("precision", "_digits", floor=True), M.LOSS_GENERATOR]
    assert {m.key for m in expected} <= set(logged), sorted(logged)
    assert_registered_within_bounds(logged)


@pytest.mark.parametrize("experiment", STUDIES)
def test_a_study_logs_only_registered_keys(experiment: str, tmp_path: Path, logged: dict[str, list[float]]) -> None:
    cfg, choices = compose(f"experiment={experiment}", *STUDIES[experiment], "critic.hidden=16",
                           "train.progress=false", "tracking.enabled=false")
    assert run(cfg, choices, tmp_path)["status"] == "FINISHED"
    assert logged
    assert_registered_within_bounds(logged)


@pytest.mark.parametrize("cls", [objectives.WGAN, objectives.GAN, objectives.GANMinimax, objectives.Hinge])
def test_every_objectives_estimate_and_stats_are_registered(cls: type) -> None:
    _, stats = cls().critic_loss(torch.randn(8), torch.randn(8))
    assert cls.estimate_key in stats and M.get(cls.estimate_key).spaces == ("critic",)
    assert all(M.known(k) for k in stats), sorted(stats)


def test_every_entry_is_complete_and_every_key_unique() -> None:
    problems = [p for entry in M.REGISTRY for p in M.check(entry)]
    assert not problems, problems
    keys = M.registered()
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert not [k for k in M.METRICS for f in M.FAMILIES if f.matches(k)]  # a key read one way only


def test_lookups_name_the_key_and_the_registered_ones() -> None:
    with pytest.raises(KeyError, match=r"'eval/nope' is not a registered metric.*eval/w1, eval/w1_floor"):
        M.get("eval/nope")
    with pytest.raises(KeyError, match=r"'vgg'.*digits, mnist"):
        M.classifier_fid("vgg")
    with pytest.raises(KeyError, match=r"'_vgg'.*suffixes: '', '_digits', '_mnist', '_2d'"):
        M.prdc("recall", "_vgg")
    assert [M.classifier_fid(c, floor).key for c in M.CLASSIFIERS for floor in (False, True)] == [
        "eval/fid_digits", "eval/fid_digits_floor", "eval/fid_mnist", "eval/fid_mnist_floor"]
    assert M.prdc("precision").key == "eval/precision"
    assert M.prdc("coverage", "_2d", floor=True).key == "eval/coverage_2d_floor"
    assert len(M.PRDC) == len(M.PRDC_NAMES) * len(M.PRDC_SUFFIXES) * 2
    assert M.get("critic/grad_norm/layer_07").words == "gradient norm at critic layer 07"
    assert not M.known("critic/grad_norm/layer_7") and M.column(M.W1) == "metrics.eval/w1"
    assert M.W1.axis() == "exact W1 (lower is better)" and M.EM.axis() == "EM estimate"


def test_every_classifier_the_evaluator_accepts_is_registered() -> None:
    from wgan_repro.evaluate.images import CLASSIFIER_DATA  # loads torch-fidelity: only this test needs it

    assert set(CLASSIFIER_DATA) == set(M.CLASSIFIERS)


def test_no_metric_key_is_a_folder_of_another() -> None:
    """MLflow's file store (tracking.uri=file:...) writes each key as a path, "/" a folder: a key that another key
    (or a family's members) extends would have to be a file and a folder at once, and the second one logged fails."""
    names = [m.prefix if isinstance(m, M.Family) else m.key for m in M.REGISTRY]
    clashes = [(a, b) for a in names for b in names if a != b and b.startswith(a + "/")]
    assert not clashes, clashes


def test_no_metric_key_is_spelled_outside_the_registry() -> None:
    literal = re.compile(r"[\"'](eval|estimate|loss|critic|optim|perf|fig1|fig3|g3)/")
    found = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "wgan_repro").rglob("*.py"))
             if p.name != "metrics.py" or p.parent.name != "evaluate"
             for i, line in enumerate(p.read_text().splitlines(), 1) if literal.search(line)]
    assert not found, f"metric keys outside wgan_repro/evaluate/metrics.py (use its constants): {found}"


def test_the_docs_table_is_the_registrys() -> None:
    text = (REPO / "docs" / "metrics.md").read_text()
    block = re.search(r"<!-- metrics:start -->\n(.*?)\n<!-- metrics:end -->", text, re.S)
    assert block, "docs/metrics.md has no <!-- metrics:start --> ... <!-- metrics:end --> block"
    assert block.group(1).strip() == M.markdown_table(), ("docs/metrics.md's table differs from the registry: paste "
                                                         "python -c 'from wgan_repro.evaluate.metrics import "
                                                         "markdown_table; print(markdown_table())'")


def test_importing_the_registry_loads_no_torch() -> None:
    code = ("import sys, wgan_repro.evaluate.metrics; heavy = [m for m in ('torch', 'mlflow', 'matplotlib', 'scipy') "
            "if m in sys.modules]; assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
