"""Lipschitz constraints on the critic (conf/constraint): weight clipping, gradient penalty, spectral norm, none.

Every method known to the field touches the critic at one of four moments, and a constraint is one class that
overrides the ones it needs (the rest are no-ops), so the loop never asks which one it has:

- `wrap(critic)` once, when the critic is built (spectral normalisation; also where a constraint refuses a critic
  it cannot serve);
- `penalty(critic, real, fake)`, a term added to the critic's loss (the gradient penalty), or None;
- `before(critic)` at the start of each critic iteration (the official code's clamp);
- `after(critic)` right after the optimiser step (Algorithm 1, line 7).

`stackable` says whether train.ensemble can batch it (an ensemble stacks K critics into one module).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from wgan_repro.config import ConfigError


class Constraint:
    """No constraint at all: every moment a no-op."""

    name = "none"
    stackable = True

    def wrap(self, critic: nn.Module) -> nn.Module:
        return critic

    def penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        return None

    def before(self, critic: nn.Module) -> None:
        pass

    def after(self, critic: nn.Module) -> None:
        pass


class NoConstraint(Constraint):
    """An unconstrained critic."""


class Clip(Constraint):
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


def batch_norms(module: nn.Module) -> list[str]:
    return [name for name, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class GradientPenalty(Constraint):
    """WGAN-GP (Gulrajani et al. 2017): lam * E (||grad_x f(x_hat)||_2 - 1)^2 at random interpolates x_hat of real
    and fake samples, the norm taken per sample over all non-batch dimensions; one_sided: only norms above 1 pay."""

    name = "gp"
    stackable = False

    def __init__(self, lam: float, one_sided: bool = False) -> None:
        self.lam, self.one_sided = float(lam), bool(one_sided)

    def wrap(self, critic: nn.Module) -> nn.Module:
        """Refuse a critic with batch norm: a per-sample penalty is meaningless under batch statistics (WGAN-GP)."""
        if batch_norms(critic):
            raise ConfigError("constraint=gp needs a critic without batch norm (its penalty is per sample); got one "
                              f"with batch norm ({', '.join(batch_norms(critic)[:3])}); allowed: critic=dcgan_nobn, "
                              "critic=mlp")
        return critic

    def penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device,
                         dtype=real.dtype)  # one mix per sample
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)  # (B,): per sample, over every non-batch dimension
        gap = (norm - 1).clamp_min(0) if self.one_sided else norm - 1
        return self.lam * (gap ** 2).mean()


class SpectralNorm(Constraint):
    """Spectral normalisation (Miyato et al. 2018) of every critic layer with a weight matrix or kernel: torch's
    parametrization, one power iteration per forward pass in training mode."""

    name = "spectral"
    stackable = False

    def __init__(self, n_power_iterations: int = 1) -> None:
        self.n_power_iterations = int(n_power_iterations)

    def wrap(self, critic: nn.Module) -> nn.Module:
        for module in list(critic.modules()):
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                spectral_norm(module, n_power_iterations=self.n_power_iterations)
        return critic
