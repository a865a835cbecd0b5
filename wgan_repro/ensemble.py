"""train.ensemble=K: K independent toy runs (seeds seed .. seed+K-1) trained as one batched computation.

Each member is built exactly as a single run of its seed would be (same initial weights), then the members'
weights are stacked (`torch.func.stack_module_state`) and every forward pass is one `vmap` over
`functional_call`, so the loop in train.py runs once for all of them: one optimiser step, one clamp, one
batched matmul per layer. Each member keeps its own random stream (a `torch.Generator` in the state the global
one would be in for a single run of its seed) for data and noise, its own evaluator, MLflow run, figures and
checkpoint. Up to float rounding (a batched matmul sums in another order) a member equals the single run of its
seed. Its checkpoint.pt is a single run's: it continues alone with train.resume=<path>.

If any member diverges the ensemble stops, and every member is FAILED with the reason, which lists each member's
value (a sweep over learning rates that may diverge belongs in separate runs).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from omegaconf import DictConfig, open_dict
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from wgan_repro.checkpoint import Checkpointer, TrainState
from wgan_repro.runner import build_parts, make_optimizer

log = logging.getLogger(__name__)


class Stacked(nn.Module):
    """K modules of one architecture as one: parameters stacked to (K, ...), forward (K, B, ...) -> (K, B, ...)."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        params, buffers = stack_module_state(list(modules))
        if buffers:
            raise ValueError("Stacked supports modules without buffers (no batch norm)")
        self.names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self.names])
        self._template = [copy.deepcopy(modules[0]).to("meta")]  # a list: not registered, no meta parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        template = self._template[0]

        def one(params: tuple[torch.Tensor, ...], xk: torch.Tensor) -> torch.Tensor:
            return functional_call(template, dict(zip(self.names, params)), (xk,))
        return vmap(one)(tuple(self.stacked), x)

    def member(self, k: int) -> nn.Module:
        """Member k as a plain module (a copy of its current weights), for evaluation and checkpoints."""
        module = copy.deepcopy(self._template[0]).to_empty(device=self.stacked[0].device)
        module.load_state_dict({n: p[k].detach().clone() for n, p in zip(self.names, self.stacked)})
        return module


class EnsembleData:
    """The toy data drawn per member, each member from its own stream: sample (K, m, 2), prior (K, m, nz)."""

    def __init__(self, data: Any, streams: Sequence[torch.Generator]) -> None:
        self.data, self.streams = data, list(streams)
        self.shape, self.device = data.shape, data.device

    def sample(self, m: int) -> torch.Tensor:
        return torch.stack([self.data.sample(m, generator=g) for g in self.streams])

    def prior(self, m: int, nz: int) -> torch.Tensor:
        return torch.stack([torch.randn(m, nz, device=self.device, generator=g) for g in self.streams])


def member_value(value: Any, k: int) -> Any:
    """Member k's entry of a per-member value (tensor or list); a plain number is everyone's."""
    if isinstance(value, (list, tuple)):
        return value[k]
    if torch.is_tensor(value) and value.dim() > 0:
        return value[k]
    return value


class EnsembleTracker:
    """One tracker per member behind the single-run interface: per-member values are split among them."""

    run_id = None

    def __init__(self, trackers: Sequence[Any]) -> None:
        self.trackers = list(trackers)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        for k, tracker in enumerate(self.trackers):
            tracker.log_metrics({name: member_value(v, k) for name, v in metrics.items()}, step)

    def flush(self) -> None:
        for tracker in self.trackers:
            tracker.flush()

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        for tracker in self.trackers:
            tracker.finish(status, reason)


class EnsembleEvaluator:
    """Each member evaluated by the evaluator of its own seed, into its own folder and run; values per member."""

    def __init__(self, evaluators: Sequence[Any], trackers: Sequence[Any]) -> None:
        self.evaluators, self.trackers = list(evaluators), list(trackers)

    def __call__(self, gen_iter: int, generator: Stacked, critic: Stacked, out_dir: Path, tracker: Any
                 ) -> dict[str, list[float]]:
        per_member = [ev(gen_iter, generator.member(k), critic.member(k), member_dir(out_dir, k), self.trackers[k])
                      for k, ev in enumerate(self.evaluators)]
        return {key: [m[key] for m in per_member] for key in per_member[0]}

    def finish(self, generator: Stacked, out_dir: Path, tracker: Any) -> None:
        for k, ev in enumerate(self.evaluators):
            ev.finish(generator.member(k), member_dir(out_dir, k), self.trackers[k])


def member_dir(out_dir: Path, k: int) -> Path:
    return Path(out_dir) / f"member{k}"


def member_command(command: str | None, member: DictConfig) -> str | None:
    """The command that runs member k alone: the ensemble's, without train.ensemble, at the member's seed."""
    if command is None:
        return None
    words = [w for w in command.split() if not w.startswith(("train.ensemble=", "train.seed="))]
    return " ".join([*words, f"train.seed={member.train.seed}"])


def member_config(cfg: DictConfig, k: int) -> DictConfig:
    """The single run that member k stands for: seed + k, train.ensemble=1."""
    member = cfg.copy()
    with open_dict(member):
        member.train.seed = cfg.train.seed + k
        member.train.ensemble = 1
    return member


def split_optimizer_state(optimizer: torch.optim.Optimizer, k: int) -> dict[str, Any]:
    """Member k's share of a stacked optimiser's state: every per-parameter tensor indexed at k (step counts, which
    all members share, kept whole); the state dict a single run's optimiser would have."""
    full = optimizer.state_dict()
    state = {pid: {name: (v[k].clone() if torch.is_tensor(v) and v.dim() > 0 else v) for name, v in st.items()}
             for pid, st in full["state"].items()}
    return {"state": state, "param_groups": full["param_groups"]}


def build_ensemble(cfg: DictConfig) -> tuple[TrainState, EnsembleData, Any, Any, list[Any], list[DictConfig]]:
    """Members built one by one exactly as single runs of their seeds, then stacked; returns the stacked state, the
    ensemble's data, objective, constraint, the members' evaluators and configs."""
    members, generators, critics, streams, evaluators = [], [], [], [], []
    for k in range(cfg.train.ensemble):
        member = member_config(cfg, k)
        state, data, objective, constraint, evaluator = build_parts(member)
        stream = torch.Generator(device=data.device)
        stream.set_state(torch.cuda.get_rng_state(data.device) if data.device.type == "cuda"
                         else torch.get_rng_state())  # where the global stream stands for a single run of this seed
        members.append(member)
        generators.append(state.generator)
        critics.append(state.critic)
        streams.append(stream)
        evaluators.append(evaluator)
    generator, critic = Stacked(generators), Stacked(critics)
    state = TrainState(generator, critic,
                       make_optimizer(cfg.optimizer, generator.parameters(), cfg.optimizer.lr_generator),
                       make_optimizer(cfg.optimizer, critic.parameters(), cfg.optimizer.lr_critic))
    return state, EnsembleData(data, streams), objective, constraint, evaluators, members


class EnsembleCheckpointer:
    """Each member's checkpoint.pt, written as its single run would write it (its weights, optimiser state and
    random stream), so that it continues alone with train.resume=<path>."""

    def __init__(self, state: TrainState, data: EnsembleData, members: Sequence[DictConfig],
                 trackers: Sequence[Any], out_dir: Path) -> None:
        self.state, self.data, self.members, self.trackers, self.out_dir = state, data, members, trackers, out_dir

    def __call__(self) -> None:
        s = self.state
        for k, member in enumerate(self.members):
            generator, critic = s.generator.member(k), s.critic.member(k)
            single = TrainState(generator, critic,
                                make_optimizer(member.optimizer, generator.parameters(), member.optimizer.lr_generator),
                                make_optimizer(member.optimizer, critic.parameters(), member.optimizer.lr_critic),
                                s.gen_iter)
            single.opt_generator.load_state_dict(split_optimizer_state(s.opt_generator, k))
            single.opt_critic.load_state_dict(split_optimizer_state(s.opt_critic, k))
            with standing_in(self.data.streams[k]):  # the member's stream saved as a single run's global one
                Checkpointer(single, member, self.data.data, self.trackers[k], member_dir(self.out_dir, k))()


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

