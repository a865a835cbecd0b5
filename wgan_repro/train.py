"""One run: build everything from the config, train with Algorithm 1, evaluate, track.

`run(cfg, choices, out_dir)` validates the config and builds data, models and optimisers before it
opens a tracking run, so a rejected config leaves nothing behind. The loop in `train` follows
Algorithm 1 line by line; bookkeeping sits under its own banner after it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from wgan_repro.config import ConfigError, build, validate
from wgan_repro.data import build_data
from wgan_repro.diagnostics import StepCosine
from wgan_repro.evaluate import build_evaluator
from wgan_repro.models import build_critic, build_generator, n_params
from wgan_repro.tracking import git_commit, start_tracker

log = logging.getLogger(__name__)

GROUPS = ("arch", "critic", "objective", "constraint", "optimizer", "data", "eval", "study")


# --------------------------------------------------------------------------- training state
@dataclass
class TrainState:
    """Everything a run needs to continue: networks, optimisers, the generator-iteration counter."""

    generator: nn.Module
    critic: nn.Module
    opt_generator: torch.optim.Optimizer
    opt_critic: torch.optim.Optimizer
    gen_iter: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "critic": self.critic.state_dict(),
                "opt_generator": self.opt_generator.state_dict(), "opt_critic": self.opt_critic.state_dict(),
                "gen_iter": self.gen_iter, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                                   "python": random.getstate(),
                                                   "cuda": torch.cuda.get_rng_state_all()}}

    def load_state_dict(self, ckpt: Mapping[str, Any]) -> None:
        for name in ("generator", "critic", "opt_generator", "opt_critic"):
            getattr(self, name).load_state_dict(ckpt[name])
        self.gen_iter = ckpt["gen_iter"]
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def save(self, path: Path, cfg: DictConfig, run_id: str | None, data: Any) -> None:
        """Write the state with the resolved config, the tracking run and the data order beside it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        extra = {"config": OmegaConf.to_yaml(cfg), "run_id": run_id,
                 "data": data.state_dict() if hasattr(data, "state_dict") else None}
        torch.save({**self.state_dict(), **extra}, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint


RESUMABLE_CHANGES = {"train.iterations", "train.resume", "train.progress", "train.device"}


def load_resume(cfg: DictConfig) -> dict[str, Any]:
    """The checkpoint named by train.resume, refused unless it was written by the same command
    (only train.iterations, train.device and train.progress may differ)."""
    path = Path(cfg.train.resume)
    if not path.is_file():
        raise ConfigError(f"train.resume={cfg.train.resume}: no such checkpoint file (each run writes "
                          "checkpoint.pt into its output folder, outputs/<date>/<time>/)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    saved, now = flat_params(OmegaConf.create(ckpt["config"])), flat_params(cfg)
    differ = sorted(k for k in saved.keys() | now.keys()
                    if k not in RESUMABLE_CHANGES and str(saved.get(k)) != str(now.get(k)))
    if differ:
        raise ConfigError(f"train.resume={path}: the checkpoint was written with other settings; rerun its command. "
                          "Differing: " + ", ".join(f"{k} ({saved.get(k)} there, {now.get(k)} here)" for k in differ))
    return ckpt


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    name = str(getattr(name, "value", name))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(cfg: DictConfig, params, lr: float | None) -> torch.optim.Optimizer:
    """torch.optim from conf/optimizer (a `_partial_` target); per-network lr falls back to optimizer.lr."""
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in ("lr_critic", "lr_generator")}
    return build(kwargs)(params, lr=lr if lr is not None else cfg.lr)


def critic_iterations(gen_iter: int, train: DictConfig) -> int:
    """n_critic, or the official code's bursts (not in Algorithm 1): 100 critic steps for the first
    25 generator iterations and on every 500th (official main.py, checked before the critic loop)."""
    if train.warmup and (gen_iter < train.warmup_first or gen_iter % train.warmup_every == 0):
        return train.warmup_critic_iters
    return train.n_critic


def wants_step_cosine(cfg: DictConfig) -> bool:
    """train.log_step_cosine, or by default: on for optimisers with momentum (Adam's betas, RMSProp's momentum)."""
    if cfg.train.log_step_cosine is not None:
        return bool(cfg.train.log_step_cosine)
    return "betas" in cfg.optimizer or cfg.optimizer.get("momentum", 0) > 0


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def critic_scores(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, joint: bool) -> tuple[torch.Tensor, ...]:
    """f(real), f(fake), each (m,). joint: one pass over both batches (same result for a critic without batch
    norm, ~25% faster on CPU); otherwise two passes, so batch norm sees each batch alone (official main.py)."""
    if joint:
        return critic(torch.cat([real, fake])).split([len(real), len(fake)])
    return critic(real), critic(fake)


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, probe: StepCosine | None = None) -> None:
    """zero_grad, backward, step; a probe (Sec. 4.3's cosine) looks at the parameters around the step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if probe is not None:
        probe.before_step()
    optimizer.step()
    if probe is not None:
        probe.after_step()


def progress_enabled(cfg: DictConfig) -> bool:
    return bool(cfg.train.progress) and not os.environ.get("CI") and sys.stderr.isatty()


# --------------------------------------------------------------------------- the loop
def train(cfg: DictConfig, state: TrainState, data, objective, constraint, evaluator, tracker,
          out_dir: Path) -> tuple[str | None, dict[str, float]]:
    """Algorithm 1 until cfg.train.iterations generator iterations; returns (why it failed or None, last eval)."""
    generator, critic = state.generator, state.critic
    m, nz, device = cfg.train.batch_size, cfg.arch.nz, data.device
    joint = not has_batch_norm(critic)
    history = MetricHistory(cfg.train.divergence_threshold)
    probe = StepCosine(critic.parameters()) if wants_step_cosine(cfg) else None
    metrics: dict[str, float] = {}
    bar = tqdm(total=cfg.train.iterations, initial=state.gen_iter, disable=not progress_enabled(cfg),
               unit="it", dynamic_ncols=True, desc=f"{objective.name}")
    for gen_iter in range(state.gen_iter, cfg.train.iterations):
        # -- Algorithm 1, lines 2-8: train the critic ----------------------------------------
        critic.requires_grad_(True)
        for _ in range(critic_iterations(gen_iter, cfg.train)):
            constraint.before(critic)  # official main.py clamps here (constraint.when=before)
            x = data.sample(m)  # line 3: a batch of real data, (m, *shape)
            z = torch.randn(m, nz, device=device)  # line 4: a batch of priors, (m, nz)
            with torch.no_grad():
                fake = generator(z)
            loss_critic, stats = objective.critic_loss(*critic_scores(critic, x, fake, joint))  # line 5
            step(state.opt_critic, loss_critic, probe)  # line 6: RMSProp (or the configured optimiser)
            constraint.after(critic)  # line 7: w <- clip(w, -c, c)

        # -- Algorithm 1, lines 9-11: train the generator ------------------------------------
        critic.requires_grad_(False)  # no critic gradients needed for the generator's step
        z = torch.randn(m, nz, device=device)  # line 9
        loss_generator = objective.generator_loss(critic(generator(z)))  # line 10
        step(state.opt_generator, loss_generator)  # line 11
        state.gen_iter = done = gen_iter + 1

        # -- bookkeeping (not in Algorithm 1) -------------------------------------------------
        history.append(done, {"loss/critic": loss_critic.detach(), "loss/generator": loss_generator.detach(),
                              **stats, **(probe.pop() if probe else {})})
        last = done == cfg.train.iterations
        if done % cfg.train.log_every == 0 or last:
            failure = history.flush(tracker, bar, objective.estimate_key)
            if failure:
                bar.close()
                return failure, metrics
        if done % cfg.eval.every == 0 or last:
            metrics = evaluator(done, generator, critic, out_dir, tracker)
            tracker.log_metrics(metrics, step=done)
            tracker.flush()
            log.info("iter %d: %s", done, "  ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
            if not last:  # run() writes the final checkpoint once the run is finished
                state.save(out_dir / "checkpoint.pt", cfg, tracker.run_id, data)
        bar.update(1)
    bar.close()
    return None, metrics


class MetricHistory:
    """Per-iteration metrics kept on the device as 0-d tensors; moved to the host once per flush."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.steps: list[int] = []
        self.rows: list[dict[str, torch.Tensor]] = []
        self.since = time.perf_counter()

    def append(self, step: int, metrics: Mapping[str, torch.Tensor]) -> None:
        self.steps.append(step)
        self.rows.append(dict(metrics))

    def flush(self, tracker, bar: tqdm, estimate_key: str) -> str | None:
        """Log buffered metrics plus perf/gen_iters_per_s; return a failure reason on NaN or blow-up."""
        if not self.steps:
            return None
        keys = list(self.rows[0])
        values = torch.stack([torch.stack([row[k] for row in self.rows]) for k in keys]).float().cpu()  # (K, T)
        now = time.perf_counter()
        rate = len(self.steps) / max(now - self.since, 1e-9)
        failure = None
        for t, step_ in enumerate(self.steps):
            row = {k: float(values[i, t]) for i, k in enumerate(keys)}
            tracker.log_metrics(row, step=step_)
            bad = {k: v for k, v in row.items() if not math.isfinite(v) or abs(v) > self.threshold}
            if bad and failure is None:
                listed = ", ".join(f"{k}={v:.4g}" for k, v in bad.items())
                failure = f"diverged at generator iteration {step_}: {listed}"
        tracker.log_metrics({"perf/gen_iters_per_s": rate}, step=self.steps[-1])
        tracker.flush()
        bar.set_postfix({estimate_key.split("/")[1]: f"{float(values[keys.index(estimate_key), -1]):.4f}"}
                        if estimate_key in keys else {})
        self.steps, self.rows, self.since = [], [], now
        return failure


# --------------------------------------------------------------------------- one run
def flat_params(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config flattened to dotted keys, as MLflow params."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "")
    return out


def run_tags(cfg: DictConfig, choices: Mapping[str, str], command: str | None = None) -> dict[str, str]:
    """Group choices, seed, commit, experiment, sweep, and the command that reproduces the run (also shown as
    the run's description in the MLflow UI)."""
    tags = {g: str(choices.get(g, "?")) for g in GROUPS}
    tags.update(seed=str(cfg.train.seed), git_commit=git_commit(), experiment=str(cfg.experiment or ""),
                sweep=str(cfg.sweep or ""))
    if command:
        tags.update({"command": command, "mlflow.note.content": f"Reproduce: `{command}`"})
    return tags


def open_tracker(cfg: DictConfig, choices: Mapping[str, str], run_id: str | None = None,
                 command: str | None = None):
    """The MLflow run (or a null tracker) named <objective>-<arch>-<data>-s<seed> unless tracking.run_name is set."""
    tags = run_tags(cfg, choices, command)
    default = f"{cfg.experiment}-s{cfg.train.seed}" if cfg.study is not None else \
        f"{tags['objective']}-{tags['arch']}-{tags['data']}-s{cfg.train.seed}"
    return start_tracker(cfg.tracking.uri, cfg.tracking.experiment, cfg.tracking.run_name or default, tags,
                         cfg.tracking.enabled, run_id=run_id)


@contextlib.contextmanager
def marking_failures(tracker, where: Callable[[], str]) -> Iterator[None]:
    """An exception marks the run FAILED with the error, Ctrl-C marks it KILLED; what was logged stays."""
    try:
        yield
    except KeyboardInterrupt:
        tracker.finish("KILLED", f"interrupted {where()}")
        raise
    except Exception as exc:
        tracker.finish("FAILED", f"{type(exc).__name__}: {exc}")
        raise


def run_study(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None
              ) -> dict[str, Any]:
    """A study that trains no generator (Figures 1 and 3): one tracked run, its curves and figure."""
    seed_everything(cfg.train.seed)
    study = build(cfg.study)
    tracker = open_tracker(cfg, choices, command=command)
    with marking_failures(tracker, lambda: "during the study"):
        tracker.log_params(flat_params(cfg))
        metrics = study(cfg.critic, tracker, out_dir)
    tracker.finish("FINISHED")
    if hasattr(tracker, "ui_hint"):
        print(tracker.ui_hint(), file=sys.stderr)
    return {"run_id": tracker.run_id, "status": "FINISHED", "reason": None, "gen_iter": 0, "metrics": metrics}


def run(cfg: DictConfig, choices: Mapping[str, str], out_dir: Path, command: str | None = None) -> dict[str, Any]:
    """Validate, build, then train one run under tracking. Returns the run id, status and final metrics."""
    validate(cfg)  # raises ConfigError before anything is created
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.study is not None:
        return run_study(cfg, choices, out_dir, command)
    seed_everything(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    data = build_data(cfg.data, device)
    generator = build_generator(cfg.arch, data.shape).to(device)
    critic = build_critic(cfg.critic, data.shape).to(device)
    state = TrainState(generator, critic,
                       make_optimizer(cfg.optimizer, generator.parameters(), cfg.optimizer.lr_generator),
                       make_optimizer(cfg.optimizer, critic.parameters(), cfg.optimizer.lr_critic))
    objective, constraint = build(cfg.objective), build(cfg.constraint)
    evaluator = build_evaluator(cfg.eval, data, cfg.arch.nz, cfg.train.seed)
    ckpt = load_resume(cfg) if cfg.train.resume else None
    log.info("generator %s params, critic %s params, device %s", f"{n_params(generator):,}",
             f"{n_params(critic):,}", device)

    tracker = open_tracker(cfg, choices, run_id=ckpt["run_id"] if ckpt else None, command=command)
    with marking_failures(tracker, lambda: f"at generator iteration {state.gen_iter}"):
        if ckpt:
            state.load_state_dict(ckpt)
            if ckpt["data"] is not None:
                data.load_state_dict(ckpt["data"])
            log.info("resuming %s at generator iteration %d", tracker.run_id or "(untracked run)", state.gen_iter)
        else:
            tracker.log_params({**flat_params(cfg), **evaluator.params()})
            tracker.set_tags(evaluator.tags())
            (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
            tracker.log_artifact(out_dir / "config.yaml")
        failure, metrics = train(cfg, state, data, objective, constraint, evaluator, tracker, out_dir)
    evaluator.finish(state.generator, out_dir, tracker)
    state.save(out_dir / "checkpoint.pt", cfg, tracker.run_id, data)
    tracker.log_artifact(out_dir / "checkpoint.pt", "checkpoints")
    if not failure:
        tracker.log_generator(state.generator, cfg.arch.nz)
    status = "FAILED" if failure else "FINISHED"
    if failure:
        log.error("run failed: %s", failure)
    tracker.finish(status, failure)
    if hasattr(tracker, "ui_hint"):
        print(tracker.ui_hint(), file=sys.stderr)
    return {"run_id": tracker.run_id, "status": status, "reason": failure, "gen_iter": state.gen_iter,
            "metrics": metrics}
