"""Experiment tracking behind one small interface (`Tracker`): `MLflowTracker` logs to an MLflow store (default: a
local SQLite file; or a shared `mlflow server`), buffering metrics so that a run makes one round-trip per flush
rather than one per scalar, and keeping them when the store is briefly unreachable. `NullTracker` does nothing, for
tests and for `tracking.enabled=false`. The store itself (URI, queries, git tags) is store.py; sweeps, sweep.py.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import pandas as pd
import torch

from wgan_repro.curves import PAPER_WIDTH, running_median
from wgan_repro.store import HEARTBEAT, HEARTBEAT_OWNER, TrackingUnavailable, experiment_id, mlflow_client, resolve_uri

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()}:{os.getpid()}"
FINISH_RETRIES = (1, 5, 15, 30, 60)  # seconds between the attempts to close a run when the store is unreachable


ORIGINAL_ONLY = ("command", "mlflow.note.content")  # a resumed run keeps the command that started it


def resume_record(tags: Mapping[str, str], resumed_at: int | None, command: str | None) -> dict[str, str]:
    """Tags `resumes` (how many times the run was continued) and `resume_<n>`: when, from which generator
    iteration, and by which command."""
    n = int(tags.get("resumes", "0")) + 1
    where = f"from generator iteration {resumed_at}" if resumed_at is not None else "from its checkpoint"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return {"resumes": str(n), f"resume_{n}": f"{when} {where}" + (f": {command}" if command else "")}


class Tracker(Protocol):
    """What the loop, the runner, evaluators and studies may call on a tracker: one run's log."""

    run_id: str | None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...
    def flush(self) -> None: ...
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...
    def log_image(self, image: Any, key: str, step: int) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_generator(self, generator: Any, nz: int) -> None: ...
    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None: ...
    def ui_hint(self) -> str: ...
    def diverged(self, reasons: Mapping[int, str]) -> str | None:
        """Runs (by member index: 0 for a single run) whose metrics diverged in a flush, and why; the reason to stop
        training, or None to go on (an ensemble's other members)."""


def single_run_diverged(reasons: Mapping[int, str]) -> str | None:
    """A single run stops at its divergence."""
    return reasons.get(0)


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

    def ui_hint(self) -> str:
        return ""

    diverged = staticmethod(single_run_diverged)


class MLflowTracker:
    """One MLflow run: params, buffered metrics (step = generator iteration), artifacts, tags, status.

    Writes during training (metrics, artifacts, images) never end the run: when the store cannot be reached they
    are kept (metrics) or skipped (files) with a warning, and the buffer is sent at the next flush. A reopened run
    (`skip_logged=True`, resuming) drops the points it already holds, so a resumed run never logs a step twice.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 run_id: str | None = None, skip_logged: bool = False, resumed_at: int | None = None) -> None:
        self.uri = uri
        self.client = mlflow_client(uri)
        self.estimate = None if tags.get("study") else tags.get("estimate")  # the key whose paper's curve it logs
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
            if skip_logged:  # training goes on (re-evaluation also reopens a run, and is no resume)
                if "status_reason" in run.data.tags:  # why it stopped then is not how it ends now
                    self.client.delete_tag(run_id, "status_reason")
                tags = {**{k: v for k, v in tags.items() if k not in ORIGINAL_ONLY},
                        **resume_record(run.data.tags, resumed_at, tags.get("command"))}
            if tags:
                self.set_tags(tags)
            return
        self.experiment_id = experiment_id(self.client, uri, experiment)
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param  # mlflow (~1 s) only with an MLflow run: untracked runs skip it

        known = self.client.get_run(self.run_id).data.params  # params are immutable: a reopened run keeps its own
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()
                                                   if k not in known])  # MLflow splits it into allowed batches

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric  # mlflow (~1 s) only with an MLflow run: untracked runs skip it

        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()
                          if int(step) > self._logged.get(k, -1)]

    def flush(self) -> None:
        """Send the buffered metrics (MLflow splits them into allowed batches), kept for the next flush when the
        store does not answer, with the run's heartbeat (tag `heartbeat`, unix seconds: `train.resume=auto` leaves
        a RUNNING run with a fresh heartbeat alone)."""
        from mlflow.entities import RunTag  # mlflow (~1 s) only with an MLflow run: untracked runs skip it

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
        from mlflow.entities import RunTag  # mlflow (~1 s) only with an MLflow run: untracked runs skip it

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_generator(self, generator: Any, nz: int) -> None:
        """The trained generator as an MLflow model `generator` (TorchScript: loads without the harness) with its
        input signature z (B, nz) -> samples; `mlflow.pytorch.load_model("runs:/<id>/generator")` gives it back."""
        import mlflow  # mlflow (~1 s) only with an MLflow run: untracked runs skip it
        from mlflow.models import infer_signature  # mlflow (~1 s) only with an MLflow run: untracked runs skip it

        module = copy.deepcopy(generator).cpu()
        dtype = next(module.parameters()).dtype  # float32, or float64 under train.precision=fp64
        z = torch.randn(2, nz, generator=torch.Generator().manual_seed(0), dtype=dtype)
        with torch.no_grad():
            out = module(z)
        signature = infer_signature(z.numpy(), out.numpy())
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

    def log_paper_curve(self) -> None:
        """The paper's curve beside the raw estimate, so that the UI draws what Figures 4 and 5 draw: `<estimate>
        _filtered`, the running median of 101 generator iterations (curves.py, the function the reports and claims
        use), computed from the run's whole logged history when it ends (a centred median needs the points after
        each one). A run stopped to be resumed gets it when it finishes."""
        from mlflow.entities import Metric  # mlflow (~1 s) only with an MLflow run: untracked runs skip it


        if not self.estimate:
            return
        history = sorted(self.client.get_metric_history(self.run_id, self.estimate), key=lambda m: m.step)
        if len(history) < 3:
            return
        series = running_median(pd.Series([m.value for m in history], index=[m.step for m in history]), PAPER_WIDTH)
        now = int(time.time() * 1000)
        key = f"{self.estimate}_filtered"
        self._pending += [Metric(key, float(v), now, int(s)) for s, v in series.items() if int(s) > self._logged.get(
            key, -1)]

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Send what is buffered (with the paper's curve, unless the run is KILLED and will be resumed), record why
        the run failed (tag status_reason) and close it with `status`, retrying for about two minutes while the
        store does not answer."""
        if status != "KILLED":
            self._tolerant("paper's curve", lambda: (self.flush(), self.log_paper_curve()))
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

    diverged = staticmethod(single_run_diverged)

    def ui_hint(self) -> str:
        """The command that opens the MLflow UI on this store, and the direct links to this run and its experiment
        (in the UI's model-training view: ui_links)."""
        if self.uri.startswith(("http://", "https://")):
            return ui_links(self.uri, self.experiment_id, self.run_id)
        store = self.uri if "://" in self.uri else Path(self.uri).resolve().as_uri()
        return f"MLflow UI:  mlflow ui --backend-store-uri {store}\n" + ui_links(
            "http://127.0.0.1:5000", self.experiment_id, self.run_id)


UI_VIEW = "workflowType=machine_learning"  # the UI's model-training view; a fresh browser opens its GenAI view


def ui_links(server: str, experiment_id: str, run_id: str) -> str:
    """Links into the MLflow UI at `server` that open in the model-training view (runs, charts of metrics), not in
    the GenAI view (traces) that MLflow 3's UI shows a browser that never chose (its workflowType in localStorage),
    whatever the experiment's mlflow.experimentKind tag says: the URL's workflowType wins."""
    base = f"{server.rstrip('/')}/#/experiments/{experiment_id}"
    return f"this run:   {base}/runs/{run_id}?{UI_VIEW}\nall runs:   {base}?{UI_VIEW}"


def start_tracker(uri: str | None, experiment: str, run_name: str, tags: Mapping[str, str],
                  enabled: bool = True, run_id: str | None = None, resumed_at: int | None = None
                  ) -> MLflowTracker | NullTracker:
    """A new MLflow run on the resolved store (or run_id, reopened without repeating its logged steps, its resume
    recorded and its first command kept), or a NullTracker when tracking is disabled."""
    if not enabled:
        return NullTracker()
    return MLflowTracker(resolve_uri(uri), experiment, run_name, tags, run_id, skip_logged=run_id is not None,
                         resumed_at=resumed_at)
