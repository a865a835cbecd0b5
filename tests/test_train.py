"""The loop: the warm-up schedule, clipping, short tracked runs of each objective, divergence handling."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, compose
from mlflow.tracking import MlflowClient

from wgan_repro.config import ConfigError
from wgan_repro.constraints import Clip
from wgan_repro.models.mlp import MLPCritic
from wgan_repro.objectives import GAN, WGAN
from wgan_repro.runs.runner import run
from wgan_repro.runs.train import critic_iterations


def test_warmup_schedule_matches_the_official_code() -> None:
    cfg, _ = compose()
    counts = [critic_iterations(i, cfg.train) for i in range(1501)]
    assert counts[:25] == [100] * 25
    assert counts[25:500] == [5] * 475
    assert counts[500] == counts[1000] == counts[1500] == 100
    assert sum(counts) == 25 * 100 + 3 * 100 + (1501 - 25 - 3) * 5
    cfg, _ = compose("objective=gan")
    assert {critic_iterations(i, cfg.train) for i in range(1001)} == {1}
    cfg, _ = compose("train.warmup=false", "train.n_critic=7")
    assert {critic_iterations(i, cfg.train) for i in range(1001)} == {7}


@pytest.mark.parametrize("when", ["after", "before"])
def test_clip_bounds_every_critic_parameter(when: str) -> None:
    critic = MLPCritic(hidden=32, layers=3, in_shape=(2,))
    opt = torch.optim.RMSprop(critic.parameters(), lr=0.5)
    clip = Clip(c=0.01, when=when)
    clip.before(critic)
    loss, _ = WGAN().critic_loss(critic(torch.randn(64, 2)), critic(torch.randn(64, 2) + 1))
    loss.backward()
    opt.step()
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.01  # the update left the box
    clip.after(critic)
    clip.before(critic)  # the next critic iteration starts here
    assert all(p.abs().max().item() <= 0.01 for p in critic.parameters())


def test_objectives_signs_and_estimates() -> None:
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, 1.0])
    loss, stats = WGAN().critic_loss(real, fake)
    assert stats["estimate/em"].item() == 2.0 and loss.item() == -2.0
    assert WGAN().generator_loss(fake).item() == -1.0
    # a discriminator that cannot tell (logits 0): L = 2 log 1/2, so the JS bound is 0
    loss, stats = GAN().critic_loss(torch.zeros(4), torch.zeros(4))
    assert stats["estimate/js"].item() == pytest.approx(0.0, abs=1e-6)
    # a perfect discriminator: the bound reaches log 2, its maximum
    _, stats = GAN().critic_loss(torch.full((4,), 30.0), torch.full((4,), -30.0))
    assert stats["estimate/js"].item() == pytest.approx(0.6931, abs=1e-4)
    assert GAN().generator_loss(torch.zeros(3)).item() == pytest.approx(0.6931, abs=1e-4)  # -log D, D = 1/2


@pytest.mark.parametrize("objective,estimate", [("wgan", "estimate/em"), ("gan", "estimate/js")])
def test_short_run_logs_params_metrics_and_artifacts(objective: str, estimate: str, tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(f"objective={objective}", *TINY, f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=test_short_run")
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FINISHED" and result["gen_iter"] == 4
    client = MlflowClient(mlflow_uri)
    r = client.get_run(result["run_id"])
    assert r.info.status == "FINISHED"
    assert r.data.params["optimizer.lr"] == "5e-05" and r.data.params["train.iterations"] == "4"
    assert r.data.tags["objective"] == objective and r.data.tags["arch"] == "mlp"
    assert r.data.tags["seed"] == "0" and r.data.tags["data"] == "eight_gaussians" and r.data.tags["git_commit"]
    for key in (estimate, "loss/critic", "loss/generator", "eval/w1", "eval/modes", "eval/high_quality",
                "eval/kl_modes", "perf/gen_iters_per_s"):
        assert key in r.data.metrics, key
    history = client.get_metric_history(r.info.run_id, estimate)
    assert [m.step for m in history] == [1, 2, 3, 4]  # every generator iteration, step = generator iteration
    assert [m.step for m in client.get_metric_history(r.info.run_id, "eval/w1")] == [2, 4]
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"config.yaml", "figures", "checkpoints"} <= artifacts
    figures = [a.path for a in client.list_artifacts(r.info.run_id, "figures")]
    assert figures == ["figures/samples_0000002.png", "figures/samples_0000004.png"]
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["gen_iter"] == 4 and "critic" in ckpt and "opt_generator" in ckpt


def test_blow_up_marks_the_run_failed_with_its_reason(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*TINY, "train.divergence_threshold=1e-12", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=test_failures")
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FAILED" and result["gen_iter"] == 2
    r = MlflowClient(mlflow_uri).get_run(result["run_id"])
    assert r.info.status == "FAILED"
    assert r.data.tags["status_reason"].startswith("diverged at generator iteration 1")
    assert "loss/critic" in r.data.metrics  # what was logged before the failure stays
    assert not (tmp_path / "checkpoint.pt").exists()  # a diverged state is never saved over a good one


def test_runs_are_reproducible_from_the_seed(tmp_path) -> None:
    cfg, choices = compose(*TINY, "tracking.enabled=false", "eval.figures=false")
    a = run(cfg, choices, tmp_path / "a")["metrics"]
    b = run(cfg, choices, tmp_path / "b")["metrics"]
    assert a["eval/w1"] == b["eval/w1"] and a["eval/high_quality"] == b["eval/high_quality"]
    wa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["generator"]
    wb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["generator"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path) -> None:
    cfg, choices = compose(*TINY, "tracking.enabled=false", "eval.figures=false")
    run(cfg, choices, tmp_path)
    cfg, choices = compose(*TINY, "tracking.enabled=false", "optimizer.lr=1e-3",
                           f"train.resume={tmp_path / 'checkpoint.pt'}")
    with pytest.raises(ConfigError, match=r"optimizer.lr \(5e-05 there, 0.001 here\)"):
        run(cfg, choices, tmp_path / "again")
    cfg, choices = compose(*TINY, "tracking.enabled=false", f"train.resume={tmp_path / 'nope.pt'}")
    with pytest.raises(ConfigError, match="no such checkpoint file"):
        run(cfg, choices, tmp_path / "again")


def test_progress_is_a_bar_in_a_pseudo_terminal_and_lines_every_5_percent_elsewhere(tmp_path, caplog) -> None:
    """In a pseudo-terminal nobody sized (0 x 0, as `script` or a container gives) the bar is drawn (tqdm draws
    nothing at 0 rows: why it never showed); the first line says what is being prepared. Not in a terminal: one
    log line every 5% with the rate, the time to go and the latest estimate."""
    import os
    import pty
    import subprocess
    import sys

    args = [sys.executable, "-m", "wgan_repro", *TINY, "train.iterations=60", "eval.every=30", "eval.figures=false",
            "tracking.enabled=false", "train.progress=true", f"hydra.run.dir={tmp_path}/out"]
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen[-2000:]
    first = next(line for line in screen.replace("\r", "\n").splitlines() if line.strip())
    assert "prepared Ring data, MLPGenerator generator" in first
    assert "60/60" in screen and "it/s" in screen and "em=" in screen

    cfg, choices = compose(*TINY, "train.iterations=40", "eval.every=40", "eval.figures=false",
                           "tracking.enabled=false", "train.progress=true")
    with caplog.at_level("INFO", logger="wgan_repro.runs.train"):
        run(cfg, choices, tmp_path / "lines")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iteration ")]
    assert lines[0].startswith("iteration 2/40 (5%),") and len(lines) == 20 and "it/s" in lines[0]
    assert "em " in lines[-1] and "w1 " in lines[-1]  # the latest estimate and quality, once known


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormal_decides_whether_cpu_denormals_are_computed_as_zero(flush: bool) -> None:
    """train.flush_denormal (default true): RMSProp's running square of a weight whose gradient stopped decays into
    float32 denormals, which x86 CPUs compute slowly; flushed, they are zero, and the optimiser's update is the same
    to float rounding (eps 1e-8 dominates sqrt(1e-39))."""
    from wgan_repro.runs.setup import cpu_numerics

    before = torch.tensor([1e-39]).item() != 0  # the process's setting, restored below
    try:
        cpu_numerics(compose(*TINY, f"train.flush_denormal={str(flush).lower()}")[0].train)
        assert (torch.tensor([1e-39]).item() == 0) is flush
        weight, square = torch.ones(3), torch.tensor([1e-30, 1e-30, 1e-30])
        optimiser = torch.optim.RMSprop([weight], lr=1e-3)
        weight.grad = torch.zeros(3)
        optimiser.step()  # builds the state
        optimiser.state[weight]["square_avg"].copy_(square)
        for _ in range(2000):  # 0.99^2000 x 1e-30: below 1.2e-38, a denormal or zero
            optimiser.step()
        left = optimiser.state[weight]["square_avg"]
        assert bool((left == 0).all()) is flush and torch.equal(weight, torch.ones(3))
    finally:
        torch.set_flush_denormal(not before)


def test_the_eta_counts_work_so_it_does_not_jump_when_the_warm_up_ends() -> None:
    """The bar's ETA went from 19 hours during the warm-up bursts (100 critic steps per generator iteration) to 25
    minutes after them: it divided the iterations left by the iterations per second so far. It now divides the work
    left (critic steps and generator steps) by the work per second, so a run whose time follows its work gets the
    same ETA in the warm-up and after it, and that ETA is the true time left."""
    from wgan_repro.runs.train import Progress, work_done

    cfg, _ = compose("train.iterations=2000", "train.progress=true")  # WGAN: warm-up on, n_critic 5
    steps = [critic_iterations(g, cfg.train) + 1 for g in range(2000)]
    assert list(work_done(cfg.train, 2000)[1:]) == list(torch.tensor(steps).cumsum(0).tolist())
    bar = Progress(cfg, 0, "wgan")
    try:
        seconds_per_step = 0.002
        for done in (5, 25, 26, 400, 501, 1500):  # in the bursts, just after, between and across a periodic one
            elapsed = seconds_per_step * sum(steps[:done])
            truth = seconds_per_step * sum(steps[done:])
            assert bar.eta(done, elapsed) == pytest.approx(truth, rel=1e-9), done
        naive = (2000 - 5) / (5 / (seconds_per_step * sum(steps[:5])))  # iterations left / iterations per second
        assert naive > 10 * seconds_per_step * sum(steps[5:])  # what the old ETA said in the warm-up: 10x too long
    finally:
        bar.close()
