"""How long one FID/KID evaluation takes on this machine: `python benchmarks/fid_time.py --samples 2000`.

Times (1) the real-data features the first time (then cached) and (2) one evaluation of a DCGAN generator on the
digits (16x16) with the real features cached: generated samples through the TF Inception at 299x299, FID and KID.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from wgan_repro.config import compose
from wgan_repro.data import build_data
from wgan_repro.evaluate import build_evaluator
from wgan_repro.models import build_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="generated samples per evaluation")
    parser.add_argument("--real", type=int, default=500, help="real samples behind the statistics")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    cfg, _ = compose(["data=digits", "data.image_size=16", "arch=dcgan", "eval.fid=true", "eval.classifier_fid=false",
                      f"eval.fid_samples={args.samples}", f"eval.fid_real_samples={args.real}"])
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = build_data(cfg.data, device)
    generator = build_generator(cfg.arch, data.shape).to(device)
    evaluator = build_evaluator(cfg.eval, data, cfg.arch.nz, 0)
    start = time.perf_counter()
    evaluator.real_features(*evaluator.spaces["fid"])
    real_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluator.compute(generator, evaluator.rng())
    eval_s = time.perf_counter() - start
    print(f"{platform.processor() or platform.machine()}, {args.device}, {torch.get_num_threads()} threads: "
          f"real features ({args.real}, first time, then cached) {real_s:.1f} s; one evaluation of {args.samples} "
          f"generated samples (FID + KID) {eval_s:.1f} s = {args.samples / eval_s:.1f} samples/s; {metrics}")


if __name__ == "__main__":
    main()
