"""The benchmark's measurements (`python -m wgan_repro.bench`, whose page is wgan_repro/bench/__init__.py): the
harness's loop and the plain reference loop timed on the same models and batch, FLOPs and the matmul peak, the
shares of tracking and evaluation, and the Inception features' throughput. Loads torch and the run layer."""

from __future__ import annotations

import json
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.flop_counter import FlopCounterMode
from torch_fidelity.utils import create_feature_extractor

from wgan_repro.bench import COMMON, CONTENTION, FID, SETTINGS, unknown_settings
from wgan_repro.bench.contention import bench_contention, contention_table
from wgan_repro.config import compose, validate
from wgan_repro.evaluate import fid as F
from wgan_repro.evaluate import inception
from wgan_repro.host import cpu_name, cpuinfo
from wgan_repro.members import ensemble_members
from wgan_repro.reference_loop import reference_loop, sync
from wgan_repro.runs.ensemble import EnsembleEvaluator, EnsembleTracker, build_ensemble
from wgan_repro.runs.setup import build_parts, resolve_device, run_dtype
from wgan_repro.runs.train import train
from wgan_repro.tracking import MLflowTracker

log = logging.getLogger(__name__)

GUARD = 0.95  # a harness/plain ratio below this is flagged: the harness must not cost speed
FID_BATCHES = {"cpu": (16, 32, 64), "cuda": (64, 256, 512)}  # a GPU needs large batches to fill
FID_SAMPLES = {"cpu": 256, "cuda": 2048}  # generated images in the whole-evaluation timing




def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    flags = cpuinfo()  # read once: the model name and the instruction sets
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = ", bf16" if "avx512_bf16" in flags or "amx_bf16" in flags else ", no bf16"
    return f"{cpu_name(flags)} ({torch.get_num_threads()} threads, {isa}{bf16})"


def matmul_peak(device: torch.device, dtype: torch.dtype, repeats: int = 5) -> float:
    """FLOP/s of a large square matmul on this device and precision (median of `repeats`)."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times)


class Timed:
    """Wraps a tracker or an evaluator and adds up the seconds spent in its calls."""

    def __init__(self, inner: Any, device: torch.device) -> None:
        self.inner, self.device, self.seconds = inner, device, 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            sync(self.device)
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                sync(self.device)
                self.seconds += time.perf_counter() - start
        return timed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("__call__")(*args, **kwargs)


class EvaluatedOnce:
    """The evaluator, timed at its first call only: every segment ends with an evaluation, which a real run does
    once per eval.every iterations; later calls return the first call's metrics."""

    def __init__(self, inner: Any, device: torch.device) -> None:
        self.timed, self.metrics = Timed(inner, device), None

    @property
    def seconds(self) -> float:
        return self.timed.seconds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.metrics is None:
            self.metrics = self.timed(*args, **kwargs)
        return self.metrics


def repeat(segment: Callable[[int], float], iterations: int, repeats: int, budget_s: float) -> tuple[float, int]:
    """Median generator iterations per second over `repeats` segments, after one warm-up segment that also sizes
    the segments to about `budget_s` seconds each."""
    warm = segment(1)
    n = max(1, min(iterations, int(budget_s / max(warm, 1e-6))))
    rates = [n / segment(n) for _ in range(repeats)]
    return statistics.median(rates), n


def flops_per_iteration(cfg: DictConfig, device: torch.device) -> float:
    """FLOPs of one generator iteration (n_critic critic steps and one generator step), counted by PyTorch."""
    segment = reference_loop(cfg, device)
    try:
        with FlopCounterMode(display=False) as counter:
            segment(1)
    except RuntimeError as exc:  # its module hooks refuse autograd.grad on a leaf (the gradient penalty)
        log.warning("FLOPs not counted for %s: %s", cfg.constraint._target_, str(exc).splitlines()[0])
        return math.nan
    return float(counter.get_total_flops())


# --------------------------------------------------------------------------- the harness's loop
def harness_loop(cfg: DictConfig, device: torch.device, uri: str
                 ) -> tuple[Callable[[int], float], dict[str, float], EvaluatedOnce]:
    """Segments of `train.train` itself on one state, tracked to a real MLflow store (one run per member of an
    ensemble); evaluation (which the loop runs at the end of every segment) is timed apart and left out of the
    rate. Returns the segment function, the running totals of loop and tracking seconds, and the evaluator."""
    members = len(ensemble_members(cfg))
    if members > 1:

        state, data, objective, constraint, evaluators, _ = build_ensemble(cfg)
        inner_tracker = EnsembleTracker([MLflowTracker(uri, "bench", f"bench-{k}", {}) for k in range(members)])
        evaluator = EnsembleEvaluator(evaluators, inner_tracker)
    else:
        state, data, objective, constraint, evaluator = build_parts(cfg)
        inner_tracker = MLflowTracker(uri, "bench", "bench", {})
    tracker, timed_eval = Timed(inner_tracker, device), EvaluatedOnce(evaluator, device)
    out = Path(tempfile.mkdtemp())
    totals = {"loop_s": 0.0, "tracking_s": 0.0}

    def segment(n: int) -> float:
        with open_dict(cfg):
            cfg.train.iterations = state.gen_iter + n
        evaluating, tracking = timed_eval.seconds, tracker.seconds
        sync(device)
        start = time.perf_counter()
        train(cfg, state, data, objective, constraint, timed_eval, tracker, out, lambda: None)
        sync(device)
        spent = time.perf_counter() - start
        evaluating, tracking = timed_eval.seconds - evaluating, tracker.seconds - tracking
        # a segment flushes the tracker at its end; a real run once per train.log_every iterations: a segment shorter
        # than that is charged its share of one flush, as a real run pays it
        tracking_real = tracking * min(1.0, n / cfg.train.log_every)
        loop = spent - evaluating - tracking + tracking_real
        totals["loop_s"] += loop
        totals["tracking_s"] += tracking_real
        return loop
    return segment, totals, timed_eval


def bench_setting(name: str, overrides: list[str], device: torch.device, uri: str, repeats: int,
                  budget_s: float) -> dict[str, Any]:
    cfg, _ = compose([*COMMON, *SETTINGS[name], *overrides, f"train.device={device.type}"])
    validate(cfg)
    eval_every = cfg.eval.every
    with open_dict(cfg):
        cfg.eval.every = 10 ** 9  # the loop evaluates at every segment's end: timed once (EvaluatedOnce)
        cfg.train.checkpoint_every = 10 ** 9
    members = len(ensemble_members(cfg))
    harness, totals, evaluator = harness_loop(cfg, device, uri)
    harness_its, n = repeat(harness, 10 ** 6, repeats, budget_s)
    eval_s = evaluator.seconds  # one evaluation, timed
    # the plain loop: one run, fp32, eager, default memory format, whatever the harness was given
    plain = OmegaConf.merge(cfg, {"train": {"ensemble": 1, "ensemble_lr": None, "compile": False,
                                            "precision": "fp32", "channels_last": False}})
    reference_its, _ = repeat(reference_loop(plain, device), 10 ** 6, repeats, budget_s)
    flops = flops_per_iteration(plain, device)
    precision = cfg.train.get("precision", "fp32")
    dtype = torch.bfloat16 if getattr(precision, "name", precision) == "bf16" else run_dtype(precision)  # enum or str
    peak = matmul_peak(device, dtype)
    per_iter = 1 / harness_its
    return {
        "setting": name, "overrides": overrides, "device": device_name(device), "precision": str(dtype),
        "members": members, "harness_its": harness_its * members, "reference_its": reference_its,
        "ratio": harness_its * members / reference_its, "flops_per_gen_iter": flops,
        "harness_flops_per_s": flops * harness_its * members, "reference_flops_per_s": flops * reference_its,
        "matmul_peak_flops_per_s": peak, "harness_share_of_peak": flops * harness_its * members / peak,
        "reference_share_of_peak": flops * reference_its / peak,
        "tracking_share": totals["tracking_s"] / totals["loop_s"],
        "eval_share": (eval_s / eval_every) / (per_iter + eval_s / eval_every),
        "eval_s_per_evaluation": eval_s, "eval_every": eval_every, "segment_iterations": n, "repeats": repeats,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------- evaluation speed
def best_time(work: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median seconds of `work` over `repeats` calls after one warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        work()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_fid(overrides: list[str], device: torch.device, repeats: int) -> dict[str, Any]:
    """Inception features, harness vs torch-fidelity's own extractor (contiguous, no_grad, as it ships), on the same
    uint8 32x32 batches; the whole FID/KID evaluation of a DCGAN generator; the MNIST classifier's measures."""
    space = F.Space.inception()
    plain = create_feature_extractor(inception.INCEPTION, ["2048"], cuda=device.type == "cuda", verbose=False,
                                     feature_extractor_weights_path=space.weights)
    g = torch.Generator().manual_seed(0)
    rates: dict[int, tuple[float, float]] = {}
    samples = FID_SAMPLES.get(device.type, FID_SAMPLES["cpu"])
    for batch in FID_BATCHES.get(device.type, FID_BATCHES["cpu"]):
        x = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)
        with torch.no_grad():
            t_plain = best_time(lambda: plain(x), device, repeats)
        t_harness = best_time(lambda: F.features(space, [x], device), device, repeats)
        rates[batch] = (batch / t_harness, batch / t_plain)
    best = max(rates, key=lambda b: rates[b][0])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        plain(torch.zeros(1, 3, 32, 32, dtype=torch.uint8, device=device))
    flops = float(counter.get_total_flops())
    cfg, _ = compose(["data=mnist_5k", "arch=dcgan", "arch.ngf=32", "critic=dcgan", "critic.ndf=32", "eval.fid=true",
                      f"eval.fid_samples={samples}", f"eval.fid_batch_size={best}", "eval.classifier_fid=false",
                      "eval.classes=false", *overrides, f"train.device={device.type}", "tracking.enabled=false"])
    state, _, _, _, evaluator = build_parts(cfg)
    rng = evaluator.rng
    t_whole = best_time(lambda: evaluator.compute(state.generator, rng()), device, max(1, repeats // 2))
    fake = torch.randn(samples, 2048, dtype=torch.float64)  # the fixed cost: Frechet distance (a 2048x2048 sqrtm
    t_distances = best_time(lambda: F.distances(fake, fake.flip(0), 1000), torch.device("cpu"), 1)  # on CPU) + KID
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        state.generator(torch.zeros(1, cfg.arch.nz, device=device))
    gen_flops = float(counter.get_total_flops())
    cfg, _ = compose(["data=mnist_5k", "arch=dcgan", "arch.ngf=32", "critic=dcgan", "critic.ndf=32",
                      "eval.classifier_samples=1000",
                      "eval.n_samples=1000", *overrides, f"train.device={device.type}", "tracking.enabled=false"])
    state, _, _, _, classifier = build_parts(cfg)
    t_classifier = best_time(lambda: classifier.compute(state.generator, classifier.rng()), device, repeats)
    peak = matmul_peak(device, torch.float32)
    harness, reference = rates[best]
    return {
        "setting": FID, "overrides": overrides, "device": device_name(device), "precision": "torch.float32",
        "members": 1, "harness_its": harness, "reference_its": reference, "ratio": harness / reference,
        "flops_per_gen_iter": flops, "harness_flops_per_s": flops * harness, "reference_flops_per_s": flops * reference,
        "matmul_peak_flops_per_s": peak, "harness_share_of_peak": flops * harness / peak,
        "reference_share_of_peak": flops * reference / peak, "tracking_share": 0.0, "eval_share": 1.0,
        "batch": best, "rates_by_batch": {str(b): {"harness": h, "plain": p} for b, (h, p) in rates.items()},
        "whole_eval_images_per_s": samples / t_whole,
        "distances_seconds": t_distances,
        "whole_eval_share_of_peak": (flops + gen_flops) * samples / t_whole / peak,
        "classifier_seconds_per_1000": t_classifier, "samples": samples, "repeats": repeats,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


def fid_table(r: dict[str, Any]) -> str:
    by = ", ".join(f"batch {b}: {v['harness']:.2f} vs {v['plain']:.2f}" for b, v in r["rates_by_batch"].items())
    return (f"fid: Inception features {r['harness_its']:.2f} images/s (batch {r['batch']}) vs torch-fidelity's own "
            f"{r['reference_its']:.2f}: {r['ratio']:.2f}x{flag(r)}; {r['flops_per_gen_iter'] / 1e9:.2f} GFLOP/image; "
            f"{100 * r['harness_share_of_peak']:.0f}% of the matmul peak (plain "
            f"{100 * r['reference_share_of_peak']:.0f}"
            f"%). Whole FID+KID evaluation of a DCGAN generator: {r['whole_eval_images_per_s']:.2f} images/s of "
            f"{r['samples']}, {100 * r['whole_eval_share_of_peak']:.0f}% of peak, of which the Frechet distance and "
            f"KID (torch-fidelity, CPU) take {r['distances_seconds']:.2f} s per evaluation whatever the sample count. "
            f"MNIST classifier FID + classes: {r['classifier_seconds_per_1000']:.2f} s per 1,000 samples. Images/s "
            f"harness vs plain by batch: {by}")


def flag(r: dict[str, Any]) -> str:
    return f"  << below {GUARD}x" if r["ratio"] < GUARD else ""


def table(records: list[dict[str, Any]]) -> str:
    head = (f"{'setting':15} {'harness it/s':>12} {'plain it/s':>10} {'ratio':>6} {'GFLOP/it':>8} "
            f"{'harness % peak':>14} {'plain % peak':>12} {'tracking':>8} {'eval':>6}")
    rows = [head, "-" * len(head)]
    for r in records:
        if r["setting"] == FID:
            rows.append(fid_table(r))
            continue
        rows.append(f"{r['setting']:15} {r['harness_its']:>12.2f} {r['reference_its']:>10.2f} {r['ratio']:>5.2f}x "
                    f"{r['flops_per_gen_iter'] / 1e9:>8.2f} {100 * r['harness_share_of_peak']:>13.0f}% "
                    f"{100 * r['reference_share_of_peak']:>11.0f}% {100 * r['tracking_share']:>7.1f}% "
                    f"{100 * r['eval_share']:>5.1f}%{flag(r)}")
    return "\n".join(rows)


def run(b: DictConfig) -> int:
    """The benchmark of conf/bench.yaml's `bench` node; the exit status (2: a setting it does not know)."""
    refusal = unknown_settings(list(b.settings))
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    device = resolve_device(b.device)
    logging.getLogger("wgan_repro").setLevel(logging.WARNING)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/bench.db"
        for name in b.settings:
            print(f"timing {name} ...", file=sys.stderr, flush=True)
            if name == CONTENTION:
                records.append(bench_contention(list(b.overrides)))
                print(contention_table(records[-1]), file=sys.stderr, flush=True)
                continue
            records.append(bench_fid(list(b.overrides), device, b.repeats) if name == FID else
                           bench_setting(name, list(b.overrides), device, uri, b.repeats, b.segment_seconds))
            print(table(records[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    timed = [r for r in records if r["setting"] != CONTENTION]
    print(f"device: {timed[0]['device']}; torch {torch.__version__}; medians of {b.repeats} repeats after a "
          f"warm-up; matmul peak {timed[0]['matmul_peak_flops_per_s'] / 1e9:.0f} GFLOP/s" if timed else "")
    if timed:
        print(table(timed))
    for r in records:
        if r["setting"] == CONTENTION:
            print(contention_table(r))
    if b.out:
        Path(b.out).write_text(json.dumps(records, indent=1))
        print(f"records: {b.out}", file=sys.stderr)
    return 0
