"""Plug-in constraints and objectives: the science each one must keep, and every choice of every group through the
loop, the bench's plain loop and (objective, constraint, optimizer) a study, or their clear refusals, so that a new
YAML is covered without touching the tests."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import CONF, TINY, compose
from torch import nn

from wgan_repro.config import ConfigError, validate
from wgan_repro.constraints import GradientPenalty, SpectralNorm
from wgan_repro.objectives import GAN, GANMinimax, Hinge
from wgan_repro.reference_loop import reference_loop
from wgan_repro.runs.runner import run
from wgan_repro.schema import COMPOSED


class Linear(nn.Module):
    """f(x) = <w, x> over every non-batch dimension: its gradient is w for every sample."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_is_zero_for_a_unit_gradient_and_matches_a_hand_computed_value() -> None:
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    gp = GradientPenalty(lam=10.0)
    assert gp.penalty(Linear(torch.tensor([0.6, 0.8])), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gp.penalty(Linear(torch.tensor([2.0, 0.0])), real, fake).item() == pytest.approx(10.0)  # 10 (2 - 1)^2
    assert GradientPenalty(10.0, one_sided=True).penalty(Linear(torch.tensor([0.3, 0.4])), real, fake).item() == 0.0
    assert GradientPenalty(10.0).penalty(Linear(torch.tensor([0.3, 0.4])), real, fake).item() == pytest.approx(2.5)


def test_gradient_penalty_takes_the_norm_per_sample_over_every_non_batch_dimension() -> None:
    w = torch.full((3, 4, 4), 1 / math.sqrt(48))  # unit Frobenius norm over (C, H, W): per-sample norm 1
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    assert GradientPenalty(10.0).penalty(Linear(w), real, fake).item() == pytest.approx(0.0, abs=1e-9)
    # a norm over one dimension only (the public-port bug) would see 16 per-row norms of 1/sqrt(12) and pay


def test_spectral_norm_makes_the_largest_singular_value_one() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([5.0, 2.0, 1.0, 0.5, 0.1])) @ torch.eye(5, 6))
    critic = SpectralNorm(1).wrap(nn.Sequential(layer))
    for _ in range(20):  # power iterations run in training-mode forward passes
        critic(torch.randn(4, 6))
    assert torch.linalg.matrix_norm(critic[0].weight, 2).item() == pytest.approx(1.0, abs=1e-3)


def test_the_saturating_loss_vanishes_where_minus_log_d_does_not() -> None:
    f = torch.tensor([-20.0], requires_grad=True)  # a discriminator sure the fake is fake: D = sigmoid(-20)
    (g_minimax,) = torch.autograd.grad(GANMinimax().generator_loss(f), f)
    (g_trick,) = torch.autograd.grad(GAN().generator_loss(f), f)
    assert abs(g_minimax.item()) < 1e-8 and g_trick.item() == pytest.approx(-1.0, abs=1e-6)


def test_hinge_losses_on_literals() -> None:
    loss, stats = Hinge().critic_loss(torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0]))
    assert loss.item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)  # relu(1 - f(x)) and relu(1 + f(g(z)))
    assert stats["estimate/hinge"].item() == pytest.approx(2 - 0.75)
    assert Hinge().generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


# --------------------------------------------------------------------------- every choice of every group
IMAGE = ["data=digits", "data.image_size=16", "arch=dcgan", "critic=dcgan_nobn", "arch.ngf=8", "critic.ndf=8",
         "train.batch_size=8", "train.iterations=2", "train.warmup=false", "eval.every=2",
         "eval.classifier_samples=16", "train.progress=false", "tracking.enabled=false"]
GROUPS = [g for g in COMPOSED if g not in ("eval", "study")]  # the choices a run may combine freely
CHOICES = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
NEEDS_ROOT = {"mnist", "fashion_mnist", "cifar10", "celeba", "lsun", "folder"}  # read data.root: refused here


def overrides(group: str, choice: str) -> list[str]:
    image = choice.startswith("dcgan") or (group == "data" and choice in {"digits", "stacked_digits", "mnist_5k",
                                                                           "stacked_mnist_5k", *NEEDS_ROOT})
    base = IMAGE if image else [*TINY, "train.iterations=2", "eval.figures=false", "tracking.enabled=false"]
    extra = ["eval.n_samples=100"] if image and group == "data" and "stacked" in choice else []
    return [*base, f"{group}={choice}", *extra]


@pytest.mark.parametrize("group,choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_every_choice_runs_through_the_loop_or_is_refused_clearly(group: str, choice: str, tmp_path) -> None:
    cfg, choices = compose(*overrides(group, choice))
    if group == "data" and choice in NEEDS_ROOT:
        with pytest.raises(ConfigError, match="data.root"):
            run(cfg, choices, tmp_path)
        return
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FINISHED" and result["gen_iter"] == 2
    # the bench's plain loop runs it too (or names what it can run)
    try:
        losses: list[tuple[float, float]] = []
        reference_loop(cfg, torch.device("cpu"), losses)(1)
        assert len(losses) == 1 and all(math.isfinite(v) for v in losses[0]), losses  # one iteration, finite losses
    except ConfigError as exc:
        assert "allowed:" in str(exc) and group == "constraint"
    # and so does a study, where the choice applies to its critic
    if group in ("objective", "constraint", "optimizer"):
        study, choices = compose("experiment=fig1_parallel_lines", f"{group}={choice}", "study.n_theta=3",
                                 "study.max_steps=5", "critic.hidden=16", "train.progress=false",
                                 "tracking.enabled=false")
        try:
            validate(study)
        except ConfigError as exc:  # a study estimates EM: other objectives are refused, naming the allowed one
            assert group == "objective" and "allowed: objective=wgan" in str(exc)
            return
        assert run(study, choices, tmp_path / "study")["status"] == "FINISHED"


def test_a_spectral_norm_run_is_re_evaluated_from_its_checkpoint(tmp_path, mlflow_uri) -> None:
    """Re-evaluation builds the run as the run did: a spectral-norm critic is wrapped, so its checkpoint loads."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro.evaluate.__main__ import execute, hydra_args

    cfg, choices = compose(*TINY, "constraint=spectral", "eval.figures=false", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=plugins")
    run_id = run(cfg, choices, tmp_path)["run_id"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        args = hydra_compose("evaluate", overrides=hydra_args([f"run_id={run_id}", f"tracking.uri={mlflow_uri}",
                                                              "eval.n_samples=100", "train.device=cpu"]))
    assert execute(args) == 0
