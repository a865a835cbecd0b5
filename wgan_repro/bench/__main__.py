"""`python -m wgan_repro.bench`: the command (its page: wgan_repro/bench/__init__.py). Its --help and refusals load no
torch; the measurements (timing.py) load when it runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import wgan_repro.bench as page
from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.bench import COMMON, SETTINGS, unknown_settings
from wgan_repro.config import ConfigError, compose, validate
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
    """Before Hydra starts and any timing: the settings are known ones, each composes and validates with
    bench.overrides, the device is there, and bench.out can be written (a file, in a writable folder)."""
    b = cfg.bench
    refusal = unknown_settings(list(b.settings))
    if refusal:
        raise cli.BadInput(refusal)
    for name in b.settings:
        if name in SETTINGS:
            try:
                validate(compose([*COMMON, *SETTINGS[name], *b.overrides])[0])
            except ConfigError as exc:
                raise cli.BadInput(f"bench.overrides={list(b.overrides)} (setting {name}): {exc}") from None
            except Exception as exc:  # noqa: BLE001 - Hydra's own errors name the bad override
                raise cli.BadInput(f"bench.overrides={list(b.overrides)} (setting {name}): "
                                   f"{cli.explain(exc, list(b.overrides))}") from None
    if getattr(b.device, "value", b.device) == "cuda":
        import torch  # (only to ask for a GPU: --help and the other refusals load no torch)

        if not torch.cuda.is_available():
            raise cli.BadInput("bench.device=cuda: no CUDA device on this machine; allowed: auto, cpu")
    if b.out:
        out = Path(b.out)
        if out.is_dir():
            raise cli.BadInput(f"bench.out={b.out}: is a folder; allowed: a JSON file to write")
        folder = out.parent if str(out.parent) else Path(".")
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise cli.BadInput(f"bench.out={b.out}: {folder} is not a folder this user can write; allowed: a file "
                               "in an existing, writable folder")


def entry() -> None:
    cli.run("wgan_repro.bench", "bench", main, page.__doc__.split("\n\n")[0], preflight)


if __name__ == "__main__":
    entry()
