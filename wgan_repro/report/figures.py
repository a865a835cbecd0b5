"""Figures a researcher would put in a paper: estimate curves beside sample quality, grids and toy panels side by
side, and the sample-diversity measure behind T3's collapse rate. Inputs are DataFrames and image files."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from wgan_repro.curves import median_filter  # noqa: E402
from wgan_repro.evaluate import metrics as M  # noqa: E402
from wgan_repro.report.tables import estimate_key, quality_key  # noqa: E402


def axis_label(key: str, default: str) -> str:
    """A metric's words for an axis, with its direction ("exact W1 (lower is better)"); `default` for a key the
    registry does not know (an older run's tag)."""
    return M.get(key).axis() if M.known(key) else default


def config_label(row: pd.Series) -> str:
    """experiment · objective for a preset's runs; data · objective · optimiser lr otherwise (sweeps over them)."""
    if row.get("tags.experiment"):
        return f"{row['tags.experiment']} · {row.get('tags.objective')}"
    return (f"{row.get('tags.data')} · {row.get('tags.objective')} · {row.get('tags.optimizer')} "
            f"lr {float(row.get('params.optimizer.lr')):g}")


def config_labels(runs: pd.DataFrame) -> pd.Series:
    """config_label per run, with the constraint added where runs of one label differ in it (T5's grid)."""
    labels = runs.apply(config_label, axis=1)
    constraint = runs["tags.constraint"].astype(str) if "tags.constraint" in runs else pd.Series("", index=runs.index)
    mixed = constraint.groupby(labels).transform("nunique") > 1
    return labels.where(~mixed, labels + " · " + constraint)


def curves(runs: pd.DataFrame, hist: pd.DataFrame, path: Path, title: str) -> Path | None:
    """One panel per configuration: each seed's median-filtered estimate (left axis) and its quality metric at the
    evaluations (right axis, dashed with markers), over generator iterations."""
    runs = runs[runs["status"] == "FINISHED"].copy()
    if runs.empty:
        return None
    runs["label"], runs["quality"], runs["estimate"] = config_labels(runs), quality_key(runs), estimate_key(runs)
    groups = list(runs.groupby("label", sort=True))
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (label, group) in zip(axes.flat, groups):
        twin = ax.twinx()
        for i, (_, r) in enumerate(group.sort_values("tags.seed").iterrows()):
            key = r["estimate"]
            h = hist[hist["run_id"] == r["run_id"]]
            est, qual = h[h["key"] == key].sort_values("step"), h[h["key"] == r["quality"]].sort_values("step")
            color = f"C{i}"
            if len(est):
                ax.plot(est["step"], median_filter(est["value"].to_numpy()), color=color, lw=1.2,
                        label=f"seed {r.get('tags.seed')}")
            if len(qual):
                twin.plot(qual["step"], qual["value"], color=color, ls="--", marker="o", ms=3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("generator iterations")
        ax.set_ylabel(axis_label(key, key) + " (solid, median-filtered)", fontsize=8)
        twin.set_ylabel(axis_label(group["quality"].iloc[0], "quality") + " (dashed)", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def side_by_side(images: dict[str, Path], path: Path, title: str, cols: int = 4) -> Path | None:
    """Images (sample grids, toy panels, study figures) in a grid with their labels."""
    if not images:
        return None
    cols = min(cols, len(images))
    rows = math.ceil(len(images) / cols)
    width, height = Image.open(next(iter(images.values()))).size
    aspect = width / height
    fig, axes = plt.subplots(rows, cols, figsize=(4 * aspect * cols, 4.3 * rows), squeeze=False)
    for ax, (label, file) in zip(axes.flat, images.items()):
        ax.imshow(Image.open(file).convert("RGB"))
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    for ax in list(axes.flat)[len(images):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def grid_tiles(png: Path, per_row: int = 8, padding: int = 2) -> np.ndarray:
    """The tiles of a torchvision make_grid PNG (8 per row, 2 px padding) as (n, size*size*channels) floats."""
    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64) / 255
    size = (img.shape[1] - padding) // per_row - padding
    rows = (img.shape[0] - padding) // (size + padding)
    tiles = [img[padding + r * (size + padding): padding + r * (size + padding) + size,
                 padding + c * (size + padding): padding + c * (size + padding) + size].ravel()
             for r in range(rows) for c in range(per_row)]
    return np.stack(tiles)


def diversity(samples_png: Path, real_png: Path) -> float:
    """Mean pairwise L2 distance between the final grid's samples over that between the real grid's: ~1 for a
    varied generator, ~0 when every cell shows the same image (collapse)."""
    def mean_pairwise(x: np.ndarray) -> float:
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        return float(d[np.triu_indices(len(x), 1)].mean())

    return mean_pairwise(grid_tiles(samples_png)) / max(mean_pairwise(grid_tiles(real_png)), 1e-12)


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def save_copy(source: Path, path: Path) -> Path:
    """A figure some run already drew (Figures 1 and 3), copied into the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Path(source).read_bytes())
    return path


def over_time(rows: dict[str, list[tuple[int, Path]]], path: Path, title: str) -> Path | None:
    """One row per configuration: the left panel (samples over their KDE) of its toy figures at several
    evaluations, so that a generator hopping between modes shows as a dot moving along the row."""
    rows = {label: frames for label, frames in rows.items() if frames}  # runs without figures (eval.figures=false)
    if not rows:
        return None
    cols = max(len(v) for v in rows.values())
    side = max(2.6, 13 / cols)  # a row fills a page's width however few evaluations the runs had
    fig, axes = plt.subplots(len(rows), cols, figsize=(side * cols, (side + 0.2) * len(rows)), squeeze=False)
    for r, (label, frames) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(frames):
                step, file = frames[c]
                img = Image.open(file).convert("RGB")
                w, h = img.size  # the left panel only: below the figure's title, left of the critic's axis
                ax.imshow(img.crop((0, int(0.13 * h), int(0.46 * w), h)))
                ax.set_title(f"iteration {step}", fontsize=10)
                if c == 0:
                    ax.text(-0.04, 0.5, label, rotation=90, transform=ax.transAxes, ha="right", va="center",
                            fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)
