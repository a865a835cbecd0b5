"""The tracking store as a team uses it: a live `mlflow server` read back over REST, an unreachable server
refused in seconds, a store that drops mid-run, four writers on one SQLite file, MLflow's own tags."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TINY, compose
from mlflow.tracking import MlflowClient

from wgan_repro.runs.runner import run
from wgan_repro.store import TrackingUnavailable
from wgan_repro.tracking import MLflowTracker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(base: str, endpoint: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/{endpoint}", timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """`mlflow server` with a SQLite backend and an artifact root, on a free loopback port (README's commands)."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start in 120 s"
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_run_against_a_live_mlflow_server_reads_back_over_rest(tmp_path, mlflow_server) -> None:
    cfg, choices = compose(*TINY, f"tracking.uri={mlflow_server}", "tracking.experiment=served")
    result = run(cfg, choices, tmp_path, command="python -m wgan_repro (test)")
    assert result["status"] == "FINISHED"
    got = rest(mlflow_server, f"runs/get?run_id={result['run_id']}")["run"]
    assert got["info"]["status"] == "FINISHED"
    tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
    assert tags["mlflow.note.content"] == "Reproduce: `python -m wgan_repro (test)`"
    assert tags["mlflow.source.name"] == "python -m wgan_repro" and tags["mlflow.user"]
    points = rest(mlflow_server, f"metrics/get-history?run_id={result['run_id']}&metric_key=estimate/em")["metrics"]
    assert sorted(p["step"] for p in points) == [1, 2, 3, 4]
    listed = rest(mlflow_server, f"artifacts/list?run_id={result['run_id']}&path=figures")["files"]
    sample = next(f["path"] for f in listed if f["path"].endswith("samples_0000004.png"))
    with urllib.request.urlopen(f"{mlflow_server}/get-artifact?path={sample}&run_uuid={result['run_id']}",
                                timeout=30) as answer:
        assert answer.read(8) == b"\x89PNG\r\n\x1a\n"
    experiment = rest(mlflow_server, "experiments/get-by-name?experiment_name=served")["experiment"]
    assert {t["key"]: t["value"] for t in experiment["tags"]}["mlflow.experimentKind"] == "custom_model_development"


def test_an_unreachable_server_fails_at_start_up_in_seconds(tmp_path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    cfg, choices = compose(*TINY, f"tracking.uri={uri}")
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match=uri.replace(".", r"\.")):
        run(cfg, choices, tmp_path / "out")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()  # no training done, nothing written


def test_a_store_that_drops_mid_run_loses_no_metric(mlflow_uri, monkeypatch, caplog) -> None:
    tracker = MLflowTracker(mlflow_uri, "dropping", "blip", {})
    real = tracker.client.log_batch
    down = {"calls": 2}

    def flaky(*args, **kwargs):
        if down["calls"]:
            down["calls"] -= 1
            raise ConnectionError("server went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", flaky)
    with caplog.at_level(logging.WARNING, logger="wgan_repro.tracking"):
        for step in range(1, 31):
            tracker.log_metrics({"a": step, "b": -step}, step)
            if step % 10 == 0:
                tracker.flush()  # the first two flushes fail; their points wait for the third
        tracker.finish()
    history = MlflowClient(mlflow_uri).get_metric_history(tracker.run_id, "a")
    assert sorted(m.step for m in history) == list(range(1, 31))
    assert MlflowClient(mlflow_uri).get_run(tracker.run_id).info.status == "FINISHED"
    said = caplog.text
    assert "did not take the metrics" in said and "training goes on" in said and "is back" in said
    assert said.count("did not take") == 1  # once per outage, not per flush


WRITER = """
import sys
from wgan_repro.tracking import MLflowTracker
tracker = MLflowTracker(sys.argv[1], "concurrent", f"writer-{sys.argv[2]}", {"writer": sys.argv[2]})
for step in range(1, 401):
    tracker.log_metrics({f"k{i}": step * 10 + i for i in range(5)}, step)
    if step % 20 == 0:
        tracker.flush()
tracker.finish()
print(tracker.run_id)
"""


def test_four_writers_on_one_sqlite_store_lose_nothing(mlflow_uri) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, mlflow_uri, str(i)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(
                                    Path(__file__).resolve().parents[1])}) for i in range(4)]
    run_ids = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])
    client = MlflowClient(mlflow_uri)
    for run_id in run_ids:
        assert client.get_run(run_id).info.status == "FINISHED"
        for i in range(5):
            values = sorted((m.step, m.value) for m in client.get_metric_history(run_id, f"k{i}"))
            assert values == [(s, float(s * 10 + i)) for s in range(1, 401)]


def test_an_experiment_created_by_another_process_meanwhile_is_used() -> None:
    """Parallel jobs on a fresh store race to create the experiment: the loser takes the winner's."""
    from types import SimpleNamespace

    from mlflow.exceptions import MlflowException

    from wgan_repro.store import experiment_id

    class Racing:
        lookups = 0

        def get_experiment_by_name(self, name):
            self.lookups += 1
            return None if self.lookups == 1 else SimpleNamespace(experiment_id="7")

        def create_experiment(self, *args, **kwargs):
            raise MlflowException("Experiment(name=x) already exists")

    assert experiment_id(Racing(), "sqlite:////tmp/x.db", "x") == "7"


def test_runs_started_together_on_a_fresh_sqlite_store_all_open_it(tmp_path) -> None:
    """Four processes open a new SQLite store at the same moment (two `python -m wgan_repro` started at once): each
    would migrate it and all but one fail with "duplicate column name" unless opening is serialised."""
    go = tmp_path / "go"
    code = ("import pathlib, sys, time\n"
            "import mlflow.tracking\n"
            "from wgan_repro.store import mlflow_client\n"
            "pathlib.Path(sys.argv[3]).touch()\n"
            "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.01)\n"
            "mlflow_client(sys.argv[2]).search_experiments()\n")
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(go), uri, str(r)], env=env, stderr=subprocess.PIPE,
                              text=True) for r in ready]
    deadline = time.time() + 120
    while not all(r.exists() for r in ready) and time.time() < deadline:  # every process has imported MLflow
        time.sleep(0.05)
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(e[-600:] for e in errors)


def test_a_store_folder_moved_elsewhere_keeps_its_artifacts(tmp_path) -> None:
    """MLflow records absolute artifact URIs: a store folder (database + mlruns/) moved elsewhere opens in the
    harness's commands with its artifacts (they relocate it), and `python -m wgan_repro.store <uri>` does the same
    for `mlflow ui`, started from any folder."""
    import shutil
    import subprocess
    import sys

    from conftest import TINY, compose
    from mlflow.tracking import MlflowClient

    from wgan_repro.runs.runner import run

    first = tmp_path / "first"
    cfg, choices = compose(*TINY, f"tracking.uri=sqlite:///{first / 'mlflow.db'}", "tracking.experiment=moved")
    run_id = run(cfg, choices, tmp_path / "out")["run_id"]
    assert any(a.path == "figures" for a in MlflowClient(f"sqlite:///{first / 'mlflow.db'}").list_artifacts(run_id))
    for place in ("second", "third"):  # one moved and opened by the CLI, one moved and opened by the harness
        shutil.copytree(first, tmp_path / place)
    shutil.rmtree(first)
    second = f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "wgan_repro.store", second], capture_output=True, text=True)
    assert done.returncode == 0 and "runs now under" in done.stdout, done.stderr
    paths = {a.path for a in MlflowClient(second).list_artifacts(run_id, "figures")}  # what the UI's server reads
    assert paths and all(p.startswith("figures/samples_") for p in paths)
    from wgan_repro.store import download_artifact

    third = f"sqlite:///{tmp_path / 'third' / 'mlflow.db'}"
    got = download_artifact(third, run_id, "config.yaml", tmp_path / "dl")  # the harness relocates on opening
    assert got is not None and "iterations: 4" in got.read_text()
    refused = subprocess.run([sys.executable, "-m", "wgan_repro.store", "sqlite:///nowhere.db"], capture_output=True,
                             text=True)
    assert refused.returncode == 2 and refused.stderr.startswith("error: store=sqlite:///nowhere.db")


def test_the_run_page_shows_the_papers_curve_and_no_empty_or_internal_tags(tmp_path, mlflow_uri) -> None:
    """estimate/em_filtered is the running median the reports draw (curves.py), computed from the raw history when
    the run ends; no tag is empty; bookkeeping lives under MLflow's hidden prefix; the final dominant mode is a
    tag; a store written before (legacy config_hash tag) still resumes."""
    import numpy as np
    import pandas as pd
    from conftest import TINY, compose, history
    from mlflow.tracking import MlflowClient

    from wgan_repro.curves import running_median
    from wgan_repro.runs.checkpoint import config_hash, find_resume
    from wgan_repro.runs.runner import run
    from wgan_repro.store import CONFIG_HASH

    common = [*TINY, "train.iterations=120", "train.log_every=10", "eval.every=60", "eval.figures=false",
              f"tracking.uri={mlflow_uri}", "tracking.experiment=ui"]
    cfg, choices = compose(*common)
    run_id = run(cfg, choices, tmp_path / "a")["run_id"]
    client = MlflowClient(mlflow_uri)
    raw = client.get_metric_history(run_id, "estimate/em")
    series = pd.Series([m.value for m in raw], index=[m.step for m in raw]).sort_index()
    filtered = history(mlflow_uri, run_id, "estimate/em_filtered")
    assert len(filtered) == 120 and np.allclose(filtered, running_median(series, 101).to_numpy(), rtol=0, atol=0)
    tags = client.get_run(run_id).data.tags
    assert all(v != "" and v != "None" for v in tags.values()), {k: v for k, v in tags.items() if v in ("", "None")}
    assert "config_hash" not in tags and "heartbeat" not in tags and tags[CONFIG_HASH] == config_hash(cfg)
    assert tags["dominant_mode"] == str(int(client.get_run(run_id).data.metrics["eval/dominant_mode"])) \
        if np.isfinite(client.get_run(run_id).data.metrics["eval/dominant_mode"]) else "dominant_mode" not in tags
    # a run of a store written before this change: its hash under the old tag name, resumed all the same
    cfg2, _ = compose(*common, "train.seed=9")
    other = run(cfg2, choices, tmp_path / "b")["run_id"]
    client.delete_tag(other, CONFIG_HASH)
    client.set_tag(other, "config_hash", config_hash(cfg2))
    cfg2, _ = compose(*common, "train.seed=9", "train.resume=auto")
    assert find_resume(cfg2).run_id == other and "already ended FINISHED" in find_resume(cfg2).skip
