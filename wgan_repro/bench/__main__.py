"""`python -m wgan_repro.bench`: the command (its page: wgan_repro/bench/__init__.py). Its --help and refusals load no
torch; the measurements (timing.py) load when it runs."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import wgan_repro.bench as page
from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.bench import unknown_settings
from wgan_repro.config import ConfigError
from wgan_repro.schema import register_configs

register_app_configs()  # conf/<app>.yaml names its schema


@hydra.main(version_base="1.3", config_path="../../conf", config_name="bench")
def main(cfg: DictConfig) -> None:
    from wgan_repro.bench import timing  # torch and the run layer: --help and refusals answer without them

    register_configs()
    try:
        status = timing.run(cfg.bench)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    if status:
        sys.exit(status)


def preflight(cfg: DictConfig) -> None:
    """Before Hydra starts: the settings are known ones."""
    refusal = unknown_settings(list(cfg.bench.settings))
    if refusal:
        raise cli.BadInput(refusal)


def entry() -> None:
    cli.run("wgan_repro.bench", "bench", main, page.__doc__.split("\n\n")[0], preflight)


if __name__ == "__main__":
    entry()
