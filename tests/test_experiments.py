"""Every experiment preset (found in conf/experiment/, none listed by hand) composes, validates and trains for an
iteration, shrunk to seconds; presets on data that cannot exist offline (LSUN) run on a stand-in folder of images of
the same shape. The paper's pairs of networks are checked where the paper names them."""

from __future__ import annotations

import pytest
import torch
from conftest import CONF, compose
from PIL import Image

from wgan_repro.config import validate
from wgan_repro.runs.runner import run

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
SHRINK = ["train.iterations=1", "train.batch_size=4", "eval.every=1", "tracking.enabled=false",
          "train.progress=false", "train.warmup=false"]
SHRINK_BY_EVAL = {"toy": ["eval.n_samples=50", "eval.w1_points=50", "eval.figures=false"],
                  "images": ["eval.n_samples=20", "eval.classifier_samples=20", "eval.fid=false"]}
SHRINK_STUDY = {"parallel_lines": ["study.n_theta=3", "study.max_steps=3", "critic.hidden=16"],
                "optimal_critic": ["study.max_steps=3", "critic.hidden=16"],
                "fixed_generator": ["study.max_steps=3", "critic.hidden=16", "eval.w1_points=50"]}


def test_presets_are_found() -> None:
    assert len(EXPERIMENTS) >= 20 and "fig6_dcgan" in EXPERIMENTS and "fig1_parallel_lines" in EXPERIMENTS


def stand_in(cfg, tmp_path) -> list[str]:
    """Data that needs a root (LSUN, CelebA, a folder): a folder of random images of the preset's size."""
    if cfg.data.get("root") is None:
        return []
    folder = tmp_path / "images"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(8):
        pixels = torch.randint(0, 256, (cfg.data.image_size, cfg.data.image_size, 3), dtype=torch.uint8, generator=g)
        Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")
    return ["data=folder", f"data.root={folder}", f"data.image_size={cfg.data.image_size}", "data.num_workers=0"]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_preset_composes_validates_and_trains_an_iteration(name: str, tmp_path) -> None:
    cfg, choices = compose(f"experiment={name}")
    validate(cfg)
    assert cfg.experiment == name
    if choices.get("study"):
        shrink = [*SHRINK, *SHRINK_STUDY[choices["study"]]]
    else:
        kind = "toy" if cfg.eval._target_.endswith("ToyEvaluator") else "images"
        shrink = [*SHRINK, *SHRINK_BY_EVAL[kind]]
        for net, width in (("arch", "ngf"), ("critic", "ndf")):  # narrow networks: an MLP's hidden, a DCGAN's filters
            shrink.append(f"{net}.hidden=16" if "mlp" in choices[net] else f"{net}.{width}=8")
    cfg, choices = compose(f"experiment={name}", *shrink, *stand_in(cfg, tmp_path))
    result = run(cfg, choices, tmp_path / "run")
    assert result["status"] == "FINISHED", result


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n.startswith(("fig4", "fig6", "fig7", "fig8", "mnist"))])
@pytest.mark.parametrize("objective", ["wgan", "gan"])
def test_image_presets_compose_for_both_objectives(name: str, objective: str) -> None:
    cfg, choices = compose(f"experiment={name}", f"objective={objective}")
    validate(cfg)
    assert choices["objective"] == objective and cfg.train.n_critic == (5 if objective == "wgan" else 1)
    if "mlp" in name:
        assert choices["arch"] == "mlp" and cfg.arch.nz == 100


def test_figure_presets_follow_their_sources() -> None:
    for name, study in {"fig1_parallel_lines": "parallel_lines", "fig3_optimal_critic": "optimal_critic"}.items():
        assert compose(f"experiment={name}")[1].get("study") == study
    for objective in ("wgan", "gan"):
        cfg, choices = compose(f"experiment=fig2_{objective}")
        assert choices["data"] == "ring_metz" and cfg.data.scale == 1.0 and cfg.data.radius == 2.0
        assert choices["objective"] == objective and cfg.train.batch_size == 512
        assert (cfg.arch.hidden, cfg.arch.layers, cfg.arch.nz, cfg.critic.layers) == (128, 2, 256, 1)


def test_preset_choices_follow_the_paper() -> None:
    paper = {"fig4_mlp_g": ("mlp", "dcgan"), "fig4_dcgan": ("dcgan", "dcgan"), "fig4_mlp_both_high_lr": ("mlp", "mlp"),
             "fig6_dcgan": ("dcgan", "dcgan"), "fig7_nobn": ("dcgan_nobn_const", "dcgan"), "fig8_mlp": ("mlp", "dcgan")}
    for name, pair in paper.items():  # the paper's presets, their small twins and their MNIST versions keep the pair
        for variant in (name, f"{name}_small", f"mnist_{name}".replace("mnist_fig6_dcgan", "mnist_dcgan")):
            if variant in EXPERIMENTS:
                assert tuple(compose(f"experiment={variant}")[1][g] for g in ("arch", "critic")) == pair, variant
    assert compose("experiment=fig4_mlp_both_high_lr")[0].optimizer.lr > 5e-5
    assert compose("experiment=mnist_fig4_mlp_g")[0].arch.layers == 4
