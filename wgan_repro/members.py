"""Which runs one config trains: a single run, or the members of an ensemble (train.ensemble, train.ensemble_lr),
and what an ensemble refuses before any work. Below config.validate, which calls it, and the run layer; imports no
training."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from wgan_repro.schema import ConfigError


def ensemble_members(cfg: DictConfig) -> list[tuple[int, float | None]]:
    """The runs an ensemble trains as (seed, optimizer.lr, or None to keep the config's): seeds seed .. seed+K-1 at
    each learning rate of train.ensemble_lr in turn (K = train.ensemble). One member: a plain single run."""
    lrs = list(cfg.train.get("ensemble_lr") or [None])
    return [(cfg.train.seed + k, lr) for lr in lrs for k in range(cfg.train.get("ensemble", 1))]


def check_ensemble(cfg: DictConfig) -> None:
    """train.ensemble=K stacks K MLP runs on toy data; what it cannot do is refused before any work."""
    k = cfg.train.ensemble
    rules = [("arch._target_", cfg.arch._target_, "wgan_repro.models.mlp.MLPGenerator", "arch=mlp"),
             ("critic._target_", cfg.critic._target_, "wgan_repro.models.mlp.MLPCritic", "critic=mlp"),
             ("eval._target_", cfg.eval._target_, "wgan_repro.evaluate.toy.ToyEvaluator", "toy data (a 2-D mixture)")]
    for key, value, allowed, say in rules:
        if value != allowed:
            raise ConfigError(f"train.ensemble={k} needs {say}; got {key}={value}")
    if cfg.get("study") is not None:
        raise ConfigError(f"train.ensemble={k}: a study trains no generator; allowed: train.ensemble=1")
    if cfg.train.resume is not None:
        raise ConfigError(f"train.ensemble={k} with train.resume={cfg.train.resume}: an ensemble starts afresh; each "
                          "member's checkpoint.pt (member<k>/) continues alone as a single run of its seed")
    if cfg.train.get("critic_diagnostics"):
        raise ConfigError(f"train.ensemble={k} with train.critic_diagnostics=true: the diagnostics are per run; "
                          "allowed: false")
    if cfg.train.log_step_cosine:
        raise ConfigError(f"train.ensemble={k} with train.log_step_cosine=true: the cosine is per run; allowed: "
                          "false or null")
    lrs = cfg.train.ensemble_lr
    if lrs is not None:
        if not all(0 < lr < math.inf for lr in lrs):  # (a NaN fails both comparisons)
            raise ConfigError(f"train.ensemble_lr={list(lrs)}: every learning rate must be a finite number > 0")
        for key in ("lr_critic", "lr_generator"):
            if cfg.optimizer.get(key) is not None:
                raise ConfigError(f"train.ensemble_lr sets optimizer.lr for both networks, but optimizer.{key}="
                                  f"{cfg.optimizer[key]} overrides it; allowed: optimizer.{key}=null")
