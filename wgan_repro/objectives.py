"""Objectives (conf/objective): how critic scores become losses, and the divergence estimate each logs.

Critics return raw scores f(x) of shape (B,) (or (K, B) for an ensemble of K runs: every mean is over the last
axis, so each run gets its own loss). Signs follow the paper (the official code uses f -> -f; README,
"Composing runs"): the critic maximises E f(x) - E f(g(z)), so its loss is the negative of that.

Each objective owns its names and the schedule it is run with: `name`, `estimate_key` (the metric it logs; every
run tags it as `estimate`), and `n_critic` / `warmup`, the defaults of train.n_critic and train.warmup (the
schema's `${objective:n_critic}`), so that its YAML names only the class.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wgan_repro.evaluate import metrics as M

Stats = dict[str, torch.Tensor]


class WGAN:
    """Algorithm 1: critic loss -(E f(x) - E f(g(z))), generator loss -E f(g(z)); logs the EM estimate."""

    name = "wgan"
    estimate_key = M.EM.key
    n_critic = 5  # Algorithm 1
    warmup = True  # the official code's critic bursts (train.warmup=false: Algorithm 1 as printed)

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Line 5: the negated EM estimate and its halves (kept on the device, 0-d tensors)."""
        score_real, score_fake = real.mean(-1), fake.mean(-1)  # per run of an ensemble
        em = score_real - score_fake
        return -em, {M.EM.key: em.detach(), M.SCORE_REAL.key: score_real.detach(),
                     M.SCORE_FAKE.key: score_fake.detach()}

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """Line 10: the generator follows -grad E f(g(z))."""
        return -fake.mean(-1)


class GAN:
    """Standard GAN on logits: BCE for the discriminator, the -log D trick for the generator; logs the JS bound."""

    name = "gan"
    estimate_key = M.JS.key
    n_critic = 1  # one discriminator step per generator step (Goodfellow et al.; DCGAN)
    warmup = False

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """-L(D, g) with L = E log D(x) + E log(1 - D(g(z))), D = sigmoid(logits)."""
        loss_real = F.softplus(-real).mean(-1)  # -E log D(x)
        loss_fake = F.softplus(fake).mean(-1)  # -E log(1 - D(g(z)))
        loss = loss_real + loss_fake
        # Sec. 4.3: 1/2 L(D, g) + log 2 is a lower bound of JS(P_r, P_g)
        js = -0.5 * loss.detach() + math.log(2.0)
        return loss, {M.JS.key: js, M.SCORE_REAL.key: real.mean(-1).detach(),
                      M.SCORE_FAKE.key: fake.mean(-1).detach()}

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """-log D trick (Goodfellow et al. 2014): minimise -E log D(g(z))."""
        return F.softplus(-fake).mean(-1)


class GANMinimax(GAN):
    """The original minimax GAN (Goodfellow et al. 2014; Metz et al.'s Figure 1, the WGAN paper's Figure 3): the
    generator minimises E log(1 - D(g(z))), whose gradient vanishes as D(g(z)) -> 0 (a saturated discriminator)."""

    name = "gan_minimax"

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """log(1 - sigmoid(f)) = -softplus(f): d/df = -sigmoid(f) -> 0 as f -> -inf."""
        return -F.softplus(fake).mean(-1)


class Hinge:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): the critic minimises E max(0, 1 - f(x)) + E max(0, 1 + f(g(z)));
    the generator minimises -E f(g(z)). Logs M.HINGE = 2 - critic loss (0: no margin won, 2: both margins)."""

    name = "hinge"
    estimate_key = M.HINGE.key
    n_critic = 5  # SN-GAN's setting
    warmup = False

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        loss = F.relu(1 - real).mean(-1) + F.relu(1 + fake).mean(-1)
        return loss, {M.HINGE.key: 2 - loss.detach(), M.SCORE_REAL.key: real.mean(-1).detach(),
                      M.SCORE_FAKE.key: fake.mean(-1).detach()}

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean(-1)
