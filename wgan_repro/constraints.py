"""Lipschitz constraints on the critic (conf/constraint): weight clipping, or none.

A constraint is applied around every critic update: `before(critic)` at the start of a critic
iteration and `after(critic)` right after the optimiser step; each choice acts at one of them.
"""

from __future__ import annotations

import torch
from torch import nn


class NoConstraint:
    """An unconstrained critic."""

    name = "none"

    def before(self, critic: nn.Module) -> None:
        pass

    def after(self, critic: nn.Module) -> None:
        pass


class Clip:
    """Clamp every critic parameter, batch-norm ones included (official issues #18, #32, #75), to [-c, c]."""

    name = "clip"

    def __init__(self, c: float, when: str = "after") -> None:
        self.c = float(c)
        self.when = str(getattr(when, "value", when))

    @torch.no_grad()
    def clip(self, critic: nn.Module) -> None:
        params = [p for p in critic.parameters()]
        torch._foreach_clamp_min_(params, -self.c)  # one fused call over all parameters
        torch._foreach_clamp_max_(params, self.c)

    def before(self, critic: nn.Module) -> None:
        """Official main.py: clamp at the start of each critic iteration."""
        if self.when == "before":
            self.clip(critic)

    def after(self, critic: nn.Module) -> None:
        """Algorithm 1, line 7: clip after each critic update."""
        if self.when == "after":
            self.clip(critic)
