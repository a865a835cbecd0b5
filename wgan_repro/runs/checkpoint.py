"""Checkpoints and resuming: what a run saves to continue, and which run `train.resume` continues.

A checkpoint holds the networks, optimisers, generator-iteration counter, every RNG, the data order, the
resolved config and the MLflow run id; it is written atomically (temporary file, then rename), so a kill at any
moment leaves the previous one intact. `train.resume=<path>` continues that checkpoint. `train.resume=auto`
finds the run of the same config in the store by its `config_hash` tag (the resolved config minus the keys that
may differ on resume) and skips it when it ended (FINISHED, or diverged: rerunning would diverge again),
continues it from its last checkpoint otherwise, or starts it when there is none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from wgan_repro.config import ConfigError, flat_params
from wgan_repro.store import (
    CONFIG_HASH,
    HEARTBEAT,
    HEARTBEAT_OWNER,
    LEGACY_TAGS,
    download_artifact,
    find_runs,
    resolve_uri,
    tag,
)

log = logging.getLogger(__name__)

# Keys that may differ between a checkpoint's config and the one that continues it.
RESUMABLE_CHANGES = frozenset({"train.iterations", "train.resume", "train.progress", "train.device", "train.threads",
                               "train.checkpoint_every", "train.heartbeat_stale", "train.take_over"})
CHECKPOINT = "checkpoint.pt"  # its name in the run's output folder, and under the run's `checkpoints` artifacts
UNDER_SUBMITIT = "SUBMITIT_EXECUTOR"  # set by submitit in its jobs: a requeued job must continue, not restart


@dataclass
class TrainState:
    """Everything a run needs to continue: networks, optimisers, the generator-iteration counter."""

    generator: nn.Module
    critic: nn.Module
    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    gen_iter: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "critic": self.critic.state_dict(),
                "opt_generator": self.opt_generator.state_dict(), "opt_critic": self.opt_critic.state_dict(),
                "gen_iter": self.gen_iter, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                                   "python": random.getstate(),
                                                   "cuda": torch.cuda.get_rng_state_all()}}

    def load_state_dict(self, ckpt: Mapping[str, Any]) -> None:
        for name in ("generator", "critic", "opt_generator", "opt_critic"):
            getattr(self, name).load_state_dict(ckpt[name])
        self.gen_iter = ckpt["gen_iter"]
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def save(self, path: Path, cfg: DictConfig, run_id: str | None, data: Any) -> None:
        """Write the state with the resolved config, the tracking run and the data order beside it, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        extra = {"config": OmegaConf.to_yaml(cfg), "run_id": run_id,
                 "data": data.state_dict() if hasattr(data, "state_dict") else None}
        torch.save({**self.state_dict(), **extra}, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint


def config_hash(cfg: DictConfig) -> str:
    """What makes two runs the same run: the resolved config minus RESUMABLE_CHANGES (tag `config_hash`)."""
    params = {k: str(v) for k, v in flat_params(cfg).items() if k not in RESUMABLE_CHANGES}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def load_checkpoint(path: Path, cfg: DictConfig) -> dict[str, Any]:
    """The checkpoint at `path`, refused unless written by the same command (only RESUMABLE_CHANGES may differ)."""
    if not path.is_file():
        raise ConfigError(f"train.resume={path}: no such checkpoint file (each run writes {CHECKPOINT} into its "
                          "output folder, outputs/<date>/<time>/; or pass train.resume=auto)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    saved, now = flat_params(OmegaConf.create(ckpt["config"])), flat_params(cfg)
    # a key the checkpoint does not have was added to the schema after it was written: it cannot disagree; where the
    # store is (a store folder moved or copied) says nothing about the run
    differ = sorted(k for k in saved.keys() | now.keys()
                    if k not in RESUMABLE_CHANGES and k != "tracking.uri" and k in saved
                    and str(saved.get(k)) != str(now.get(k)))
    if differ:
        raise ConfigError(f"train.resume={path}: the checkpoint was written with other settings; rerun its command. "
                          "Differing: " + ", ".join(f"{k} ({saved.get(k)} there, {now.get(k)} here)" for k in differ))
    return ckpt


@dataclass
class Resume:
    """What `train.resume` asks of this run."""

    ckpt: dict[str, Any] | None = None  # state to continue from
    run_id: str | None = None  # MLflow run to continue
    skip: str | None = None  # why not to run at all (its run already ended)
    supersede: str | None = None  # an earlier run of this config that left no checkpoint: closed, replaced


def resume_mode(cfg: DictConfig) -> str | None:
    """train.resume, or `auto` in a submitit job (a preempted, requeued job continues where it stopped)."""
    if cfg.train.resume is None and os.environ.get(UNDER_SUBMITIT) and cfg.tracking.enabled:
        return "auto"
    return cfg.train.resume


def heartbeat_age(tags: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds since a run's last heartbeat (tag `heartbeat`); None when it has none, or when its owner was a
    process of this machine that is gone (killed: nothing to wait for)."""

    beat, owner = tag(tags, HEARTBEAT), tag(tags, HEARTBEAT_OWNER, "")
    if beat is None:
        return None
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return None
    return (time.time() if now is None else now) - float(beat)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_resume(cfg: DictConfig, parent_id: str | None = None) -> Resume:
    """Resolve train.resume: nothing, a checkpoint path, or `auto` (search the store; see the module doc)."""
    mode = resume_mode(cfg)
    if not mode:
        return Resume()
    if mode != "auto":
        ckpt = load_checkpoint(Path(mode), cfg)
        return Resume(ckpt, ckpt["run_id"])

    uri = resolve_uri(cfg.tracking.uri)
    parent = {"mlflow.parentRunId": parent_id} if parent_id else {}
    found_runs = [*find_runs(uri, cfg.tracking.experiment, {CONFIG_HASH: config_hash(cfg), **parent}),
                  *find_runs(uri, cfg.tracking.experiment, {LEGACY_TAGS[CONFIG_HASH]: config_hash(cfg), **parent})]
    runs = sorted([r for r in found_runs if "superseded_by" not in r.data.tags
                   and (parent_id or "mlflow.parentRunId" not in r.data.tags)], key=lambda r: -r.info.start_time)
    if not runs:
        say_nearest(uri, cfg, parent)
        return Resume()
    found = runs[0]
    run_id, status, reason = found.info.run_id, found.info.status, found.data.tags.get("status_reason", "")
    if status == "FINISHED" or (status == "FAILED" and reason.startswith("diverged")):
        return Resume(run_id=run_id, skip=f"run {run_id} of this config already ended {status}"
                                          + (f" ({reason})" if reason else ""))
    age = heartbeat_age(found.data.tags)
    if status == "RUNNING" and age is not None and age < cfg.train.heartbeat_stale and not cfg.train.take_over:
        return Resume(run_id=run_id, skip=f"run {run_id} of this config is RUNNING elsewhere (heartbeat {age:.0f} s "
                                          f"ago < train.heartbeat_stale={cfg.train.heartbeat_stale:g} s); "
                                          "train.take_over=true takes it over")
    path = Path(found.data.tags.get("checkpoint_path", ""))
    if not path.is_file():  # another machine wrote it: take the copy in the store
        path = download_artifact(uri, run_id, f"checkpoints/{CHECKPOINT}", Path(tempfile.mkdtemp())) or path
    if not path.is_file():
        log.warning("run %s of this config (%s) left no checkpoint; starting it again as a new run", run_id, status)
        return Resume(supersede=run_id)
    ckpt = load_checkpoint(path, cfg)
    if ckpt["run_id"] != run_id:
        raise ConfigError(f"train.resume=auto: checkpoint {path} belongs to run {ckpt['run_id']}, not {run_id}")
    log.info("resuming run %s (%s) from %s at generator iteration %d", run_id, status, path, ckpt["gen_iter"])
    return Resume(ckpt, run_id)


def say_nearest(uri: str, cfg: DictConfig, parent: Mapping[str, str]) -> None:
    """train.resume=auto found no run of this config: one line naming the run of the same seed whose config is
    nearest, and the keys in which it differs (a new run starts, under a name of its own)."""
    now = {k: str(v) for k, v in flat_params(cfg).items() if k not in RESUMABLE_CHANGES}
    seed = [r for r in find_runs(uri, cfg.tracking.experiment, parent) if r.data.params.get("train.seed") == now[
        "train.seed"] and (parent or "mlflow.parentRunId" not in r.data.tags)]
    if not seed:
        return
    differ = {r.info.run_id: sorted(k for k in now if now[k] != r.data.params.get(k)) for r in seed}
    nearest = min(seed, key=lambda r: len(differ[r.info.run_id]))
    keys = differ[nearest.info.run_id]
    shown = ", ".join(f"{k}: {nearest.data.params.get(k, '(absent)')} -> {now[k]}" for k in keys[:5])
    log.warning("train.resume=auto: no run of this config; the nearest of seed %s, %s (%s), differs in %d key(s): %s%s;"
                " starting a new run", now["train.seed"], nearest.info.run_name, nearest.info.run_id, len(keys), shown,
                ", ..." if len(keys) > 5 else "")


class Checkpointer:
    """Saves the run's state into its output folder and into the MLflow run (artifact `checkpoints/checkpoint.pt`,
    tag `checkpoint_path`), where `train.resume=auto` finds it."""

    def __init__(self, state: TrainState, cfg: DictConfig, data: Any, tracker: Any, out_dir: Path) -> None:
        self.state, self.cfg, self.data, self.tracker = state, cfg, data, tracker
        self.path = Path(out_dir).resolve() / CHECKPOINT
        self.saved = False

    def __call__(self) -> None:
        self.state.save(self.path, self.cfg, self.tracker.run_id, self.data)
        self.tracker.log_artifact(self.path, "checkpoints")
        if not self.saved:
            self.tracker.set_tags({"checkpoint_path": str(self.path)})
            self.saved = True
