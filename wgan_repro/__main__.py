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


def reproducing_command(hc) -> str:
    """The single-run command for this job: its config (a sweep file's, when launched from one) and overrides."""
    words = ["python -m wgan_repro"]
    if hc.job.config_name != "config":
        source = next((s.path for s in hc.runtime.config_sources if s.provider == "command-line"), None)
        if source:
            path = Path(source.split("://", 1)[-1])
            words += ["--config-dir", str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)]
        words += ["--config-name", hc.job.config_name]
    return " ".join(words + list(hc.overrides.task))


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> str:
    hc = HydraConfig.get()
    command = reproducing_command(hc)
    try:
        result = run(cfg, dict(hc.runtime.choices), Path(hc.runtime.output_dir), command=command)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return result["status"]


if __name__ == "__main__":
    main()
