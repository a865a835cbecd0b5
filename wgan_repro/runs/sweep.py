"""Sweeps: one MLflow parent run per launch (`SweepCallback`, a Hydra callback named in conf/config.yaml), its jobs
as children, closed with their counts; a relaunch with train.resume=auto (the default with submitit's launchers)
reopens the same parent."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from wgan_repro.config import command_line
from wgan_repro.store import (
    RUN_STATUSES,
    check_reachable,
    find_runs,
    mlflow_client,
    prepare_store,
    resolve_uri,
    set_terminated,
    system_tags,
)

log = logging.getLogger(__name__)


def sweep_grid(config: Any) -> dict[str, str]:
    """The grid a sweep file declares (hydra.sweeper.params); the command line's grid is in its overrides."""
    params = config.hydra.sweeper.get("params")
    return {k: str(v) for k, v in params.items()} if params else {}


def sweep_key(config: Any) -> str:
    """What identifies a sweep across launches: its config file, its overrides and its grid (train.resume, which
    only says how to launch it, left out)."""
    overrides = sorted(o for o in config.hydra.overrides.task if not o.startswith("train.resume="))
    text = json.dumps([config.hydra.job.config_name, overrides, sweep_grid(config)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_parent(uri: str | None, experiment: str, sweep_dir: str) -> tuple[str, str] | None:
    """(parent run id, sweep tag) of the launch writing into `sweep_dir`, as SweepCallback recorded it."""
    uri = resolve_uri(uri)
    check_reachable(uri)
    found = find_runs(uri, experiment, {"sweep_parent": "true", "sweep_dir": str(Path(sweep_dir).resolve())})
    return (found[0].info.run_id, found[0].data.tags["sweep"]) if found else None


def relaunch_continues(config: Any) -> bool:
    """Whether a relaunch of the sweep continues it under its parent: train.resume=auto, or train.resume unset with
    submitit's launchers, whose jobs default to auto (runs/checkpoint.py resume_mode), so that the same command run
    again after a cancelled job finishes that job's run."""
    resume = config.train.get("resume")
    return resume == "auto" or (resume is None and "submitit" in str(config.hydra.launcher.get("_target_", "")))


class SweepCallback(Callback):
    """Hydra callback for multiruns. Before the jobs start (joblib runs them in parallel processes, submitit on
    other machines) it prepares the store, so that parallel jobs never race to create a fresh SQLite file, and
    opens the sweep's parent run, which every job finds by the sweep folder and joins as a child. At the end it
    closes the parent: FINISHED when every child FINISHED, FAILED otherwise, with the counts as tags. With
    train.resume=auto a relaunch reopens the parent of the same sweep (same config, overrides and grid)."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        uri = resolve_uri(config.tracking.uri)
        experiment_id = prepare_store(uri, config.tracking.experiment)
        key, sweep_dir = sweep_key(config), str(Path(config.hydra.sweep.dir).resolve())
        name = config.get("sweep") or config.hydra.job.config_name
        previous = find_runs(uri, config.tracking.experiment, {"sweep_parent": "true", "sweep_key": key}) \
            if relaunch_continues(config) else []
        store = mlflow_client(uri)
        if previous:
            run_id = previous[0].info.run_id
            store.set_tag(run_id, "sweep_dir", sweep_dir)
            store.update_run(run_id, status="RUNNING")
            log.info("sweep %s: resuming under parent run %s", previous[0].data.tags["sweep"], run_id)
            return
        tag = f"{name}@{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"
        command = command_line(config.hydra, multirun=True)
        run = store.create_run(experiment_id, run_name=tag, tags={
            **system_tags(command), "sweep": tag, "sweep_name": name, "sweep_parent": "true", "sweep_key": key,
            "sweep_dir": sweep_dir})
        from mlflow.entities import Param  # mlflow (~1 s) once a sweep logs: the run's --help imports this

        params = {"sweep.config_name": config.hydra.job.config_name, "sweep.command": command,
                  "sweep.overrides": " ".join(config.hydra.overrides.task), "sweep.launcher":
                  str(config.hydra.launcher.get("_target_", "")).rsplit(".", 1)[-1],
                  **{f"sweep.grid.{k}": v for k, v in sweep_grid(config).items()}}
        store.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        log.info("sweep %s: parent run %s", tag, run.info.run_id)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        uri = resolve_uri(config.tracking.uri)
        found = sweep_parent(uri, config.tracking.experiment, config.hydra.sweep.dir)
        if found:
            close_sweep(uri, config.tracking.experiment, found[0])


def close_sweep(uri: str, experiment: str, parent_id: str) -> str:
    """Count the parent's children (runs superseded by a rerun left out) and close it; returns its status. A
    relaunch recounts: every status gets its count (zeros included), and a stale status_reason goes."""
    children = [r for r in find_runs(uri, experiment, {"mlflow.parentRunId": parent_id})
                if "superseded_by" not in r.data.tags]
    counts = {s: sum(r.info.status == s for r in children) for s in RUN_STATUSES}
    bad = [r for r in children if r.info.status != "FINISHED"]
    status = "FINISHED" if children and not bad else "FAILED"
    tags = {"sweep.runs": str(len(children)), **{f"sweep.{s.lower()}": str(n) for s, n in counts.items()}}
    if bad:
        tags["status_reason"] = f"{len(bad)} of {len(children)} runs did not finish: " + "; ".join(
            f"{r.info.run_name} {r.info.status} ({r.data.tags.get('status_reason', 'no reason recorded')})"
            for r in bad)[:5000]
    elif "status_reason" in mlflow_client(uri).get_run(parent_id).data.tags:
        mlflow_client(uri).delete_tag(parent_id, "status_reason")
    set_terminated(uri, parent_id, status, tags)
    log.info("sweep parent %s: %s (%s)", parent_id, status, ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return status
