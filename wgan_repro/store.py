"""The MLflow store: its URI, reachability, experiments, run queries, and the git tags every run carries. The
trackers (tracking.py), the sweep callback (sweep.py), resuming, reports and re-evaluation all reach the store
through these functions; with tracking.py and sweep.py, the only modules that import mlflow."""

from __future__ import annotations

import getpass
import logging
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from wgan_repro.schema import ConfigError

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI opens it as model training
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")  # MLflow's, counted in a sweep's parent


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
    db = sqlite_path(uri)
    if db is None:
        return None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in experiment)
    return (db.parent / "mlruns" / safe).as_uri()


def mlflow_client(uri: str) -> Any:
    """An MlflowClient on `uri`; creating a fresh store runs migrations, whose log lines are noise to the user. A
    SQLite store is opened under an exclusive lock on `<db>.lock`: processes that open a fresh store at once (two
    runs started together) would otherwise migrate it twice and fail ("duplicate column name")."""
    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = sqlite_path(uri)
    if db is None or uri in _OPENED:
        return MlflowClient(tracking_uri=uri)
    import fcntl

    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # the store is open (created and migrated if new) before unlocking
    _OPENED.add(uri)
    return client


_OPENED: set[str] = set()  # SQLite stores this process has opened (and so migrated): no lock needed again


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite store's URI (resolved); None for any other store."""
    return Path(uri[len("sqlite:///"):]).resolve() if uri.startswith("sqlite:///") else None


def experiment_id(client: Any, uri: str, experiment: str) -> str:
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
    client = mlflow_client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    return list(client.search_runs([exp.experiment_id], where, order_by=["attributes.start_time DESC"],
                                   max_results=10_000))


def download_artifact(uri: str, run_id: str, path: str, into: Path) -> Path | None:
    """One artifact of a run, or None when it has none."""
    try:
        return Path(mlflow_client(uri).download_artifacts(run_id, path, str(into)))
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        return None


def set_terminated(uri: str, run_id: str, status: str, tags: Mapping[str, str] = {}) -> None:
    client = mlflow_client(uri)
    for k, v in tags.items():
        client.set_tag(run_id, k, v)
    client.set_terminated(run_id, status)


def prepare_store(uri: str | None, experiment: str) -> str:
    """Create (and migrate) the store and the experiment once, so that parallel jobs only open them; the id."""
    resolved = resolve_uri(uri)
    check_reachable(resolved)
    return experiment_id(mlflow_client(resolved), resolved, experiment)
