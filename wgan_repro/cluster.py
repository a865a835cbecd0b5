"""SLURM through submitit, on clusters with accounting and without: reproduce's pool of SLURM jobs (`SlurmPool`,
launcher=slurm), the keys it shares with Hydra's sweeps (conf/hydra/launcher/slurm.yaml), and the job states.

submitit learns that a job ended from `sacct`. A cluster without accounting (no slurmdbd: a small lab cluster, or
scripts/local_slurm.sh's single node) answers every sacct call with an error, and submitit, which logs the error
and keeps the last state it knew, then never sees a job that SLURM killed before it wrote its result end: the
sweep waits forever. `install()` gives submitit's SLURM jobs a watcher that asks sacct when accounting answers and
`squeue --states=all` otherwise: the same three fields (job, state, node) for the jobs the controller still holds,
ended ones included for MinJobAge (local_slurm.sh keeps them an hour; SLURM's default is 5 minutes, so a cluster
without accounting should raise it above a sweep's polling interval).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from omegaconf import OmegaConf
from submitit.helpers import Checkpointable
from submitit.slurm import slurm

from wgan_repro.schema import ConfigError

FIELDS = "JobID|State|NodeList"  # sacct's header for `-o JobID,State,NodeList --parsable2`, which read_info parses


@functools.lru_cache(maxsize=1)
def accounting() -> bool:
    """Whether this cluster's sacct answers (asked once per process)."""
    try:
        done = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class QueueWatcher(slurm.SlurmInfoWatcher):
    """submitit's SLURM watcher, reading states from squeue where sacct has no accounting to read."""

    def _make_command(self) -> list[str] | None:
        command = super()._make_command()
        if command is None or accounting():
            return command
        ids = sorted({x.split("_")[0] for x in self._registered - self._finished})
        return ["squeue", "-h", "--states=all", "-o", "%i|%T|%N", "-j", ",".join(ids)]

    def read_info(self, string: Any) -> dict[str, dict[str, str]]:
        text = string.decode() if isinstance(string, bytes) else str(string)
        return super().read_info(text if accounting() else f"{FIELDS}\n{text}")


def install() -> None:
    """submitit's SLURM jobs (Hydra's submitit launcher's and reproduce's) watched by QueueWatcher."""
    if not isinstance(slurm.SlurmJob.watcher, QueueWatcher):
        slurm.SlurmJob.watcher = QueueWatcher(delay_s=60)


# --------------------------------------------------------------------------- reproduce's runs as SLURM jobs
LAUNCHER_FILE = Path(__file__).resolve().parents[1] / "conf" / "hydra" / "launcher" / "slurm.yaml"
HYDRA_ONLY = ("defaults", "submitit_folder")  # Hydra's launcher's own: the composition and its job folder


def slurm_keys() -> dict[str, Any]:
    """The SLURM keys of conf/hydra/launcher/slurm.yaml: one home for the values that Hydra's sweeps and
    reproduce's claims both send to the cluster."""
    keys = OmegaConf.to_container(OmegaConf.load(LAUNCHER_FILE))
    return {k: v for k, v in keys.items() if k not in HYDRA_ONLY}


def settings(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """slurm_keys() with reproduce's `slurm.<key>=` overrides; a key the launcher file lacks is refused, naming
    the allowed ones."""
    keys = slurm_keys()
    unknown = sorted(set(overrides) - set(keys))
    if unknown:
        raise ConfigError(f"slurm.{unknown[0]}={overrides[unknown[0]]}: not a SLURM key; allowed: "
                          f"{', '.join(sorted(keys))} (conf/hydra/launcher/slurm.yaml)")
    return {**keys, **overrides}


def executor(keys: Mapping[str, Any], folder: Path) -> Any:
    """A submitit SLURM executor with the keys as Hydra's submitit launcher sends them (its folder fresh per launch:
    a local cluster's job IDs restart at 1 when its state is wiped, and a reused folder would give an old result)."""
    import submitit

    install()
    ex = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=int(keys["max_num_timeout"]))
    params = {"gpus_per_node": keys["gpus_per_node"] or None, "cpus_per_task": keys["cpus_per_task"],
              "time": int(keys["timeout_min"]), "array_parallelism": int(keys["array_parallelism"]),
              "signal_delay_s": int(keys["signal_delay_s"]),
              "additional_parameters": dict(keys["additional_parameters"] or {}),
              "mem": f"{keys['mem_gb']}GB" if keys.get("mem_gb") else None, "partition": keys["partition"]}
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


class Requeueable(Checkpointable):
    """A run's function as a checkpointable submitit job: on SLURM's SIGUSR2 (a time limit or a preemption) the run
    checkpoints (runs/stopping.py hands the signal on), submitit resubmits the same call and requeues the job, and
    the call, under submitit train.resume=auto, continues the run from its checkpoint, up to max_num_timeout
    times."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class SlurmPool:
    """The cluster as reproduce's pool: the runs of one round of a claim are one job array, and each job's end is
    awaited by a thread here, so the claims' loop waits on futures as it does with the local process pool. A job
    that SLURM ends before it writes its result (cancelled, its node lost, out of time more than max_num_timeout
    times) is reported KILLED or FAILED with SLURM's state, never waited on forever; one that SLURM warns of a time
    limit or a preemption is requeued and continues its run (Requeueable)."""

    def __init__(self, keys: Mapping[str, Any], folder: Path) -> None:
        self.executor = executor(keys, folder)
        self.waiting = cf.ThreadPoolExecutor(max_workers=64, thread_name_prefix="slurm-job")
        self.jobs: list[Any] = []

    def submit_all(self, fn: Callable[..., tuple[str, str, str | None]], calls: Sequence[tuple[Any, ...]],
                   arm_of: Callable[[tuple[Any, ...]], str]) -> list[cf.Future]:
        with self.executor.batch():
            jobs = [self.executor.submit(Requeueable(fn), *args) for args in calls]
        self.jobs += jobs
        return [self.waiting.submit(ended, job, arm_of(args)) for job, args in zip(jobs, calls)]

    def stop(self) -> None:
        """Cancel every job not yet ended: SLURM sends a running one SIGTERM (its run checkpoints and ends KILLED,
        and a relaunch continues it)."""
        for job in self.jobs:
            if not job.done():
                job.cancel(check=False)

    def __enter__(self) -> "SlurmPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.waiting.shutdown(wait=True, cancel_futures=True)


def ended(job: Any, arm: str) -> tuple[str, str, str | None]:
    """A job's (arm, status, reason): its run's own result, or SLURM's state when the job wrote none."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        return job.result()
    except UncompletedJobError:
        state = job.state
        status = "KILLED" if state.startswith(("CANCELLED", "TIMEOUT", "PREEMPTED")) else "FAILED"
        return arm, status, (f"SLURM job {job.job_id} ended {state} before its run wrote a result; relaunching the "
                             "command continues the run from its checkpoint")
    except FailedJobError as exc:
        return arm, "FAILED", f"SLURM job {job.job_id}: {str(exc).strip().splitlines()[-1][:300]}"
