"""A claim's section from its runs: the verdict judged (engine.judge), the section and its export written
(section.py, data.py), the parent MLflow run tagged with the verdict, the reference index and README's summary
brought up to date. From the store (the runs of the claim's newest parent) or from a committed export
(`render_from=<section>/data`), which must give the same verdict.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from wgan_repro.claims import EXPLORATORY, REPO, budget_arms, section, shown_command
from wgan_repro.claims import data as D
from wgan_repro.claims import ledger as L
from wgan_repro.claims.engine import Design, Power, Result, check_controls, design_of, judge, judge_sequential
from wgan_repro.host import machine
from wgan_repro.store import find_runs, mlflow_client, resolve_uri

log = logging.getLogger("wgan_repro.reproduce")  # the command's lines, whichever module says them


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else ""


RULE_MODULES = ("wgan_repro.claims.", "wgan_repro.evaluate.metrics")  # what a verdict is computed by, beside the YAML


def rule_files(claim_id: str) -> list[str]:
    """What a claim's rule is: its YAML, its module and every module of claims/ it reaches through imports (a shared
    analysis such as F4's and F5's meaningful_loss.py, the engine, the power the word depends on), and the metric
    registry the measures are read by."""
    module = f"wgan_repro/claims/{claim_id.lower()}.py"
    seen, todo = set(), [module]
    while todo:
        path = todo.pop()
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            for dotted in {node.module, *(f"{node.module}.{a.name}" for a in node.names)}:  # a module, or a name's
                file = f"{dotted.replace('.', '/')}.py"
                if dotted.startswith(RULE_MODULES) and (REPO / file).is_file() and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return [f"conf/claim/{claim_id}.yaml", module, *sorted(seen - {module})]


def rule_commit(claim_id: str) -> str:
    """The last commit that changed the claim's rule (rule_files; 'uncommitted' when one has changes since)."""
    paths = rule_files(claim_id)
    if git("status", "--porcelain", "--", *paths):
        return "uncommitted"
    return git("log", "-1", "--format=%H", "--", *paths) or "unknown"


def meta_of(data: Any, claim: DictConfig, budget: str, command: str) -> dict[str, Any]:
    """What the section states about its runs: count, commit, clean tree, wall time, machine, command."""
    runs = data.runs
    commits = sorted(runs["tags.git_commit"].dropna().unique()) if "tags.git_commit" in runs else []
    start, end = pd.to_datetime(runs["start_time"], utc=True), pd.to_datetime(runs["end_time"], utc=True)
    wall_s = float((end.max() - start.min()).total_seconds()) if len(runs) else 0.0
    return {"n_runs": len(runs), "commit": ", ".join(commits) or "unknown",
            "clean": bool(len(runs) and runs.get("tags.git_dirty", pd.Series(dtype=str)).astype(str).eq("false").all()),
            "wall_s": round(wall_s), "wall": f"{wall_s / 60:.1f} min (first start to last end)",
            "machine": machine(), "command": shown_command(command), "rule_commit": rule_commit(claim.id)}


def newest_parent(uri: str, experiment: str, claim_id: str, budget: str) -> str | None:
    """The claim's latest parent run at this budget: a section is rendered from one parent's runs (a relaunch at a
    new commit makes a new parent, and runs of two commits are never pooled by accident)."""
    found = find_runs(uri, experiment, {"claim": claim_id, "budget": budget, "sweep_parent": "true"})
    return found[0].info.run_id if found else None


def plan_meta(numbers: dict[str, Any]) -> dict[str, Any]:
    """A plan's numbers (Plan.numbers, or plan.json) as a section's meta keys."""
    return {"plan_power": numbers["power"], "plan_seeds_needed": numbers["seeds_needed"]}


def planned(folder: Path) -> dict[str, Any]:
    """The power and seeds needed that the plan gave before the runs (plan.json beside the section; sections older
    than it have only the printed plan.txt, read back from its words), if any."""
    if (folder / "plan.json").is_file():
        return plan_meta(json.loads((folder / "plan.json").read_text()))
    text = (folder / "plan.txt").read_text() if (folder / "plan.txt").is_file() else ""
    found = re.search(r"every gate passing(?: \([^)]*\))?: (\d+)% with \d+ seeds; seeds needed for 80%: "
                      r"(\d+|more than 200)", text)
    if not found:
        return {}
    return {"plan_power": int(found.group(1)) / 100,
            "plan_seeds_needed": int(found.group(2)) if found.group(2).isdigit() else None}


def recorded(path: Path, commit: str) -> dict[str, Any]:
    """From a section's meta.json of the same runs' commit: the command that ran them and the plan's power (a
    re-render from MLflow knows neither)."""
    if not path.is_file():
        return {}
    before = json.loads(path.read_text())
    if before.get("commit") != commit:
        return {}
    return {"command": shown_command(before["command"]),
            **{k: before[k] for k in ("plan_power", "plan_seeds_needed") if k in before}}


def runs_and_meta(claim: DictConfig, budget: str, cfg: DictConfig, command: str, parent_id: str | None,
                  plan: Any, out_dir: Path) -> tuple[D.ClaimData, dict[str, Any]]:
    """The claim's runs (its export under render_from, else the parent's runs in the store) and what the section
    states about them, with what the plan said before them (a re-render: what its section in `out_dir` recorded)."""
    if cfg.render_from:
        folder = Path(cfg.render_from)
        meta = json.loads((folder / "meta.json").read_text())
        meta["command"] = shown_command(meta["command"])  # exports older than this rule carried the store's path
        return D.load_export(folder), meta
    uri = resolve_uri(cfg.tracking.uri)
    runs_of = parent_id or newest_parent(uri, cfg.tracking.experiment, claim.id, budget)  # (render_only: read only)
    data = D.from_mlflow(uri, cfg.tracking.experiment, claim.id, budget, claim.curves, claim.params, runs_of)
    meta = meta_of(data, claim, budget, command)
    if plan is not None:  # what the plan said before the runs
        meta.update(plan_meta(plan.numbers()))
    elif cfg.render_only:  # a re-render keeps what the section recorded when its runs ended, or before them
        meta.update(planned(out_dir))
        if runs_of:  # the command that ran them, as their parent holds it
            ran = mlflow_client(uri).get_run(runs_of).data.tags.get("command")
            meta.update({"command": shown_command(ran)} if ran else {})
        meta.update(recorded(out_dir / "data" / "meta.json", meta["commit"]))
    return data, meta


def planned_power(meta: dict[str, Any]) -> Power | None:
    """The power the plan gave before the runs, as the judge reads it (None: no plan, as for a smoke budget)."""
    if meta.get("plan_power") is None:
        return None
    return Power(meta["plan_power"], meta.get("plan_seeds_needed"))


def design_and_arms(claim: DictConfig, budget: str, meta: dict[str, Any], data: D.ClaimData, exported: bool
                    ) -> tuple[Design, dict[str, list[int]]]:
    """The design the runs were made under and each arm's seeds in its order (a look judges the first seeds of each
    arm; the controls are built at them). From the store: the budget's. From an export: the design its meta.json
    recorded, so that a budget redesigned later (new seeds, looks) re-renders its old sections as they were run; an
    export older than that record was a fixed design, at the seeds it holds."""
    if "design" in meta:
        d = meta["design"]
        return Design(tuple(d["looks"]), d["spending"]), {a: [int(s) for s in seeds] for a, seeds in d["arms"].items()}
    if not exported:
        return design_of(claim, budget), budget_arms(claim, budget)
    arms: dict[str, list[int]] = {}
    for arm, seeds in data.runs.groupby("tags.arm", sort=False)["tags.seed"]:
        arms[str(arm)] = sorted({int(float(s)) for s in seeds})
    return Design((max(len(s) for s in arms.values()),)), arms


def render_claim(claim: DictConfig, budget: str, cfg: DictConfig, command: str, parent_id: str | None,
                 plan: Any = None) -> dict[str, Any]:
    """Judge the claim on its runs, write its section and export, tag its parent, update the index and README."""
    out_dir = section_dir(cfg, claim.id, budget)
    data, meta = runs_and_meta(claim, budget, cfg, command, parent_id, plan, out_dir)
    if data.runs.empty:
        raise ValueError(f"claim {claim.id}, budget {budget}: no runs in experiment {cfg.tracking.experiment}")
    pooled, notes = D.pooled(data, bool(cfg.report.allow_mixed))
    source = f"its export ({cfg.render_from})" if cfg.render_from else "MLflow"
    notes.append(f"section rendered from {source} by the code at commit {git('rev-parse', 'HEAD')[:10] or 'unknown'}")
    if D.binned(data):
        notes.append("this export's long curves are binned to 1,000 points (the first edition's exports), so a filter "
                     "width counted in iterations is approximated to whole bins")
    design, arms = design_and_arms(claim, budget, meta, data, bool(cfg.render_from))
    meta["design"] = {"looks": list(design.looks), "spending": design.spending, "arms": arms}
    if len(design.looks) > 1:  # judged look by look: the word it stopped at
        result, _ = judge_sequential(claim.id, claim.rule, pooled, arms, design, planned_power(meta))
        if result is None or (result.word == "inconclusive" and len(result.looks) < len(design.looks)
                              and not result.detail.startswith("budget")):
            done = len(result.looks) if result is not None else 0
            raise ValueError(f"claim {claim.id}, budget {budget}: it has not stopped ({done} of {len(design.looks)} "
                             "looks judged, none decided, the next round not ended): relaunch the command to run its "
                             "next round; a section is written once the claim stops")
    else:
        result = judge(claim.id, claim.rule, pooled, planned_power(meta))
    if budget not in EXPLORATORY:  # a pipeline check or a pilot: it decides nothing, its controls neither
        result.controls = check_controls(claim.id, claim.rule, arms, design)
    if cfg.replicate:
        meta["replicate"] = str(cfg.replicate)
    seeds = seed_independence(claim, budget, cfg, pooled, meta, planned_power(meta))
    record = section.render(claim, budget, data, result, {**meta, "seed_independence": seeds}, out_dir,
                            [*notes, *result.notes])
    if data.sample_dir is not None and not cfg.render_from:  # the samples' download folder: exported, not needed
        shutil.rmtree(data.sample_dir, ignore_errors=True)
    (out_dir / "data" / "meta.json").write_text(json.dumps(meta, indent=1))
    if parent_id:
        tag_parent(resolve_uri(cfg.tracking.uri), parent_id, claim.id, budget, result, out_dir)
    section.index(out_dir.parent)
    if section.sync_readme(out_dir.parent, REPO / "README.md"):
        log.info("README.md's summary of the reproduction follows %s", out_dir.parent / "README.md")
    log.info("%s (%s): %s, %s. %s\n  section: %s", claim.id, budget, result.headline.upper(), result.robustness,
             result.reason(), out_dir / "section.md")
    return record


def seed_independence(claim: DictConfig, budget: str, cfg: DictConfig, data: D.ClaimData, meta: dict[str, Any],
                      power: Power | None) -> str:
    """The section's seed-independence label from the claim's ledger (seeds other commits' runs used before), and,
    where some runs repeat seen data and every arm keeps two fresh runs, the word on the fresh runs alone."""
    if budget not in L.CONFIRMATORY or data.runs.empty:
        return ""
    ledger = L.load(claim.id, Path(cfg.ledger) if cfg.ledger else None)
    label, repeat = L.independence(ledger, data.runs, str(meta.get("commit", "")).split(", "), meta.get("replicate"))
    if not repeat:
        return label
    fresh = data.runs[~data.runs["run_id"].isin(repeat)]
    if fresh.empty or fresh.groupby("tags.arm").size().reindex(data.runs["tags.arm"].unique()).fillna(0).min() < 2:
        return label + "; too few fresh runs in some arm to judge them alone"
    keep = set(fresh["run_id"])
    alone = judge(claim.id, claim.rule, D.ClaimData(fresh.reset_index(drop=True),  # one look at every fresh run
                                                    data.curves[data.curves["run_id"].isin(keep)]), power)
    return (label + f"; on the {len(fresh)} fresh runs alone: {alone.headline}, {alone.robustness} "
            f"({alone.primary.text()})")


def tag_parent(uri: str, parent_id: str, claim_id: str, budget: str, result: Result, out_dir: Path) -> None:
    """The parent run carries the verdict (tags and its note in the UI) and the section as artifacts."""
    client = mlflow_client(uri)
    client.set_tag(parent_id, "verdict", result.headline)
    client.set_tag(parent_id, "robustness", result.robustness)
    client.set_tag(parent_id, "mlflow.note.content", f"**{claim_id} ({budget}): {result.headline}, "
                                                     f"{result.robustness}.** {result.reason()}")
    client.log_artifacts(parent_id, str(out_dir), "section")


def section_dir(cfg: DictConfig, claim_id: str, budget: str) -> Path:
    """<report.out_dir>/<ID> (default reports/claims-<budget>/<ID>); an out_dir already named for the claim is used
    as it is (no F7/F7)."""
    base = Path(cfg.report.out_dir or REPO / "reports" / f"claims-{budget}")
    return base if base.name == claim_id else base / claim_id


