"""Algorithm 1 as the official WGAN code writes it, independent of the harness's training path.

The benchmark times it against the harness's loop, and the tests compare the harness's losses with it: so it imports
none of the harness's loop (`runs.train`), objectives or constraints, and writes its own losses (the official
main.py's WGAN losses, DCGAN's BCE for the standard GAN), its own clamp, WGAN-GP's own penalty (gan_toy.py /
gan_mnist.py's calc_gradient_penalty) and spectral norm through torch's parametrization; merged code would compare
the code with itself. What it shares with the harness is what both train: the data, the networks and the optimisers,
built from the same config in the same order from the same seed.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from wgan_repro.config import ConfigError
from wgan_repro.data import build_data
from wgan_repro.models import build_critic, build_generator
from wgan_repro.runs.setup import cpu_numerics, make_optimizer, resolve_device, run_dtype, seed_everything

CONSTRAINTS = ("Clip", "NoConstraint", "GradientPenalty", "SpectralNorm")  # the official codes' (conf/constraint)
OBJECTIVES = ("WGAN", "GAN", "GANMinimax", "Hinge")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def losses(kind: str) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], Callable[[torch.Tensor],
                                                                                               torch.Tensor]]:
    """(critic loss of real and fake scores, generator loss of fake scores), written as their sources write them."""
    if kind == "WGAN":  # official main.py, with the paper's sign: the critic maximises E f(x) - E f(g(z))
        return (lambda real, fake: -(real.mean() - fake.mean())), (lambda fake: -fake.mean())
    bce = F.binary_cross_entropy_with_logits
    discriminator = lambda real, fake: bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))  # noqa: E731
    if kind == "GAN":  # DCGAN: BCE on the discriminator's logits; the generator's -log D trick
        return discriminator, lambda fake: bce(fake, torch.ones_like(fake))
    if kind == "GANMinimax":  # Goodfellow et al.: the generator minimises E log(1 - D(g(z)))
        return discriminator, lambda fake: -bce(fake, torch.zeros_like(fake))
    return (lambda real, fake: torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()), (lambda fake: -fake.mean())


def parts(cfg: DictConfig, device: torch.device) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer,
                                                          torch.optim.Optimizer, object]:
    """Generator, critic (spectral norm on every layer when asked), their optimisers and the data, built in the
    harness's order from the seed, so that both loops start from the same weights and draw the same batches."""
    seed_everything(cfg.train.seed)
    cpu_numerics(cfg.train)
    dtype = run_dtype(cfg.train.precision)
    data = build_data(cfg.data, device)
    if dtype != data.dtype:
        data = data.to(dtype)
    generator = build_generator(cfg.arch, data.shape).to(device, dtype)
    critic = build_critic(cfg.critic, data.shape)
    if cfg.constraint._target_.endswith("SpectralNorm"):
        for module in list(critic.modules()):
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.utils.parametrizations.spectral_norm(module, n_power_iterations=cfg.constraint.n_power_iterations)
    critic = critic.to(device, dtype)
    return (generator, critic, make_optimizer(cfg.optimizer, generator.parameters(), "generator"),
            make_optimizer(cfg.optimizer, critic.parameters(), "critic"), data)


def reference_loop(cfg: DictConfig, device: torch.device | None = None,
                   record: list[tuple[float, float]] | None = None, joint: bool = False) -> Callable[[int], float]:
    """A function that runs n generator iterations and returns the seconds they took, on freshly built networks:
    per-parameter clamp, separate passes on real and fake (or, `joint`, one pass over both, as the harness scores a
    critic without batch norm), `.item()` every step. `record` collects (last critic loss, generator loss) per
    generator iteration."""
    device = device or resolve_device(cfg.train.device)
    kind, objective = (cfg[g]._target_.rsplit(".", 1)[-1] for g in ("constraint", "objective"))
    if kind not in CONSTRAINTS or objective not in OBJECTIVES:
        raise ConfigError(f"the plain loop writes the official codes' constraints and losses; constraint._target_="
                          f"{cfg.constraint._target_}, objective._target_={cfg.objective._target_}; allowed: "
                          "constraint=clip, none, gp, spectral and objective=wgan, gan, gan_minimax, hinge")
    netG, netD, optG, optD, data = parts(cfg, device)
    critic_loss, generator_loss = losses(objective)
    m, nz, c = cfg.train.batch_size, cfg.arch.nz, cfg.constraint.get("c")
    lam = cfg.constraint.get("lam") if kind == "GradientPenalty" else None

    def gradient_penalty(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """WGAN-GP's calc_gradient_penalty (gan_toy.py / gan_mnist.py), per-sample norms over all dimensions."""
        alpha = torch.rand(m, *[1] * (real.dim() - 1), device=device, dtype=real.dtype).expand(real.size())
        interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        disc_interpolates = netD(interpolates)
        gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                        grad_outputs=torch.ones_like(disc_interpolates), create_graph=True,
                                        retain_graph=True, only_inputs=True)[0]
        gap = gradients.reshape(m, -1).norm(2, dim=1) - 1
        return ((gap.clamp_min(0) if cfg.constraint.one_sided else gap) ** 2).mean() * lam

    def segment(n: int) -> float:
        sync(device)
        start = time.perf_counter()
        for _ in range(n):
            for p in netD.parameters():
                p.requires_grad = True
            for _ in range(cfg.train.n_critic):
                if c is not None and cfg.constraint.when == "before":
                    for p in netD.parameters():
                        p.data.clamp_(-c, c)
                netD.zero_grad()
                real = data.sample(m)
                with torch.no_grad():
                    fake = netG(torch.randn(m, nz, device=device, dtype=data.dtype))
                scores = netD(torch.cat([real, fake])).split(m) if joint else (netD(real), netD(fake))
                errD = critic_loss(*scores)
                if lam is not None:
                    errD = errD + gradient_penalty(real, fake)
                errD.backward()
                optD.step()
                if c is not None and cfg.constraint.when == "after":
                    for p in netD.parameters():
                        p.data.clamp_(-c, c)
                loss_critic = errD.item()
            for p in netD.parameters():
                p.requires_grad = False
            netG.zero_grad()
            errG = generator_loss(netD(netG(torch.randn(m, nz, device=device, dtype=data.dtype))))
            errG.backward()
            optG.step()
            loss_generator = errG.item()
            if record is not None:
                record.append((loss_critic, loss_generator))
        sync(device)
        return time.perf_counter() - start
    return segment
