"""Resuming for real: a run killed with SIGKILL continues into the same MLflow run and ends bitwise equal to an
uninterrupted one; a sweep relaunched with train.resume=auto skips what ended and continues what did not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose
from mlflow.tracking import MlflowClient

from wgan_repro.config import ConfigError, validate
from wgan_repro.runs.checkpoint import config_hash, find_resume, resume_mode
from wgan_repro.runs.runner import run
from wgan_repro.store import HEARTBEAT, HEARTBEAT_OWNER

REPO = Path(__file__).resolve().parents[1]
LONG = [*TINY, "train.iterations=1500", "train.log_every=50", "eval.every=500", "train.checkpoint_every=50",
        "eval.figures=false", "tracking.experiment=killed"]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["generator"]


def test_a_run_killed_with_sigkill_resumes_bitwise_equal(tmp_path, mlflow_uri) -> None:
    common = [*LONG, f"tracking.uri={mlflow_uri}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-m", "wgan_repro", *common, f"hydra.run.dir={tmp_path}/first"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = tmp_path / "first" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not ckpt.exists():  # the first mid-run checkpoint (iteration 50), then a little more training
        assert victim.poll() is None, victim.stderr.read().decode()[-1500:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    saved = torch.load(ckpt, weights_only=False)
    assert 0 < saved["gen_iter"] < 1500, "the run was not killed mid-run"
    client = MlflowClient(mlflow_uri)
    assert client.get_run(saved["run_id"]).info.status == "RUNNING"  # SIGKILL leaves no chance to close it

    out = subprocess.run([sys.executable, "-m", "wgan_repro", *common, "train.resume=auto",
                          f"hydra.run.dir={tmp_path}/second"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    assert "resuming run " + saved["run_id"] in out.stderr
    resumed = torch.load(tmp_path / "second" / "checkpoint.pt", weights_only=False)
    assert resumed["run_id"] == saved["run_id"] and resumed["gen_iter"] == 1500
    assert client.get_run(saved["run_id"]).info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(saved["run_id"], "estimate/em")]
    assert sorted(steps) == list(range(1, 1501))  # every step once: none lost, none duplicated
    assert len(client.search_runs([client.get_experiment_by_name("killed").experiment_id])) == 1

    cfg, choices = compose(*LONG, "tracking.enabled=false")
    run(cfg, choices, tmp_path / "straight")
    straight = weights(tmp_path / "straight" / "checkpoint.pt")
    # bitwise: both runs do the same operations on the same shapes in the same order on this CPU with the same thread
    # count, so its kernels, whichever they are, round alike; a resume that replayed a step or lost an RNG would not
    assert all(torch.equal(straight[k], resumed["generator"][k]) for k in straight)


def sweep(tmp_path: Path, uri: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "wgan_repro", "--multirun", *TINY, "eval.figures=false", "sweep=resumable",
           "tracking.experiment=resumable", "train.divergence_threshold=1e-12,1e6,1e7",
           f"hydra.sweep.dir={tmp_path}/multirun", *extra]
    out = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    return out


def test_a_sweep_relaunched_with_resume_auto_skips_what_ended_and_continues_the_rest(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep(tmp_path, uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("resumable").experiment_id
    (parent,) = client.search_runs([exp], "tags.sweep_parent = 'true'")
    children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    status = {r.data.params["train.divergence_threshold"]: r for r in children}
    assert {k: r.info.status for k, r in status.items()} == {
        "10000000.0": "FINISHED", "1000000.0": "FINISHED", "1e-12": "FAILED"}
    assert parent.info.status == "FAILED" and parent.data.tags["sweep.runs"] == "3"
    assert parent.data.tags["sweep.finished"] == "2" and parent.data.tags["sweep.failed"] == "1"
    assert "diverged" in parent.data.tags["status_reason"]
    killed = status["10000000.0"].info.run_id
    client.set_terminated(killed, "KILLED")  # stands for a job killed after its last checkpoint

    out = sweep(tmp_path, uri, "train.resume=auto")
    assert out.stderr.count("skipping: run") == 2  # the FINISHED one and the diverged one
    after = client.search_runs([exp])
    assert len(after) == 4, "a relaunch must start no new run"
    assert client.get_run(killed).info.status == "FINISHED"
    (again,) = [r for r in after if r.data.tags.get("sweep_parent") == "true"]
    assert again.info.run_id == parent.info.run_id and again.info.status == "FAILED"
    assert again.data.tags["sweep.finished"] == "2"


def test_resume_auto_needs_tracking_and_is_the_default_under_submitit(monkeypatch) -> None:
    cfg, _ = compose(*TINY, "tracking.enabled=false", "train.resume=auto")
    with pytest.raises(ConfigError, match="train.resume=auto"):
        validate(cfg)
    cfg, _ = compose(*TINY)
    assert resume_mode(cfg) is None
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")  # a requeued SLURM job continues where it stopped
    assert resume_mode(cfg) == "auto"


def test_config_hash_ignores_only_what_may_differ_on_resume(mlflow_uri) -> None:
    base, _ = compose(*TINY)
    assert config_hash(compose(*TINY, "train.iterations=99", "train.checkpoint_every=7")[0]) == config_hash(base)
    assert config_hash(compose(*TINY, "optimizer.lr=1e-3")[0]) != config_hash(base)
    assert config_hash(compose(*TINY, "train.seed=1")[0]) != config_hash(base)
    cfg, _ = compose(*TINY, f"tracking.uri={mlflow_uri}", "tracking.experiment=never_ran", "train.resume=auto")
    assert find_resume(cfg).run_id is None  # nothing in the store: start


def test_resume_auto_on_a_changed_config_says_which_keys_differ_and_the_new_run_has_a_name_of_its_own(
        tmp_path, mlflow_uri, caplog) -> None:
    """Runs that differ only in their learning rate once shared a name, and resume=auto started the second one
    silently: now one line names the nearest run and the keys that differ, and the names differ."""
    common = [*TINY, "eval.figures=false", f"tracking.uri={mlflow_uri}", "tracking.experiment=changed_config",
              "train.resume=auto"]
    first = run(*compose(*common), tmp_path / "first")
    with caplog.at_level("WARNING", logger="wgan_repro"):
        second = run(*compose(*common, "optimizer.lr=1e-4"), tmp_path / "second")
    client = MlflowClient(mlflow_uri)
    names = [client.get_run(r["run_id"]).info.run_name for r in (first, second)]
    assert second["run_id"] != first["run_id"] and names[0] != names[1], names
    assert all(n.startswith("wgan-mlp-eight_gaussians-s0-") for n in names), names
    said = [r.getMessage() for r in caplog.records if "no run of this config" in r.getMessage()]
    assert len(said) == 1 and names[0] in said[0] and "1 key(s): optimizer.lr: 5e-05 -> 0.0001" in said[0], said
    assert run(*compose(*common), tmp_path / "third")["status"] == "SKIPPED"  # the first config: found by its hash


def test_a_sweep_through_submitit_local_is_one_parent_with_its_children(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep(tmp_path, uri, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("resumable").experiment_id
    (parent,) = client.search_runs([exp], "tags.sweep_parent = 'true'")
    assert parent.data.params["sweep.launcher"] == "LocalLauncher"
    children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 3 and {r.data.tags["sweep"] for r in children} == {parent.data.tags["sweep"]}
    assert parent.data.tags["sweep.finished"] == "2"


def test_the_slurm_example_composes_onto_submitit() -> None:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro import config, schema

    schema.register_configs()
    with initialize_config_dir(config_dir=str(config.CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.array_parallelism > 1 and launcher.max_num_timeout > 0
    from wgan_repro.cluster import slurm_keys  # reproduce's launcher=slurm reads the same keys from the same file

    assert {k: launcher[k] for k in slurm_keys()} == slurm_keys()


def test_a_relaunched_sweep_continues_under_its_parent_with_resume_auto_or_submitits_launchers() -> None:
    """The jobs of submitit's launchers resume by default (a requeued job continues): the same command run again
    after a cancelled job reopens the sweep's parent, where the job finds its run; elsewhere only train.resume=auto
    does, and a checkpoint path never does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro import config, schema
    from wgan_repro.runs.sweep import relaunch_continues

    schema.register_configs()
    with initialize_config_dir(config_dir=str(config.CONF_DIR), version_base="1.3"):
        def continues(*overrides: str) -> bool:
            return relaunch_continues(hydra_compose("config", overrides=list(overrides), return_hydra_config=True))

        assert continues("hydra/launcher=slurm") and continues("hydra/launcher=submitit_local")
        assert continues("train.resume=auto") and continues("hydra/launcher=joblib", "train.resume=auto")
        assert not continues() and not continues("hydra/launcher=joblib")
        assert not continues("hydra/launcher=slurm", "train.resume=/some/checkpoint.pt")


def test_resume_auto_leaves_a_run_with_a_fresh_heartbeat_alone(tmp_path, mlflow_uri) -> None:
    """A RUNNING run whose heartbeat is fresh (another machine is training it) is skipped; a stale one, or one whose
    owner on this machine is gone, is taken over; train.take_over=true takes over a fresh one."""
    import time

    from wgan_repro.runs.checkpoint import heartbeat_age

    common = [*TINY, "eval.figures=false", f"tracking.uri={mlflow_uri}", "tracking.experiment=heartbeat"]
    cfg, choices = compose(*common)
    first = run(cfg, choices, tmp_path / "a")["run_id"]
    client = MlflowClient(mlflow_uri)
    assert heartbeat_age(client.get_run(first).data.tags) < 60  # every flush refreshes it
    client.set_terminated(first, "RUNNING")
    elsewhere = {HEARTBEAT_OWNER: "another-host:1"}
    client.set_tag(first, HEARTBEAT_OWNER, elsewhere[HEARTBEAT_OWNER])

    client.set_tag(first, HEARTBEAT, str(round(time.time())))
    cfg, _ = compose(*common, "train.resume=auto")
    assert "RUNNING elsewhere" in (find_resume(cfg).skip or "")
    cfg, _ = compose(*common, "train.resume=auto", "train.take_over=true")
    assert find_resume(cfg).skip is None and find_resume(cfg).run_id == first
    client.set_tag(first, HEARTBEAT, str(round(time.time()) - 10_000))  # stale: taken over
    cfg, _ = compose(*common, "train.resume=auto", "train.heartbeat_stale=600")
    assert find_resume(cfg).skip is None
    assert heartbeat_age({HEARTBEAT: "100"}, now=160.0) == 60.0
    assert heartbeat_age({"heartbeat": "100"}, now=160.0) == 60.0  # a store written before: the tag's old name
    import socket

    gone = {"heartbeat": str(time.time()), "heartbeat_owner": f"{socket.gethostname()}:999999999"}
    assert heartbeat_age(gone) is None  # its process on this machine is gone: nothing to wait for


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-1500:]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigterm_ends_a_run_killed_with_a_checkpoint_and_resume_finishes_it_bitwise(tmp_path, mlflow_uri) -> None:
    """SIGTERM mid-training: the generator iteration in progress finishes, the history is flushed, a checkpoint is
    written, the run ends KILLED with the reason, one line is printed; train.resume=auto continues it to the same
    weights as a run never interrupted."""
    common = [*LONG, "train.checkpoint_every=1000000", f"tracking.uri={mlflow_uri}", "tracking.experiment=sigterm"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-m", "wgan_repro", *common, f"hydra.run.dir={tmp_path}/first"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "first" / "config.yaml", victim)  # written as training starts
    time.sleep(1.0)
    victim.send_signal(signal.SIGTERM)
    err = victim.communicate(timeout=120)[1].decode()
    assert victim.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    saved = torch.load(tmp_path / "first" / "checkpoint.pt", weights_only=False)
    assert 0 < saved["gen_iter"] < 1500, "the run ended before the signal"
    client = MlflowClient(mlflow_uri)
    killed = client.get_run(saved["run_id"])
    assert killed.info.status == "KILLED"
    assert killed.data.tags["status_reason"].startswith(f"stopped by SIGTERM after generator iteration "
                                                        f"{saved['gen_iter']}; train.resume=auto continues it")
    steps = [m.step for m in client.get_metric_history(saved["run_id"], "estimate/em")]
    assert max(steps) == saved["gen_iter"]  # the history up to the checkpoint was flushed, nothing after it

    out = subprocess.run([sys.executable, "-m", "wgan_repro", *common, "train.resume=auto",
                          f"hydra.run.dir={tmp_path}/second"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    resumed_run = client.get_run(saved["run_id"])
    assert resumed_run.info.status == "FINISHED"
    assert "status_reason" not in resumed_run.data.tags  # the SIGTERM's reason is not how it ended
    assert resumed_run.data.tags["command"] == killed.data.tags["command"]  # the command that started it
    assert "train.resume=auto" not in resumed_run.data.tags["mlflow.note.content"]
    assert resumed_run.data.tags["resumes"] == "1"
    record = resumed_run.data.tags["resume_1"]
    assert f"from generator iteration {saved['gen_iter']}: " in record and "train.resume=auto" in record, record
    assert sorted(m.step for m in client.get_metric_history(saved["run_id"], "estimate/em")) == list(range(1, 1501))
    cfg, choices = compose(*LONG, "train.checkpoint_every=1000000", "tracking.enabled=false")
    run(cfg, choices, tmp_path / "straight")
    straight = weights(tmp_path / "straight" / "checkpoint.pt")
    resumed = weights(tmp_path / "second" / "checkpoint.pt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)  # bitwise: same CPU, same kernels


def test_a_sweep_sent_sigterm_leaves_no_running_run(tmp_path, mlflow_uri) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-m", "wgan_repro", "--multirun", *LONG, "train.seed=0,1",
                               f"tracking.uri={mlflow_uri}", "tracking.experiment=sigterm_sweep",
                               f"hydra.sweep.dir={tmp_path}/sweep"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "sweep" / "0" / "config.yaml", victim)
    time.sleep(0.5)
    victim.send_signal(signal.SIGTERM)
    err = victim.communicate(timeout=120)[1].decode()
    assert victim.returncode == 143 and "Traceback" not in err, err[-2000:]
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("sigterm_sweep").experiment_id])
    assert {r.info.status for r in runs} == {"KILLED"} and len(runs) == 2  # the parent and the first job; no second
    assert all(r.data.tags["status_reason"].startswith("stopped by SIGTERM") for r in runs)


def test_sigusr2_checkpoints_a_run_then_hands_the_signal_to_the_handler_before_it(tmp_path, mlflow_uri) -> None:
    """SLURM's warning before a time limit or a preemption (SIGUSR2, submitit's --signal): the run stops after its
    generator iteration as for SIGTERM, checkpointed and KILLED, and only then is the handler that was installed
    before it called (in a submitit job, submitit's: it requeues the job and exits), once, with the signal."""
    import threading

    from wgan_repro.runs import stopping

    out = tmp_path / "run"
    calls: list[tuple[int, int]] = []

    def submitits(signum: int, frame) -> None:  # what submitit does: requeue, then exit the job
        calls.append((signum, torch.load(out / "checkpoint.pt", weights_only=False)["gen_iter"]))
        raise SystemExit(-1)

    def warn() -> None:  # as SLURM's clock would, once training has started
        deadline = time.monotonic() + 120
        while not (out / "config.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGUSR2)

    before = signal.signal(signal.SIGUSR2, submitits)
    try:
        cfg, choices = compose(*LONG, "train.checkpoint_every=1000000", f"tracking.uri={mlflow_uri}",
                               "tracking.experiment=usr2")
        threading.Thread(target=warn, daemon=True).start()
        with pytest.raises(SystemExit) as exited:
            run(cfg, choices, out)
        assert signal.getsignal(signal.SIGUSR2) is submitits  # restored before it was called
    finally:
        signal.signal(signal.SIGUSR2, before)
    assert exited.value.code == -1 and isinstance(exited.value.__context__, stopping.Stopped)
    ((signum, at),) = calls
    assert signum == signal.SIGUSR2 and 0 < at < 1500, "the run ended before the signal"
    client = MlflowClient(mlflow_uri)
    (killed,) = client.search_runs([client.get_experiment_by_name("usr2").experiment_id])
    assert killed.info.status == "KILLED"
    assert killed.data.tags["status_reason"].startswith(f"stopped by SIGUSR2 after generator iteration {at}; ")
