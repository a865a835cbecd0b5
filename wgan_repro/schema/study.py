"""conf/study: the studies that fit critics and train no generator (runs/studies.py: Figures 1 and 3, G3)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from wgan_repro.schema.base import knob


@dataclass
class StudyConfig:
    _target_: str = MISSING
    lr_critic: float = knob(1e-3, "learning rate of the run's critic (conf/optimizer; a fit, not a training run: "
                                  "fast)", gt=0)
    lr_discriminator: float = knob(1e-3, "Adam lr (beta1 0.5) of the GAN discriminator it is drawn against", gt=0)


@dataclass
class ParallelLinesConfig(StudyConfig):
    _target_: str = "wgan_repro.runs.studies.ParallelLines"
    n_theta: int = knob(21, "values of theta, evenly spaced over [-1, 1] (odd: includes 0)", ge=2)
    max_steps: int = knob(3000, "at most this many steps per fit; a fit stops earlier when its estimate is flat",
                          ge=1)
    batch_size: int = knob("${train.batch_size}", "samples of each distribution per step (Algorithm 1's m)", ge=1)
    restarts: int = knob(1, "fits per theta from fresh initialisations; the best estimate is kept (a supremum)", ge=1)
    tol: float = knob(0.01, "a fit stops when its mean estimate over 200 steps moves by less than this, relative",
                      gt=0)


@dataclass
class CriticFitConfig(StudyConfig):
    """A study that fits one critic to optimality, batch after batch, rather than training a GAN."""
    batch_size: int = knob(256, "samples of each side per step (WGAN-GP's toy script: 256)", ge=1)


@dataclass
class FixedGeneratorConfig(CriticFitConfig):
    _target_: str = "wgan_repro.runs.studies.FixedGenerator"
    noise_std: float = knob(1.0, "the fixed generator: real data plus Gaussian noise of this standard deviation "
                                 "(WGAN-GP Figure 1a: unit variance)", gt=0)
    max_steps: int = knob(2000, "critic steps of the fit (to optimality: the estimate's plateau)", ge=1)
    w1_points: int = knob("${eval.w1_points}", "points a side for the exact W1 (POT) and its floor: the toy "
                                                "evaluation's", ge=2)


@dataclass
class OptimalCriticConfig(CriticFitConfig):
    _target_: str = "wgan_repro.runs.studies.OptimalCritic"
    real_mean: float = knob(2.0, "mean of the real 1-D Gaussian")
    fake_mean: float = knob(-2.0, "mean of the fake 1-D Gaussian")
    std: float = knob(0.3, "standard deviation of both", gt=0)
    max_steps: int = knob(10000, "at most this many steps per fit (the paper's pictures: about 10,000)", ge=1)
