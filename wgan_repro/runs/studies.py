"""Experiments that train no generator (conf/study): critics fitted against fixed distributions.

- Figure 1 (Example 1, `study=parallel_lines`): P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]. For each theta a
  clipped WGAN critic and a GAN discriminator are trained until their estimates stop moving; the estimated EM
  and JS lower bound are drawn against the closed forms W = |theta| and JS = log 2 (theta != 0).
- Figure 3 (`study=optimal_critic`): two 1-D Gaussians far apart; a GAN discriminator and a WGAN critic trained
  to optimality; D(x), f(x) and their gradients over x. The discriminator saturates (vanishing gradients at
  the fake samples); the clipped critic is close to linear between the two.
- WGAN-GP's Figure 1a (`study=fixed_generator`): a critic trained to optimality against the real data plus noise;
  how much of the exact W1 its capacity reaches under each constraint.

The critic side is the run's own: conf/critic, conf/objective, conf/constraint and conf/optimizer (at the
study's lr_critic: a fit, not a training run), so `constraint=gp` or `objective=hinge` studies that critic; the
baseline it is drawn against is the paper's: a GAN discriminator (conf/critic, no constraint, Adam beta1 0.5).
Each study is one MLflow run.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from torch import nn  # noqa: E402

from wgan_repro.config import build  # noqa: E402
from wgan_repro.constraints import NoConstraint  # noqa: E402
from wgan_repro.data import build_data  # noqa: E402
from wgan_repro.evaluate import metrics as M  # noqa: E402
from wgan_repro.evaluate import potentials as P  # noqa: E402
from wgan_repro.evaluate.figures import toy_figure  # noqa: E402
from wgan_repro.evaluate.transport import exact_w1
from wgan_repro.models import build_critic  # noqa: E402
from wgan_repro.objectives import GAN  # noqa: E402
from wgan_repro.runs import stopping
from wgan_repro.runs.setup import make_optimizer  # noqa: E402

log = logging.getLogger(__name__)

Sampler = Callable[[int], torch.Tensor]


class Side:
    """One side of a study's comparison: how a critic is built and trained (objective, constraint, optimiser)."""

    def __init__(self, critic_cfg: DictConfig, objective: Any, constraint: Any,
                 optimizer: Callable[[Any], torch.optim.Optimizer]) -> None:
        self.critic_cfg, self.objective, self.constraint, self.optimizer = critic_cfg, objective, constraint, optimizer

    @classmethod
    def of_run(cls, cfg: DictConfig, lr: float) -> "Side":
        """The run's own critic: its objective, constraint and optimiser (at the study's learning rate)."""
        optimizer = OmegaConf.merge(cfg.optimizer, {"lr": lr, "lr_critic": None})
        return cls(cfg.critic, build(cfg.objective), build(cfg.constraint),
                   lambda params: make_optimizer(optimizer, params, "critic"))

    @classmethod
    def gan_baseline(cls, cfg: DictConfig, lr: float) -> "Side":
        """The paper's baseline: a GAN discriminator, unconstrained, Adam (beta1 0.5)."""
        return cls(cfg.critic, GAN(), NoConstraint(),
                   lambda params: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)))

    def critic(self, dims: int) -> nn.Module:
        return self.constraint.wrap(build_critic(self.critic_cfg, (dims,)))


def fit(side: Side, critic: nn.Module, real: Sampler, fake: Sampler, max_steps: int, batch_size: int,
        window: int = 200, tol: float = 0.01) -> tuple[float, int]:
    """Train `critic` on fixed real and fake samplers, one critic iteration of the training loop per step (its
    constraint's moments and penalty included), until the mean estimate over a window moves by less than `tol`
    (relative) between two windows, or max_steps. Returns the estimate on a fresh large batch and the steps."""
    objective, constraint, opt = side.objective, side.constraint, side.optimizer(critic.parameters())
    previous, current, steps = None, [], 0
    for steps in range(1, max_steps + 1):
        if stopping.requested():
            raise stopping.stop("during a study's fit", "a study keeps no checkpoint: train.resume=auto restarts it")
        constraint.before(critic)
        x, y = real(batch_size), fake(batch_size)
        loss, stats = objective.critic_loss(critic(x), critic(y))
        penalty = constraint.penalty(critic, x, y)
        opt.zero_grad(set_to_none=True)
        (loss if penalty is None else loss + penalty).backward()
        opt.step()
        constraint.after(critic)
        current.append(float(stats[objective.estimate_key]))
        if len(current) == window:
            mean = sum(current) / window
            if previous is not None and abs(mean - previous) <= tol * max(abs(mean), 1e-3):
                break
            previous, current = mean, []
    with torch.no_grad():
        _, stats = objective.critic_loss(critic(real(8192)), critic(fake(8192)))
    return float(stats[objective.estimate_key]), steps


class ParallelLines:
    """Figure 1: estimated EM (clipped critic) and JS lower bound (GAN discriminator) against theta."""

    def __init__(self, n_theta: int, lr_critic: float, lr_discriminator: float, max_steps: int,
                 batch_size: int, restarts: int, tol: float) -> None:
        self.thetas = np.linspace(-1.0, 1.0, n_theta)
        self.lr_critic, self.lr_discriminator = lr_critic, lr_discriminator
        self.max_steps, self.batch_size, self.restarts, self.tol = max_steps, batch_size, restarts, tol

    def best_fit(self, side: Side, real: Sampler, fake: Sampler) -> tuple[float, int]:
        """The estimate is a supremum over critics: the best of `restarts` fits (fresh initialisations), and the
        steps all of them took."""
        fits = [fit(side, side.critic(2), real, fake, self.max_steps, self.batch_size, tol=self.tol)
                for _ in range(self.restarts)]
        return max(f[0] for f in fits), sum(f[1] for f in fits)

    @staticmethod
    def sampler(theta: float) -> Sampler:
        """(n, 2) points (theta, Z), Z ~ U[0, 1]."""
        return lambda n: torch.stack([torch.full((n,), float(theta)), torch.rand(n)], dim=1)

    def __call__(self, cfg: DictConfig, tracker: Any, out_dir: Path) -> dict[str, float]:
        critic, disc = Side.of_run(cfg, self.lr_critic), Side.gan_baseline(cfg, self.lr_discriminator)
        rows = []
        for i, theta in enumerate(self.thetas):
            real, fake = self.sampler(0.0), self.sampler(theta)
            em, em_steps = self.best_fit(critic, real, fake)
            js, js_steps = self.best_fit(disc, real, fake)
            row = {M.FIG1_THETA.key: float(theta), M.FIG1_EM_TRUE.key: abs(float(theta)),
                   M.FIG1_JS_TRUE.key: math.log(2) if theta != 0 else 0.0, M.EM.key: em, M.JS.key: js,
                   M.FIG1_EM_STEPS.key: em_steps, M.FIG1_JS_STEPS.key: js_steps}
            tracker.log_metrics(row, step=i)
            rows.append(row)
            log.info("theta %+.2f: em %.4g (%d steps), js %.4f (%d steps)", theta, em, em_steps, js, js_steps)
        em = np.array([r[M.EM.key] for r in rows])
        slope = float((em * np.abs(self.thetas)).sum() / (self.thetas ** 2).sum())  # least squares em ~ K |theta|
        summary = {M.FIG1_EM_SLOPE.key: slope, M.FIG1_EM_AT_ZERO.key: float(em[np.argmin(np.abs(self.thetas))]),
                   M.FIG1_K_MAX.key: max_slope(cfg.critic, cfg.constraint.get("c"))}
        tracker.log_metrics(summary, step=len(rows))
        self.figure(rows, slope, out_dir, tracker)
        return summary

    def figure(self, rows: list[dict[str, float]], slope: float, out_dir: Path, tracker: Any) -> None:
        theta = np.array([r[M.FIG1_THETA.key] for r in rows])
        fine = np.linspace(-1, 1, 401)
        fig, (ax_w, ax_js) = plt.subplots(1, 2, figsize=(10, 4))
        ax_w.plot(fine, np.abs(fine), color="tab:blue", label=r"$W(P_0, P_\theta) = |\theta|$")
        ax_w.plot(theta, [r[M.EM.key] / slope for r in rows], "o", color="tab:orange",
                  label=f"clipped critic's estimate / {slope:.3g}")
        ax_w.set_title("Earth-Mover distance")
        js_true = np.where(fine == 0, 0.0, math.log(2))
        ax_js.plot(fine, js_true, color="tab:blue", label=r"$JS(P_0, P_\theta)$")
        ax_js.plot([0], [0], "o", color="tab:blue", markersize=4)
        ax_js.plot(theta, [r[M.JS.key] for r in rows], "o", color="tab:orange",
                   label=r"discriminator: $\frac{1}{2}L(D, g) + \log 2$")
        ax_js.set_title("Jensen-Shannon divergence")
        for ax in (ax_w, ax_js):
            ax.set_xlabel(r"$\theta$")
            ax.legend(fontsize=8, loc="lower right")
            ax.grid(alpha=0.3)
        fig.suptitle(r"Figure 1: $P_0 = (0, Z)$, $P_\theta = (\theta, Z)$, $Z \sim U[0, 1]$")
        fig.tight_layout()
        save_figure(fig, out_dir / "figures" / "fig1_parallel_lines.png", tracker)


class OptimalCritic:
    """Figure 3: D(x) saturates and its gradient vanishes at the fake samples; the clipped critic is ~linear."""

    def __init__(self, real_mean: float, fake_mean: float, std: float, lr_critic: float,
                 lr_discriminator: float, max_steps: int, batch_size: int) -> None:
        self.real_mean, self.fake_mean, self.std = real_mean, fake_mean, std
        self.lr_critic, self.lr_discriminator = lr_critic, lr_discriminator
        self.max_steps, self.batch_size = max_steps, batch_size

    def gaussian(self, mean: float) -> Sampler:
        return lambda n: mean + self.std * torch.randn(n, 1)

    def __call__(self, cfg: DictConfig, tracker: Any, out_dir: Path) -> dict[str, float]:
        real, fake = self.gaussian(self.real_mean), self.gaussian(self.fake_mean)
        critic_side, disc_side = Side.of_run(cfg, self.lr_critic), Side.gan_baseline(cfg, self.lr_discriminator)
        critic, disc = critic_side.critic(1), disc_side.critic(1)
        em, em_steps = fit(critic_side, critic, real, fake, self.max_steps, self.batch_size, tol=0.001)
        js, js_steps = fit(disc_side, disc, real, fake, self.max_steps, self.batch_size, tol=0.001)
        lo, hi = sorted((self.real_mean, self.fake_mean))
        x = torch.linspace(lo - 4 * self.std - 1, hi + 4 * self.std + 1, 801).unsqueeze(1).requires_grad_(True)
        f = critic(x)
        d = torch.sigmoid(disc(x))
        grad_f = torch.autograd.grad(f.sum(), x)[0].squeeze(1)
        grad_d = torch.autograd.grad(d.sum(), x)[0].squeeze(1)
        at_fake = fake(4096).requires_grad_(True)
        g_crit = torch.autograd.grad(critic(at_fake).sum(), at_fake)[0].abs().mean()
        logits = disc(at_fake)
        g_disc = torch.autograd.grad(torch.sigmoid(logits).sum(), at_fake, retain_graph=True)[0].abs().mean()
        # the generator's gradient under each GAN loss: minimax log(1 - D) (the paper's claim), and -log D (the trick)
        g_minimax = torch.autograd.grad(-F.softplus(logits).sum(), at_fake, retain_graph=True)[0].abs().mean()
        g_nonsat = torch.autograd.grad(F.softplus(-logits).sum(), at_fake)[0].abs().mean()
        between = (x.detach().squeeze(1) >= lo) & (x.detach().squeeze(1) <= hi)
        r2 = linear_r2(x.detach().squeeze(1)[between].numpy(), f.detach()[between].numpy())
        metrics = {M.FIG3_CRITIC_GRAD.key: float(g_crit), M.FIG3_DISC_GRAD.key: float(g_disc),
                   M.FIG3_MINIMAX_GRAD.key: float(g_minimax), M.FIG3_NONSAT_GRAD.key: float(g_nonsat),
                   M.FIG3_SLOPE_MAX.key: max_slope(cfg.critic, cfg.constraint.get("c")),
                   M.FIG3_LINEARITY.key: r2, M.EM.key: em, M.JS.key: js,
                   M.FIG3_EM_STEPS.key: em_steps, M.FIG3_JS_STEPS.key: js_steps}
        tracker.log_metrics(metrics, step=0)
        self.figure(x.detach().squeeze(1).numpy(), d.detach().numpy(), f.detach().numpy(), grad_d.numpy(),
                    grad_f.numpy(), out_dir, tracker)
        return metrics

    def figure(self, x: np.ndarray, d: np.ndarray, f: np.ndarray, grad_d: np.ndarray, grad_f: np.ndarray,
               out_dir: Path, tracker: Any) -> None:
        density = lambda m: np.exp(-0.5 * ((x - m) / self.std) ** 2)  # noqa: E731 - peak-normalised for the plot
        fig, (ax, ax_g) = plt.subplots(1, 2, figsize=(11, 4))
        ax.fill_between(x, density(self.real_mean), color="tab:blue", alpha=0.25, label="density real")
        ax.fill_between(x, density(self.fake_mean), color="tab:green", alpha=0.25, label="density fake")
        ax.plot(x, d, color="tab:red", label="GAN discriminator D(x)")
        span = f.max() - f.min()
        ax.plot(x, (f - f.min()) / (span if span > 0 else 1), color="tab:cyan",
                label=f"WGAN critic f(x), rescaled (range {span:.3g})")
        ax.set_xlabel("x")
        ax.set_title("optimal discriminator and critic")
        ax.legend(fontsize=8)
        ax_g.semilogy(x, np.abs(grad_d) + 1e-30, color="tab:red", label="|dD/dx|")
        ax_g.semilogy(x, np.abs(grad_f) + 1e-30, color="tab:cyan", label="|df/dx|")
        ax_g.axvline(self.fake_mean, color="tab:green", ls=":", label="fake mean")
        ax_g.set_xlabel("x")
        ax_g.set_title("gradient magnitude (log scale)")
        ax_g.legend(fontsize=8)
        fig.suptitle("Figure 3: two 1-D Gaussians, discriminator and critic trained to optimality")
        fig.tight_layout()
        save_figure(fig, out_dir / "figures" / "fig3_optimal_critic.png", tracker)


class FixedGenerator:
    """WGAN-GP Sec. 3.1, Figure 1a (`study=fixed_generator`): a critic trained to optimality against a generator
    held at the real data plus unit-variance Gaussian noise, on the run's toy data, with the run's constraint and
    optimiser. How much of the distance the critic's capacity reaches: its estimate E f(x) - E f(x + noise) divided
    by its Lipschitz constant, as a fraction of the exact W1 between the two distributions (POT, w1_points a side,
    its floor W1 between two real samples beside it). The Lipschitz constant is bounded from below by the largest
    sampled gradient norm (so that fraction can exceed 1) and from above by the product of the layers' spectral
    norms (ReLU is 1-Lipschitz); both fractions are logged. Beside them, on the same estimate samples, what needs no
    modelling and what cannot be beaten (evaluate/potentials.py, both fitted on the W1 samples as the critic is on
    its batches): the fraction the best trivial function reaches (the better of the best radial cone and the best
    linear function, which ignore every mode) and the fraction the exact Kantorovich potential reaches (claim G3
    reads the share of the gap between them that the critic closes). The value surface is drawn as in the paper's
    figure."""

    def __init__(self, lr_critic: float, lr_discriminator: float, noise_std: float, max_steps: int,
                 batch_size: int, w1_points: int) -> None:
        self.lr_critic, self.noise_std, self.max_steps = lr_critic, noise_std, max_steps
        self.batch_size, self.w1_points = batch_size, w1_points

    def __call__(self, cfg: DictConfig, tracker: Any, out_dir: Path) -> dict[str, float]:
        data = build_data(cfg.data, torch.device("cpu"))
        real = lambda n: data.sample(n)  # noqa: E731
        fake = lambda n: data.sample(n) + self.noise_std * torch.randn(n, 2)  # noqa: E731
        side = Side.of_run(cfg, self.lr_critic)
        critic = side.critic(2)
        _, steps = fit(side, critic, real, fake, self.max_steps, self.batch_size, tol=0.0)
        x, y = real(8192), fake(8192)  # every function's estimate on the same samples: the critic's, the references'
        with torch.no_grad():
            _, stats = side.objective.critic_loss(critic(x), critic(y))
        estimate = float(stats[side.objective.estimate_key])
        points = torch.cat([real(4096), fake(4096)])
        mix = torch.rand(4096, 1)
        points = torch.cat([points, mix * points[:4096] + (1 - mix) * points[4096:]]).requires_grad_(True)
        grads = torch.autograd.grad(critic(points).sum(), points)[0]
        sampled = float(grads.norm(dim=1).max())
        bound = float(np.prod([torch.linalg.matrix_norm(m.weight.detach(), 2).item() for m in critic.modules()
                               if isinstance(m, nn.Linear)]))
        w1_real, w1_fake = (s.double().numpy() for s in (real(self.w1_points), fake(self.w1_points)))
        w1, exact = P.exact_potential(w1_real, w1_fake)  # the value exact_w1 gives, and its potential
        baseline = P.trivial_baseline(w1_real, w1_fake)
        xs, ys = x.double().numpy(), y.double().numpy()
        metrics = {M.G3_ESTIMATE.key: estimate, M.G3_LIPSCHITZ_SAMPLED.key: sampled,
                   M.G3_LIPSCHITZ_BOUND.key: bound, M.G3_W1.key: w1,
                   M.G3_W1_FLOOR.key: exact_w1(real(self.w1_points), real(self.w1_points)),
                   M.G3_FRACTION_SAMPLED.key: estimate / (sampled * w1),
                   M.G3_FRACTION_BOUND.key: estimate / (bound * w1),
                   M.G3_FRACTION_BASELINE.key: P.estimate(baseline, xs, ys) / w1,
                   M.G3_FRACTION_EXACT.key: P.estimate(exact, xs, ys) / w1, M.G3_STEPS.key: steps}
        tracker.log_metrics(metrics, step=0)
        fig = toy_figure(fake(1000), real(1000), data.modes, critic,
                         f"critic against real + N(0, {self.noise_std:g}): estimate / L {estimate / sampled:.3g}, "
                         f"W1 {w1:.3g}")
        save_figure(fig, out_dir / "figures" / "g3_value_surface.png", tracker)
        log.info("fixed generator: %s", ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        return metrics


def max_slope(critic_cfg: DictConfig, c: float | None) -> float:
    """The largest slope along one input coordinate that an MLP critic with every weight clipped to [-c, c] can
    reach: c from the input, then hidden * c per hidden layer and at the output (512^3 c^4 = 1.342 for 3 x 512).
    NaN without clipping (c None) or for another critic."""
    if c is None or "hidden" not in critic_cfg:
        return float("nan")
    return float(c * (critic_cfg.hidden * c) ** critic_cfg.layers)


def linear_r2(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares line through (x, y): 1 for a linear function."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = ((y - (slope * x + intercept)) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - residual / total) if total > 0 else 0.0


def save_figure(fig: plt.Figure, path: Path, tracker: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    tracker.log_artifact(path, "figures")
