"""Toy data and its ground-truth metrics: mode coverage, high-quality fraction, reverse KL, exact W1."""

from __future__ import annotations

import math

import pytest
import torch

from wgan_repro.data.toy import Grid, Ring, SwissRoll
from wgan_repro.evaluate.modes import mode_metrics
from wgan_repro.evaluate.transport import exact_w1


def test_eight_gaussians_match_the_wgan_gp_toy_code() -> None:
    ring = Ring(n_modes=8, radius=2.0, std=0.02, scale=1 / 1.414)
    assert ring.modes.shape == (8, 2)
    assert torch.allclose(ring.modes.norm(dim=1), torch.full((8,), 2 / 1.414), atol=1e-6)
    assert any(torch.allclose(m, torch.tensor([2 / 1.414, 0.0]), atol=1e-6) for m in ring.modes)
    x = ring.sample(20000)
    assert x.shape == (20000, 2)
    nearest = torch.cdist(x, ring.modes).min(dim=1)
    assert nearest.values.std().item() == pytest.approx(0.02 / 1.414 * math.sqrt(2 - math.pi / 2), rel=0.05)


def test_grid_has_25_modes_on_the_scaled_lattice() -> None:
    grid = Grid(side=5, spacing=2.0, std=0.05, scale=1 / 2.828)
    assert grid.modes.shape == (25, 2)
    assert torch.allclose(grid.modes.max(dim=0).values, torch.tensor([4 / 2.828, 4 / 2.828]), atol=1e-6)
    assert grid.mode_std == pytest.approx(0.05 / 2.828)


def test_swiss_roll_has_no_modes_and_samples_any_batch() -> None:
    roll = SwissRoll(std=0.25, scale=1 / 7.5)
    assert roll.modes is None and roll.sample(3).shape == (3, 2)
    assert roll.sample(5000).abs().max() < 2.5


def test_samples_of_the_true_mixture_cover_every_mode() -> None:
    ring = Ring(8, 2.0, 0.02, 1 / 1.414)
    m = mode_metrics(ring.sample(2500), ring.modes, ring.mode_std)
    assert m["eval/modes"] == 8
    assert m["eval/high_quality"] > 0.98  # 3 std in 2-D keeps 1 - exp(-4.5) = 98.9 %
    assert m["eval/kl_modes"] < 0.01
    assert m["eval/dominant_share"] < 0.5  # F2's collapse criterion (collapsed_share 0.5) does not fire


def test_collapse_onto_one_mode_is_one_mode_and_log_k_kl() -> None:
    ring = Ring(8, 2.0, 0.02, 1 / 1.414)
    samples = ring.modes[3] + ring.mode_std * torch.randn(2500, 2)
    m = mode_metrics(samples, ring.modes, ring.mode_std)
    assert m["eval/modes"] == 1
    assert m["eval/kl_modes"] == pytest.approx(math.log(8))
    assert m["eval/dominant_share"] == 1.0 and m["eval/dominant_mode"] == 3  # collapsed, onto mode 3


def test_far_away_samples_are_not_high_quality() -> None:
    ring = Ring(8, 2.0, 0.02, 1 / 1.414)
    m = mode_metrics(torch.zeros(100, 2), ring.modes, ring.mode_std)
    assert m["eval/modes"] == 0 and m["eval/high_quality"] == 0.0 and math.isnan(m["eval/kl_modes"])


def test_half_high_quality() -> None:
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    samples = torch.tensor([[0.0, 0.0], [0.0, 2.9], [10.0, 3.1], [5.0, 5.0]])
    m = mode_metrics(samples, modes, std=1.0)
    assert m["eval/high_quality"] == 0.5 and m["eval/modes"] == 1


def test_exact_w1_of_a_shifted_copy_is_the_shift() -> None:
    x = torch.randn(1000, 2)
    shift = torch.tensor([0.3, -0.4])
    assert exact_w1(x, x + shift) == pytest.approx(0.5, rel=1e-6)
    assert exact_w1(x, x) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("flat", [True, False])
def test_the_toy_figure_says_when_the_critic_is_flat_and_never_prints_a_colour_bar_offset(flat: bool) -> None:
    import matplotlib.pyplot as plt  # why: only this test draws

    from wgan_repro.evaluate.figures import toy_figure

    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():  # flat: f = -1.27e-5 + 1e-18 x (G1's clip_0.001 critic); else a slope near -1.27e-5
        critic.weight.fill_(1e-18 if flat else 1e-3)
        critic.bias.fill_(-1.274529e-5)
    x = SwissRoll(std=0.25, scale=1 / 7.5).sample(500, generator=torch.Generator().manual_seed(0))
    fig = toy_figure(x, x, None, critic, "t")
    heading = fig.axes[1].get_title()
    assert ("flat" in heading) == flat and heading.startswith("critic scores f(x)")
    assert len(fig.axes) == (2 if flat else 3)  # the colour bar only where there is a scale to read
    for bar in fig.axes[2:]:
        fig.canvas.draw()
        assert bar.yaxis.get_offset_text().get_text() == ""
    plt.close(fig)
