"""A finished run re-evaluated (`python -m wgan_repro.evaluate run_id=<id>`): its final checkpoint loaded from
MLflow, built as the run built it, measured under new eval settings, and the metrics logged into the same run at the
checkpoint's generator iteration (no new run)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from wgan_repro.config import ConfigError, check_ranges
from wgan_repro.runs.setup import build_parts
from wgan_repro.schema import SCHEMAS
from wgan_repro.store import mlflow_client, resolve_uri
from wgan_repro.tracking import MLflowTracker


def eval_config(saved: DictConfig, overrides: DictConfig) -> DictConfig:
    """The run's eval config with the overrides merged through its typed schema (types and ranges checked)."""
    target = saved.eval._target_
    schema = next((c for c in SCHEMAS["eval"].values() if c._target_ == target), None)
    if schema is None:
        raise ConfigError(f"eval._target_={target}: not an evaluator this version knows")
    merged = OmegaConf.merge(OmegaConf.structured(schema), saved.eval, overrides.eval or {})
    check_ranges(merged, "eval.")
    return merged


def download_checkpoint(client: Any, run_id: str, into: Path) -> dict[str, Any]:
    try:
        path = client.download_artifacts(run_id, "checkpoints/checkpoint.pt", str(into))
    except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        raise ConfigError(f"run_id={run_id}: no checkpoints/checkpoint.pt in its artifacts ({exc}); only runs that "
                          "reached their end log one") from exc
    return torch.load(path, map_location="cpu", weights_only=False)


def reevaluate(args: DictConfig, command: str) -> dict[str, float]:
    """Metrics of a run's final generator under new eval settings, logged into that run."""
    if args.run_id is None:
        raise ConfigError("run_id is required: python -m wgan_repro.evaluate run_id=<id>")
    uri = resolve_uri(args.tracking.uri)
    client = mlflow_client(uri)
    run_id = str(args.run_id)
    try:
        status = client.get_run(run_id).info.status
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"run_id={run_id}: no such run in {uri} ({exc})") from exc
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = download_checkpoint(client, run_id, Path(tmp))
        cfg = OmegaConf.create(ckpt["config"])
        cfg.eval = eval_config(cfg, args)
        cfg.train.device = str(getattr(args.train.device, "value", args.train.device))  # (a Device choice)
        # the run's own build (a spectral-norm critic is wrapped, so its checkpoint loads)
        state, _, _, _, evaluator = build_parts(cfg, compile_models=False)
        generator, critic = state.generator, state.critic
        generator.load_state_dict(ckpt["generator"])
        critic.load_state_dict(ckpt["critic"])
        tracker = MLflowTracker(uri, "", "", {}, run_id=run_id)
        step = int(ckpt["gen_iter"])
        try:
            metrics = evaluator(step, generator, critic, Path(tmp) / "out", tracker)
            tracker.log_metrics(metrics, step=step)
            known = client.get_run(run_id).data.params
            tracker.log_params({k: v for k, v in evaluator.params().items() if k not in known})
            tracker.set_tags(evaluator.tags())
            record = Path(tmp) / f"reeval_{step:07d}_{int(time.time())}.json"
            record.write_text(json.dumps({"step": step, "metrics": metrics, "protocol": evaluator.params(),
                                          "command": command},
                                         indent=1))
            tracker.log_artifact(record, "evaluations")
        finally:
            tracker.finish(status)
    return metrics
