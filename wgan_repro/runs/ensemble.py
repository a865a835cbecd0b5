"""train.ensemble=K: K independent toy runs (seeds seed .. seed+K-1; with train.ensemble_lr=[...], those seeds at
each learning rate) trained as one batched computation.

Each member is built exactly as a single run of its seed would be (same initial weights), then the members'
weights are stacked (every nn.Linear becomes a StackedLinear: one batched matmul for K layers), so the loop in
train.py runs once for all of them: one clamp, one batched matmul per layer, one optimiser whose parameter group
k (member k's slices of the stacked weights, at member k's learning rate) holds exactly the state a single run's
optimiser would. Each member keeps its own random stream (a `torch.Generator` in the state the global one would
be in for a single run of its seed) for data and noise, its own evaluator, MLflow run, figures and checkpoint.
Up to float rounding (a batched matmul sums in another order) a member equals the single run of its seed. Its
checkpoint.pt is a single run's: it continues alone with train.resume=<path>.

A member that diverges is marked FAILED with its reason at the flush that sees it (its last good checkpoint
stays) and the others go on; the ensemble stops only when every member has failed.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from omegaconf import DictConfig, open_dict
from torch import nn

from wgan_repro.config import ConfigError, build
from wgan_repro.members import ensemble_members
from wgan_repro.runs.checkpoint import Checkpointer, TrainState
from wgan_repro.runs.setup import build_parts, compile_forward, learning_rate, make_optimizer

log = logging.getLogger(__name__)


class StackedLinear(nn.Module):
    """K nn.Linear layers of one shape as one: weight (K, out, in), bias (K, out); (K, B, in) -> (K, B, out) as one
    batched matmul, computed feature-major (W x^T, then a transposed view) so that neither the forward nor the
    backward pass copies a transposed operand (vmap over nn.Linear spends about a quarter of its time in such
    copies on a CPU)."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(-1), self.weight, x.mT).mT


class Stacked(nn.Module):
    """K modules of one architecture made of nn.Linear layers and parameter-free ones (the toy MLPs) as one: each
    Linear becomes a StackedLinear and the module's own forward runs once for all members, (K, B, ...) ->
    (K, B, ...). Parameters keep the members' names and shapes behind a leading K."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        first = modules[0]
        if any(True for _ in first.buffers()):
            raise ValueError("Stacked supports modules without buffers (no batch norm)")
        self.net = copy.deepcopy(first)
        for name, layer in first.named_modules():
            if isinstance(layer, nn.Linear):
                self.net.set_submodule(name, StackedLinear([m.get_submodule(name) for m in modules]))
            elif any(True for _ in layer.parameters(recurse=False)):
                raise ValueError(f"Stacked: {name} ({type(layer).__name__}) has parameters; only nn.Linear layers "
                                 "are stacked")
        self._template = [copy.deepcopy(first).to("meta")]  # a list: not registered, no meta parameters
        # member k's parameters: views of the stacked ones, what its optimiser group updates in place
        self.views = [[p.detach()[k] for p in self.net.parameters()] for k in range(len(modules))]
        for i, p in enumerate(self.net.parameters()):
            p.register_post_accumulate_grad_hook(functools.partial(self._hand_out, i))

    def _hand_out(self, i: int, p: torch.Tensor) -> None:
        """After backward: each member's view of stacked parameter i gets its slice of the gradient."""
        grad, p.grad = p.grad, None
        for k, views in enumerate(self.views):
            views[i].grad = grad[k]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def member(self, k: int) -> nn.Module:
        """Member k as a plain module (a copy of its current weights), for evaluation and checkpoints."""
        module = copy.deepcopy(self._template[0]).to_empty(device=self.views[k][0].device)
        module.load_state_dict({n: p[k].detach().clone() for n, p in self.net.named_parameters()})
        return module


class EnsembleData:
    """The toy data drawn per member, each member from its own stream: sample (K, m, 2), prior (K, m, nz)."""

    def __init__(self, data: Any, streams: Sequence[torch.Generator]) -> None:
        self.data, self.streams = data, list(streams)
        self.shape, self.device, self.dtype = data.shape, data.device, data.dtype

    def sample(self, m: int) -> torch.Tensor:
        return torch.stack([self.data.sample(m, generator=g) for g in self.streams])

    def prior(self, m: int, nz: int) -> torch.Tensor:
        return torch.stack([torch.randn(m, nz, device=self.device, generator=g, dtype=self.dtype)
                            for g in self.streams])


def member_value(value: Any, k: int) -> Any:
    """Member k's entry of a per-member value (tensor or list); a plain number is everyone's."""
    if isinstance(value, (list, tuple)):
        return value[k]
    if torch.is_tensor(value) and value.dim() > 0:
        return value[k]
    return value


class EnsembleTracker:
    """One tracker per member behind the single-run interface: per-member values are split among them. A member
    that diverged is finished FAILED at once (`fail`) and left out from then on, while the others go on."""

    run_id = None

    def __init__(self, trackers: Sequence[Any]) -> None:
        self.trackers = list(trackers)
        self.failed: dict[int, str] = {}  # member -> why

    def alive(self) -> Iterator[tuple[int, Any]]:
        return ((k, t) for k, t in enumerate(self.trackers) if k not in self.failed)

    def fail(self, k: int, reason: str) -> None:
        if k not in self.failed:
            self.failed[k] = reason
            self.trackers[k].flush()
            self.trackers[k].finish("FAILED", reason)
            log.error("ensemble member %d failed: %s", k, reason)

    def diverged(self, reasons: Mapping[int, str]) -> str | None:
        """Members that diverged fail alone; the ensemble stops only when every member has failed."""
        for k, reason in reasons.items():
            self.fail(k, reason)
        return "every member diverged" if len(self.failed) == len(self.trackers) else None

    def ui_hint(self) -> str:
        return ""

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        for k, tracker in self.alive():
            tracker.log_metrics({name: member_value(v, k) for name, v in metrics.items()}, step)

    def flush(self) -> None:
        for _, tracker in self.alive():
            tracker.flush()

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        for _, tracker in self.alive():
            tracker.finish(status, reason)


class EnsembleEvaluator:
    """Each member evaluated by the evaluator of its own seed, into its own folder and run; values per member (NaN
    for a member that failed)."""

    def __init__(self, evaluators: Sequence[Any], tracker: EnsembleTracker) -> None:
        self.evaluators, self.tracker = list(evaluators), tracker

    def __call__(self, gen_iter: int, generator: Stacked, critic: Stacked, out_dir: Path, tracker: Any
                 ) -> dict[str, list[float]]:
        per_member = {k: self.evaluators[k](gen_iter, generator.member(k), critic.member(k), member_dir(out_dir, k),
                                            member_tracker) for k, member_tracker in self.tracker.alive()}
        keys = next(iter(per_member.values()), {})
        return {key: [per_member[k][key] if k in per_member else float("nan") for k in range(len(self.evaluators))]
                for key in keys}

    def finish(self, generator: Stacked, out_dir: Path, tracker: Any) -> None:
        for k, member_tracker in self.tracker.alive():
            self.evaluators[k].finish(generator.member(k), member_dir(out_dir, k), member_tracker)


def member_dir(out_dir: Path, k: int) -> Path:
    return Path(out_dir) / f"member{k}"


def member_command(command: str | None, cfg: DictConfig, k: int) -> str | None:
    """The command that runs member k alone: the ensemble's, without train.ensemble*, at the member's seed (and
    learning rate)."""
    if command is None:
        return None
    seed, lr = ensemble_members(cfg)[k]
    drop = ("train.ensemble", "train.seed=", *(("optimizer.lr=",) if lr is not None else ()))
    words = [w for w in command.split() if not w.startswith(drop)]
    return " ".join([*words, f"train.seed={seed}", *([f"optimizer.lr={lr}"] if lr is not None else [])])


def member_config(cfg: DictConfig, k: int) -> DictConfig:
    """The single run that member k stands for: its seed (and optimizer.lr), train.ensemble=1."""
    seed, lr = ensemble_members(cfg)[k]
    member = cfg.copy()
    with open_dict(member):
        member.train.seed = seed
        member.train.ensemble, member.train.ensemble_lr = 1, None
        if lr is not None:
            member.optimizer.lr = lr
    return member


def member_groups(stacked: Stacked, members: Sequence[DictConfig], network: str) -> list[dict[str, Any]]:
    """One optimiser parameter group per member: its views of the stacked weights, at its learning rate."""
    return [{"params": stacked.views[k], "lr": learning_rate(m.optimizer, network)}
            for k, m in enumerate(members)]


def split_optimizer_state(optimizer: torch.optim.Optimizer, k: int) -> dict[str, Any]:
    """Member k's share of the ensemble's optimiser (its parameter group and that group's state), numbered as the
    state dict a single run's optimiser has."""
    full = optimizer.state_dict()
    group = full["param_groups"][k]
    state = {i: full["state"][pid] for i, pid in enumerate(group["params"]) if pid in full["state"]}
    return {"state": state, "param_groups": [{**group, "params": list(range(len(group["params"])))}]}


def build_ensemble(cfg: DictConfig) -> tuple[TrainState, EnsembleData, Any, Any, list[Any], list[DictConfig]]:
    """Members built one by one exactly as single runs of their seeds, then stacked; returns the stacked state, the
    ensemble's data, objective, constraint, the members' evaluators and configs."""
    if not build(cfg.constraint).stackable:
        raise ConfigError(f"train.ensemble={cfg.train.ensemble}: constraint={build(cfg.constraint).name} acts on "
                          "each critic's own graph and cannot be stacked; allowed: constraint=clip or none")
    members, generators, critics, streams, evaluators = [], [], [], [], []
    for k in range(len(ensemble_members(cfg))):
        member = member_config(cfg, k)
        state, data, objective, constraint, evaluator = build_parts(member, compile_models=False)
        stream = torch.Generator(device=data.device)
        stream.set_state(torch.cuda.get_rng_state(data.device) if data.device.type == "cuda"
                         else torch.get_rng_state())  # where the global stream stands for a single run of this seed
        members.append(member)
        generators.append(state.generator)
        critics.append(state.critic)
        streams.append(stream)
        evaluators.append(evaluator)
    generator, critic = Stacked(generators), Stacked(critics)
    if cfg.train.compile:  # the stacked networks, not the members
        compile_forward(generator, critic)
    state = TrainState(generator, critic,
                       make_optimizer(cfg.optimizer, member_groups(generator, members, "generator"), "generator"),
                       make_optimizer(cfg.optimizer, member_groups(critic, members, "critic"), "critic"))
    return state, EnsembleData(data, streams), objective, constraint, evaluators, members


class EnsembleCheckpointer:
    """Each member's checkpoint.pt, written as its single run would write it (its weights, optimiser state and
    random stream), so that it continues alone with train.resume=<path>."""

    def __init__(self, state: TrainState, data: EnsembleData, members: Sequence[DictConfig],
                 tracker: EnsembleTracker, out_dir: Path) -> None:
        self.state, self.data, self.members, self.tracker, self.out_dir = state, data, members, tracker, out_dir

    def __call__(self) -> None:
        """Every member still running (a failed one keeps its last good checkpoint)."""
        s = self.state
        for k, member_tracker in self.tracker.alive():
            member = self.members[k]
            generator, critic = s.generator.member(k), s.critic.member(k)
            single = TrainState(generator, critic,
                                make_optimizer(member.optimizer, generator.parameters(), "generator"),
                                make_optimizer(member.optimizer, critic.parameters(), "critic"),
                                s.gen_iter)
            single.opt_generator.load_state_dict(split_optimizer_state(s.opt_generator, k))
            single.opt_critic.load_state_dict(split_optimizer_state(s.opt_critic, k))
            with standing_in(self.data.streams[k]):  # the member's stream saved as a single run's global one
                Checkpointer(single, member, self.data.data, member_tracker, member_dir(self.out_dir, k))()


@contextlib.contextmanager
def standing_in(stream: torch.Generator) -> Iterator[None]:
    """The global random state of the stream's device set to the stream's for the block, then put back."""
    cuda = stream.device.type == "cuda"
    saved = torch.cuda.get_rng_state(stream.device) if cuda else torch.get_rng_state()
    (lambda st: torch.cuda.set_rng_state(st, stream.device) if cuda else torch.set_rng_state(st))(stream.get_state())
    try:
        yield
    finally:
        torch.cuda.set_rng_state(saved, stream.device) if cuda else torch.set_rng_state(saved)

