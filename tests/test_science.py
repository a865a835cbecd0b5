"""Guards of the science, through the real loop: each test fails if a sign, a clip, an estimate's constant or
the placement of the constraint breaks, and a short toy run must actually learn."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose, history
from omegaconf import OmegaConf

from wgan_repro import config, schema
from wgan_repro.data import build_data
from wgan_repro.models import build_critic, build_generator
from wgan_repro.objectives import GAN, WGAN
from wgan_repro.runs.runner import run

REPO = Path(__file__).resolve().parents[1]
SMALL_NETS = ["arch.hidden=64", "critic.hidden=64", "train.warmup=false", "train.progress=false", "eval.figures=false"]


def final_state(out_dir: Path) -> dict:
    return torch.load(out_dir / "checkpoint.pt", map_location="cpu", weights_only=False)


@pytest.mark.parametrize("when", ["after", "before"])
def test_clip_placement_in_the_loop(when: str, tmp_path) -> None:
    """`after` (Algorithm 1, line 7): every critic weight ends in [-c, c]. `before` (official main.py): the clamp
    opens each critic iteration, so the last update is left unclipped, and some weight ends outside the box."""
    c = 0.01
    cfg, choices = compose(*TINY, "tracking.enabled=false", "eval.figures=false", f"constraint.when={when}",
                           f"constraint.c={c}", "optimizer.lr=1e-3")
    run(cfg, choices, tmp_path)
    largest = max(w.abs().max().item() for w in final_state(tmp_path)["critic"].values() if w.is_floating_point())
    if when == "after":
        assert largest <= c
    else:
        assert c < largest < 2 * c  # one RMSProp step past the box, no more


def test_frozen_generator_wgan_estimate_grows_and_the_critic_ranks_real_above_fake(tmp_path, mlflow_uri) -> None:
    """With the generator frozen (lr 1e-30), training the critic can only tighten the EM estimate, and the trained
    critic scores real samples above generated ones (a loop that swapped real and fake would rank them the other
    way round)."""
    cfg, choices = compose(*SMALL_NETS, "train.iterations=40", "train.log_every=10", "eval.every=40",
                           "optimizer.lr_generator=1e-30", "optimizer.lr_critic=1e-3", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=science")
    result = run(cfg, choices, tmp_path)
    em = history(mlflow_uri, result["run_id"], "estimate/em")
    assert len(em) == 40 and em[0] > 0
    assert sum(em[-5:]) / 5 > 4 * sum(em[:5]) / 5
    state = final_state(tmp_path)
    data = build_data(cfg.data, torch.device("cpu"))
    generator, critic = build_generator(cfg.arch, data.shape), build_critic(cfg.critic, data.shape)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    with torch.no_grad():
        gap = critic(data.sample(4096)).mean() - critic(generator(torch.randn(4096, cfg.arch.nz))).mean()
    assert gap.item() == pytest.approx(em[-1], rel=0.3)


def test_frozen_generator_gan_js_estimate_approaches_log_2(tmp_path, mlflow_uri) -> None:
    """A discriminator against a frozen generator becomes perfect: 1/2 L(D, g) + log 2 tends to log 2 (Sec. 4.3)."""
    cfg, choices = compose(*SMALL_NETS, "objective=gan", "train.iterations=60", "train.log_every=10",
                           "eval.every=60", "optimizer.lr_generator=1e-30", "optimizer.lr_critic=1e-3",
                           f"tracking.uri={mlflow_uri}", "tracking.experiment=science")
    result = run(cfg, choices, tmp_path)
    js = history(mlflow_uri, result["run_id"], "estimate/js")
    assert js[0] < 0.1
    assert math.log(2) - 0.05 < js[-1] <= math.log(2) + 1e-6


def test_gan_losses_at_non_zero_logits() -> None:
    """At logit 0 both signs of the generator loss give log 2; away from it only the -log D trick is right."""
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5])
    sigmoid = torch.sigmoid
    loss, stats = GAN().critic_loss(real, fake)
    expected = -(torch.log(sigmoid(real)).mean() + torch.log(1 - sigmoid(fake)).mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["estimate/js"].item() == pytest.approx(-0.5 * expected.item() + math.log(2), rel=1e-6)
    assert GAN().generator_loss(fake).item() == pytest.approx(-torch.log(sigmoid(fake)).mean().item(), rel=1e-6)
    # the WGAN losses: critic -(E f(x) - E f(g(z))), generator -E f(g(z))
    loss, stats = WGAN().critic_loss(real, fake)
    assert loss.item() == pytest.approx(-(2.0 - (-0.75))) and stats["estimate/em"].item() == pytest.approx(2.75)
    assert WGAN().generator_loss(fake).item() == pytest.approx(0.75)


def test_a_short_toy_run_learns(tmp_path, mlflow_uri) -> None:
    """~80 generator iterations at a raised learning rate: the exact W1 to 8 Gaussians falls clearly."""
    cfg, choices = compose(*SMALL_NETS, "train.iterations=80", "train.log_every=20", "eval.every=20",
                           "optimizer.lr=5e-4", "eval.n_samples=500", "eval.w1_points=500",
                           f"tracking.uri={mlflow_uri}", "tracking.experiment=science")
    result = run(cfg, choices, tmp_path)
    w1 = history(mlflow_uri, result["run_id"], "eval/w1")
    assert len(w1) == 4
    assert w1[-1] < 0.7 * w1[0], w1


@pytest.mark.parametrize("sweep", sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml")))
def test_every_sweep_file_composes_at_every_grid_value(sweep: str) -> None:
    """Each sweeps/*.yaml composes with the root config, and every value of its grid is an allowed override."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    schema.register_configs()
    search = f"hydra.searchpath=[file://{config.CONF_DIR}]"  # as `--config-dir sweeps` beside the package's conf/
    with initialize_config_dir(config_dir=str(REPO / "sweeps"), version_base="1.3"):
        base = hydra_compose(sweep, overrides=[search], return_hydra_config=True)
        grid = OmegaConf.to_container(base.hydra.sweeper.params)
        assert grid, f"{sweep} declares no grid"
        for key, values in grid.items():
            for value in str(values).split(","):
                cfg = hydra_compose(sweep, overrides=[search, f"{key}={value.strip()}"])
                config.validate(cfg)
                assert cfg.sweep == sweep
