"""Set-up shared by a single run (runner.py), an ensemble (ensemble.py), the benchmark and re-evaluation: seeding,
the device, optimisers, and building data, networks, objective, constraint and evaluator from a validated config.
Below all of them: it imports none of them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from wgan_repro.config import build
from wgan_repro.data import build_data
from wgan_repro.evaluate.evaluator import build_evaluator
from wgan_repro.models import build_critic, build_generator, n_params
from wgan_repro.runs.checkpoint import TrainState

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_numerics(train: DictConfig) -> None:
    """train.flush_denormal: float denormals (below 1.2e-38 in float32) computed as zero on the CPU. RMSProp's
    running square of a weight whose gradient stopped decays by 0.99 a step into them after ~7,000 steps, where an
    RMSProp step costs ~2.6x (a whole toy run: 1.05x; docs/speed.md); the values flushed are far below the
    optimiser's eps (1e-8), so no update changes by more than float rounding."""
    torch.set_flush_denormal(bool(train.flush_denormal))


def resolve_device(name: str) -> torch.device:
    name = str(getattr(name, "value", name))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_dtype(precision: Any) -> torch.dtype:
    """The float type of a run's parameters, data and losses: float64 under train.precision=fp64, else float32 (bf16
    autocasts forward passes of float32 networks)."""
    return torch.float64 if str(getattr(precision, "value", precision)) == "fp64" else torch.float32


def target(node: DictConfig) -> str:
    """A component's class or function name, for what a run says it is preparing."""
    return str(node.get("_target_", "?")).rsplit(".", 1)[-1]


def learning_rate(cfg: DictConfig, network: str) -> float:
    """optimizer.lr_<network> (generator or critic), else optimizer.lr."""
    value = cfg.get(f"lr_{network}")
    return value if value is not None else cfg.lr


def make_optimizer(cfg: DictConfig, params, network: str) -> torch.optim.Optimizer:
    """torch.optim from conf/optimizer (a `_partial_` target) at the network's learning rate (parameter groups that
    carry their own lr keep it). Steps run as multi-tensor (foreach) kernels where the optimiser has them: fewer
    calls per step, bitwise the same update (PyTorch picks them by itself only on CUDA)."""
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in ("lr_critic", "lr_generator")}
    optimizer = build(kwargs)
    if "foreach" in inspect.signature(optimizer.func).parameters:
        optimizer = functools.partial(optimizer, foreach=True)
    return optimizer(params, lr=learning_rate(cfg, network))


def compile_forward(*modules: torch.nn.Module) -> None:
    """train.compile: each module's forward compiled; the modules stay as they are (checkpoints unchanged)."""
    for module in modules:
        module.forward = torch.compile(module.forward)


def build_parts(cfg: DictConfig, compile_models: bool = True) -> tuple[TrainState, Any, Any, Any, Any]:
    """Seed, then data, networks, optimisers, objective, constraint and evaluator for a validated config.
    compile_models=False leaves train.compile to the caller (an ensemble compiles its stacked networks)."""
    seed_everything(cfg.train.seed)
    cpu_numerics(cfg.train)
    device = resolve_device(cfg.train.device)
    dtype = run_dtype(cfg.train.precision)
    data = build_data(cfg.data, device)
    if dtype != data.dtype:  # fp64: toy data only (validate)
        data = data.to(dtype)
    generator = build_generator(cfg.arch, data.shape).to(device, dtype)  # initialised in float32, then cast
    constraint = build(cfg.constraint)
    critic = constraint.wrap(build_critic(cfg.critic, data.shape)).to(device, dtype)  # spectral norm; refusals
    log.info("prepared %s data, %s generator, %s critic and %s evaluation on %s", target(cfg.data), target(cfg.arch),
             target(cfg.critic), target(cfg.eval), device)  # after the refusals data and models can make
    if cfg.train.channels_last and len(data.shape) == 3:  # images: (C, H, W)
        generator, critic = (m.to(memory_format=torch.channels_last) for m in (generator, critic))
    if cfg.train.compile and compile_models:
        compile_forward(generator, critic)
    state = TrainState(generator, critic,
                       make_optimizer(cfg.optimizer, generator.parameters(), "generator"),
                       make_optimizer(cfg.optimizer, critic.parameters(), "critic"))
    objective = build(cfg.objective)
    evaluator = build_evaluator(cfg.eval, data, cfg.arch.nz, cfg.train.seed)
    log.info("generator %s params, critic %s params, device %s", f"{n_params(generator):,}",
             f"{n_params(critic):,}", device)
    return state, data, objective, constraint, evaluator
