"""The speed work changes no result: the harness's loop and the benchmark's plain reference loop (written the way
the official code writes it, independently of train.py) give the same losses at the same seed on the CPU, bit for
bit when the plain loop also scores real and fake in one pass."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from conftest import compose, history
from wgan_repro.bench import reference_loop
from wgan_repro.runner import run
from wgan_repro.setup import build_parts
from wgan_repro.train import train


class Recorder:
    """A tracker that keeps the logged losses."""

    run_id = None

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, float]] = {}

    def log_metrics(self, metrics, step: int) -> None:
        self.rows.setdefault(step, {}).update(metrics)

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("extra", [[], ["optimizer=adam"], ["constraint.when=before"], ["objective=gan"],
                                   ["constraint=gp"], ["constraint=gp", "constraint.one_sided=true"],
                                   ["constraint=spectral"]])
def test_harness_losses_equal_the_plain_loop(extra: list[str], tmp_path) -> None:
    cfg, _ = compose("train.warmup=false", "train.iterations=6", "train.log_every=3", "eval.every=1000",
                     "arch.hidden=128", "critic.hidden=128", "tracking.enabled=false", "train.progress=false",
                     "train.device=cpu", *extra)
    plain: list[tuple[float, float]] = []
    reference_loop(cfg, torch.device("cpu"), plain, joint=True)(6)
    official: list[tuple[float, float]] = []
    reference_loop(cfg, torch.device("cpu"), official)(6)
    state, data, objective, constraint, evaluator = build_parts(cfg)
    tracker = Recorder()
    train(cfg, state, data, objective, constraint, lambda *a: {}, tracker, tmp_path, lambda: None)
    harness = [(tracker.rows[i]["loss/critic"], tracker.rows[i]["loss/generator"]) for i in range(1, 7)]
    assert harness == plain  # float for float: foreach optimisers, clamp placement, order of random draws
    if "constraint=spectral" in extra:
        return  # two passes run two power iterations per critic step where the joint pass runs one: not rounding
    # the official two passes over real and fake differ from the joint pass by float rounding only
    assert [v for row in harness for v in row] == pytest.approx([v for row in official for v in row], rel=1e-3,
                                                                abs=1e-7)


def test_an_ensemble_member_equals_the_single_run_of_its_seed(tmp_path, mlflow_uri) -> None:
    """train.ensemble=2 x train.ensemble_lr=[5e-5,1e-3] at seed 5: member k logs, to its own MLflow run, what the
    single run at its seed and learning rate logs, and ends with its weights and optimiser state, up to float
    rounding (batched matmuls sum in another order)."""
    from mlflow.tracking import MlflowClient

    common = ["train.warmup=false", "train.iterations=8", "train.log_every=4", "eval.every=4", "eval.n_samples=200",
              "eval.w1_points=100", "arch.hidden=32", "critic.hidden=32", "train.progress=false",
              "eval.figures=false", f"tracking.uri={mlflow_uri}", "tracking.experiment=ensemble"]
    command = "python -m wgan_repro train.ensemble=2 train.ensemble_lr=[5e-5,1e-3] train.seed=5"
    cfg, choices = compose(*common, *command.split()[3:])
    together = run(cfg, choices, tmp_path / "ensemble", command=command)
    assert together["status"] == "FINISHED" and len(together["run_id"]) == 4
    client = MlflowClient(mlflow_uri)
    for k, (run_id, (seed, lr)) in enumerate(zip(together["run_id"], [(5, 5e-5), (6, 5e-5), (5, 1e-3), (6, 1e-3)])):
        cfg, choices = compose(*common, f"train.seed={seed}", f"optimizer.lr={lr}")
        alone = run(cfg, choices, tmp_path / f"alone{k}")
        member, single = client.get_run(run_id), client.get_run(alone["run_id"])
        assert member.data.params == single.data.params  # the config of the single run, seed and lr included
        assert member.data.tags["config_hash"] == single.data.tags["config_hash"]
        assert member.data.tags["ensemble_member"] == str(k) and member.data.tags["ensemble"] == "4"
        assert member.data.tags["mlflow.note.content"].endswith(f"train.seed={seed} optimizer.lr={lr}`")
        for key in ("loss/critic", "loss/generator", "estimate/em", "eval/w1"):
            got, want = history(mlflow_uri, run_id, key), history(mlflow_uri, alone["run_id"], key)
            assert len(got) == len(want) > 0 and got == pytest.approx(want, rel=1e-4, abs=1e-7), key
        a = torch.load(tmp_path / "ensemble" / f"member{k}" / "checkpoint.pt", weights_only=False)
        b = torch.load(tmp_path / f"alone{k}" / "checkpoint.pt", weights_only=False)
        assert a["gen_iter"] == b["gen_iter"] == 8
        for part in ("generator", "critic"):  # RMSProp moves a weight whose gradient is rounding noise by ~lr a step
            assert all(torch.allclose(a[part][n], b[part][n], rtol=1e-4, atol=lr) for n in b[part])
        for part in ("opt_generator", "opt_critic"):  # the single run's optimiser state: groups, lr, square_avg
            assert a[part]["param_groups"] == b[part]["param_groups"]
            assert a[part]["state"].keys() == b[part]["state"].keys()
            for i, st in b[part]["state"].items():
                assert all(torch.allclose(a[part]["state"][i][n], v, rtol=1e-3, atol=1e-9) for n, v in st.items())
        assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])  # the member's stream is where the run's would be


def test_a_diverging_member_fails_alone(tmp_path, mlflow_uri) -> None:
    """An ensemble over learning rates in which one diverges: that member is FAILED with its reason and keeps no
    checkpoint past its last good state; the others train on to the end, FINISHED, each with its checkpoint."""
    from mlflow.tracking import MlflowClient

    cfg, choices = compose("train.warmup=false", "train.iterations=40", "train.log_every=5", "eval.every=20",
                           "eval.n_samples=200", "eval.w1_points=100", "arch.hidden=32", "critic.hidden=32",
                           "train.progress=false", "eval.figures=false", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=ensemble_diverge", "train.ensemble_lr=[5e-5,1e4,1e-4]")
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FAILED" and [m["status"] for m in result["members"]] == ["FINISHED", "FAILED",
                                                                                         "FINISHED"]
    assert result["members"][1]["reason"].startswith("diverged at generator iteration")
    client = MlflowClient(mlflow_uri)
    runs = [client.get_run(run_id) for run_id in result["run_id"]]
    assert [r.info.status for r in runs] == ["FINISHED", "FAILED", "FINISHED"]
    assert runs[1].data.tags["status_reason"] == result["members"][1]["reason"]
    for k in (0, 2):
        steps = [m.step for m in client.get_metric_history(runs[k].info.run_id, "estimate/em")]
        assert sorted(steps) == list(range(1, 41))
        assert torch.load(tmp_path / f"member{k}" / "checkpoint.pt", weights_only=False)["gen_iter"] == 40
    assert not (tmp_path / "member1" / "checkpoint.pt").exists()  # it diverged before its first checkpoint


def test_the_benchmark_times_both_loops_and_refuses_unknown_settings(mlflow_uri, capsys, tmp_path) -> None:
    """One short toy record with every field the README's table reads; an unknown setting exits 2 naming the
    allowed ones."""
    from wgan_repro import bench

    record = bench.bench_setting("toy", ["arch.hidden=32", "critic.hidden=32"], torch.device("cpu"), mlflow_uri,
                                 repeats=1, budget_s=0.05)
    assert record["harness_its"] > 0 and record["reference_its"] > 0
    assert record["ratio"] == pytest.approx(record["harness_its"] / record["reference_its"])
    # 3 hidden layers of 32 on 2-D data: a generator iteration is a few MFLOP, well under the 3x512 default's 2.7 G
    assert 1e6 < record["flops_per_gen_iter"] < 1e8
    assert 0 < record["harness_share_of_peak"] < 1 and 0 <= record["tracking_share"] < 1
    assert "toy" in bench.table([record])
    assert bench.run(OmegaConf.create({"settings": ["toy", "nope"]})) == 2
    assert f"unknown ['nope']; allowed: {sorted([*bench.SETTINGS, bench.FID])}" in capsys.readouterr().err
    # through the command line, before any work, one line; an unknown key is Hydra's to refuse
    cli = subprocess.run([sys.executable, "-m", "wgan_repro.bench", "bench.settings=[nope]"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert cli.returncode == 2 and cli.stderr.strip().splitlines() == [
        f"error: bench.settings=['nope']: unknown ['nope']; allowed: {sorted([*bench.SETTINGS, bench.FID])}"]
    assert list(tmp_path.iterdir()) == []  # no log file, no outputs/ folder
    cli = subprocess.run([sys.executable, "-m", "wgan_repro.bench", "bench.nope=1"], capture_output=True, text=True)
    assert cli.returncode != 0 and "bench.nope" in cli.stderr


def test_a_compiled_ensemble_compiles_the_stacked_networks(tmp_path, mlflow_uri, monkeypatch) -> None:
    """train.compile with an ensemble wraps the stacked networks' forward, not the members' (a compiled member
    forward, copied into the stack, would score every member with member 0's weights). torch.compile is replaced
    by a plain wrapper that records what it wraps, so the test runs without a compiler."""
    from wgan_repro.ensemble import Stacked

    wrapped = []

    def fake_compile(fn):
        wrapped.append(fn.__self__)
        return lambda *args, **kwargs: fn(*args, **kwargs)  # a closure, copied by reference like a compiled fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    common = ["train.warmup=false", "train.iterations=4", "train.log_every=2", "eval.every=4", "eval.n_samples=200",
              "eval.w1_points=100", "arch.hidden=16", "critic.hidden=16", "train.progress=false",
              "eval.figures=false", f"tracking.uri={mlflow_uri}", "tracking.experiment=ensemble_compiled"]
    cfg, choices = compose(*common, "train.ensemble=2", "train.compile=true")
    together = run(cfg, choices, tmp_path / "ensemble")
    assert len(wrapped) == 2 and all(isinstance(m, Stacked) for m in wrapped)
    monkeypatch.undo()
    for k, run_id in enumerate(together["run_id"]):
        cfg, choices = compose(*common, f"train.seed={k}")
        alone = run(cfg, choices, tmp_path / f"alone{k}")
        got, want = history(mlflow_uri, run_id, "loss/critic"), history(mlflow_uri, alone["run_id"], "loss/critic")
        assert got == pytest.approx(want, rel=1e-4, abs=1e-7)
