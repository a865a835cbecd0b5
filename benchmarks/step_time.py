"""Seconds per generator iteration of the real training loop, per architecture pair and image size.

    python benchmarks/step_time.py                          # DCGAN 64x64 (paper scale), CPU or CUDA (auto)
    python benchmarks/step_time.py --arch dcgan dcgan_nobn_const mlp --size 32 64 --iters 5 --device cuda

Each figure is (wall time of a run of 1 + N iterations - that of a run of 1 iteration) / N: the loop
itself (Algorithm 1 with n_critic critic steps, no warm-up bursts, tracking off), without model
building, data loading and the first iteration's one-off costs. Data: stacked digits (3 channels, held
on the device) upsampled to the size asked for, so no decoding is timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from wgan_repro.config import compose
from wgan_repro.runner import run


def time_run(overrides: list[str], iterations: int) -> float:
    cfg, choices = compose([*overrides, f"train.iterations={iterations}"])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run(cfg, choices, Path(out))
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["dcgan"], help="generators (critic: dcgan; mlp -> mlp too)")
    parser.add_argument("--critic", default="dcgan")
    parser.add_argument("--size", nargs="+", type=int, default=[64])
    parser.add_argument("--iters", type=int, default=3, help="timed generator iterations")
    parser.add_argument("--objective", nargs="+", default=["wgan"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    print(f"{'objective':9} {'arch':17} {'critic':7} {'size':>4} {'s/gen iter':>10} {'gen iter/s':>10}")
    for size in args.size:
        for objective in args.objective:
            for arch in args.arch:
                overrides = [f"arch={arch}", f"critic={args.critic}", f"objective={objective}", "data=stacked_digits",
                             f"data.image_size={size}", "train.warmup=false", "tracking.enabled=false",
                             "train.progress=false", "eval.every=1000000", f"train.device={args.device}"]
                if arch == "mlp":
                    overrides.append("arch.nz=100")
                base = time_run(overrides, 1)
                per_iter = (time_run(overrides, 1 + args.iters) - base) / args.iters
                print(f"{objective:9} {arch:17} {args.critic:7} {size:>4} {per_iter:>10.3f} {1 / per_iter:>10.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
