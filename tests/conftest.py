"""Shared fixtures: the real conf/ composed with Hydra's compose API, and one migrated MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, open_dict

from wgan_repro.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TINY = ["train.iterations=4", "train.warmup=false", "train.batch_size=16", "train.log_every=2", "eval.every=2",
        "eval.n_samples=200", "eval.w1_points=100", "arch.hidden=16", "critic.hidden=16", "train.progress=false"]

register_configs()


def compose(*overrides: str) -> tuple[DictConfig, dict[str, str]]:
    """The config `python -m wgan_repro <overrides>` would run, and the group choices Hydra made."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the whole session: creating a store runs migrations and costs seconds."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()  # creates and migrates the store once
    return uri
