"""Diagnostics of the optimisation itself (not in Algorithm 1): Sec. 4.3's cosine between the step and the gradient.

"the cosine between the Adam step and the gradient usually turned negative when things were unstable": for
each critic update we log cos(applied update, -gradient), over all critic parameters at once. A plain gradient
step scores 1; RMSProp rescales each coordinate by a positive factor, so it stays positive (the baseline);
Adam's momentum can point against the current gradient and turn it negative.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from wgan_repro.evaluate import metrics as M


class StepCosine:
    """cos(theta_after - theta_before, -grad) per optimiser step, averaged per generator iteration, on the device.

    One copy of the parameters per step (into buffers allocated once); the clip that follows the step (Algorithm 1,
    line 7) is not part of the optimiser's update and is not measured.
    """

    key = M.STEP_COSINE.key
    negative_key = M.NEGATIVE_COSINE.key  # share of this generator iteration's critic updates with cos < 0

    def __init__(self, params: Iterable[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.before = [torch.empty_like(p) for p in self.params]
        self.total: torch.Tensor | None = None
        self.negative: torch.Tensor | None = None
        self.count = 0

    def before_step(self) -> None:
        torch._foreach_copy_(self.before, [p.detach() for p in self.params])

    @torch.no_grad()
    def after_step(self) -> None:
        pairs = [(p, b, p.grad) for p, b in zip(self.params, self.before) if p.grad is not None]
        delta = torch._foreach_sub([p for p, _, _ in pairs], [b for _, b, _ in pairs])  # the applied update
        grads = [g for _, _, g in pairs]
        dot = torch.stack([torch.vdot(d.flatten(), g.flatten()) for d, g in zip(delta, grads)]).sum()
        norms = torch.stack(torch._foreach_norm(delta)).norm() * torch.stack(torch._foreach_norm(grads)).norm()
        cosine = -dot / norms.clamp_min(1e-30)  # against -grad: a descent step scores > 0
        negative = (cosine < 0).float()
        self.total = cosine if self.total is None else self.total + cosine
        self.negative = negative if self.negative is None else self.negative + negative
        self.count += 1

    def pop(self) -> dict[str, torch.Tensor]:
        """The mean over the steps since the last pop (a 0-d tensor on the device), then reset."""
        if not self.count:
            return {}
        out = {self.key: self.total / self.count, self.negative_key: self.negative / self.count}
        self.total, self.negative, self.count = None, None, 0
        return out


# --------------------------------------------------------------------------- WGAN-GP Sec. 3: the critic's layers
LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
DIAGNOSTIC_SEED_OFFSET = 104729  # the diagnostic batch's stream: seeded from train.seed + this, never training's
NEAR_MAX = 0.05  # a weight is "at the bound" within this fraction of the critic's largest absolute weight


def layer_grad_norms(critic: nn.Module, critic_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """WGAN-GP Sec. 3.2: the norm of the gradient of the critic's loss with respect to each layer's activations
    (every Linear or convolution's output after its ReLU, numbered from the input: M.GRAD_NORM_LAYER.key(1) ...),
    on one pass over real and fake; the critic's parameters' gradients are not touched."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda module, inputs, out: outputs.append(out))
             for m in critic.modules() if isinstance(m, LAYERS)]
    try:
        with torch.enable_grad():
            both = torch.cat([real, fake]).detach().requires_grad_(True)  # the critic's own weights may be frozen
            scores = critic(both).split([len(real), len(fake)])
            loss = critic_loss(*scores)
            grads = torch.autograd.grad(loss.sum(), outputs)
    finally:
        for hook in hooks:
            hook.remove()
    return {M.GRAD_NORM_LAYER.key(i): float(g.norm()) for i, g in enumerate(grads, 1)}


def weights_near_max(critic: nn.Module, near: float = NEAR_MAX, bound: float | None = None) -> float:
    """WGAN-GP Sec. 3.1, Figure 1c: the share of the critic's parameters within `near` of its largest absolute one
    (for a clipped critic whose weights reached the bound, the share pushed to +-c). `bound`: the share once the
    weights are projected onto [-bound, bound] (weight clipping's c), as the critic's next clip leaves them: before
    the first step, the share that clipping the initialisation alone puts at +-c, the baseline training starts from
    (the critic itself is not touched)."""
    flat = torch.cat([p.detach().flatten().abs() for p in critic.parameters()])
    if bound is not None:
        flat = flat.clamp_max(bound)
    return float((flat >= (1 - near) * flat.max()).float().mean())


def weights_at_bound_by_layer(critic: nn.Module, near: float = NEAR_MAX, bound: float | None = None
                              ) -> dict[str, float]:
    """weights_near_max layer by layer: for each Linear or convolution's weight (numbered from the input,
    M.WEIGHTS_AT_BOUND_LAYER.key(1) ...), the share within `near` of that layer's largest absolute weight after the
    projection onto [-bound, bound]. One scale per layer, the same for every constraint: a clipped layer's largest
    weight is c once any reaches it, the penalty's its own (the whole critic's largest would hold the penalty's share
    to a few weights of one layer, against the clipped critic's every layer)."""
    out = {}
    for i, m in enumerate((m for m in critic.modules() if isinstance(m, LAYERS)), 1):
        w = m.weight.detach().flatten().abs()
        if bound is not None:
            w = w.clamp_max(bound)
        out[M.WEIGHTS_AT_BOUND_LAYER.key(i)] = float((w >= (1 - near) * w.max()).float().mean())
    return out


HISTOGRAM_BINS = 20  # M.WEIGHT_HIST_BIN's members: equal bins of w / max|w| over [-1, 1]


def weight_histogram(critic: nn.Module, bins: int = HISTOGRAM_BINS) -> dict[str, float]:
    """WGAN-GP Figure 1c as numbers: the share of the critic's parameters in each of `bins` equal bins of
    w / max|w| over [-1, 1] (bin_00 the most negative); a clipped critic at its bound piles up in the two end bins."""
    flat = torch.cat([p.detach().flatten() for p in critic.parameters()]).double()
    shares = torch.histc(flat / flat.abs().max(), bins=bins, min=-1.0, max=1.0) / flat.numel()
    return {M.WEIGHT_HIST_BIN.key(i): float(v) for i, v in enumerate(shares)}
