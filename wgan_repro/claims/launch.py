"""A claim's runs: every (arm, seed) of its budget composed and validated before any work, refused when its
known-answer controls do not give their words (its design cannot decide the claim), when its seeds are in its seed
ledger (data already seen; replicate=<commit> allows them) or when the plan gives it under 80% power (unless
force=true), then run in one pool (worker processes here, or SLURM jobs under launcher=slurm: cluster.py) under
one parent MLflow run per claim (reopened on a
relaunch: what finished is skipped, what was killed continues), in rounds, one per look of a sequential budget
(`Rounds`: each round's seeds recorded in the ledger as it starts), each claim rendered (render.py) as soon as it
stops: a look decides, or its last round ends. SIGTERM or Ctrl-C stops the runs in progress after their generator
iteration, checkpointed, and starts no queued one.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from submitit.core.utils import UncompletedJobError

from wgan_repro import cluster
from wgan_repro.claims import EXPLORATORY, REPO, Job, budget_arms, jobs
from wgan_repro.claims import data as D
from wgan_repro.claims import ledger as L
from wgan_repro.claims.engine import Power, check_controls, controls_refusal, design_of, judge_sequential, thresholds
from wgan_repro.claims.plan import Plan, default_pilot
from wgan_repro.claims.plan import make as make_plan
from wgan_repro.claims.power import TARGET
from wgan_repro.claims.render import render_claim, rule_commit, section_dir
from wgan_repro.config import ConfigError, compose, validate
from wgan_repro.runs import stopping
from wgan_repro.runs.runner import run
from wgan_repro.runs.sweep import close_sweep
from wgan_repro.store import find_runs, mlflow_client, prepare_store, resolve_uri, set_terminated, system_tags

log = logging.getLogger("wgan_repro.reproduce")  # the command's lines, whichever module says them


def run_overrides(job: Job, cfg: DictConfig) -> list[str]:
    extra = [f"tracking.experiment={cfg.tracking.experiment}", "train.resume=auto", "train.progress=false"]
    if cfg.tracking.uri:
        extra.append(f"tracking.uri={cfg.tracking.uri}")
    return [*job.overrides, *extra]


def check(claim: DictConfig, budget: str, cfg: DictConfig) -> list[Job]:
    """The claim's rule (its thresholds against its module) and every run of the budget, composed and validated
    before any work starts."""
    thresholds(claim.id, claim.rule)
    todo = jobs(claim, budget)
    composed: dict[str, DictConfig] = {}  # an arm's runs differ only in train.seed: one composition each (0.2 s)
    for job in todo:
        try:
            if job.arm not in composed:
                composed[job.arm] = compose(run_overrides(job, cfg))[0]
            run_cfg = composed[job.arm].copy()
            run_cfg.train.seed = job.seed
            validate(run_cfg)
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
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(asctime)s %(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cfg, choices = compose(overrides)
    if cfg.train.threads is None:  # the pool's share of the CPUs, not what happens to be busy as the job starts
        cfg.train.threads = threads
    try:
        result = run(cfg, choices, Path(out_dir), "python -m wgan_repro " + " ".join(overrides), parent)
    except stopping.Stopped as exc:  # checkpointed and KILLED: a relaunch continues it
        return tags["arm"], "KILLED", str(exc)
    except UncompletedJobError as exc:  # a SLURM job out of time once too often (max_num_timeout): checkpointed
        return tags["arm"], "KILLED", f"{exc} The run is checkpointed: relaunching the command continues it"
    except Exception as exc:  # noqa: BLE001 - the run is marked FAILED with the reason; the claim goes on
        return tags["arm"], "FAILED", f"{type(exc).__name__}: {exc}"
    client = mlflow_client(resolve_uri(cfg.tracking.uri))
    for run_id in result["run_id"] if isinstance(result["run_id"], list) else [result["run_id"]]:
        if run_id:
            for k, v in tags.items():
                client.set_tag(run_id, k, v)
    return tags["arm"], result["status"], result.get("reason")


class LocalPool(cf.ProcessPoolExecutor):
    """reproduce's default pool: `workers` spawned processes on this machine, each ignoring signals between runs and
    watching the stop event (init_worker)."""

    def __init__(self, workers: int, stop: Any) -> None:
        super().__init__(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                         initializer=init_worker, initargs=(stop,))
        self.stop_event = stop

    def submit_all(self, fn: Any, calls: list[tuple[Any, ...]], arm_of: Any) -> list[cf.Future]:
        return [self.submit(fn, *args) for args in calls]

    def stop(self) -> None:
        self.stop_event.set()  # the runs in progress stop after their generator iteration; queued ones never start


def make_pool(slurm: dict[str, Any] | None, workers: int, command_time: str) -> LocalPool | Any:
    """The pool a launch runs its claims' runs in: the local processes, or SLURM jobs with these keys (launcher=slurm:
    cluster.py), its submitit folder fresh for this launch."""
    if slurm is not None:
        return cluster.SlurmPool(slurm, REPO / "outputs" / "claims" / ".submitit" / command_time)
    return LocalPool(workers, multiprocessing.get_context("spawn").Event())


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


class ClaimsProgress:
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


class Rounds:
    """A claim's runs in rounds, one per look of its budget (a fixed design: one round): round k runs each arm's seeds
    between look k-1's count and look k's. After each round the claim is judged at the looks whose rounds have
    ended (engine.judge_sequential); a definite word, or the cap, ends it."""

    def __init__(self, claim: DictConfig, budget: str, todo: list[Job]) -> None:
        self.claim, self.budget = claim, budget
        self.arms = budget_arms(claim, budget)
        self.design = design_of(claim, budget)
        self.look = 0  # the round in progress
        position = {(arm, seed): i for arm, seeds in self.arms.items() for i, seed in enumerate(seeds)}
        bounds = [0, *self.design.looks]
        self.rounds = [[j for j in todo if bounds[k] <= position[(j.arm, j.seed)] < bounds[k + 1]]
                       for k in range(len(self.design.looks))]
        self.rounds[-1] += [j for j in todo if position[(j.arm, j.seed)] >= bounds[-1]]  # none: looks end at seeds

    @property
    def sequential(self) -> bool:
        return len(self.design.looks) > 1

    def left_to_cap(self) -> int:
        return sum(len(r) for r in self.rounds[self.look + 1:])

    def decided(self, cfg: DictConfig, parent: str) -> str | None:
        """After a round: the word that stops the claim (None: run the next round). A look reads the parent's runs
        from the store, as the section will."""
        if self.look == len(self.rounds) - 1:
            return "cap"
        uri = resolve_uri(cfg.tracking.uri)
        try:  # the runs the section will pool, as it pools them
            data = D.from_mlflow(uri, cfg.tracking.experiment, self.claim.id, self.budget, self.claim.curves,
                                 self.claim.params, parent, samples=False)
            pooled, _ = D.pooled(data, bool(cfg.report.allow_mixed))
            result, _ = judge_sequential(self.claim.id, self.claim.rule, pooled, self.arms, self.design)
        except Exception as exc:  # noqa: BLE001 - the claim stops here; its render says why, the others go on
            log.error("claim %s: its look after round %d failed (%s: %s); the claim stops", self.claim.id,
                      self.look + 1, type(exc).__name__, exc)
            return "error"
        return result.word if result is not None and result.word in ("reproduced", "not reproduced") else None


def run_claims(claims: list[DictConfig], budget: str, cfg: DictConfig, todo: dict[str, list[Job]], command: str,
               plans: dict[str, Any]) -> None:
    """Every claim's rounds in one pool, `jobs` at a time: each claim's first round in claim order, and each next
    round as soon as the claim's look after its last one decides nothing (so both cores stay busy across claims, and
    a claim that stops frees its slots at once); each claim under its own parent, closed and rendered as soon as it
    stops."""
    uri = resolve_uri(cfg.tracking.uri)
    workers = int(cfg.jobs or claims[0].budgets[budget].jobs)
    slurm = cluster.settings(cfg.slurm) if str(cfg.launcher) == "slurm" else None
    threads = int(slurm["cpus_per_task"] or 1) if slurm else max(1, (os.cpu_count() or 1) // workers)  # SLURM's CPUs
    parents = {c.id: parent_run(c, budget, cfg, command) for c in claims}
    rounds = {c.id: Rounds(c, budget, todo[c.id]) for c in claims}
    progress = ClaimsProgress(len(claims), sum(len(todo[c.id]) for c in claims))
    for c in claims:
        r = rounds[c.id]
        log.info("claim %s, budget %s: %d runs%s, %d at a time (%d thread each), parent %s", c.id, budget,
                 len(todo[c.id]), f" to the cap, in {len(r.rounds)} rounds (looks at {list(r.design.looks)} seeds "
                 "per arm)" if r.sequential else "", workers, threads, parents[c.id][0])
    stopped = False
    with stopping.stop_on_signals(), make_pool(slurm, workers, time.strftime("%Y%m%d-%H%M%S")) as pool:
        owner: dict[cf.Future, DictConfig] = {}

        def submit(claim: DictConfig) -> None:
            record_seeds(claim, budget, cfg, parents[claim.id][0], rounds[claim.id].rounds[rounds[claim.id].look])
            calls = [(run_overrides(job, cfg),
                      str(REPO / "outputs" / "claims" / claim.id / budget / f"{job.arm}-s{job.seed}"),
                      parents[claim.id], {"claim": claim.id, "budget": budget, "arm": job.arm}, threads)
                     for job in rounds[claim.id].rounds[rounds[claim.id].look]]
            for future in pool.submit_all(run_job, calls, lambda call: call[3]["arm"]):
                owner[future] = claim

        for c in claims:
            submit(c)
        left = {c.id: len(rounds[c.id].rounds[0]) for c in claims}
        closed: set[str] = set()
        unrendered: list[str] = []
        pending = set(owner)
        while pending:
            finished_now, pending = cf.wait(pending, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            for future in finished_now:
                if future.cancelled():
                    continue
                claim = owner[future]
                r = rounds[claim.id]
                arm, status, reason = future.result()
                left[claim.id] -= 1
                progress.runs_done += 1
                where = f" look {r.look + 1}/{len(r.rounds)}," if r.sequential else ""
                log.info("%s%s [%d/%d] %s: %s%s", claim.id, where, len(r.rounds[r.look]) - left[claim.id],
                         len(r.rounds[r.look]), arm, status, f" ({reason})" if reason else "")
                if left[claim.id] or stopping.requested():
                    log.info("%s", progress.line())
                    continue
                word = r.decided(cfg, parents[claim.id][0]) if r.sequential else "cap"
                if word is None:  # the look decided nothing: the next round
                    r.look += 1
                    left[claim.id] = len(r.rounds[r.look])
                    submit(claim)
                    pending |= {f for f, c in owner.items() if c is claim and not f.done()}
                    log.info("%s: look %d decided nothing; round %d of %d, %d runs left to the cap", claim.id, r.look,
                             r.look + 1, len(r.rounds), r.left_to_cap() + left[claim.id])
                    continue
                progress.runs -= r.left_to_cap()  # the rounds it will not run
                if r.sequential:
                    log.info("%s: stopped at look %d of %d (%s)", claim.id, r.look + 1, len(r.rounds), word)
                close_sweep(uri, cfg.tracking.experiment, parents[claim.id][0])
                closed.add(claim.id)
                try:
                    render_claim(claim, budget, cfg, command, parents[claim.id][0], plans.get(claim.id))
                except (ValueError, FileNotFoundError) as exc:  # the other claims' runs go on; said at the end
                    log.error("claim %s: its section was not rendered: %s", claim.id, exc)
                    unrendered.append(f"claim {claim.id}: {exc}")
                progress.claims_done += 1
                log.info("%s", progress.line())
            if stopping.requested() and not stopped:  # the runs in progress stop cleanly; the rest never start
                stopped = True
                pool.stop()
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


def plan_of(claim: DictConfig, budget: str, cfg: DictConfig) -> Plan:
    """The budget's plan from the pilot (`pilot=`, by default the claim's committed export)."""
    return make_plan(claim, budget, Path(cfg.pilot) if cfg.pilot else default_pilot(claim.id, REPO))


def checked_plan(claim: DictConfig, budget: str, cfg: DictConfig) -> Plan:
    """The budget's plan; one whose primary rule has under 80% power at the smallest effect of interest (from the
    pilot) is refused before any run, unless force=true."""
    plan = plan_of(claim, budget, cfg)
    if not plan.power >= TARGET and not cfg.force:
        need = Power(plan.power, plan.seeds_needed).need()
        power = "unknown (no pilot, or one without the measure)" if plan.power != plan.power else f"{plan.power:.0%}"
        raise ConfigError(f"claim={claim.id} budget={budget}: power {power} at the smallest effect of interest "
                          f"({need}; plan=true prints the plan); force=true runs it anyway, and a result that misses "
                          "significance will read 'inconclusive (underpowered)'")
    return plan




def checked_controls(claim: DictConfig, budget: str) -> None:
    """A confirmatory budget whose known-answer controls do not give their words is refused before any run: its
    design cannot decide the claim (a smoke or pilot budget decides nothing and is not checked)."""
    if budget in EXPLORATORY:
        return
    checked = check_controls(claim.id, claim.rule, budget_arms(claim, budget), design_of(claim, budget))
    why = controls_refusal(claim.id, checked)
    if why:
        raise ConfigError(f"claim={claim.id} budget={budget}: {why}")


def ledger_dir(cfg: DictConfig) -> Path:
    return Path(cfg.ledger) if cfg.ledger else L.LEDGER_DIR


def checked_seeds(claim: DictConfig, budget: str, cfg: DictConfig) -> None:
    """Seeds the claim's ledger holds are refused for a confirmatory budget (unless replicate=<commit>), except a
    relaunch's own (the same parent: what it started it continues)."""
    parent = existing_parent(claim, budget, cfg)
    why = L.refusal(L.load(claim.id, ledger_dir(cfg)), budget, budget_arms(claim, budget), cfg.replicate, parent)
    if why:
        raise ConfigError(why)


def existing_parent(claim: DictConfig, budget: str, cfg: DictConfig) -> str:
    """The parent run a relaunch of this claim, budget and commit would reopen ('' when there is none or no store)."""
    uri = resolve_uri(cfg.tracking.uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return ""  # no store yet: nothing to reopen, and nothing created by looking
    commit = system_tags(None)["mlflow.source.git.commit"]
    found = find_runs(uri, cfg.tracking.experiment, {"claim": claim.id, "budget": budget, "sweep_parent": "true",
                                                     "mlflow.source.git.commit": commit})
    return found[0].info.run_id if found else ""


def record_seeds(claim: DictConfig, budget: str, cfg: DictConfig, parent: str, round_jobs: list[Job]) -> None:
    """The seeds of a confirmatory launch's round, into the claim's ledger (one entry per parent), before its runs
    start: a run started is data seen, whether or not it ends."""
    if budget not in L.CONFIRMATORY or not round_jobs:
        return
    L.record(L.load(claim.id, ledger_dir(cfg)), L.Entry(
        L.by_arm((j.arm, j.seed) for j in round_jobs),
        f"MLflow experiment {cfg.tracking.experiment}, parent run {parent}",
        system_tags(None)["mlflow.source.git.commit"][:10], budget,
        f"replication of {cfg.replicate}" if cfg.replicate else "confirmatory runs", parent), ledger_dir(cfg))


def reproduce(claims: list[DictConfig], budget: str, cfg: DictConfig, todo: dict[str, list[Job]], command: str) -> None:
    """Every claim's seeds, controls and power checked (and refused when short) before any run, the plans written
    beside the sections (what the budget could decide, as printed before its runs), then the runs and their
    sections."""
    for c in claims:
        checked_seeds(c, budget, cfg)
        checked_controls(c, budget)
    plans = {} if budget in EXPLORATORY else {c.id: checked_plan(c, budget, cfg) for c in claims}
    for claim_id, plan in plans.items():
        folder = section_dir(cfg, claim_id, budget)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plan.txt").write_text(plan.text() + "\n")
        (folder / "plan.json").write_text(json.dumps(plan.numbers(), indent=1) + "\n")
    run_claims(claims, budget, cfg, todo, command, plans)


def plans_text(claims: list[DictConfig], budget: str, cfg: DictConfig) -> str:
    """What `plan=true` prints: each claim's plan, and the total wall time of several."""
    plans = [plan_of(claim, budget, cfg) for claim in claims]
    for claim, plan in zip(claims, plans):
        controls = controls_lines(claim, budget) if budget not in EXPLORATORY else []
        plan.lines += controls + seeds_lines(claim, budget, cfg)
    text = "\n\n".join(plan.text() for plan in plans) + "\n"
    if len(plans) > 1:
        total = sum(p.wall_min for p in plans if p.wall_min == p.wall_min)
        text += f"\nall {len(plans)} claims: about {total:.0f} min of wall time at their caps"
        sequential = [p for p in plans if p.cap_runs]
        if sequential:
            expected = sum(p.expected_runs for p in sequential if p.expected_runs == p.expected_runs)
            wall = sum(p.expected_wall for p in sequential if p.expected_wall == p.expected_wall)
            caps = sum(p.cap_runs for p in sequential)
            text += (f"\n{len(sequential)} sequential claims at their pilots' estimates: {expected:.0f} runs expected "
                     f"of {caps} at their caps ({1 - expected / caps:.0%} fewer), about {wall:.0f} min")
            compared = [p for p in sequential if p.fixed_runs and p.expected_runs == p.expected_runs]
            if compared:
                seq = sum(p.expected_runs for p in compared)
                fixed = sum(p.fixed_runs for p in compared)
                text += (f"\nagainst fixed designs of the same power ({len(compared)} claims whose power the pilot "
                         f"gives): {seq:.0f} runs expected against {fixed} ({1 - seq / fixed:.0%} fewer)")
    return text


def controls_lines(claim: DictConfig, budget: str) -> list[str]:
    """The plan's lines on the claim's known-answer controls at the budget's arms and seeds."""
    checked = check_controls(claim.id, claim.rule, budget_arms(claim, budget), design_of(claim, budget))
    why = controls_refusal(claim.id, checked)
    return ["known-answer controls (the whole decision at this budget's arms and seeds):",
            *[f"  - {c.line()}" for c in checked],
            f"  => {'REFUSED: ' + why if why else 'the design can give each word'}"]


def seeds_lines(claim: DictConfig, budget: str, cfg: DictConfig) -> list[str]:
    """The plan's lines on the budget's seeds against the claim's seed ledger."""
    arms = budget_arms(claim, budget)
    seeds = sorted({s for ss in arms.values() for s in ss})
    ledger = L.load(claim.id, ledger_dir(cfg))
    why = L.refusal(ledger, budget, arms, cfg.replicate, existing_parent(claim, budget, cfg))
    seen = sorted(ledger.seen())
    return [f"seeds: {L.span(seeds)}; the seed ledger ({L.path(claim.id, ledger_dir(cfg)).name}) holds "
            f"{L.span(seen) if seen else 'none'}" + (f" => REFUSED: {why}" if why else
                                                     (f" => a replication of {cfg.replicate}" if cfg.replicate
                                                      else " => unseen"))]
