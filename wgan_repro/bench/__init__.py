"""`python -m wgan_repro.bench [bench.settings=[toy,dcgan32]] [bench.out=FILE] [bench.overrides=[...]]` (a Hydra app)

Generator iterations per second of the harness's loop (`train.train`, with its MLflow tracking) and of a plain
reference loop written the way the official code writes it (one Python loop, `.item()` per step, a clamp per
parameter), on the same models, algorithm, batch and device, in one process. Each figure is the median of
several repeats after a warm-up. Also: FLOPs per generator iteration (torch.utils.flop_counter), the achieved
FLOP/s against a large matmul's, measured here at the same precision, and the shares of a default run's time
that tracking and evaluation take. Settings (conf/bench.yaml):

  toy             the default run: 8 Gaussians, MLP 3x512, batch 64, n_critic 5, no warm-up
  toy_ensemble16  16 such runs as one batched ensemble (train.ensemble=16), against 16 sequential plain runs
  toy_gp          the toy run with constraint=gp (lam 0.1, WGAN-GP's toy value): its cost against clipping (toy),
                  double backward included; the plain loop adds WGAN-GP's own calc_gradient_penalty
  toy_spectral    the toy run with constraint=spectral (one power iteration per critic forward)
  dcgan32         digits 1x32x32, DCGAN generator and critic, batch 64
  dcgan64         stacked digits 3x64x64, DCGAN generator and critic, batch 64
  mnist_preset    experiment=mnist_dcgan (mnist_5k 32x32, ngf = ndf = 32): the eval column is the share of a real
                  run of that preset that its evaluations take (classifier FID + classes every 500 iterations)
  fid             evaluation: Inception features (images/s, GFLOP per image, share of the matmul peak) of the
                  harness's extractor against torch-fidelity's own in the same process, at several batch sizes;
                  the whole Inception FID/KID evaluation of a DCGAN generator; the classifier measures per 1,000
  contention      (not in the default list; about 2 minutes) the toy run as `python -m wgan_repro` starts it, alone
                  and two started together, with the harness's thread choice (train.threads=null) and with torch's
                  (one thread per core): each of two as a share of one alone (bench/contention.py)

Any setting whose harness/plain ratio is below GUARD is flagged.

A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

SETTINGS = {
    "toy": ["eval.figures=false"],
    "toy_ensemble16": ["eval.figures=false", "train.ensemble=16"],
    "toy_gp": ["eval.figures=false", "constraint=gp", "constraint.lam=0.1"],  # WGAN-GP's toy lambda; vs toy: its cost
    "toy_spectral": ["eval.figures=false", "constraint=spectral"],
    "dcgan32": ["data=digits", "arch=dcgan", "critic=dcgan"],
    "dcgan64": ["data=stacked_digits", "data.image_size=64", "arch=dcgan", "critic=dcgan"],
    "mnist_preset": ["experiment=mnist_dcgan"],  # a real image preset: its evaluation share at its own eval.every
}
COMMON = ["train.warmup=false", "train.progress=false"]
FID = "fid"
CONTENTION = "contention"
OWN_TIMING = (FID, CONTENTION)  # settings timed their own way, not harness against plain loop


def unknown_settings(settings: list[str]) -> str | None:
    """The refusal of settings this benchmark does not know (naming them and the allowed ones), or None."""
    unknown = [name for name in settings if name not in SETTINGS and name not in OWN_TIMING]
    return f"bench.settings={list(settings)}: unknown {unknown}; allowed: {sorted([*SETTINGS, *OWN_TIMING])}" \
        if unknown else None
