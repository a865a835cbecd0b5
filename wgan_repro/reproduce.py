"""`python -m wgan_repro.reproduce claim=F2 budget=cpu`: run a claim's runs and render its verdict.

For each (arm, seed) of the claim's budget (conf/claim/<id>.yaml) one run of `python -m wgan_repro` with
`train.resume=auto`, all children of one parent MLflow run tagged claim=<id>, budget=<budget>: a relaunch finds the
parent of the same claim, budget and commit, skips what finished and continues what did not (claims/launch.py).
Then the claim's module and the shared engine (claims/<id>.py, claims/engine.py) decide the verdict from the runs'
data (claims/data.py), and the section is written (claims/render.py, claims/section.py) and logged into the parent,
which carries the verdict as tag `verdict`. `claim=all` runs every claim in order; `plan=true` prints what the
budget can decide and trains nothing; `render_from=<section>/data` re-renders a section from its committed export.
This module only parses, plans or runs, and prints: the pipeline lives in claims/.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.claims import EXPLORATORY, REPO, claim_ids, load_claim
from wgan_repro.config import ConfigError
from wgan_repro.runs import stopping

log = logging.getLogger("wgan_repro.reproduce")
register_app_configs()  # conf/<app>.yaml names its schema
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars of its own


@hydra.main(version_base="1.3", config_path="../conf", config_name="reproduce")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(asctime)s %(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command = "python -m wgan_repro.reproduce " + " ".join(sys.argv[1:])
    from wgan_repro.claims import launch, render  # the pipeline loads torch, scipy and matplotlib: --help does not

    GlobalHydra.instance().clear()  # each run composes its own config (config.compose)
    budget = str(cfg.budget)
    try:
        claims = [load_claim(i) for i in (claim_ids() if str(cfg.claim.id) == "all" else [str(cfg.claim.id)])]
        if str(cfg.claim.id) == "all" and budget == "pilot":  # an optional budget: the claims that have one
            claims = [c for c in claims if budget in c.budgets]
        todo = {c.id: launch.check(c, budget, cfg) for c in claims}  # every config checked before any work
        if cfg.plan:
            print(launch.plans_text(claims, budget, cfg))
        elif cfg.render_only or cfg.render_from:
            for claim in claims:
                render.render_claim(claim, budget, cfg, command, None)
        else:
            launch.reproduce(claims, budget, cfg, todo, command)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except stopping.Stopped as exc:  # its runs checkpointed and KILLED, its parent KILLED
        print(f"stopped: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def preflight(cfg: DictConfig) -> None:
    """Before Hydra starts: the folders a command writes and the exports it reads."""
    if str(cfg.budget) in EXPLORATORY and cfg.report.out_dir and "reference" in Path(cfg.report.out_dir).parts:
        raise cli.BadInput(f"report.out_dir={cfg.report.out_dir}: budget={cfg.budget} gives no verdict; allowed: "
                           f"any folder outside the reference reproduction (default reports/claims-{cfg.budget})")
    cli.writable_folder("report.out_dir", cfg.report.out_dir or REPO / "reports" / f"claims-{cfg.budget}")
    for key in ("render_from", "pilot"):
        if cfg[key] and not Path(cfg[key], "runs.csv").is_file():
            raise cli.BadInput(f"{key}={cfg[key]}: no export there (no runs.csv); allowed: a section's data/ folder, "
                               "e.g. reports/reference/F5/data")
    if not (cfg.render_from or cfg.plan):
        (cli.existing_store if cfg.render_only else cli.store_folder)(cfg.tracking.uri)
    if cfg.slurm and cfg.launcher != "slurm":
        raise cli.BadInput(f"slurm.{next(iter(cfg.slurm))}: SLURM keys need launcher=slurm; allowed: launcher=slurm "
                           "with them, or neither")
    if cfg.launcher == "slurm":
        from wgan_repro import cluster

        try:
            cluster.settings(cfg.slurm)
        except ConfigError as exc:
            raise cli.BadInput(str(exc)) from None
        if not shutil.which("sbatch"):
            raise cli.BadInput("launcher=slurm: no sbatch on this machine; allowed: local, or slurm where SLURM's "
                               "commands are (a login node; scripts/local_slurm.sh start brings up one here)")


def entry() -> None:
    cli.run("wgan_repro.reproduce", "reproduce", main, __doc__.split("\n\n")[0], preflight, groups=["claim"])


if __name__ == "__main__":
    entry()
