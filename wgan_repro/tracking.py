"""Experiment tracking behind a tiny interface; the only module that imports mlflow.

`MLflowTracker` logs to an MLflow store (default: a local SQLite file; or a shared `mlflow server`), buffering
metrics so that a run makes one round-trip per flush rather than one per scalar, and keeping them when the store
is briefly unreachable. `NullTracker` does nothing, for tests and for `tracking.enabled=false`. A sweep is one
parent run with its jobs as children (`SweepCallback`).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

from hydra.experimental.callback import Callback

from wgan_repro.config import command_line

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI opens it as model training
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")  # MLflow's, counted in a sweep's parent
HEARTBEAT = "heartbeat"  # tag: unix time of the run's latest flush
HEARTBEAT_OWNER = "heartbeat_owner"  # tag: host:pid of the process that flushed it
OWNER = f"{socket.gethostname()}:{os.getpid()}"
FINISH_RETRIES = (1, 5, 15, 30, 60)  # seconds between the attempts to close a run when the store is unreachable


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be reached at start-up."""


def resolve_uri(uri: str | None) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else a SQLite file in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


STORE_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Refuse a store URI whose scheme MLflow does not know; for an http(s) store, ask the server's /health once,
    without MLflow's minutes of retries: a wrong host or port fails here in seconds, before any training."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme and scheme.split("+")[0] not in STORE_SCHEMES:
        from wgan_repro.config import ConfigError

        raise ConfigError(f"tracking.uri={uri}: unknown store scheme {scheme!r}; allowed: sqlite:///<file.db>, "
                          "http(s)://<host>:<port>, file:///<dir>, postgresql://, mysql://, mssql://, databricks")
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as answer:
            if answer.status == 200:
                return
            why = f"HTTP {answer.status}"
    except (urllib.error.URLError, OSError) as exc:
        why = str(getattr(exc, "reason", exc))
    raise TrackingUnavailable(f"tracking.uri={uri}: no MLflow server answers there ({why}); start one (README, "
                              "'A shared tracking server') or pass another tracking.uri")


def git_commit() -> str:
    """The commit of the code that runs, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_dirty() -> str:
    """'true' when the checkout running the code has uncommitted changes to tracked files, 'false' when clean,
    'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)
        return "unknown" if out.returncode else str(bool(out.stdout.strip())).lower()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def system_tags(command: str | None) -> dict[str, str]:
    """MLflow's own tags, which the UI shows as the run's Source, Git commit, User and Description."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    tags = {"mlflow.source.name": "python -m wgan_repro", "mlflow.source.type": "LOCAL",
            "mlflow.source.git.commit": git_commit(), "git_dirty": git_dirty(), "mlflow.user": user}
    if command:
        tags.update({"command": command, "mlflow.note.content": f"Reproduce: `{command}`"})
    return tags


def artifact_location(uri: str, experiment: str) -> str | None:
    """For a SQLite store, artifacts live beside the database file (mlruns/<experiment>), whatever the
    working directory; other stores keep MLflow's default."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):]).resolve()
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in experiment)
    return (db.parent / "mlruns" / safe).as_uri()


def _client(uri: str) -> Any:
    """An MlflowClient on `uri`; creating a fresh store runs migrations, whose log lines are noise to the user."""
    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, uri: str, experiment: str) -> str:
    """The id of `experiment`, created (artifacts beside a SQLite store; marked as model training) when absent."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(experiment, artifact_location=artifact_location(uri, experiment),
                                        tags=EXPERIMENT_KIND)
    except MlflowException:  # another process created it between the lookup and here (parallel jobs, one store)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise
        return exp.experiment_id


def find_runs(uri: str, experiment: str, tags: Mapping[str, str]) -> list[Any]:
    """Runs of `experiment` carrying all `tags`, newest first (empty when the experiment does not exist yet)."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    return list(client.search_runs([exp.experiment_id], where, order_by=["attributes.start_time DESC"],
                                   max_results=10_000))


def download_artifact(uri: str, run_id: str, path: str, into: Path) -> Path | None:
    """One artifact of a run, or None when it has none."""
    try:
        return Path(_client(uri).download_artifacts(run_id, path, str(into)))
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        return None


def set_terminated(uri: str, run_id: str, status: str, tags: Mapping[str, str] = {}) -> None:
    client = _client(uri)
    for k, v in tags.items():
        client.set_tag(run_id, k, v)
    client.set_terminated(run_id, status)


class NullTracker:
    """Tracks nothing."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_image(self, image: Any, key: str, step: int) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_generator(self, generator: Any, nz: int) -> None:
        pass

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        pass


class MLflowTracker:
    """One MLflow run: params, buffered metrics (step = generator iteration), artifacts, tags, status.

    Writes during training (metrics, artifacts, images) never end the run: when the store cannot be reached they
    are kept (metrics) or skipped (files) with a warning, and the buffer is sent at the next flush. A reopened run
    (`skip_logged=True`, resuming) drops the points it already holds, so a resumed run never logs a step twice.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 run_id: str | None = None, skip_logged: bool = False) -> None:
        self.uri = uri
        self.client = _client(uri)
        self._pending: list[Any] = []
        self._logged: dict[str, int] = {}
        self._failing_since: float | None = None
        if run_id:  # resuming: the same run goes on
            run = self.client.get_run(run_id)
            self.run_id, self.experiment_id = run_id, run.info.experiment_id
            if skip_logged:
                self._logged = {k: max((m.step for m in self.client.get_metric_history(run_id, k)), default=-1)
                                for k in run.data.metrics}
            self.client.update_run(run_id, status="RUNNING")
            if tags:
                self.set_tags(tags)
            return
        self.experiment_id = _experiment_id(self.client, uri, experiment)
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        known = self.client.get_run(self.run_id).data.params  # params are immutable: a reopened run keeps its own
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()
                                                   if k not in known])  # MLflow splits it into allowed batches

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()
                          if int(step) > self._logged.get(k, -1)]

    def flush(self) -> None:
        """Send the buffered metrics (MLflow splits them into allowed batches), kept for the next flush when the
        store does not answer, with the run's heartbeat (tag `heartbeat`, unix seconds: `train.resume=auto` leaves
        a RUNNING run with a fresh heartbeat alone)."""
        from mlflow.entities import RunTag

        batch = self._pending
        beat = [RunTag(HEARTBEAT, str(round(time.time()))), RunTag(HEARTBEAT_OWNER, OWNER)]
        if self._tolerant("metrics", lambda: self.client.log_batch(self.run_id, metrics=batch, tags=beat)):
            self._pending = self._pending[len(batch):]

    def _tolerant(self, what: str, write: Callable[[], Any]) -> bool:
        """Run a write; on failure warn (once per outage), keep going, and say when the store is back."""
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - connection, HTTP 5xx, a locked SQLite database...
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("tracking store %s did not take the %s (%s: %s); training goes on, %d metric points are "
                            "kept and retried at the next flush", self.uri, what, type(exc).__name__,
                            str(exc)[:200], len(self._pending))
            return False
        if self._failing_since is not None:
            log.warning("tracking store %s is back after %.0f s; buffered metrics sent", self.uri,
                        time.monotonic() - self._failing_since)
            self._failing_since = None
        return True

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._tolerant(f"file {Path(path).name}", lambda: self.client.log_artifact(self.run_id, str(path),
                                                                                   artifact_path))

    def log_image(self, image: Any, key: str, step: int) -> None:
        """A time-stepped image (the UI scrubs through steps)."""
        self._tolerant(f"image {key}", lambda: self.client.log_image(self.run_id, image, key=key, step=int(step)))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_generator(self, generator: Any, nz: int) -> None:
        """The trained generator as an MLflow model `generator` (TorchScript: loads without the harness) with its
        input signature z (B, nz) -> samples; `mlflow.pytorch.load_model("runs:/<id>/generator")` gives it back."""
        import copy

        import mlflow
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        module = copy.deepcopy(generator).cpu()
        z = torch.randn(2, nz, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out = module(z)
        signature = infer_signature(z.numpy().astype(np.float32), out.numpy().astype(np.float32))
        with warnings.catch_warnings():  # TorchScript's deprecation notice, once per run, is noise to the user
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.script(module)
        mlflow.set_tracking_uri(self.uri)
        # TorchScript is saved as such (MLflow's "pickle" format only names the container); its warning is noise here
        logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)

        def write() -> None:
            with mlflow.start_run(run_id=self.run_id):  # the fluent API is the only one that logs models
                mlflow.pytorch.log_model(scripted, name="generator", signature=signature,
                                         serialization_format="pickle",
                                         pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])

        self._tolerant("generator model", write)

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Send what is buffered, record why the run failed (tag status_reason) and close it with `status`,
        retrying for about two minutes while the store does not answer."""
        for wait in (*FINISH_RETRIES, None):
            self.flush()
            if not self._pending and self._tolerant("run's status", lambda: self._close(status, reason)):
                return
            if wait is None:
                raise TrackingUnavailable(f"tracking.uri={self.uri}: could not close run {self.run_id} as {status}; "
                                          f"{len(self._pending)} metric points were not sent")
            time.sleep(wait)

    def _close(self, status: str, reason: str | None) -> None:
        if reason:
            self.client.set_tag(self.run_id, "status_reason", reason[:5000])
        self.client.set_terminated(self.run_id, status)

    def ui_hint(self) -> str:
        """The command that opens the MLflow UI on this store, and the direct link to this run."""
        if self.uri.startswith(("http://", "https://")):
            return f"this run:   {self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        store = self.uri if "://" in self.uri else Path(self.uri).resolve().as_uri()
        return (f"MLflow UI:  mlflow ui --backend-store-uri {store}\n"
                f"this run:   http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs/{self.run_id}")


def prepare_store(uri: str | None, experiment: str) -> str:
    """Create (and migrate) the store and the experiment once, so that parallel jobs only open them; the id."""
    resolved = resolve_uri(uri)
    check_reachable(resolved)
    return _experiment_id(_client(resolved), resolved, experiment)


def start_tracker(uri: str | None, experiment: str, run_name: str, tags: Mapping[str, str],
                  enabled: bool = True, run_id: str | None = None) -> MLflowTracker | NullTracker:
    """A new MLflow run on the resolved store (or run_id, reopened without repeating its logged steps), or a
    NullTracker when tracking is disabled."""
    if not enabled:
        return NullTracker()
    return MLflowTracker(resolve_uri(uri), experiment, run_name, tags, run_id, skip_logged=run_id is not None)


# --------------------------------------------------------------------------- sweeps: one parent run per launch
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
            if config.train.get("resume") == "auto" else []
        client = _client(uri)
        if previous:
            run_id = previous[0].info.run_id
            client.set_tag(run_id, "sweep_dir", sweep_dir)
            client.update_run(run_id, status="RUNNING")
            log.info("sweep %s: resuming under parent run %s", previous[0].data.tags["sweep"], run_id)
            return
        tag = f"{name}@{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"
        command = command_line(config.hydra, multirun=True)
        run = client.create_run(experiment_id, run_name=tag, tags={
            **system_tags(command), "sweep": tag, "sweep_name": name, "sweep_parent": "true", "sweep_key": key,
            "sweep_dir": sweep_dir})
        from mlflow.entities import Param

        params = {"sweep.config_name": config.hydra.job.config_name, "sweep.command": command,
                  "sweep.overrides": " ".join(config.hydra.overrides.task), "sweep.launcher":
                  str(config.hydra.launcher.get("_target_", "")).rsplit(".", 1)[-1],
                  **{f"sweep.grid.{k}": v for k, v in sweep_grid(config).items()}}
        client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
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
    elif "status_reason" in _client(uri).get_run(parent_id).data.tags:
        _client(uri).delete_tag(parent_id, "status_reason")
    set_terminated(uri, parent_id, status, tags)
    log.info("sweep parent %s: %s (%s)", parent_id, status, ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return status
