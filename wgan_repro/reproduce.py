"""`python -m wgan_repro.reproduce claim=F2 budget=cpu`: run a claim's runs and render its verdict.

For each (arm, seed) of the claim's budget (conf/claim/<id>.yaml) one run of `python -m wgan_repro` with
`train.resume=auto`, all children of one parent MLflow run tagged claim=<id>, budget=<budget>: a relaunch finds the
parent of the same claim, budget and commit, skips what finished and continues what did not. Then the claim's rule
(claims/rules.py) computes the verdict from the runs' data (claims/data.py), and the section is written
(claims/section.py) and logged into the parent, which carries the verdict as tag `verdict`. `claim=all` runs every
claim in order; `render_from=<section>/data` re-renders a section from its committed export alone.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.claims import Job, claim_ids, jobs, load_claim, shown_command
from wgan_repro.claims.plan import default_pilot
from wgan_repro.claims.plan import make as make_plan
from wgan_repro.config import ConfigError
from wgan_repro.runs import stopping
from wgan_repro.store import find_runs, mlflow_client, prepare_store, resolve_uri, set_terminated, system_tags

log = logging.getLogger("wgan_repro.reproduce")
register_app_configs()  # conf/<app>.yaml names its schema
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars of its own
REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    """The CPU model and core count (and the GPU, if any)."""
    import torch  # start-up: the CLI answers first

    from wgan_repro.bench import cpu_name  # start-up: loads torch, mlflow or the models only when called

    model = cpu_name()

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{model}, {os.cpu_count()} cores{gpu}"


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else ""


def rule_files(claim_id: str) -> list[str]:
    """What a claim's rule is: its YAML, its module, and the engine that decides every claim."""
    return [f"conf/claim/{claim_id}.yaml", f"wgan_repro/claims/{claim_id.lower()}.py", "wgan_repro/claims/engine.py",
            "wgan_repro/claims/decision.py"]


def rule_commit(claim_id: str) -> str:
    """The last commit that changed the claim's rule (rule_files; 'uncommitted' when one has changes since)."""
    paths = rule_files(claim_id)
    if git("status", "--porcelain", "--", *paths):
        return "uncommitted"
    return git("log", "-1", "--format=%H", "--", *paths) or "unknown"


def run_overrides(job: Job, cfg: DictConfig) -> list[str]:
    extra = [f"tracking.experiment={cfg.tracking.experiment}", "train.resume=auto", "train.progress=false"]
    if cfg.tracking.uri:
        extra.append(f"tracking.uri={cfg.tracking.uri}")
    return [*job.overrides, *extra]


def check(claim: DictConfig, budget: str, cfg: DictConfig) -> list[Job]:
    """The claim's rule (its thresholds against its module) and every run of the budget, composed and validated
    before any work starts."""
    from wgan_repro.claims.engine import thresholds  # start-up: loads torch, mlflow or the models only when called
    from wgan_repro.config import compose, validate  # start-up: loads torch, mlflow or the models only when called

    thresholds(claim.id, claim.rule)
    todo = jobs(claim, budget)
    for job in todo:
        try:
            validate(compose(run_overrides(job, cfg))[0])
        except ConfigError as exc:
            raise ConfigError(f"claim {claim.id}, budget {budget}, arm {job.arm}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - Hydra's own errors name the bad override
            raise ConfigError(f"claim {claim.id}, budget {budget}, arm {job.arm}: {exc}") from None
    return todo


_STOP: Any = None  # in a worker: the claim's stop event (init_worker)


def init_worker(stop: Any) -> None:
    """A worker ignores SIGINT and SIGTERM between runs (a run in progress handles them: stopping.py) and watches
    the claim's stop event: once set, the run in progress stops after its generator iteration as if signalled, and
    no queued run starts."""
    global _STOP
    _STOP = stop
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    threading.Thread(target=watch, args=(stop,), daemon=True).start()


def watch(stop: Any) -> None:
    stop.wait()
    while True:  # again and again: a run that was entering its loop when the event came still sees it
        stopping.request(signal.SIGTERM)
        time.sleep(0.5)


def run_job(overrides: list[str], out_dir: str, parent: tuple[str, str], tags: dict[str, str], threads: int
            ) -> tuple[str, str, str | None]:
    """One run in a worker process (one thread); tags it with its claim, budget and arm. (arm, status, reason)."""
    if _STOP is not None and _STOP.is_set():  # queued in the pool before the stop: never started
        return tags["arm"], "NOT STARTED", "the claim was stopped first; relaunching the same command runs it"
    import torch  # start-up: the CLI answers first

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(asctime)s %(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from wgan_repro.config import compose  # start-up: loads torch, mlflow or the models only when called
    from wgan_repro.runs.runner import run  # start-up: loads torch, mlflow or the models only when called
    from wgan_repro.runs.stopping import Stopped  # start-up: loads torch, mlflow or the models only when called

    cfg, choices = compose(overrides)
    try:
        result = run(cfg, choices, Path(out_dir), "python -m wgan_repro " + " ".join(overrides), parent)
    except Stopped as exc:  # checkpointed and KILLED: a relaunch continues it
        return tags["arm"], "KILLED", str(exc)
    except Exception as exc:  # noqa: BLE001 - the run is marked FAILED with the reason; the claim goes on
        return tags["arm"], "FAILED", f"{type(exc).__name__}: {exc}"
    client = mlflow_client(resolve_uri(cfg.tracking.uri))
    for run_id in result["run_id"] if isinstance(result["run_id"], list) else [result["run_id"]]:
        if run_id:
            for k, v in tags.items():
                client.set_tag(run_id, k, v)
    return tags["arm"], result["status"], result.get("reason")


def parent_run(claim: DictConfig, budget: str, cfg: DictConfig, command: str) -> tuple[str, str]:
    """The parent of this claim, budget and commit (reopened on a relaunch), or a new one."""

    uri = resolve_uri(cfg.tracking.uri)
    experiment_id = prepare_store(uri, cfg.tracking.experiment)
    commit = system_tags(None)["mlflow.source.git.commit"]
    tags = {"claim": claim.id, "budget": budget, "sweep_parent": "true", "mlflow.source.git.commit": commit}
    client = mlflow_client(uri)
    found = find_runs(uri, cfg.tracking.experiment, tags)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id, found[0].data.tags["sweep"]
    sweep = f"claim-{claim.id}-{budget}@{time.strftime('%Y%m%d-%H%M%S')}"
    run = client.create_run(experiment_id, run_name=sweep, tags={
        **system_tags(command), **tags, "sweep": sweep, "sweep_name": f"claim-{claim.id}-{budget}",
        "rule_commit": rule_commit(claim.id)})
    return run.info.run_id, sweep


class Progress:
    """One line for the whole reproduction after every run: claims done, runs done, elapsed, and the time left at the
    pace so far."""

    def __init__(self, claims: int, runs: int) -> None:
        self.claims, self.runs = claims, runs
        self.claims_done = self.runs_done = 0
        self.start = time.monotonic()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        left = ("done" if self.runs_done == self.runs else
                f"about {clock(elapsed / self.runs_done * (self.runs - self.runs_done))} left at the pace so far"
                if self.runs_done else "time left unknown until a run ends")
        return (f"reproduction: {self.claims_done}/{self.claims} claims, {self.runs_done}/{self.runs} runs, "
                f"{clock(elapsed)} elapsed, {left}")


def clock(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def run_claims(claims: list[DictConfig], budget: str, cfg: DictConfig, todo: dict[str, list[Job]], command: str,
               plans: dict[str, Any]) -> None:
    """Every job of every claim in one pool, `jobs` at a time, in claim order (so both cores stay busy across
    claims); each claim under its own parent, closed and rendered as soon as its last run ends."""
    from wgan_repro.runs.sweep import close_sweep  # start-up: loads torch, mlflow or the models only when called

    uri = resolve_uri(cfg.tracking.uri)
    workers = int(cfg.jobs or claims[0].budgets[budget].jobs)
    threads = max(1, (os.cpu_count() or 1) // workers)
    parents = {c.id: parent_run(c, budget, cfg, command) for c in claims}
    progress = Progress(len(claims), sum(len(todo[c.id]) for c in claims))
    for c in claims:
        log.info("claim %s, budget %s: %d runs, %d at a time (%d thread each), parent %s", c.id, budget,
                 len(todo[c.id]), workers, threads, parents[c.id][0])
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    with stopping.stop_on_signals(), cf.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                             initializer=init_worker, initargs=(stop,)) as pool:
        owner = {pool.submit(run_job, run_overrides(job, cfg),
                             str(REPO / "outputs" / "claims" / c.id / budget / f"{job.arm}-s{job.seed}"),
                             parents[c.id], {"claim": c.id, "budget": budget, "arm": job.arm}, threads): c
                 for c in claims for job in todo[c.id]}
        left = {c.id: len(todo[c.id]) for c in claims}
        closed: set[str] = set()
        unrendered: list[str] = []
        pending = set(owner)
        while pending:
            finished_now, pending = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            for future in finished_now:
                if future.cancelled():
                    continue
                claim = owner[future]
                arm, status, reason = future.result()
                left[claim.id] -= 1
                progress.runs_done += 1
                log.info("%s [%d/%d] %s: %s%s", claim.id, len(todo[claim.id]) - left[claim.id], len(todo[claim.id]),
                         arm, status, f" ({reason})" if reason else "")
                if left[claim.id] == 0 and not stopping.requested():
                    close_sweep(uri, cfg.tracking.experiment, parents[claim.id][0])
                    closed.add(claim.id)
                    try:
                        render_claim(claim, budget, cfg, command, parents[claim.id][0], plans.get(claim.id))
                    except (ValueError, FileNotFoundError) as exc:  # the other claims' runs go on; said at the end
                        log.error("claim %s: its section was not rendered: %s", claim.id, exc)
                        unrendered.append(f"claim {claim.id}: {exc}")
                    progress.claims_done += 1
                log.info("%s", progress.line())
            if stopping.requested() and not stop.is_set():  # the runs in progress stop cleanly; the rest never start
                stop.set()
                for future in pending:
                    future.cancel()
    if stopping.requested():
        error = stopping.stop(f"during claim{'s' if len(claims) > 1 else ''} {', '.join(c.id for c in claims)}",
                              "relaunch the same command to continue it")
        for c in claims:
            if c.id not in closed:
                set_terminated(uri, parents[c.id][0], "KILLED", {"status_reason": str(error)})
        raise error
    if unrendered:
        raise ValueError("; ".join(unrendered) + " (the runs are in the store: render_only=true renders again)")


def meta_of(data: Any, claim: DictConfig, budget: str, command: str) -> dict[str, Any]:
    """What the section states about its runs: count, commit, clean tree, wall time, machine, command."""
    import pandas as pd  # start-up: the CLI answers first

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
    found = re.search(r"every gate passing: (\d+)% with \d+ seeds; seeds needed for 80%: (\d+|more than 200)", text)
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


def render_claim(claim: DictConfig, budget: str, cfg: DictConfig, command: str, parent_id: str | None,
                 plan: Any = None) -> dict[str, Any]:
    from wgan_repro.claims import data as D  # start-up: loads torch, mlflow or the models only when called
    from wgan_repro.claims import section  # start-up: loads torch, mlflow or the models only when called
    from wgan_repro.claims.engine import judge  # start-up: loads torch, mlflow or the models only when called

    out_dir = section_dir(cfg, claim.id, budget)
    if cfg.render_from:
        folder = Path(cfg.render_from)
        data = D.load_export(folder)
        meta = json.loads((folder / "meta.json").read_text())
        meta["command"] = shown_command(meta["command"])  # exports older than this rule carried the store's path
    else:
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
    if data.runs.empty:
        raise ValueError(f"claim {claim.id}, budget {budget}: no runs in experiment {cfg.tracking.experiment}")
    pooled, notes = D.pooled(data, bool(cfg.report.allow_mixed))
    source = f"its export ({cfg.render_from})" if cfg.render_from else "MLflow"
    notes.append(f"section rendered from {source} by the code at commit {git('rev-parse', 'HEAD')[:10] or 'unknown'}")
    if D.binned(data):
        notes.append("this export's long curves are binned to 1,000 points (the first edition's exports), so a filter "
                     "width counted in iterations, and 'no filter', are approximated to whole bins")
    result = judge(claim.id, claim.rule, pooled)
    if meta.get("plan_power") is not None and meta["plan_power"] < 0.8:  # run under force=true
        result.underpowered(meta["plan_power"], meta.get("plan_seeds_needed"))
    record = section.render(claim, budget, data, result, meta, out_dir, [*notes, *result.notes])
    if data.sample_dir is not None and not cfg.render_from:  # the samples' download folder: exported, not needed
        shutil.rmtree(data.sample_dir, ignore_errors=True)
    (out_dir / "data" / "meta.json").write_text(json.dumps(meta, indent=1))
    if parent_id:
        client = mlflow_client(resolve_uri(cfg.tracking.uri))
        client.set_tag(parent_id, "verdict", result.headline)
        client.set_tag(parent_id, "robustness", result.robustness)
        client.set_tag(parent_id, "mlflow.note.content", f"**{claim.id} ({budget}): {result.headline}, "
                                                         f"{result.robustness}.** {result.reason()}")
        client.log_artifacts(parent_id, str(out_dir), "section")
    section.index(out_dir.parent)
    if section.sync_readme(out_dir.parent, REPO / "README.md"):
        log.info("README.md's summary of the reproduction follows %s", out_dir.parent / "README.md")
    log.info("%s (%s): %s, %s. %s\n  section: %s", claim.id, budget, result.headline.upper(), result.robustness,
             result.reason(), out_dir / "section.md")
    return record


def section_dir(cfg: DictConfig, claim_id: str, budget: str) -> Path:
    """<report.out_dir>/<ID> (default reports/claims-<budget>/<ID>); an out_dir already named for the claim is used
    as it is (no F7/F7)."""
    base = Path(cfg.report.out_dir or REPO / "reports" / f"claims-{budget}")
    return base if base.name == claim_id else base / claim_id


def checked_plan(claim: DictConfig, budget: str, cfg: DictConfig) -> Any:
    """The budget's plan; one whose primary rule has under 80% power at the smallest effect of interest (from the
    pilot) is refused before any run, unless force=true."""
    plan = make_plan(claim, budget, Path(cfg.pilot) if cfg.pilot else default_pilot(claim.id, REPO))
    if not plan.power >= 0.8 and not cfg.force:
        need = f"about {plan.seeds_needed} seeds needed" if plan.seeds_needed else "more than 200 seeds needed"
        power = "unknown (no pilot)" if plan.power != plan.power else f"{plan.power:.0%}"
        raise ConfigError(f"claim={claim.id} budget={budget}: power {power} at the smallest effect of interest "
                          f"({need}; plan=true prints the plan); force=true runs it anyway, and a result that misses "
                          "significance will read 'inconclusive (underpowered)'")
    return plan


@hydra.main(version_base="1.3", config_path="../conf", config_name="reproduce")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(asctime)s %(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command = "python -m wgan_repro.reproduce " + " ".join(sys.argv[1:])
    from hydra.core.global_hydra import GlobalHydra  # start-up: Hydra's internals only when composing

    GlobalHydra.instance().clear()  # each run composes its own config (config.compose)
    try:
        ids = claim_ids() if str(cfg.claim.id) == "all" else [str(cfg.claim.id)]
        claims = [load_claim(i) for i in ids]
        todo = {c.id: check(c, str(cfg.budget), cfg) for c in claims}  # every config checked before any work
        if cfg.plan:
            total = 0.0
            for claim in claims:
                pilot = Path(cfg.pilot) if cfg.pilot else default_pilot(claim.id, REPO)
                plan = make_plan(claim, str(cfg.budget), pilot)
                print(plan.text() + "\n")
                total += plan.wall_min if plan.wall_min == plan.wall_min else 0.0
            if len(claims) > 1:
                print(f"all {len(claims)} claims: about {total:.0f} min of wall time")
            return
        plans = {}
        if not (cfg.render_only or cfg.render_from or str(cfg.budget) == "smoke"):
            for claim in claims:  # every claim's power known (and refused when short) before any run
                plans[claim.id] = checked_plan(claim, str(cfg.budget), cfg)
        for claim in claims:
            if claim.id in plans:  # what the budget could decide, as printed before its runs
                folder = section_dir(cfg, claim.id, str(cfg.budget))
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "plan.txt").write_text(plans[claim.id].text() + "\n")
                (folder / "plan.json").write_text(json.dumps(plans[claim.id].numbers(), indent=1) + "\n")
        if cfg.render_only or cfg.render_from:
            for claim in claims:
                render_claim(claim, str(cfg.budget), cfg, command, None, plans.get(claim.id))
        else:
            run_claims(claims, str(cfg.budget), cfg, todo, command, plans)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except stopping.Stopped as exc:  # its runs checkpointed and KILLED, its parent KILLED
        print(f"stopped: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def preflight(cfg: DictConfig) -> None:
    """Before Hydra starts: the folders a command writes and the exports it reads."""
    if cfg.budget == "smoke" and cfg.report.out_dir and "reference" in Path(cfg.report.out_dir).parts:
        raise cli.BadInput(f"report.out_dir={cfg.report.out_dir}: budget=smoke checks the pipeline and gives no "
                           "verdict; allowed: any folder outside the reference reproduction (default "
                           "reports/claims-smoke)")
    cli.writable_folder("report.out_dir", cfg.report.out_dir or REPO / "reports" / f"claims-{cfg.budget}")
    for key in ("render_from", "pilot"):
        if cfg[key] and not Path(cfg[key], "runs.csv").is_file():
            raise cli.BadInput(f"{key}={cfg[key]}: no export there (no runs.csv); allowed: a section's data/ folder, "
                               "e.g. reports/reference/F5/data")
    if not (cfg.render_from or cfg.plan):
        (cli.existing_store if cfg.render_only else cli.store_folder)(cfg.tracking.uri)


def entry() -> None:
    cli.run("wgan_repro.reproduce", "reproduce", main, __doc__.split("\n\n")[0], preflight, groups=["claim"])


if __name__ == "__main__":
    entry()
