"""Sec. 4.3's cosine between the critic's update and its gradient; the paper's baselines and generators by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, compose
from mlflow.tracking import MlflowClient

from wgan_repro.diagnostics import StepCosine
from wgan_repro.models import build_generator, n_params
from wgan_repro.runs.runner import run
from wgan_repro.runs.train import step


def cosine_of(optimizer_cls, steps: int, **kwargs) -> list[float]:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(10))
    opt = optimizer_cls([w], **kwargs)
    probe = StepCosine([w])
    out = []
    for t in range(steps):
        target = torch.ones(10) * (1 if t % 20 < 10 else -1)  # a moving target: momentum lags behind
        step(opt, ((w - target) ** 2).sum(), probe)
        out.append(float(probe.pop()[StepCosine.key]))
    return out


def test_step_cosine_definition() -> None:
    sgd = cosine_of(torch.optim.SGD, 5, lr=0.01)
    assert sgd == pytest.approx([1.0] * 5, abs=1e-6)  # a plain gradient step is along -grad
    assert min(cosine_of(torch.optim.RMSprop, 40, lr=0.01)) > 0  # positive per-coordinate rescaling
    assert min(cosine_of(torch.optim.Adam, 40, lr=0.05, betas=(0.9, 0.999))) < 0  # momentum against the gradient


def test_wgan_with_adam_logs_the_cosine_every_generator_iteration(tmp_path, mlflow_uri) -> None:
    cfg, choices = compose(*TINY, "optimizer=adam", "eval.figures=false", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=diagnostics")
    result = run(cfg, choices, tmp_path)
    history = MlflowClient(mlflow_uri).get_metric_history(result["run_id"], "optim/step_grad_cosine")
    assert sorted(p.step for p in history) == [1, 2, 3, 4]
    assert all(-1 <= p.value <= 1 for p in history)
    shares = MlflowClient(mlflow_uri).get_metric_history(result["run_id"], "optim/negative_cosine_share")
    assert len(shares) == 4 and all(0 <= p.value <= 1 for p in shares)


def test_the_cosine_is_on_by_default_for_momentum_only() -> None:
    from wgan_repro.runs.train import wants_step_cosine

    assert wants_step_cosine(compose("optimizer=adam")[0])
    assert wants_step_cosine(compose("optimizer.momentum=0.9")[0])
    assert not wants_step_cosine(compose()[0])
    assert wants_step_cosine(compose("train.log_step_cosine=true")[0])
    assert not wants_step_cosine(compose("optimizer=adam", "train.log_step_cosine=false")[0])


def test_the_cosine_does_not_change_training(tmp_path) -> None:
    weights = []
    for on in ("true", "false"):
        cfg, choices = compose(*TINY, f"train.log_step_cosine={on}", "tracking.enabled=false", "eval.figures=false")
        run(cfg, choices, tmp_path / on)
        weights.append(torch.load(tmp_path / on / "checkpoint.pt", weights_only=False)["critic"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_dcgan_baseline_by_name() -> None:
    cfg, choices = compose("objective=gan", "optimizer=adam_dcgan")
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 2e-4
    assert list(cfg.optimizer.betas) == [0.5, 0.999] and cfg.train.n_critic == 1
    plain, _ = compose("objective=gan")  # the other reading: Algorithm 1's hyper-parameters
    assert plain.optimizer._target_ == "torch.optim.RMSprop" and plain.optimizer.lr == 5e-5


def test_generators_as_the_paper_describes_them() -> None:
    for preset in ("fig4_mlp_g", "fig4_mlp_g_small"):
        assert compose(f"experiment={preset}")[0].arch.layers == 4  # Figure 4's caption: 4 hidden layers
    assert compose("arch=mlp")[0].arch.layers == 3  # the official MLP_G
    cfg, _ = compose("arch=dcgan_nobn_const_4x4", "critic=dcgan", "data=digits", "data.image_size=64")
    dcgan, _ = compose("arch=dcgan", "critic=dcgan", "data=digits", "data.image_size=64")
    shape = (3, 64, 64)
    small, big = n_params(build_generator(cfg.arch, shape)), n_params(build_generator(dcgan.arch, shape))
    assert small == 302_080 and big == 3_576_704
    assert 10 < big / small < 13  # "a bit more than an order of magnitude"
    g = build_generator(cfg.arch, shape)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())
    assert g(torch.randn(2, 100)).shape == (2, 3, 64, 64)


def test_layer_gradient_norms_recompute_from_a_checkpoint_with_plain_autograd(tmp_path, mlflow_uri) -> None:
    """A clipped 12-layer critic's logged per-layer gradient norms (train.critic_diagnostics) equal those recomputed
    here from its final checkpoint with plain torch autograd: the batch redrawn from the documented stream, each
    layer's activations taken by running the network's layers by hand."""
    import torch.nn.functional as F
    from mlflow.tracking import MlflowClient

    from wgan_repro.data.toy import SwissRoll
    from wgan_repro.diagnostics import DIAGNOSTIC_SEED_OFFSET
    from wgan_repro.models.mlp import MLPCritic, MLPGenerator

    cfg, choices = compose("experiment=g1_deep_critic", "arch.hidden=32", "critic.hidden=32", "train.iterations=4",
                           "eval.every=4", "eval.n_samples=100", "eval.w1_points=50", "constraint.c=0.1",
                           "train.progress=false", f"tracking.uri={mlflow_uri}", "tracking.experiment=diagnostics")
    run_id = run(cfg, choices, tmp_path)["run_id"]
    logged = MlflowClient(mlflow_uri).get_run(run_id).data.metrics
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    critic = MLPCritic(32, 12, (2,))
    critic.load_state_dict(ckpt["critic"])
    generator = MLPGenerator(cfg.arch.nz, 32, 12, (2,))
    generator.load_state_dict(ckpt["generator"])
    data = SwissRoll(cfg.data.std, cfg.data.scale)
    g = torch.Generator().manual_seed(cfg.train.seed + DIAGNOSTIC_SEED_OFFSET)
    real = data.sample(cfg.train.batch_size, generator=g)
    with torch.no_grad():
        fake = generator(torch.randn(cfg.train.batch_size, cfg.arch.nz, generator=g))
    x = torch.cat([real, fake])
    activations = []
    linears = [m for m in critic.net if isinstance(m, torch.nn.Linear)]
    for i, layer in enumerate(linears):  # by hand: linear, then ReLU except at the score
        x = layer(x)
        if i < len(linears) - 1:
            x = F.relu(x)
        x.retain_grad()
        activations.append(x)
    scores = x.squeeze(-1)
    loss = -(scores[: len(real)].mean() - scores[len(real):].mean())  # WGAN's critic loss, the paper's sign
    loss.backward()
    for i, a in enumerate(activations, 1):
        assert logged[f"critic/grad_norm/layer_{i:02d}"] == pytest.approx(float(a.grad.norm()), rel=1e-4), i
    assert 0 < logged["critic/weights_near_max"] <= 1
    assert logged["critic/weights_at_bound/whole"] == logged["critic/weights_near_max"]  # clipped after each step
    for i, layer in enumerate(linears, 1):  # each layer against its own largest weight (G2's measure)
        w = layer.weight.detach().abs().flatten()
        assert logged[f"critic/weights_at_bound/layer_{i:02d}"] == pytest.approx(float((w >= 0.95 * w.max()).double()
                                                                                       .mean()), abs=1e-12), i
    weights = torch.cat([p.detach().flatten() for p in critic.parameters()]).double()
    counts, _ = np.histogram((weights / weights.abs().max()).numpy(), bins=20, range=(-1, 1))
    shares = [logged[f"critic/weight_hist/bin_{i:02d}"] for i in range(20)]
    assert shares == pytest.approx(counts / len(weights), abs=1e-12)


def test_the_share_at_the_bound_after_clipping_is_what_clipping_the_weights_alone_gives() -> None:
    """G2's baseline: weights uniform on +-1 clipped at c = 0.1 put 1 - 0.095 of them within 5% of c (and the
    critic's own weights are untouched); without a bound, the share within 5% of the largest weight."""
    from wgan_repro.diagnostics import weights_near_max

    critic = torch.nn.Linear(1000, 1000, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.linspace(-1, 1, 1_000_000).reshape(1000, 1000))
    before = critic.weight.detach().clone()
    assert weights_near_max(critic, bound=0.1) == pytest.approx(1 - 0.095, abs=1e-5)
    assert weights_near_max(critic) == pytest.approx(0.05, abs=1e-5)
    assert torch.equal(critic.weight, before)


def test_the_share_at_the_bound_by_layer_holds_each_layer_to_its_own_largest_weight() -> None:
    """G2's measure (issue 45's review): one layer whose weights are ten times the others' must not hold the others
    to its scale. Two layers of uniform weights, +-10 and +-1: 5% of each within 5% of its own largest (the whole
    critic's share would be 2.5%, the small layer's 0); clipped at c = 0.1, each layer's 1 - 0.095 and 1 - 0.0095."""
    from wgan_repro.diagnostics import weights_at_bound_by_layer

    critic = torch.nn.Sequential(torch.nn.Linear(1000, 1000, bias=False), torch.nn.Linear(1000, 1000, bias=False))
    with torch.no_grad():
        critic[0].weight.copy_(torch.linspace(-10, 10, 1_000_000).reshape(1000, 1000))
        critic[1].weight.copy_(torch.linspace(-1, 1, 1_000_000).reshape(1000, 1000))
    shares = weights_at_bound_by_layer(critic)
    assert list(shares) == ["critic/weights_at_bound/layer_01", "critic/weights_at_bound/layer_02"]
    assert list(shares.values()) == pytest.approx([0.05, 0.05], abs=1e-5)
    clipped = weights_at_bound_by_layer(critic, bound=0.1)
    assert list(clipped.values()) == pytest.approx([1 - 0.0095, 1 - 0.095], abs=1e-5)
