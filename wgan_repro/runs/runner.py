"""One run around the loop: validate, resume or skip, build (setup.py), track, train (train.py), finish.

`run(cfg, choices, out_dir)` validates the config, resolves `train.resume` and builds data, models and
optimisers before it opens a tracking run, so a rejected config leaves nothing behind. A run inside a sweep
joins the sweep's parent MLflow run as a child.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from wgan_repro.config import build, flat_params, validate
from wgan_repro.evaluate import metrics as M
from wgan_repro.host import Threads
from wgan_repro.members import ensemble_members
from wgan_repro.runs import ensemble as E
from wgan_repro.runs.checkpoint import Checkpointer, Resume, config_hash, find_resume
from wgan_repro.runs.setup import build_parts, seed_everything
from wgan_repro.runs.stopping import Stopped, stop_on_signals
from wgan_repro.runs.train import train
from wgan_repro.schema import COMPOSED
from wgan_repro.store import CONFIG_HASH, check_reachable, resolve_uri, set_terminated, system_tags
from wgan_repro.tracking import Tracker, start_tracker

log = logging.getLogger(__name__)

Parent = tuple[str, str]  # (the sweep's parent run id, its sweep tag)


def run_tags(cfg: DictConfig, choices: Mapping[str, str], command: str | None = None,
             parent: Parent | None = None) -> dict[str, str]:
    """Group choices, seed, config hash, experiment, sweep (and its parent run), MLflow's system tags, and the
    command that reproduces the run (shown as its description in the MLflow UI)."""
    tags = {g: str(choices.get(g)) for g in COMPOSED if choices.get(g) is not None}
    tags.update(seed=str(cfg.train.seed), experiment=str(cfg.experiment or ""),
                estimate=build(cfg.objective).estimate_key,  # the metric name of the objective's estimate
                sweep=str(cfg.sweep or ""), **system_tags(command))
    tags[CONFIG_HASH] = config_hash(cfg)
    tags["git_commit"] = tags["mlflow.source.git.commit"]
    if parent:
        tags.update({"mlflow.parentRunId": parent[0], "sweep": parent[1], "sweep_name": parent[1].split("@")[0]})
    return {k: v for k, v in tags.items() if v not in ("", "None")}  # no empty tags on the run page


def open_tracker(cfg: DictConfig, choices: Mapping[str, str], command: str | None = None,
                 parent: Parent | None = None, resume: Resume = Resume()):
    """The MLflow run (or a null tracker) named by `default_name` unless tracking.run_name is set; the resumed run
    when there is one; an earlier run that left no checkpoint is closed as superseded."""
    tags = {**run_tags(cfg, choices, command, parent), "threads": str(torch.get_num_threads())}
    tracker = start_tracker(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.run_name or default_name(tags),
                            tags, cfg.tracking.enabled, run_id=resume.run_id,
                            resumed_at=resume.ckpt["gen_iter"] if resume.ckpt else None)
    if resume.supersede:
        set_terminated(resolve_uri(cfg.tracking.uri), resume.supersede, "KILLED", {"superseded_by": tracker.run_id})
    return tracker


def default_name(tags: Mapping[str, str]) -> str:
    """<objective>-<arch>-<data>-s<seed>-<config>, or <experiment>-s<seed>-<config> for a study; <config> is the
    first 6 characters of the config hash, so that runs whose configs differ (a learning rate) never share a name,
    and a resumed or extended run (train.iterations) keeps its own."""
    study = tags.get("study")
    what = (tags.get("experiment") or study) if study else f"{tags['objective']}-{tags['arch']}-{tags['data']}"
    return f"{what}-s{tags['seed']}-{tags[CONFIG_HASH][:6]}"


@contextlib.contextmanager
def marking_failures(tracker, where: Callable[[], str]) -> Iterator[None]:
    """A stop (SIGTERM, Ctrl-C: checkpointed first) or a second Ctrl-C marks the run KILLED with the reason, an
    exception marks it FAILED with the error; what was logged stays."""
    try:
        yield
    except Stopped as exc:
        tracker.finish("KILLED", str(exc))
        raise
    except KeyboardInterrupt:
        tracker.finish("KILLED", f"interrupted {where()} (a second signal: no checkpoint of this iteration)")
        raise
    except Exception as exc:
        tracker.finish("FAILED", f"{type(exc).__name__}: {exc}")
        raise


def finished(tracker: Tracker, status: str, reason: str | None, gen_iter: int, metrics: Mapping[str, float]
             ) -> dict[str, Any]:
    """Close the run, point to it in the MLflow UI, and say how it ended. A categorical measure reads better as a
    word than as a line: the final dominant mode is also a tag (the series stays, claims read it)."""
    mode = metrics.get(M.DOMINANT_MODE.key)
    if isinstance(mode, (int, float)) and math.isfinite(mode):
        tracker.set_tags({"dominant_mode": str(int(mode))})
    tracker.finish(status, reason)
    hint = tracker.ui_hint()
    if hint:
        print(hint, file=sys.stderr)
    return {"run_id": tracker.run_id, "status": status, "reason": reason, "gen_iter": gen_iter,
            "metrics": dict(metrics)}


def run_study(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None,
              parent: Parent | None = None, resume: Resume = Resume()) -> dict[str, Any]:
    """A study that trains no generator (Figures 1 and 3): one tracked run, its curves and figure."""
    seed_everything(cfg.train.seed)
    study = build(cfg.study)
    tracker = open_tracker(cfg, choices, command, parent, Resume(supersede=resume.supersede))
    with marking_failures(tracker, lambda: "during the study"):
        tracker.log_params(flat_params(cfg))
        metrics = study(cfg, tracker, out_dir)
    return finished(tracker, "FINISHED", None, 0, metrics)


def run(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None,
        parent: Parent | None = None) -> dict[str, Any]:
    """Validate, resume or skip, build, then train one run under tracking. Returns the run id, status (SKIPPED when
    train.resume=auto finds that its run already ended) and final metrics. SIGTERM and SIGINT stop it after the
    generator iteration in progress (stopping.py): KILLED, checkpointed, and `Stopped` raised."""
    with stop_on_signals():
        return run_one(cfg, choices, out_dir, command, parent)


def run_one(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None,
            parent: Parent | None = None) -> dict[str, Any]:
    validate(cfg)  # raises ConfigError before anything is created
    if cfg.tracking.enabled:
        check_reachable(resolve_uri(cfg.tracking.uri))  # an unreachable server fails here, in seconds
    resume = find_resume(cfg, parent[0] if parent else None)
    if resume.skip:
        log.info("skipping: %s", resume.skip)
        return {"run_id": resume.run_id, "status": "SKIPPED", "reason": resume.skip, "gen_iter": None,
                "metrics": {}}
    threads = Threads(cfg.train.threads, torch.set_num_threads)  # said once the data and models are prepared
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.study is not None:
        threads.say()
        return run_study(cfg, choices, out_dir, command, parent, resume)
    if len(ensemble_members(cfg)) > 1:
        return run_ensemble(cfg, choices, out_dir, command, parent, threads)
    state, data, objective, constraint, evaluator = build_parts(cfg)
    threads.say()
    tracker = open_tracker(cfg, choices, command, parent, resume)
    checkpoint = Checkpointer(state, cfg, data, tracker, out_dir)
    with marking_failures(tracker, lambda: f"at generator iteration {state.gen_iter}"):
        if resume.ckpt:
            state.load_state_dict(resume.ckpt)
            if resume.ckpt["data"] is not None:
                data.load_state_dict(resume.ckpt["data"])
            log.info("resuming %s at generator iteration %d", tracker.run_id or "(untracked run)", state.gen_iter)
        else:
            tracker.log_params({**flat_params(cfg), **evaluator.params()})
            tracker.set_tags(evaluator.tags())
            (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
            tracker.log_artifact(out_dir / "config.yaml")
        failure, metrics = train(cfg, state, data, objective, constraint, evaluator, tracker, out_dir, checkpoint,
                                 threads)
        evaluator.finish(state.generator, out_dir, tracker)
        if failure:  # the last good checkpoint stays; a diverged state is not worth continuing
            log.error("run failed: %s", failure)
        else:
            checkpoint()
            tracker.log_generator(state.generator, cfg.arch.nz)
    return finished(tracker, "FAILED" if failure else "FINISHED", failure, state.gen_iter, metrics)


def run_ensemble(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None,
                 parent: Parent | None = None, threads: Threads | None = None) -> dict[str, Any]:
    """train.ensemble=K: K runs trained as one (ensemble.py), each its own MLflow run with the params, tags and
    description of the single run of its seed (and learning rate), plus tags ensemble=<members> and
    ensemble_member=k. A member that diverges fails alone."""
    state, data, objective, constraint, evaluators, members = E.build_ensemble(cfg)
    if threads is not None:
        threads.say()
    trackers = [open_tracker(member, choices, E.member_command(command, cfg, k), parent)
                for k, member in enumerate(members)]
    tracker = E.EnsembleTracker(trackers)
    with marking_failures(tracker, lambda: f"at generator iteration {state.gen_iter}"):
        for k, (member, member_tracker, evaluator) in enumerate(zip(members, trackers, evaluators)):
            member_tracker.set_tags({"ensemble": str(len(members)), "ensemble_member": str(k),
                                     **evaluator.tags()})
            member_tracker.log_params({**flat_params(member), **evaluator.params()})
            folder = E.member_dir(out_dir, k)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.yaml").write_text(OmegaConf.to_yaml(member))
            member_tracker.log_artifact(folder / "config.yaml")
        checkpoint = E.EnsembleCheckpointer(state, data, members, tracker, out_dir)
        evaluator = E.EnsembleEvaluator(evaluators, tracker)
        per_run = OmegaConf.merge(cfg, {"train": {"log_step_cosine": False}})  # the step cosine is a single run's
        _, metrics = train(per_run, state, data, objective, constraint, evaluator, tracker, out_dir, checkpoint,
                           threads)
        evaluator.finish(state.generator, out_dir, tracker)
        checkpoint()  # the members still running (all failed: none)
        for k, member_tracker in tracker.alive():
            member_tracker.log_generator(state.generator.member(k), cfg.arch.nz)
    results = []
    for k, member_tracker in enumerate(trackers):
        own = {key: values[k] for key, values in metrics.items()}
        if k in tracker.failed:  # already finished FAILED when its divergence was seen
            results.append({"run_id": member_tracker.run_id, "status": "FAILED", "reason": tracker.failed[k],
                            "gen_iter": state.gen_iter, "metrics": own})
        else:
            results.append(finished(member_tracker, "FINISHED", None, state.gen_iter, own))
    reasons = "; ".join(f"member {k}: {why}" for k, why in sorted(tracker.failed.items()))
    if reasons:
        log.error("ensemble: %d of %d members failed: %s", len(tracker.failed), len(trackers), reasons)
    return {"run_id": [r["run_id"] for r in results], "status": "FAILED" if tracker.failed else "FINISHED",
            "reason": reasons or None, "gen_iter": state.gen_iter, "metrics": metrics, "members": results}
