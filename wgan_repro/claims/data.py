"""The data a claim's verdict is computed from, in one compact, open form (CSV), whether it comes from MLflow or
from a committed export: `runs.csv` (one row per run: id, status, times, the tags and params the rule reads, every
final metric) and `curves.csv.gz` (run_id, key, step, value: every logged point, so that a filter's width counted in
iterations applies exactly). Exports of the first edition binned series longer than 1,000 points (the median of
each bin, the mean for optimiser diagnostics, at the bin's last step); `binned` says whether an export was, and a
section rendered from one says its widths in iterations are approximated. The MLflow path goes through the same
normalisation, so a section rendered from MLflow and from its export are the same. Beside them, `samples/`: for each
arm, the sample images (a grid for images, a scatter for toy data) of its run at the lowest seed (a fixed rule,
never the best run), at mid-training and at the end, listed in `samples.csv` (arm, seed, run_id, stage, step, file).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from wgan_repro.claims import shown_command
from wgan_repro.store import mlflow_client

FIRST_EDITION_POINTS = 1000  # the first edition's exports binned longer series to this many points
TAGS = ("claim", "arm", "budget", "seed", "objective", "arch", "critic", "optimizer", "constraint", "data",
        "experiment", "study", "estimate", "quality", "quality_floor", "collapse", "fid_protocol", "fid_mnist_protocol",
        "fid_digits_protocol", "git_commit", "git_dirty", "status_reason", "command", "config_hash", "superseded_by")
# ^ an export's tag columns, in the order the committed exports (reports/reference/*/data/runs.csv) have them: a
#   file format, not a list of config groups (the groups a rule reads; `eval` is not one)
BASE_PARAMS = ("train.iterations", "eval.every", "optimizer.lr", "train.n_critic", "train.batch_size",
               # the protocol a section states (section.protocol): clip order, samples behind each measure
               "constraint.c", "constraint.when", "constraint.lam", "eval.at_start", "eval.w1_points",
               "eval.n_samples", "eval.classifier_samples")


SAMPLE_COLUMNS = ["arm", "seed", "run_id", "stage", "step", "file"]
SAMPLE_IMAGE = re.compile(r"^(?:samples|figures)/samples_(\d{7})\.png$")  # what evaluations log (evaluate/)
# what a study that trains no generator draws of its fitted critic and the two distributions (runs/studies.py)
STUDY_IMAGE = re.compile(r"^figures/(?:fig1_parallel_lines|fig3_optimal_critic|g3_value_surface)\.png$")


@dataclass
class ClaimData:
    runs: pd.DataFrame  # run_id, status, start_time, end_time, tags.*, params.*, metrics.*
    curves: pd.DataFrame  # run_id, key, step, value
    samples: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SAMPLE_COLUMNS))
    sample_dir: Path | None = None  # where samples' files are (an export's samples/, or a download folder)

    def curve(self, run_id: str, key: str) -> pd.Series:
        """One run's series of `key`, indexed by step."""
        c = self.curves[(self.curves["run_id"] == run_id) & (self.curves["key"] == key)]
        return pd.Series(c["value"].to_numpy(dtype=float), index=c["step"].to_numpy(dtype=int)).sort_index()


def constructed(runs: Iterable[dict], curves: Iterable[dict] = ()) -> ClaimData:
    """Runs built by hand (a known-answer control, a test): one dict per run (run_id, tags.arm, tags.seed, metrics.*,
    params.*; status FINISHED unless given) and one per curve point (run_id, key, step, value), in the form an
    export has."""
    table = pd.DataFrame([{"status": "FINISHED", **r} for r in runs])
    if "tags.seed" in table:
        table["tags.seed"] = table["tags.seed"].astype(str)
    return ClaimData(table, pd.DataFrame(list(curves), columns=["run_id", "key", "step", "value"]))


def normalise(runs: pd.DataFrame, curves: pd.DataFrame, params: Iterable[str]) -> ClaimData:
    """Keep what the export keeps, in a fixed column order and types; curves whole, sorted."""
    legacy = "tags.config_hash"  # the bookkeeping tag's name in exports (stores now write store.CONFIG_HASH)
    if "tags.mlflow.wgan_repro.config_hash" in runs:
        runs = runs.assign(**{legacy: runs["tags.mlflow.wgan_repro.config_hash"].fillna(
            runs[legacy] if legacy in runs else None)})
    keep = ["run_id", "status", "start_time", "end_time"]
    keep += [f"tags.{t}" for t in TAGS if f"tags.{t}" in runs]
    keep += [f"params.{p}" for p in dict.fromkeys([*BASE_PARAMS, *params]) if f"params.{p}" in runs]
    keep += sorted(c for c in runs if c.startswith("metrics."))
    out = runs[keep].copy()
    for col in ("start_time", "end_time"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for col in out:
        if col.startswith("params.") and col != "params.optimizer.betas":
            numbers = pd.to_numeric(out[col], errors="coerce")
            out[col] = numbers if numbers.notna().sum() == out[col].notna().sum() else out[col]
    out = out.sort_values(["tags.arm", "tags.seed", "run_id"] if "tags.arm" in out else ["run_id"])
    curves = curves.sort_values(["run_id", "key", "step"])[["run_id", "key", "step", "value"]].astype(
        {"step": int, "value": float})
    return ClaimData(out.reset_index(drop=True), curves.reset_index(drop=True))


def binned(data: ClaimData) -> bool:
    """Whether the curves were binned (a first-edition export): a series of exactly FIRST_EDITION_POINTS points whose
    steps are more than one iteration apart."""
    for _, c in data.curves.groupby(["run_id", "key"]):
        if len(c) == FIRST_EDITION_POINTS and c["step"].diff().median() > 1:
            return True
    return False


def export(data: ClaimData, folder: Path) -> None:
    """runs.csv and curves.csv.gz into `folder` (floats written in full precision; each run's command as a reader
    would type it, without the store of the machine it ran on)."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = data.runs.copy()
    if "tags.command" in runs:
        runs["tags.command"] = runs["tags.command"].map(lambda c: shown_command(c) if isinstance(c, str) else c)
    runs.to_csv(folder / "runs.csv", index=False, float_format="%.17g")
    if len(data.samples) and data.sample_dir is not None:
        (folder / "samples").mkdir(exist_ok=True)
        for name in data.samples["file"]:
            if (data.sample_dir / name).resolve() != (folder / "samples" / name).resolve():
                shutil.copyfile(data.sample_dir / name, folder / "samples" / name)
        data.samples[SAMPLE_COLUMNS].to_csv(folder / "samples.csv", index=False)
    data.curves.to_csv(folder / "curves.csv.gz", index=False, float_format="%.17g",
                       compression={"method": "gzip", "mtime": 0})  # the same bytes for the same data


def load_export(folder: Path) -> ClaimData:
    """The data of an export, as the MLflow path gives it."""
    runs = pd.read_csv(folder / "runs.csv", dtype={"tags.seed": str, "tags.git_dirty": str})
    curves = pd.read_csv(folder / "curves.csv.gz")
    if (folder / "samples.csv").is_file():
        samples = pd.read_csv(folder / "samples.csv", dtype={"seed": str})
        return ClaimData(runs, curves, samples, folder / "samples")
    return ClaimData(runs, curves)


def sample_images(client, runs: pd.DataFrame) -> tuple[pd.DataFrame, Path | None]:
    """For each arm, its run at the lowest seed (FINISHED when one is): the sample images it logged at the evaluation
    nearest half its last one ('mid') and at its last ('final'), or for a study that trains no generator its
    picture of the fitted critic ('study'), downloaded into a temporary folder."""
    if runs.empty or "tags.arm" not in runs:
        return pd.DataFrame(columns=SAMPLE_COLUMNS), None
    folder = Path(tempfile.mkdtemp(prefix="claim-samples-"))
    rows = []
    for arm, at in runs.groupby("tags.arm", sort=True):
        at = at.assign(_done=at["status"] != "FINISHED", _seed=pd.to_numeric(at["tags.seed"], errors="coerce"))
        run = at.sort_values(["_done", "_seed"]).iloc[0]
        images = {}
        for top in ("samples", "figures"):
            for a in client.list_artifacts(run.run_id, top):
                match = SAMPLE_IMAGE.match(a.path)
                if match:
                    images[int(match.group(1))] = a.path
        if images:
            last = max(images)
            mid = min(images, key=lambda s: (abs(s - last / 2), s))
            shots = [(stage, step, images[step]) for stage, step in (("mid", mid), ("final", last))
                     if stage == "final" or mid != last]
        else:  # a study trains no generator: its picture of the fitted critic, stage 'study' (no iterations)
            shots = [("study", 0, a.path) for a in client.list_artifacts(run.run_id, "figures")
                     if STUDY_IMAGE.match(a.path)][:1]
        for stage, step, path in shots:
            name = f"{re.sub(r'[^A-Za-z0-9_.@-]', '_', str(arm))}_s{run['tags.seed']}_{stage}.png"
            got = Path(client.download_artifacts(run.run_id, path, str(folder / "download")))
            shutil.move(str(got), folder / name)
            rows.append({"arm": arm, "seed": str(run["tags.seed"]), "run_id": run.run_id, "stage": stage,
                         "step": step, "file": name})
    shutil.rmtree(folder / "download", ignore_errors=True)
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS), folder


def from_mlflow(uri: str, experiment: str, claim: str, budget: str, keys: Iterable[str], params: Iterable[str],
                parent: str | None = None, samples: bool = True) -> ClaimData:
    """Every child run of the claim's parent run `parent` (None: of every parent tagged claim=<id>,
    budget=<budget>) with their curves and (unless samples=False: a look between rounds) sample images."""
    import mlflow  # mlflow (~1 s) only to read a store: exports and plans never open one

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="pandas", max_results=50_000,
                              filter_string=f"tags.claim = '{claim}' and tags.budget = '{budget}'"
                              + (f" and tags.`mlflow.parentRunId` = '{parent}'" if parent else ""))
    if not runs.empty and "tags.sweep_parent" in runs:
        runs = runs[runs["tags.sweep_parent"] != "true"]
    client = mlflow_client(uri)
    rows = [(rid, key, m.step, m.value) for rid in runs.get("run_id", []) for key in keys
            for m in client.get_metric_history(rid, key)]
    curves = pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])
    for col in ("tags.seed", "tags.git_dirty"):
        if col in runs:
            runs[col] = runs[col].astype(str)
    data = normalise(runs.reset_index(drop=True), curves, params)
    if samples:
        data.samples, data.sample_dir = sample_images(client, data.runs)
    return data


def pooled(data: ClaimData, allow_mixed: bool) -> tuple[ClaimData, list[str]]:
    """The runs a verdict may pool: never KILLED or superseded ones; all of one commit and a clean tree unless
    allow_mixed. Returns the data and the notes that say what was left out or mixed; raises ValueError listing
    the runs when commits are mixed and allow_mixed is false."""
    runs = data.runs
    notes = []
    drop = runs["status"].isin(["KILLED", "RUNNING", "SCHEDULED"])
    if "tags.superseded_by" in runs:
        drop |= runs["tags.superseded_by"].notna()
    if drop.any():
        notes.append(f"left out {int(drop.sum())} killed, running or superseded runs: "
                     + ", ".join(runs.loc[drop, "run_id"].str[:8]))
    runs = runs[~drop]
    commits = runs.get("tags.git_commit", pd.Series(dtype=str)).fillna("unknown").unique()
    dirty = runs.get("tags.git_dirty", pd.Series(dtype=str)).astype(str).isin(["true", "True"])
    if (len(commits) > 1 or dirty.any()) and not allow_mixed:
        listing = "; ".join(f"{r.run_id[:8]} commit {str(r.get('tags.git_commit'))[:10]} dirty "
                            f"{r.get('tags.git_dirty')}" for _, r in runs.iterrows())
        raise ValueError(f"runs of {len(commits)} commits or of a dirty tree ({int(dirty.sum())} dirty); a verdict "
                         f"pools one clean commit (report.allow_mixed=true to pool them anyway): {listing}")
    if len(commits) > 1 or dirty.any():
        notes.append(f"pooled runs of {len(commits)} commits ({', '.join(c[:10] for c in commits)}), "
                     f"{int(dirty.sum())} from a dirty tree (report.allow_mixed=true)")
    keep = set(runs["run_id"])
    return ClaimData(runs.reset_index(drop=True), data.curves[data.curves["run_id"].isin(keep)],
                     data.samples[data.samples["run_id"].isin(keep)], data.sample_dir), notes
