"""A report from its runs: collected (collect.py), summarised (tables.py), drawn (figures.py), written as Markdown,
self-contained HTML, CSV and PNG (the package's page: wgan_repro/report/__init__.py)."""

from __future__ import annotations

import datetime as dt
import logging
import platform
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from wgan_repro.claims.section import to_html as render
from wgan_repro.report import collect, figures, tables
from wgan_repro.store import download_artifact

log = logging.getLogger(__name__)

TABLES = {
    "t1_toy": "T1 — toy mixtures (F2): modes covered, high-quality %, reverse KL, exact W1 beside its floor",
    "t2_meaningful_loss": "T2 — a meaningful loss (F4/F5): Spearman correlation over training between the "
                          "median-filtered estimate and sample quality (> 0: the estimate falls as quality improves), "
                          "raw and on first differences (what a common trend in time cannot produce); only for runs "
                          "with at least 20 evaluations",
    "t3_architecture": "T3 — robustness to the generator (F6): final quality and collapse rate over seeds",
    "t4_optimizer": "T4 — optimiser x learning rate (F7): diverged runs, final quality, share of critic updates "
                    "whose step points against the gradient (negative cosine)",
    "t5_constraints": "T5 — Lipschitz constraints (clip, gp, spectral x wgan, hinge, gan): final quality and collapse "
                      "(each run's own measures, named in the row), Spearman(estimate, quality) over training, wall "
                      "time per generator iteration, failed runs",
}


def build(uri: str, experiment: str, out_dir: Path, name: str, filter_string: str | None = None,
          sweep: str | None = None, preface: str = "", verdicts: str = "") -> dict[str, Any]:
    """Collect, summarise, draw and write the report; returns {tables: {name: DataFrame}, figures: [...], runs}."""
    runs = collect.search(uri, experiment, filter_string, sweep)
    if runs.empty:
        raise ValueError(f"no runs in experiment {experiment!r} of {uri}"
                         + (f" matching {filter_string!r}" if filter_string else "")
                         + (f" in sweep {sweep!r}" if sweep else ""))
    out_dir.mkdir(parents=True, exist_ok=True)  # only once there is a report to write: a refusal leaves no folder
    keys = {*collect.CURVE_KEYS, *tables.estimate_key(runs).dropna(), *tables.quality_key(runs).dropna()}
    curves = collect.histories(uri, runs["run_id"], sorted(keys))  # each run's own estimate and quality, too
    with tempfile.TemporaryDirectory() as tmp:
        diversity, images = artifacts(uri, runs, Path(tmp))
        result = {
            "t1_toy": tables.t1_toy(runs),
            "t2_meaningful_loss": tables.t2_meaningful_loss(runs, curves),
            "t3_architecture": tables.t3_architecture(runs, diversity),
            "t4_optimizer": tables.t4_optimizer(tables.cosine_summary(runs, curves)),
            "t5_constraints": tables.t5_constraints(runs, curves),
        }
        figs = draw(runs, curves, images, out_dir)
    for key, table in result.items():
        if not table.empty:
            table.attrs.get("numeric", table).to_csv(out_dir / f"{key}.csv", index=False)
    listing = run_listing(runs)
    listing.to_csv(out_dir / "runs.csv", index=False)
    sections = outline(name, uri, experiment, result, figs, listing, preface, verdicts)
    (out_dir / "report.md").write_text(to_markdown(sections))
    (out_dir / "report.html").write_text(to_html(sections, out_dir))
    parent = collect.log_to_parent(uri, runs, sweep, out_dir)
    return {"tables": result, "figures": figs, "runs": runs, "parent": parent}


def artifacts(uri: str, runs: pd.DataFrame, tmp: Path) -> tuple[pd.Series, dict[str, dict[str, Path]]]:
    """Sample diversity per image run (final grid vs real grid), and the images the figures show (seed 0)."""
    div, images = {}, {"grids": {}, "toy": {}, "studies": {}, "toy_time": {}}
    done = runs[runs["status"] == "FINISHED"]
    for (_, r), config in zip(done.iterrows(), figures.config_labels(done)):
        rid, where = r["run_id"], tmp / r["run_id"]
        label, seed0 = f"{config} · s{r.get('tags.seed')}", str(r.get("tags.seed")) == "0"
        if str(r.get("tags.study")) not in ("None", "nan", ""):  # Figures 1 and 3
            for name in ("fig1_parallel_lines", "fig3_optimal_critic"):
                if (p := download_artifact(uri, rid, f"figures/{name}.png", where)) is not None:
                    images["studies"][name] = p
        elif (r.get("tags.data") in tables.TOY_DATA and seed0
              and str(r.get("tags.sweep")).split("@")[0] not in tables.OWN_TABLE):
            iterations, every = int(r["params.train.iterations"]), int(r["params.eval.every"])
            if (p := download_artifact(uri, rid, f"figures/samples_{iterations:07d}.png", where)) is not None:
                images["toy"][label] = p
            steps = list(range(every, iterations + 1, every))
            picks = [steps[round(i * (len(steps) - 1) / 4)] for i in range(5)] if len(steps) >= 5 else steps
            frames = [(s, p) for s in dict.fromkeys(picks)
                      if (p := download_artifact(uri, rid, f"figures/samples_{s:07d}.png", where)) is not None]
            images["toy_time"][label] = frames
        else:
            final = download_artifact(uri, rid, "samples/samples_final.png", where)
            real = download_artifact(uri, rid, "samples/real.png", where)
            if final is not None and real is not None:
                div[rid] = figures.diversity(final, real)
                if seed0:
                    images["grids"][label] = final
    return pd.Series(div, dtype=float), images


def draw(runs: pd.DataFrame, curves: pd.DataFrame, images: dict[str, dict[str, Path]], out_dir: Path
         ) -> list[tuple[str, Path]]:
    """Every figure as PNG in out_dir: (caption, path)."""
    trained = runs[tables.trained(runs)]
    toy = trained[trained["tags.data"].isin(tables.TOY_DATA)]
    img = trained[~trained["tags.data"].isin(tables.TOY_DATA)]
    made = [
        ("Estimate curves (median filter, width 101) beside exact W1 on the toy mixtures (F2, F4/F5)",
         figures.curves(toy, curves, out_dir / "fig_curves_toy.png", "toy mixtures: estimate vs exact W1")),
        ("Estimate curves beside digit FID on the image presets (F4/F5/F6)",
         figures.curves(img, curves, out_dir / "fig_curves_images.png", "images: estimate vs sample quality")),
        ("Final sample grids, seed 0, per configuration (F6)",
         figures.side_by_side(images["grids"], out_dir / "fig_grids.png", "final samples (seed 0)")),
        ("Toy mixtures at the end of training, seed 0: samples over their KDE, and the critic (F2)",
         figures.side_by_side(images["toy"], out_dir / "fig_toy_panels.png", "toy mixtures (seed 0)", cols=2)),
        (f"Toy mixtures over training, seed 0: where the generated samples sit at {over_time_count(images)} "
         "evaluations spread over the run (F2: a generator that rotates between modes shows as a cloud moving from "
         "mode to mode)",
         figures.over_time(images["toy_time"], out_dir / "fig_toy_over_time.png", "toy mixtures over training")),
    ]
    for name, p in images["studies"].items():
        made.append((f"{name}: the study run's figure (F1/F3)", figures.save_copy(p, out_dir / f"{name}.png")))
    return [(caption, path) for caption, path in made if path is not None]


def over_time_count(images: dict[str, dict[str, Path]]) -> str:
    """How many evaluations the over-training figure shows (five when a run has them), in words."""
    counts = sorted({len(frames) for frames in images["toy_time"].values() if frames})
    if not counts:
        return "no"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


def run_listing(runs: pd.DataFrame) -> pd.DataFrame:
    cols = {"tags.mlflow.runName": "name", "run_id": "run id", "status": "status", "tags.git_commit": "commit",
            "tags.command": "command"}
    out = runs[[c for c in cols if c in runs]].rename(columns=cols)
    if {"start_time", "end_time"} <= set(runs):
        out.insert(3, "wall (s)", (runs["end_time"] - runs["start_time"]).dt.total_seconds().round())
    if "commit" in out:
        out["commit"] = out["commit"].astype(str).str[:10]
    return out.sort_values(["name"] if "name" in out else ["run id"]).reset_index(drop=True)


Section = tuple[str, Any]  # ("h1" | "h2" | "p" | "table" | "figure", payload)


def outline(name: str, uri: str, experiment: str, result: dict[str, pd.DataFrame], figs: list[tuple[str, Path]],
            listing: pd.DataFrame, preface: str, verdicts: str) -> list[Section]:
    """The report as a list of sections, rendered to Markdown and to HTML alike."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out: list[Section] = [("h1", f"wgan_repro report: {name}"),
                          ("p", f"Generated {stamp} by `python -m wgan_repro.report` from MLflow (`{uri}`, experiment "
                                f"`{experiment}`, {len(listing)} runs) on {platform.machine()} "
                                f"({platform.processor() or platform.platform()}).")]
    out += [("p", para) for para in preface.split("\n\n") if para.strip()]
    for key, title in TABLES.items():
        out.append(("h2", title))
        table = result[key]
        out.append(("table", table) if not table.empty else ("p", "No run in this report logs what this table needs."))
        if table.attrs.get("note"):
            out.append(("p", table.attrs["note"]))
        if not table.empty:
            out.append(("p", f"CSV: `{key}.csv`"))
    out.append(("h2", "Figures"))
    out += [("figure", f) for f in figs]
    if verdicts:
        out.append(("h2", "Verdicts"))
        out += [("p", para) for para in verdicts.split("\n\n") if para.strip()]
    out += [("h2", "Runs behind this report"), ("table", listing)]
    return out


def to_markdown(sections: list[Section]) -> str:
    parts = []
    for kind, payload in sections:
        if kind in ("h1", "h2"):
            parts.append("#" * int(kind[1]) + " " + payload)
        elif kind == "p":
            parts.append(payload)
        elif kind == "table":
            parts.append(payload.to_markdown(index=False))
        else:
            caption, path = payload
            parts.append(f"**{caption}**\n\n![{caption}]({path.name})")
    return "\n\n".join(parts) + "\n"


def to_html(sections: list[Section], folder: Path) -> str:
    """A self-contained page rendered from the Markdown by the `markdown` library; the figures in `folder` embedded."""

    return render(to_markdown(sections), folder, "wgan_repro report")
