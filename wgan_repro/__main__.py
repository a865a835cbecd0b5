"""`python -m wgan_repro [overrides]`: compose conf/ with Hydra and run one training run (or a sweep)."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from wgan_repro import cli
from wgan_repro.config import ConfigError, advisories, command_line, validate
from wgan_repro.runs.stopping import Stopped
from wgan_repro.runs.sweep import sweep_parent
from wgan_repro.schema import GROUPS, register_configs
from wgan_repro.store import TrackingUnavailable, resolve_uri, set_terminated

register_configs()
if any(a.startswith("hydra/launcher=") and "slurm" in a for a in sys.argv):  # the sweep waits on SLURM jobs here
    from wgan_repro import cluster

    cluster.install()  # their states from squeue where the cluster keeps no accounting (cluster.py)
log = logging.getLogger("wgan_repro")
EXIT_FAILED = 1  # a run that ended FAILED (diverged, or an error it recorded); 2 is refused input


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> str:
    from wgan_repro.runs.runner import run  # torch, mlflow and the models: --help and refusals answer without them

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        parent = sweep_parent(cfg.tracking.uri, cfg.tracking.experiment, hc.sweep.dir) \
            if multirun and cfg.tracking.enabled else None
        result = run(cfg, dict(hc.runtime.choices), Path(hc.runtime.output_dir), command=command_line(hc),
                     parent=parent)
    except (ConfigError, TrackingUnavailable) as exc:
        if not multirun:  # refused before any work: the folder Hydra made for the run goes too
            forget_run_dir(Path(hc.runtime.output_dir), f"{hc.job.name}.log")
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Stopped as exc:  # checkpointed and marked KILLED; a sweep stops too, its parent KILLED
        if parent:
            set_terminated(resolve_uri(cfg.tracking.uri), parent[0], "KILLED", {"status_reason": str(exc)})
        print(f"stopped: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception:
        if not multirun:
            raise
        # the run is already marked FAILED with the error; the sweep goes on with its other jobs
        log.exception("job %s failed; the sweep goes on", hc.job.num)
        return "FAILED"
    if result["status"] == "FAILED" and not multirun:  # a diverged run is a failed command (a sweep goes on)
        print(f"failed: {result.get('reason') or 'the run ended FAILED'}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    return result["status"]


def forget_run_dir(run_dir: Path, log_name: str) -> None:
    """A refused run leaves nothing behind: the folder Hydra made for it, when it holds only Hydra's own files (its
    .hydra/ and the job's log), and the folders above it that this leaves empty, up to the working directory."""
    if not run_dir.is_dir() or not {p.name for p in run_dir.iterdir()} <= {".hydra", log_name}:
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    here, folder = Path.cwd().resolve(), run_dir.resolve().parent
    while folder != here and here in folder.parents and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def check(cfg: DictConfig) -> None:
    """What `run` would refuse, before Hydra makes a folder or a sweep its parent run; odd combinations warned."""

    hydra_node = cfg.hydra
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    validate(cfg)
    for advice in advisories(cfg):
        print(f"warning: {advice}", file=sys.stderr)
    if cfg.tracking.enabled:
        cli.store_folder(cfg.tracking.uri)
    cli.writable_folder("hydra.run.dir", Path(str(hydra_node.run.dir)).parent)


def entry() -> None:
    cli.run("wgan_repro", "config", main, __doc__, check, groups=list(GROUPS))


if __name__ == "__main__":
    entry()
