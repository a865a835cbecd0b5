"""`python -m wgan_repro [overrides]`: compose conf/ with Hydra and run one training run (or a sweep)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from wgan_repro.config import ConfigError, register_configs
from wgan_repro.train import run

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> str:
    hc = HydraConfig.get()
    try:
        result = run(cfg, dict(hc.runtime.choices), Path(hc.runtime.output_dir))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return result["status"]


if __name__ == "__main__":
    main()
