"""The MLflow store: its URI, reachability, experiments, run queries, and the git tags every run carries. The
trackers (tracking.py), the sweep callback (sweep.py), resuming, reports and re-evaluation all reach the store
through these functions; with tracking.py and sweep.py, the only modules that import mlflow."""

from __future__ import annotations

import fcntl
import getpass
import logging
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from wgan_repro.schema import ConfigError

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI opens it as model training
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")  # MLflow's, counted in a sweep's parent
# Bookkeeping tags, under the prefix MLflow's UI keeps out of a run's tag table; stores written before used the
# names in LEGACY_TAGS, which every lookup still reads.
CONFIG_HASH = "mlflow.wgan_repro.config_hash"  # what makes two runs the same run (train.resume=auto finds it)
HEARTBEAT = "mlflow.wgan_repro.heartbeat"  # unix time of the run's latest flush
HEARTBEAT_OWNER = "mlflow.wgan_repro.heartbeat_owner"  # host:pid of the process that flushed it
LEGACY_TAGS = {CONFIG_HASH: "config_hash", HEARTBEAT: "heartbeat", HEARTBEAT_OWNER: "heartbeat_owner"}


def tag(tags: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """A bookkeeping tag of a run, under its name or the name stores written before used."""
    return tags.get(name, tags.get(LEGACY_TAGS.get(name, name), default))


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


OWN_WRITES = ("reports", "README.md")  # what the harness itself rewrites while claims run: sections, seed ledgers,
#                                       README's summary; never what a run computes with


def git_dirty() -> str:
    """'true' when the checkout running the code has uncommitted changes to tracked files other than the harness's
    own writes (OWN_WRITES: a claim rendered, or its seeds recorded, while another claim's runs go on does not make
    those runs dirty), 'false' when clean, 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                              *(f":(top,exclude){p}" for p in OWN_WRITES)], capture_output=True,
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
    return {**tags, **slurm_tags()}


def slurm_tags() -> dict[str, str]:
    """The SLURM job a run ran in (an array's element as <array job>_<task>, as squeue and sacct name it) and its
    node; none outside SLURM."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return {}
    job = (f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if "SLURM_ARRAY_TASK_ID" in env
           else env["SLURM_JOB_ID"])
    return {"slurm_job_id": job, "slurm_node": env.get("SLURMD_NODENAME", "")}


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
    from mlflow.tracking import MlflowClient  # mlflow (~1 s) once a store is opened: all --help import this

    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = sqlite_path(uri)
    if db is None or uri in _OPENED:
        return MlflowClient(tracking_uri=uri)

    db.parent.mkdir(parents=True, exist_ok=True)  # a store in a folder that does not exist yet: made, as MLflow would
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # the store is open (created and migrated if new) before unlocking
        moved = relocate(uri, only_if_moved=True)
        if moved:
            log.info("store %s was moved: %s", db, "; ".join(moved))
    _OPENED.add(uri)
    return client


LOCATIONS = (("experiments", "experiment_id", "artifact_location"), ("runs", "run_uuid", "artifact_uri"),
             ("logged_models", "model_id", "artifact_location"))  # where MLflow records absolute artifact URIs


def relocate(uri: str, only_if_moved: bool = False) -> list[str]:
    """Point a SQLite store's artifact locations at the `mlruns/` folder beside its database. MLflow records an
    absolute URI per experiment, run and logged model, so a store folder (database + mlruns/) copied or moved
    elsewhere would look for its artifacts where it was; this rewrites the part up to `mlruns/`. only_if_moved:
    only when the recorded folder is gone and the one beside the database exists (what opening a moved store
    does). Returns what it changed, in words."""

    db = sqlite_path(uri)
    if db is None or not db.is_file():
        return []
    here = (db.parent / "mlruns").as_uri() + "/"
    changed = []
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
        for table, key, column in LOCATIONS:
            if table not in tables:
                continue
            rows = con.execute(f"select {key}, {column} from {table} where {column} like 'file://%/mlruns/%'")
            updates = []
            for ident, location in rows.fetchall():
                old_root = location[: location.index("/mlruns/") + len("/mlruns/")]
                if old_root == here or (only_if_moved and (Path(old_root[len("file://"):]).exists()
                                                           or not (db.parent / "mlruns").is_dir())):
                    continue
                updates.append((here + location[len(old_root):], ident))
            con.executemany(f"update {table} set {column} = ? where {key} = ?", updates)
            if updates:
                changed.append(f"{len(updates)} {table} now under {here}")
    return changed


_OPENED: set[str] = set()  # SQLite stores this process has opened (and so migrated): no lock needed again


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite store's URI (resolved); None for any other store."""
    return Path(uri[len("sqlite:///"):]).resolve() if uri.startswith("sqlite:///") else None


def experiment_id(client: Any, uri: str, experiment: str) -> str:
    """The id of `experiment`, created (artifacts beside a SQLite store; marked as model training) when absent."""
    from mlflow.exceptions import MlflowException  # mlflow (~1 s) once a store is opened: all --help import this

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


def main(argv: list[str]) -> int:
    """`python -m wgan_repro.store sqlite:////new/place/mlflow.db`: after moving or copying a store folder (the
    database and mlruns/ beside it), point its artifacts at their new place, so that `mlflow ui
    --backend-store-uri sqlite:////new/place/mlflow.db` (started from any folder) shows them. The harness's own
    commands do it by themselves when they open a moved store."""
    if len(argv) != 1 or sqlite_path(argv[0]) is None or not sqlite_path(argv[0]).is_file():
        print(f"error: store={' '.join(argv) or '(none)'}: allowed: the sqlite:/// URI of an existing store's "
              "database, e.g. sqlite:////data/runs/mlflow.db", file=sys.stderr)
        return 2
    changed = relocate(argv[0])
    print("; ".join(changed) or "nothing to change: the store's artifacts already point beside its database")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
