"""Figures for toy runs: the paper's Figure 2 (samples over a KDE of the model) and the critic's landscape."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402


def _limits(*clouds: np.ndarray) -> tuple[float, float]:
    pts = np.concatenate(clouds)
    lo, hi = np.percentile(pts, [0.5, 99.5], axis=0)
    half = max(float((hi - lo).max()) / 2 * 1.25, 0.5)
    centre = (hi + lo) / 2
    return float(centre.mean()) - half, float(centre.mean()) + half


@torch.no_grad()
def toy_figure(fake: torch.Tensor, real: torch.Tensor, modes: torch.Tensor | None, critic: torch.nn.Module,
               title: str, grid: int = 128) -> plt.Figure:
    """Left: generated samples (blue) over a KDE of the model (green), real modes as red crosses (Fig. 2).
    Right: the critic's scores over the plane with real (orange) and generated (blue) points."""
    f, r = fake.float().cpu().numpy(), real.float().cpu().numpy()
    lo, hi = _limits(f, r)
    xs = np.linspace(lo, hi, grid)
    gx, gy = np.meshgrid(xs, xs)
    plane = np.stack([gx.ravel(), gy.ravel()])  # (2, grid^2)
    fig, (ax_kde, ax_critic) = plt.subplots(1, 2, figsize=(10, 5))
    try:
        density = gaussian_kde(f.T)(plane).reshape(grid, grid)
        ax_kde.contourf(gx, gy, density, levels=20, cmap="Greens")
    except (np.linalg.LinAlgError, ValueError):  # collapsed samples: the KDE is singular
        pass
    ax_kde.scatter(f[:, 0], f[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
    if modes is not None:
        m = modes.cpu().numpy()
        ax_kde.scatter(m[:, 0], m[:, 1], marker="x", s=40, c="red", label="real modes")
    ax_kde.set_title("generated samples over their KDE")
    points = torch.from_numpy(plane.T.astype(np.float32)).to(next(critic.parameters()))  # its device and dtype
    scores = critic(points).detach().float().cpu().numpy().reshape(grid, grid)
    heading = "critic scores f(x)"
    if np.ptp(scores) <= 1e-6 * max(1.0, float(np.abs(scores).max())):  # a flat critic: no colour scale to read
        heading += f"\nflat: {float(scores.mean()):.3g} everywhere"
    else:
        cs = ax_critic.contourf(gx, gy, scores, levels=30, cmap="viridis")
        bar = fig.colorbar(cs, ax=ax_critic, fraction=0.046, label="f(x)")
        bar.formatter.set_useOffset(False)  # an offset label would sit over the title
        bar.update_ticks()
    ax_critic.scatter(r[:500, 0], r[:500, 1], s=2, c="tab:orange", label="real")
    ax_critic.scatter(f[:500, 0], f[:500, 1], s=2, c="tab:blue", label="generated")
    ax_critic.set_title(heading)
    for ax in (ax_kde, ax_critic):
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="upper right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
