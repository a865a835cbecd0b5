"""The training loop: Algorithm 1 line by line, then its bookkeeping (logging, evaluation, checkpoints).

Set-up lives in setup.py, resuming and tracking in runner.py, checkpoints in checkpoint.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from wgan_repro.constraints import Clip
from wgan_repro.diagnostics import (
    DIAGNOSTIC_SEED_OFFSET,
    StepCosine,
    layer_grad_norms,
    weight_histogram,
    weights_at_bound_by_layer,
    weights_near_max,
)
from wgan_repro.evaluate import metrics as M
from wgan_repro.host import Threads
from wgan_repro.runs import stopping
from wgan_repro.runs.checkpoint import TrainState

log = logging.getLogger(__name__)


def critic_iterations(gen_iter: int, train: DictConfig) -> int:
    """n_critic, or the official code's bursts (not in Algorithm 1): 100 critic steps for the first
    25 generator iterations and on every 500th (official main.py, checked before the critic loop)."""
    if train.warmup and (gen_iter < train.warmup_first or gen_iter % train.warmup_every == 0):
        return train.warmup_critic_iters
    return train.n_critic


def work_done(train: DictConfig, iterations: int) -> np.ndarray:
    """The work of generator iterations 1..iterations so far, cumulative, in steps (its critic steps, warm-up bursts
    included, and the generator's own): element k is the work of the first k iterations. What an ETA divides by, so
    that it does not jump when the warm-up's 100-step bursts end."""
    g = np.arange(iterations)
    burst = (g < train.warmup_first) | (g % train.warmup_every == 0) if train.warmup else np.zeros(iterations, bool)
    return np.concatenate([[0], np.cumsum(np.where(burst, train.warmup_critic_iters, train.n_critic) + 1)])


def wants_step_cosine(cfg: DictConfig) -> bool:
    """train.log_step_cosine, or by default: on for optimisers with momentum (Adam's betas, RMSProp's momentum).
    (An ensemble's runner sets it false: the cosine is per run.)"""
    if cfg.train.log_step_cosine is not None:
        return bool(cfg.train.log_step_cosine)
    return "betas" in cfg.optimizer or cfg.optimizer.get("momentum", 0) > 0


def critic_diagnostics(cfg: DictConfig, data, generator: nn.Module, critic: nn.Module, objective,
                       constraint=None) -> dict[str, float]:
    """Per-layer gradient norms and the share of weights at their bound (diagnostics.py), on a batch drawn from a
    stream seeded by train.seed + DIAGNOSTIC_SEED_OFFSET at every call: the training stream is untouched, and the
    numbers can be recomputed from a checkpoint. The share at the bound is also taken after weight clipping's
    projection (M.WEIGHTS_AT_BOUND): at iteration 0 it is what clipping the initialisation alone gives."""
    g = torch.Generator(device=data.device).manual_seed(cfg.train.seed + DIAGNOSTIC_SEED_OFFSET)
    m = cfg.train.batch_size
    real = data.sample(m, generator=g)
    with torch.no_grad():
        fake = generator(torch.randn(m, cfg.arch.nz, generator=g, device=data.device, dtype=data.dtype))
    loss = lambda r, f: objective.critic_loss(r, f)[0]  # noqa: E731
    bound = constraint.c if isinstance(constraint, Clip) else None
    return {**layer_grad_norms(critic, loss, real, fake), M.WEIGHTS_NEAR_MAX.key: weights_near_max(critic),
            M.WEIGHTS_AT_BOUND.key: weights_near_max(critic, bound=bound),
            **weights_at_bound_by_layer(critic, bound=bound), **weight_histogram(critic)}


def has_batch_norm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def critic_scores(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, joint: bool, sample_dims: int
                  ) -> tuple[torch.Tensor, ...]:
    """f(real), f(fake), each (m,) (or (K, m) for an ensemble of K runs). joint: one pass over both batches (same
    result for a critic without batch norm, ~25% faster on CPU); otherwise two passes, so batch norm sees each batch
    alone (official main.py). sample_dims: the dimensions of one sample (the batch is the one before them)."""
    if joint:
        return critic(torch.cat([real, fake], dim=-1 - sample_dims)).split([real.shape[-1 - sample_dims]] * 2, -1)
    return critic(real), critic(fake)


def prior(data, m: int, nz: int) -> torch.Tensor:
    """A batch of z ~ N(0, I), (m, nz); an ensemble's data draws one per member, each from its own stream."""
    if hasattr(data, "prior"):
        return data.prior(m, nz)
    return torch.randn(m, nz, device=data.device, dtype=data.dtype)


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, probe: StepCosine | None = None) -> None:
    """zero_grad, backward, step; a probe (Sec. 4.3's cosine) looks at the parameters around the step. An ensemble's
    loss holds one value per member: their sum gives each member its own gradient."""
    optimizer.zero_grad(set_to_none=True)
    loss.sum().backward()
    if probe is not None:
        probe.before_step()
    optimizer.step()
    if probe is not None:
        probe.after_step()


def terminal_size() -> os.terminal_size:
    """stderr's terminal as it reports itself (0 x 0 when nobody sized it). Not shutil's, which believes $COLUMNS and
    $LINES: a shell or a test runner (pytest-xdist sets 80 x 24) may export them where the terminal itself is 0 x 0,
    and tqdm, told the size is dynamic, would then read the 0 rows and draw nothing."""
    try:
        return os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):  # not a terminal, or stderr replaced by an object without a descriptor
        return os.terminal_size((0, 0))


class Progress:
    """Where a run stands, on stderr: in a terminal one bar (iteration, it/s, ETA, the latest estimate and quality);
    otherwise (a log file, CI, a scheduler) one line every 5% of the run. Off with train.progress=false. A terminal
    that reports no size (a pseudo-terminal nobody sized: `script`, an IDE's, a container's) gets 100 x 20: tqdm
    takes the screen's 0 rows as "no room" and draws nothing at all (why the bar never showed there)."""

    def __init__(self, cfg: DictConfig, start: int, name: str) -> None:
        self.total, self.start, self.values = cfg.train.iterations, start, {}
        self.on = bool(cfg.train.progress)
        self.tty = self.on and not os.environ.get("CI") and sys.stderr.isatty()
        self.every = max(1, self.total // 20)
        self.since = self.shown = time.perf_counter()
        self.work = work_done(cfg.train, self.total) if self.on else None
        sized = self.tty and min(terminal_size()) > 0
        # the ETA is the harness's (`eta`, by work), not tqdm's (by generator iterations, which jumps after warm-up)
        self.bar = tqdm(total=self.total, initial=start, disable=not self.tty, unit="it", desc=name, file=sys.stderr,
                        dynamic_ncols=sized, ncols=None if sized else 100, nrows=None if sized else 20,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]")
        self.logs = logging_redirect_tqdm() if self.tty else contextlib.nullcontext()  # log lines above the bar
        self.logs.__enter__()

    def note(self, **values: str) -> None:
        """The latest estimate or quality, shown beside the count."""
        self.values.update(values)
        self.bar.set_postfix(self.values, refresh=False)

    def eta(self, done: int, elapsed: float) -> float:
        """Seconds to go: the work left (work_done) at the rate of work since this process started the run."""
        rate = (self.work[done] - self.work[self.start]) / max(elapsed, 1e-9)
        return float(self.work[self.total] - self.work[done]) / max(rate, 1e-9)

    def update(self, done: int) -> None:
        if not self.on:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self.shown >= 0.5:  # the ETA at most twice a second, not at every iteration
                self.shown = now
                self.bar.set_postfix({"ETA": tqdm.format_interval(self.eta(done, now - self.since)), **self.values},
                                     refresh=False)
            self.bar.update(1)
        elif done % self.every == 0 or done == self.total:
            elapsed = time.perf_counter() - self.since
            rate = (done - self.start) / max(elapsed, 1e-9)
            extra = "".join(f", {k} {v}" for k, v in self.values.items())
            log.info("iteration %d/%d (%d%%), %.3g it/s, %.0f s to go%s", done, self.total,
                     100 * done // self.total, rate, self.eta(done, elapsed), extra)

    def close(self) -> None:
        """The bar closed and logging given back (once; the loop's `finally`)."""
        if self.logs is not None:
            self.bar.close()
            self.logs.__exit__(None, None, None)
            self.logs = None


# --------------------------------------------------------------------------- the loop
def train(cfg: DictConfig, state: TrainState, data, objective, constraint, evaluator, tracker,
          out_dir: Path, checkpoint: Callable[[], None], threads: Threads | None = None
          ) -> tuple[str | None, dict[str, float]]:
    """Algorithm 1 until cfg.train.iterations generator iterations; returns (why it failed or None, last eval).
    `checkpoint` saves the state every train.checkpoint_every iterations (default: at each evaluation); `threads`
    (host.Threads), when given, is chosen again at each metric flush."""
    generator, critic = state.generator, state.critic
    m, nz, sample_dims, device = cfg.train.batch_size, cfg.arch.nz, len(data.shape), data.device
    joint = not has_batch_norm(critic)
    amp = functools.partial(torch.autocast, device.type, torch.bfloat16, enabled=cfg.train.precision == "bf16")
    history = MetricHistory(cfg.train.divergence_threshold, threads)
    probe = StepCosine(critic.parameters()) if wants_step_cosine(cfg) else None
    metrics: dict[str, float] = {}
    clock = EvalClock()
    checkpoint_every = cfg.train.checkpoint_every or cfg.eval.every
    bar = Progress(cfg, state.gen_iter, objective.name)
    quality = getattr(evaluator, "tags", lambda: {})().get("quality")

    def evaluate(done: int) -> dict[str, float]:
        started = time.perf_counter()
        metrics = evaluator(done, generator, critic, out_dir, tracker)
        if cfg.train.critic_diagnostics:  # WGAN-GP Sec. 3: the critic's layers, on a batch of its own stream
            metrics = {**metrics, **critic_diagnostics(cfg, data, generator, critic, objective, constraint)}
        if quality in metrics:
            bar.note(**{quality.split("/")[1]: fmt(metrics[quality])})
        clock.evaluating += time.perf_counter() - started
        tracker.log_metrics({**metrics, **clock.metrics(started)}, step=done)
        tracker.flush()
        log.info("iter %d: %s", done, "  ".join(f"{k}={fmt(v)}" for k, v in metrics.items()))
        return metrics

    try:
        if cfg.eval.at_start and state.gen_iter == 0:  # before any step (a resumed run has it already)
            metrics = evaluate(0)
        for gen_iter in range(state.gen_iter, cfg.train.iterations):
            # -- Algorithm 1, lines 2-8: train the critic ----------------------------------------
            critic.requires_grad_(True)
            for _ in range(critic_iterations(gen_iter, cfg.train)):
                constraint.before(critic)  # official main.py clamps here (constraint.when=before)
                x = data.sample(m)  # line 3: a batch of real data, (m, *shape)
                z = prior(data, m, nz)  # line 4: a batch of priors, (m, nz)
                with torch.no_grad(), amp():
                    fake = generator(z)
                with amp():  # train.precision=bf16: forward passes in bfloat16 (a no-op by default)
                    loss_critic, stats = objective.critic_loss(*critic_scores(critic, x, fake, joint, sample_dims))  # 5
                penalty = constraint.penalty(critic, x, fake)  # line 5, WGAN-GP: + lambda (||grad f(x_hat)|| - 1)^2
                if penalty is not None:
                    loss_critic, stats = loss_critic + penalty, {**stats, M.LOSS_PENALTY.key: penalty.detach()}
                step(state.opt_critic, loss_critic, probe)  # line 6: RMSProp (or the configured optimiser)
                constraint.after(critic)  # line 7: w <- clip(w, -c, c)

            # -- Algorithm 1, lines 9-11: train the generator ------------------------------------
            critic.requires_grad_(False)  # no critic gradients needed for the generator's step
            z = prior(data, m, nz)  # line 9
            with amp():
                loss_generator = objective.generator_loss(critic(generator(z)))  # line 10
            step(state.opt_generator, loss_generator)  # line 11
            state.gen_iter = done = gen_iter + 1

            # -- bookkeeping (not in Algorithm 1) -------------------------------------------------
            history.append(done, {M.LOSS_CRITIC.key: loss_critic.detach(), M.LOSS_GENERATOR.key:
                                  loss_generator.detach(), **stats, **(probe.pop() if probe else {})})
            last = done == cfg.train.iterations
            saving = done % checkpoint_every == 0 and not last  # run() saves the finished run's state
            if done % cfg.train.log_every == 0 or last or saving:  # a checkpoint only holds a state checked finite
                failure = history.flush(tracker, bar, objective.estimate_key)
                if failure:
                    return failure, metrics
            if done % cfg.eval.every == 0 or last:
                metrics = evaluate(done)
            if saving:
                checkpoint()
            bar.update(done)
            if stopping.requested() and not last:  # SIGTERM / Ctrl-C: this iteration is done; keep it, then stop
                failure = history.flush(tracker, bar, objective.estimate_key)
                if failure:
                    return failure, metrics
                checkpoint()
                raise stopping.stop(f"after generator iteration {done}")
    finally:
        bar.close()
    return None, metrics


class EvalClock:
    """How much of the loop's wall time evaluation takes: M.EVAL_SECONDS (this evaluation) and M.EVAL_SHARE (all
    evaluations so far over the time since the loop started)."""

    def __init__(self) -> None:
        self.start, self.evaluating = time.perf_counter(), 0.0

    def metrics(self, started: float) -> dict[str, float]:
        now = time.perf_counter()
        return {M.EVAL_SECONDS.key: now - started, M.EVAL_SHARE.key: self.evaluating / max(now - self.start, 1e-9)}


class MetricHistory:
    """Per-iteration metrics kept on the device as 0-d tensors; moved to the host once per flush."""

    def __init__(self, threshold: float, threads: Threads | None = None) -> None:
        self.threshold, self.threads = threshold, threads
        self.steps: list[int] = []
        self.rows: list[dict[str, torch.Tensor]] = []
        self.since = time.perf_counter()

    def append(self, step: int, metrics: Mapping[str, torch.Tensor]) -> None:
        self.steps.append(step)
        self.rows.append(dict(metrics))

    def flush(self, tracker, bar: Progress, estimate_key: str) -> str | None:
        """Log buffered metrics plus M.ITERS_PER_S; return a failure reason on NaN or blow-up."""
        if not self.steps:
            return None
        keys = list(self.rows[0])
        # (keys, T[, K]) in float64: exact for every precision, so fp64 runs log their losses unrounded
        values = torch.stack([torch.stack([row[k] for row in self.rows]) for k in keys]).double().cpu()
        now = time.perf_counter()
        rate = len(self.steps) / max(now - self.since, 1e-9)
        host = values.tolist()  # one conversion per flush: floats, or one list per step for an ensemble
        for t, step_ in enumerate(self.steps):
            tracker.log_metrics({k: host[i][t] for i, k in enumerate(keys)}, step=step_)
        runs = values if values.dim() == 3 else values.unsqueeze(-1)  # (keys, T, runs): one run, or K members
        bad = ~(runs.isfinite() & (runs.abs() <= self.threshold))  # checked at once
        reasons = {k: self.divergence(runs[..., k], bad[..., k], keys)
                   for k in bad.any(0).any(0).nonzero().flatten().tolist()}
        failure = tracker.diverged(reasons) if reasons else None  # the tracker says whether training stops
        tracker.log_metrics({M.ITERS_PER_S.key: rate, M.THREADS.key: torch.get_num_threads()}, step=self.steps[-1])
        if self.threads is not None:  # the next stretch's threads, beside what other processes now do
            self.threads.adjust()
        tracker.flush()
        if estimate_key in keys:
            bar.note(**{estimate_key.split("/")[1]: fmt(values[keys.index(estimate_key), -1])})
        self.steps, self.rows, self.since = [], [], now
        return failure

    def divergence(self, values: torch.Tensor, bad: torch.Tensor, keys: list[str]) -> str | None:
        """Why a run failed: the first step with a value not finite or beyond the threshold, and its bad values."""
        if not bad.any():
            return None
        t = int(bad.any(0).nonzero()[0, 0])
        listed = ", ".join(f"{k}={fmt(values[i, t])}" for i, k in enumerate(keys) if bad[i, t])
        return f"diverged at generator iteration {self.steps[t]}: {listed}"


def fmt(value: float | torch.Tensor | list[float]) -> str:
    """A metric for the log: 4 significant digits; an ensemble's values as a list."""
    values = torch.as_tensor(value, dtype=torch.float64).flatten().tolist()
    return f"{values[0]:.4g}" if len(values) == 1 else "[" + " ".join(f"{v:.3g}" for v in values) + "]"
