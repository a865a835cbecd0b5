"""Every experiment preset composes and validates; every small twin trains for a few iterations."""

from __future__ import annotations

import pytest

from conftest import CONF, compose
from wgan_repro.config import validate
from wgan_repro.runner import run

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
PAPER = ["fig4_mlp_g", "fig4_dcgan", "fig4_mlp_both_high_lr", "fig6_dcgan", "fig7_nobn", "fig8_mlp"]
MNIST = {"mnist_dcgan": "fig6_dcgan", "mnist_fig7_nobn": "fig7_nobn", "mnist_fig8_mlp": "fig8_mlp",
         "mnist_fig4_mlp_g": "fig4_mlp_g", "mnist_fig4_mlp_both_high_lr": "fig4_mlp_both_high_lr"}  # -> paper preset
IMAGES = sorted(PAPER + [f"{name}_small" for name in PAPER] + list(MNIST))
DATA = {"small": ("digits", 16), "mnist": ("mnist_5k", 32)}
FIGURES = {"fig1_parallel_lines": "parallel_lines", "fig2_wgan": None, "fig2_gan": None,
           "fig3_optimal_critic": "optimal_critic"}


def test_every_paper_preset_has_a_small_twin() -> None:
    assert set(EXPERIMENTS) == set(IMAGES) | set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_presets_compose(name: str) -> None:
    cfg, choices = compose(f"experiment={name}")
    validate(cfg)
    assert choices.get("study") == FIGURES[name]
    if name.startswith("fig2"):
        assert choices["data"] == "ring_metz" and cfg.data.scale == 1.0 and cfg.data.radius == 2.0
        assert choices["objective"] == name.split("_")[1] and cfg.train.batch_size == 512
        assert (cfg.arch.hidden, cfg.arch.layers, cfg.arch.nz, cfg.critic.layers) == (128, 2, 256, 1)


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("objective", ["wgan", "gan"])
def test_presets_compose_for_both_objectives(name: str, objective: str) -> None:
    cfg, choices = compose(f"experiment={name}", f"objective={objective}")
    validate(cfg)
    assert cfg.experiment == name and choices["objective"] == objective
    assert cfg.train.n_critic == (5 if objective == "wgan" else 1)
    kind = "small" if name.endswith("_small") else name.split("_")[0]
    assert (choices["data"], cfg.data.image_size) == DATA.get(kind, ("lsun", 64))
    if "mlp" in name:
        assert choices["arch"] == "mlp" and cfg.arch.nz == 100


def test_preset_choices_follow_the_paper() -> None:
    pairs = {name: tuple(compose(f"experiment={name}")[1][g] for g in ("arch", "critic")) for name in PAPER}
    assert pairs == {"fig4_mlp_g": ("mlp", "dcgan"), "fig4_dcgan": ("dcgan", "dcgan"),
                     "fig4_mlp_both_high_lr": ("mlp", "mlp"), "fig6_dcgan": ("dcgan", "dcgan"),
                     "fig7_nobn": ("dcgan_nobn_const", "dcgan"), "fig8_mlp": ("mlp", "dcgan")}
    assert compose("experiment=fig4_mlp_both_high_lr")[0].optimizer.lr > 5e-5
    for name, paper in MNIST.items():  # the MNIST presets keep the paper's pairs
        assert tuple(compose(f"experiment={name}")[1][g] for g in ("arch", "critic")) == pairs[paper], name
    assert compose("experiment=mnist_fig4_mlp_g")[0].arch.layers == 4


@pytest.mark.parametrize("name", [f"{p}_small" for p in ("fig6_dcgan", "fig7_nobn", "fig8_mlp")] + ["mnist_fig7_nobn"])
def test_small_twins_run(name: str, tmp_path) -> None:
    cfg, choices = compose(f"experiment={name}", "objective=gan", "train.iterations=2", "train.batch_size=8",
                           "eval.every=1", "tracking.enabled=false", "train.progress=false", "eval.n_samples=100",
                           "eval.classifier_samples=50")
    assert run(cfg, choices, tmp_path)["status"] == "FINISHED"
    assert (tmp_path / "samples" / "samples_0000002.png").exists()
