"""The cluster path against real services, started here as CI starts them (as root, on a Debian machine): a
single-node SLURM (scripts/local_slurm.sh) and MLflow on PostgreSQL (scripts/local_tracking.sh). Where they cannot
start (not root, no PostgreSQL binaries) the tests skip, naming what is missing. Each test holds its service for its
whole body, so the two never share daemons or ports across test workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from conftest import TINY
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.cluster  # ./test.sh runs these after the rest, with the machine to themselves


@contextmanager
def service(script: str, state: Path, **env: str) -> Iterator[dict[str, str]]:
    """scripts/<script> started with its state in `state`, stopped at the end whatever happens."""
    if os.geteuid() != 0:
        pytest.skip(f"scripts/{script} start needs root (it installs packages and starts daemons)")
    environ = {**os.environ, **env, "PYTHON": sys.executable}
    started = subprocess.run([str(ROOT / "scripts" / script), "start"], env=environ, capture_output=True,
                             text=True, timeout=300)
    try:
        if "no PostgreSQL binaries" in started.stderr:
            pytest.skip(started.stderr.strip())
        assert started.returncode == 0, started.stdout + started.stderr
        yield environ
    finally:
        subprocess.run([str(ROOT / "scripts" / script), "stop"], env=environ, capture_output=True, timeout=120)


def children_and_parents(uri: str, experiment: str) -> tuple[list, list]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return ([r for r in runs if r.data.tags.get("sweep_parent") != "true"],
            [r for r in runs if r.data.tags.get("sweep_parent") == "true"])


def test_sweeps_and_claims_run_as_jobs_of_a_real_slurm(tmp_path) -> None:
    """A 2 x 2 sweep with hydra/launcher=slurm lands as one parent with 4 FINISHED children, each tagged with its
    own SLURM job; a smoke claim with launcher=slurm gives the word the local pool gives; reproduce's jobs cancelled
    or out of time; one run requeued, warned and cancelled, then finished by the same command (below)."""
    with service("local_slurm.sh", tmp_path / "slurm", WGAN_SLURM_STATE=str(tmp_path / "slurm")) as env:
        uri = f"sqlite:///{tmp_path}/m.db"
        sweep = subprocess.run(
            [sys.executable, "-m", "wgan_repro", "--multirun", "hydra/launcher=slurm", "optimizer=rmsprop,adam",
             "optimizer.lr=5e-5,1e-4", *TINY, f"tracking.uri={uri}",
             "tracking.experiment=slurm_sweep", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert sweep.returncode == 0, sweep.stderr[-3000:]
        children, parents = children_and_parents(uri, "slurm_sweep")
        assert len(parents) == 1 and len(children) == 4, sweep.stderr[-3000:]
        assert all(r.info.status == "FINISHED" for r in children)
        assert len({r.data.tags["slurm_job_id"] for r in children}) == 4  # four jobs of one array
        assert {r.data.tags["slurm_job_id"].split("_")[0] for r in children} == \
            {children[0].data.tags["slurm_job_id"].split("_")[0]}

        # the local runs the cluster's results are compared with run while the cluster waits (below: SLURM's clock),
        # each in a store of its own (two writers on one SQLite file lock each other)
        longer = [*TINY, "train.iterations=2000", "eval.every=250", "train.log_every=50", "train.checkpoint_every=200"]
        plain_uri = f"sqlite:///{tmp_path}/plain.db"
        whole = subprocess.Popen([sys.executable, "-m", "wgan_repro", "optimizer=rmsprop", *longer,
                                  f"tracking.uri={plain_uri}", "tracking.experiment=uninterrupted"],
                                 cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                 stderr=(tmp_path / "whole.err").open("w"))

        def claim_f3(launcher: str, store: str) -> list[str]:
            return [sys.executable, "-m", "wgan_repro.reproduce", "claim=F3", "budget=smoke", f"launcher={launcher}",
                    f"tracking.uri={store}", f"tracking.experiment=claim_{launcher}", "report.allow_mixed=true",
                    f"report.out_dir={tmp_path / launcher}", f"ledger={tmp_path / launcher / 'ledger'}"]

        local_claim = subprocess.Popen(claim_f3("local", f"sqlite:///{tmp_path}/local.db"), cwd=tmp_path, env=env,
                                       stdout=subprocess.DEVNULL, stderr=(tmp_path / "local.err").open("w"))

        # reproduce's jobs as SLURM treats them: one cancelled while running is reported KILLED with SLURM's state,
        # not waited on (the cluster keeps no accounting: its states come from squeue, wgan_repro/cluster.py); one
        # whose 1-minute time limit comes is sent SIGUSR2 by SLURM's own clock (signal_delay_s before the limit, or
        # up to a minute earlier: SLURM checks limits periodically), requeued by submitit (cluster.Requeueable) and
        # called again in its second life
        lives = ("if [ -e lived ]; then echo lived twice; else touch lived; sleep 300; fi")
        code = ("import subprocess, sys, time; from pathlib import Path; from wgan_repro import cluster; "
                "keys = cluster.settings({'timeout_min': 1, 'signal_delay_s': 50, 'max_num_timeout': 2}); "
                "pool = cluster.SlurmPool(keys, Path(sys.argv[1])); "
                "(cancelled,) = pool.submit_all(time.sleep, [(120,)], lambda call: 'an arm'); "
                f"(requeued,) = pool.submit_all(subprocess.check_output, [(['bash', '-c', {lives!r}],)], str); "
                "time.sleep(3); pool.jobs[0].cancel(check=False); "
                "print(cancelled.result(timeout=120)); print(requeued.result(timeout=240))")
        jobs = subprocess.run([sys.executable, "-c", code, str(tmp_path / "submitit")], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=400)
        assert jobs.returncode == 0, jobs.stderr[-3000:]
        killed, twice = jobs.stdout.splitlines()
        assert killed.startswith("('an arm', 'KILLED', 'SLURM job ") and "CANCELLED" in killed
        assert twice == "b'lived twice\\n'"
        log = "".join(p.read_text() for p in (tmp_path / "submitit").rglob("*_log.*"))  # .out and .err
        assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log and "Requeued" in log, log[-3000:]

        assert local_claim.wait(timeout=600) == 0, (tmp_path / "local.err").read_text()[-3000:]  # its folders first
        done = subprocess.run(claim_f3("slurm", uri), cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        words = {launcher: json.loads((tmp_path / launcher / "F3" / "verdict.json").read_text())
                 for launcher in ("local", "slurm")}
        assert words["slurm"]["verdict"] == words["local"]["verdict"]
        assert words["slurm"]["reason"] == words["local"]["reason"]  # the same runs: the same numbers
        children, _ = children_and_parents(uri, "claim_slurm")
        assert children and all(r.data.tags.get("slurm_job_id") for r in children)

        # one training run through all that SLURM does to a job: requeued (`scontrol requeue`: SIGTERM, its
        # checkpoint, the job restarts, train.resume=auto under submitit continues the run), warned (SIGUSR2, as at a
        # time limit or a preemption: the run checkpoints, then submitit requeues the job), cancelled (`scancel`:
        # the sweep reports it and fails), and the same command run again: it ends FINISHED, one run, with the
        # metrics of an uninterrupted run
        command = [sys.executable, "-m", "wgan_repro", "--multirun", "hydra/launcher=slurm", "optimizer=rmsprop",
                   *longer, f"tracking.uri={uri}", "tracking.experiment=requeued",
                   f"hydra.sweep.dir={tmp_path / 'requeued'}"]
        sweep = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        client = MlflowClient(uri)

        def when_past(step: int) -> str:
            """The run's SLURM job once its run has evaluated past `step`."""
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                time.sleep(0.5)
                exp = client.get_experiment_by_name("requeued")
                runs = [r for r in (client.search_runs([exp.experiment_id]) if exp else [])
                        if r.data.tags.get("sweep_parent") != "true"]
                if runs and any(m.step >= step for m in client.get_metric_history(runs[0].info.run_id, "eval/w1")):
                    return client.get_run(runs[0].info.run_id).data.tags["slurm_job_id"]
            sweep.kill()
            raise AssertionError(f"the run never reached iteration {step}: {sweep.communicate()[0][-3000:]}")

        subprocess.run(["scontrol", "requeue", when_past(500)], env=env, check=True, timeout=30)
        subprocess.run(["scancel", "--signal=USR2", when_past(1000)], env=env, check=True, timeout=30)
        subprocess.run(["scancel", when_past(1500)], env=env, check=True, timeout=30)
        out, _ = sweep.communicate(timeout=600)
        assert sweep.returncode != 0, out[-3000:]  # the sweep says its job was cancelled
        (cancelled,), _ = children_and_parents(uri, "requeued")
        assert cancelled.info.status == "KILLED" and "stopped by SIGTERM" in cancelled.data.tags["status_reason"]
        again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        (finished,), _ = children_and_parents(uri, "requeued")
        assert finished.info.run_id == cancelled.info.run_id and finished.info.status == "FINISHED"
        assert finished.data.tags["resumes"] == "3"  # after the requeue, the warning and the cancel
        log = "".join(p.read_text() for p in (tmp_path / "requeued" / ".submitit").rglob("*.err"))
        assert "DUE TO JOB REQUEUE" in log  # requeued by scontrol; warned: it checkpointed, then submitit requeued it
        assert log.index("SIGUSR2: stopping after the generator iteration") < log.index("Caught signal SIGUSR2")
        assert whole.wait(timeout=600) == 0, (tmp_path / "whole.err").read_text()[-3000:]
        (plain,), _ = children_and_parents(plain_uri, "uninterrupted")
        resumed = [(m.step, m.value) for m in client.get_metric_history(finished.info.run_id, "eval/w1")]
        expected = [(m.step, m.value) for m in MlflowClient(plain_uri).get_metric_history(plain.info.run_id, "eval/w1")]
        assert sorted(s for s, _ in resumed) == sorted(s for s, _ in expected) == list(range(250, 2001, 250))
        assert [v for _, v in sorted(resumed)] == pytest.approx([v for _, v in sorted(expected)], rel=1e-5)


def log_a_job(uri: str, name: str, folder: Path) -> None:
    """One job's logging through the harness's tracker: 2,000 points flushed every 100 steps, then 10 files."""
    from wgan_repro.tracking import MLflowTracker

    tracker = MLflowTracker(uri, "load", name, {})
    for step in range(2000):
        tracker.log_metrics({"w1": step / 2000}, step)
        if step % 100 == 99:
            tracker.flush()
            time.sleep(0.05)  # a training step's pace, so the sweep spans the server's restart
    for i in range(10):
        path = folder / f"{name}-{i}.txt"
        path.write_text(f"{name} {i}")
        tracker.log_artifact(path, "files")
    while tracker._pending:  # what an outage left behind
        tracker.flush()
    tracker.finish()


def test_sixteen_jobs_log_everything_to_a_postgresql_server_even_when_it_restarts(tmp_path) -> None:
    """16 processes at once, each 2,000 metric points and 10 artifacts, to mlflow server on PostgreSQL: every point
    and file arrives, no "database is locked"; then again with the server restarted while every job is logging (the
    points are kept and sent when it is back; MLflow's client retries the files)."""
    import multiprocessing

    state = tmp_path / "tracking"
    with service("local_tracking.sh", state, WGAN_TRACKING_STATE=str(state)) as env:
        uri = "http://127.0.0.1:5055"
        client = MlflowClient(uri)
        client.create_experiment("load")  # once, before the jobs fan out (concurrent creation races upstream)
        fork = multiprocessing.get_context("fork")  # 16 jobs without 16 interpreters importing MLflow
        for round_, restart in (("calm", False), ("restart", True)):
            folder = tmp_path / round_
            folder.mkdir()
            jobs = [fork.Process(target=log_a_job, args=(uri, f"{round_}-{i}", folder)) for i in range(16)]
            for job in jobs:
                job.start()
            restarted_at = None
            if restart:
                deadline = time.monotonic() + 60
                while len(client.search_runs([client.get_experiment_by_name("load").experiment_id],
                                             f"attributes.run_name LIKE '{round_}-%'")) < 16:
                    assert time.monotonic() < deadline, "the 16 jobs did not all start"
                    time.sleep(0.5)
                restarted_at = time.time() * 1000
                subprocess.run([str(ROOT / "scripts" / "local_tracking.sh"), "restart-server"], env=env, check=True,
                               timeout=120)
            for job in jobs:
                job.join(timeout=600)
            assert [job.exitcode for job in jobs] == [0] * 16
            runs = client.search_runs([client.get_experiment_by_name("load").experiment_id],
                                      f"attributes.run_name LIKE '{round_}-%'")
            assert len(runs) == 16 and all(r.info.status == "FINISHED" for r in runs)
            if restarted_at is not None:  # the restart came while every job was logging
                assert all(r.info.start_time < restarted_at < r.info.end_time for r in runs)
            for run in runs:
                history = client.get_metric_history(run.info.run_id, "w1")
                assert sorted(m.step for m in history) == list(range(2000)), run.info.run_name
                assert len(client.list_artifacts(run.info.run_id, "files")) == 10, run.info.run_name
        assert "database is locked" not in (state / "mlflow.log").read_text()
