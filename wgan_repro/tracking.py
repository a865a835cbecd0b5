"""Experiment tracking behind a tiny interface; the only module that imports mlflow.

`MLflowTracker` logs to an MLflow store (default: a local SQLite file), batching metrics so that a
run makes one round-trip per flush rather than one per scalar. `NullTracker` does nothing, for
tests and for `tracking.enabled=false`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
MAX_BATCH = 1000  # MLflow's log_batch limit on metrics per call
MAX_PARAMS = 100  # and on params per call


def resolve_uri(uri: str | None) -> str:
    """tracking.uri, else $MLFLOW_TRACKING_URI, else a SQLite file in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def git_commit() -> str:
    """The commit of the code that runs, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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
    """The id of `experiment`, created (artifacts beside a SQLite store) when it does not exist yet."""
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(experiment, artifact_location=artifact_location(uri, experiment))


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
    """One MLflow run: params, batched metrics (step = generator iteration), artifacts, tags, status."""

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 run_id: str | None = None) -> None:
        self.uri = uri
        self.client = _client(uri)
        self._pending: list[Any] = []
        if run_id:  # resuming: the same run goes on
            self.run_id, self.experiment_id = run_id, self.client.get_run(run_id).info.experiment_id
            self.client.update_run(run_id, status="RUNNING")
            return
        self.experiment_id = _experiment_id(self.client, uri, experiment)
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags))
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(self.run_id, params=items[i: i + MAX_PARAMS])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        if len(self._pending) >= MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Send buffered metrics, at most MAX_BATCH per call."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_image(self, image: Any, key: str, step: int) -> None:
        """A time-stepped image (the UI scrubs through steps)."""
        self.client.log_image(self.run_id, image, key=key, step=int(step))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))

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
        scripted = torch.jit.script(module)
        mlflow.set_tracking_uri(self.uri)
        # TorchScript is saved as such (MLflow's "pickle" format only names the container); its warning is noise here
        logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
        with mlflow.start_run(run_id=self.run_id):  # the fluent API is the only one that logs models
            mlflow.pytorch.log_model(scripted, name="generator", signature=signature, serialization_format="pickle",
                                     pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Flush, record why the run failed (tag status_reason) and close it with `status`."""
        try:
            self.flush()
        finally:
            if reason:
                self.client.set_tag(self.run_id, "status_reason", reason[:5000])
            self.client.set_terminated(self.run_id, status)

    def ui_hint(self) -> str:
        """The command that opens the MLflow UI on this store, and the direct link to this run."""
        store = self.uri if "://" in self.uri else Path(self.uri).resolve().as_uri()
        return (f"MLflow UI:  mlflow ui --backend-store-uri {store}\n"
                f"this run:   http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs/{self.run_id}")


def prepare_store(uri: str | None, experiment: str) -> None:
    """Create (and migrate) the store and the experiment once, so that parallel jobs only open them."""
    resolved = resolve_uri(uri)
    _experiment_id(_client(resolved), resolved, experiment)


class PrepareStoreCallback(Callback):
    """Hydra callback: before a sweep's jobs start (joblib runs them in parallel processes), prepare the store
    in the launching process; otherwise parallel jobs race to create a fresh SQLite store."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        if config.tracking.enabled:
            prepare_store(config.tracking.uri, config.tracking.experiment)


def start_tracker(uri: str | None, experiment: str, run_name: str, tags: Mapping[str, str],
                  enabled: bool = True, run_id: str | None = None) -> MLflowTracker | NullTracker:
    """A new MLflow run on the resolved store (or run_id, reopened), or a NullTracker when tracking is disabled."""
    if not enabled:
        return NullTracker()
    return MLflowTracker(resolve_uri(uri), experiment, run_name, tags, run_id)
