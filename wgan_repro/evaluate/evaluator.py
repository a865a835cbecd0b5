"""The evaluator's base class (`Evaluator`: measure under no_grad, training state untouched) and its builder."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from wgan_repro.config import build
from wgan_repro.evaluate.prdc import named, prdc

EVAL_SEED_OFFSET = 7919  # evaluation's stream: seeded from train.seed + this, never the training stream


@contextlib.contextmanager
def untouched(*modules: nn.Module) -> Iterator[None]:
    """Restore every buffer of `modules` on exit (batch norm in training mode updates its running statistics)."""
    saved = [{k: v.clone() for k, v in m.named_buffers()} for m in modules]
    try:
        yield
    finally:
        for module, buffers in zip(modules, saved):
            for name, value in module.named_buffers():
                value.copy_(buffers[name])


class Evaluator:
    """Base: `measure` under no_grad with a freshly seeded generator of its own; training state untouched."""

    def __init__(self, data: Any, nz: int, seed: int, prc: bool = False, prc_neighbours: int = 3,
                 dc_neighbours: int = 5) -> None:
        self.data, self.nz = data, nz
        self.seed = seed + EVAL_SEED_OFFSET
        self.device = data.device
        self.prc, self.prc_k, self.dc_k = prc, prc_neighbours, dc_neighbours
        self.prc_floors: set[str] = set()  # the spaces whose real-vs-real floor is already logged

    def prdc(self, fake: torch.Tensor, real: torch.Tensor, suffix: str,
             second_real: torch.Tensor | None = None) -> dict[str, float]:
        """Precision, recall, density, coverage of `fake` against `real` features (eval.prc), named for their space,
        and once per space the floor: a second real sample of the same count (when there is one) against `real`."""
        if not self.prc:
            return {}
        out = named(prdc(fake, real, self.prc_k, self.dc_k), suffix)
        if second_real is not None and suffix not in self.prc_floors:
            out.update(named(prdc(second_real, real, self.prc_k, self.dc_k), suffix, floor=True))
            self.prc_floors.add(suffix)
        return out

    def rng(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed)

    @torch.no_grad()
    def __call__(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path,
                 tracker: Any) -> dict[str, float]:
        devices = [self.device] if self.device.type == "cuda" else []
        with untouched(generator, critic), torch.random.fork_rng(devices=devices):  # e.g. a classifier's layer init
            return self.measure(gen_iter, generator, critic, Path(out_dir), tracker, self.rng())

    def measure(self, gen_iter: int, generator: nn.Module, critic: nn.Module, out_dir: Path, tracker: Any,
                rng: torch.Generator) -> dict[str, float]:
        raise NotImplementedError

    def params(self) -> dict[str, str]:
        """Protocol parameters logged once per run (what the metrics' numbers depend on)."""
        return {}

    def tags(self) -> dict[str, str]:
        """Tags naming the protocol of the latest metrics (updated by re-evaluation)."""
        return {}

    def finish(self, generator: nn.Module, out_dir: Path, tracker: Any) -> None:
        """Called once after training (final artifacts)."""


LOOP_KEYS = ("every", "at_start")


def build_evaluator(cfg: DictConfig, data: Any, nz: int, seed: int) -> Evaluator:
    """The evaluator named by conf/eval's _target_. `every` and `at_start` are the loop's schedule (train.py reads
    them), not the evaluator's: they are left out."""
    node = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in LOOP_KEYS}
    return build(node, data=data, nz=nz, seed=seed)
