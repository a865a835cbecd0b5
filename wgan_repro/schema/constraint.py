"""conf/constraint: the Lipschitz constraints (constraints.py)."""

from __future__ import annotations

from dataclasses import dataclass

from wgan_repro.schema.base import ClipWhen, knob


@dataclass
class ClipConfig:
    _target_: str = "wgan_repro.constraints.Clip"
    c: float = knob(0.01, "clipping bound: every critic parameter is clamped to [-c, c] (Algorithm 1: 0.01)", gt=0)
    when: ClipWhen = knob(ClipWhen.after, "after each critic update (Algorithm 1) or before it (official code)")


@dataclass
class NoConstraintConfig:
    _target_: str = "wgan_repro.constraints.NoConstraint"


@dataclass
class GradientPenaltyConfig:
    _target_: str = "wgan_repro.constraints.GradientPenalty"
    lam: float = knob(10.0, "penalty weight lambda (WGAN-GP: 10 on images, 0.1 in its toy code)", gt=0)
    one_sided: bool = knob(False, "penalise only gradient norms above 1")


@dataclass
class SpectralNormConfig:
    _target_: str = "wgan_repro.constraints.SpectralNorm"
    n_power_iterations: int = knob(1, "power iterations per forward pass (Miyato et al.: 1)", ge=1)
