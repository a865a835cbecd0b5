"""conf/eval: how runs are measured (evaluate/): the toy evaluator and the image evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from wgan_repro.evaluate import metrics as M
from wgan_repro.schema.base import knob


@dataclass
class EvalConfig:
    _target_: str = MISSING
    every: int = knob(1000, "generator iterations between evaluations (and once at the end)", ge=1)
    at_start: bool = knob(False, "evaluate once more before the first generator iteration (step 0), so that a run "
                                 "broken from its first steps shows it")
    prc: bool = knob(True, "precision, recall, density, coverage (and their real-vs-real floors) on the features "
                           "FID uses (measured on a 2-core CPU: 0.8 s at 2,000 Inception features, ~0.6% of that "
                           "evaluation; +1.6% of mnist_dcgan's classifier evaluation)")
    prc_neighbours: int = knob(3, "k of precision and recall (Kynkaanniemi et al.: 3)", ge=1)
    dc_neighbours: int = knob(5, "k of density and coverage (Naeem et al.: 5)", ge=1)


@dataclass
class ToyEvalConfig(EvalConfig):
    _target_: str = "wgan_repro.evaluate.toy.ToyEvaluator"
    n_samples: int = knob(2500, "generated samples for mode metrics (VEEGAN/PacGAN: 2,500)", ge=1)
    w1_points: int = knob(1000, "points per side for exact W1 (POT ot.emd2)", ge=1)
    hq_threshold: float = knob(3.0, "a sample is high quality when its std-normalised distance to a mode is below this",
                               gt=0)
    figures: bool = knob(True, "save and log a figure at each evaluation")
    prc: bool = knob(False, "precision, recall, density, coverage in the data's plane "
                            f"({M.prdc('precision', '_2d').key} ...) and their floors; off by default: +0.23 s an "
                            "evaluation at 2,500 samples, 21% of a toy evaluation with its figure, 59% without "
                            "(measured on a 2-core CPU)")


@dataclass
class ImageEvalConfig(EvalConfig):
    _target_: str = "wgan_repro.evaluate.images.ImageEvaluator"
    fid: bool = knob(False, "FID and KID (torch-fidelity, TF Inception, offline weights) at each evaluation; "
                            "Inception costs ~0.25 s per image on a 2-core CPU")
    fid_every: Optional[int] = knob(None, "Inception FID/KID only at evaluations whose generator iteration is a "
                                          "multiple of this (train.iterations: the final one only); null: at every "
                                          "evaluation", ge=1)
    fid_samples: Optional[int] = knob(None, "generated samples per FID; null: 10,000 on a GPU, 2,000 on a CPU",
                                      ge=2)
    fid_real_samples: Optional[int] = knob(None, "real samples behind the cached real statistics (capped by the "
                                                 "set's size); null: as many as generated", ge=2)
    kid_subset_size: int = knob(1000, "KID subset size (torch-fidelity's default; capped by the sample counts)",
                                ge=2)
    classifier: Optional[str] = knob(None, "domain classifier for the measures below: digits (scikit-learn's digits) "
                                           "or mnist (mnist_5k's held-out-tested classifier)")
    classifier_fid: bool = knob(False, f"{M.FID_CLASSIFIER_PATTERN}: Fréchet distance in the classifier's features, "
                                       f"and once {M.FID_CLASSIFIER_FLOOR_PATTERN} (two disjoint real halves)")
    classifier_samples: int = knob(2000, "generated (and real) samples per classifier FID", ge=2)
    classes: bool = knob(False, f"{M.CLASSES.key} and {M.KL_CLASSES.key}: the predicted-class histogram over "
                                "n_samples")
    stacked_modes: bool = knob(False, f"{M.MODES.key} and {M.KL_MODES.key} over the 1,000 digit triples (stacked "
                                      "data)")
    n_samples: int = knob(10000, "generated samples for the class histogram or the 1,000-mode count (PacGAN's "
                                 "Stacked MNIST: 26,000)", ge=1)
    batch_size: int = knob(250, "images per batch when generating and for the classifier's features", ge=1)
    fid_batch_size: int = knob(16, "images per Inception batch (the fastest measured on a 2-core CPU: 14 images/s "
                                   "at 16, 11 at 64; python -m wgan_repro.bench bench.settings=[fid])", ge=1)
