"""Shared fixtures: the real conf/ composed with Hydra's compose API, and one migrated MLflow store."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
import torch
from omegaconf import DictConfig

from wgan_repro import config

CONF = config.CONF_DIR
if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one torch thread each, not two fighting for one
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # and the runs each worker starts, in it or in a subprocess (host.threads_for)
TINY = ["train.iterations=4", "train.warmup=false", "train.batch_size=16", "train.log_every=2", "eval.every=2",
        "eval.n_samples=200", "eval.w1_points=100", "arch.hidden=16", "critic.hidden=16", "train.progress=false"]


def compose(*overrides: str) -> tuple[DictConfig, dict[str, str]]:
    """The config `python -m wgan_repro <overrides>` would run, and the group choices Hydra made."""
    return config.compose(overrides)


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the whole session: creating a store runs migrations and costs seconds."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()  # creates and migrates the store once
    return uri


def history(uri: str, run_id: str, key: str) -> list[float]:
    """A run's logged values of `key`, in step order."""
    from mlflow.tracking import MlflowClient

    return [m.value for m in sorted(MlflowClient(uri).get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.fixture(autouse=True)
def no_leaked_store() -> Iterator[None]:
    """mlflow.set_tracking_uri writes $MLFLOW_TRACKING_URI: each test leaves it as it found it (under pytest-xdist
    the order of tests changes, and a later test's default store would be an earlier test's deleted one)."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
