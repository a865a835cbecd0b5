"""conf/objective: its YAML names only the class (objectives.py); train's n_critic and warmup default to the
class's attributes through `${objective:KEY}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.utils import get_class
from omegaconf import MISSING


@dataclass
class ObjectiveConfig:
    _target_: str = MISSING  # a class of wgan_repro.objectives (its n_critic and warmup: train's defaults)


def objective_default(key: str, *, _root_: Any) -> Any:
    """`${objective:KEY}`: the chosen objective class's attribute KEY (n_critic, warmup): train's defaults."""
    return getattr(get_class(_root_.objective._target_), key)
