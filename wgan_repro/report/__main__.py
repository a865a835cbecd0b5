"""`python -m wgan_repro.report [overrides]`: compose conf/report.yaml with Hydra and write a report from MLflow."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.store import resolve_uri

register_app_configs()  # conf/<app>.yaml names its schema
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars of its own


@hydra.main(version_base="1.3", config_path="../../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    from wgan_repro.report.document import (
        build,  # pandas, matplotlib and mlflow: --help and refusals answer without them
    )

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(name)s] %(message)s")
    r = cfg.report
    out_dir = Path(r.out_dir or Path("reports") / r.name)
    preface = Path(r.preface).read_text() if r.preface else ""
    verdicts = Path(r.verdicts).read_text() if r.verdicts else ""
    try:
        result = build(resolve_uri(cfg.tracking.uri), cfg.tracking.experiment, out_dir, r.name, r.filter, r.sweep,
                       preface, verdicts)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {out_dir / 'report.md'}, {out_dir / 'report.html'} ({len(result['runs'])} runs, "
          f"{len(result['figures'])} figures)", file=sys.stderr)


def preflight(cfg: DictConfig) -> None:
    """Before Hydra starts: the store must exist (reading a missing SQLite file would create one), the output
    folder must be writable, the text files must exist."""
    cli.existing_store(cfg.tracking.uri)
    cli.writable_folder("report.out_dir", cfg.report.out_dir or Path("reports") / cfg.report.name)
    for key in ("preface", "verdicts"):
        if cfg.report[key] and not Path(cfg.report[key]).is_file():
            raise cli.BadInput(f"report.{key}={cfg.report[key]}: no such file; allowed: a text file, or null")


def entry() -> None:
    cli.run("wgan_repro.report", "report", main, __doc__, preflight)


if __name__ == "__main__":
    entry()
