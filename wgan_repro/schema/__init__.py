"""The typed schema behind conf/, registered in Hydra's ConfigStore.

Each config group (GROUPS: arch, critic, objective, ...) has one schema per choice, in the module named for it
(models.py serves arch and critic; train.py the run's own train and tracking keys); the YAML files in
conf/<group>/ extend them. Types are checked by OmegaConf when Hydra composes; ranges are declared next to each
field (`knob(..., ge=1)`) and checked by `config.validate`, before anything is created. Every field carries a
one-line doc, and every default is written once, in this package (tests/test_defaults_once.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from wgan_repro.schema.base import ClipWhen, ConfigError, Device, MLPInit, Precision, knob
from wgan_repro.schema.constraint import ClipConfig, GradientPenaltyConfig, NoConstraintConfig, SpectralNormConfig
from wgan_repro.schema.data import (
    DigitsDataConfig,
    GridDataConfig,
    MNIST5kDataConfig,
    RingDataConfig,
    StackedDigitsDataConfig,
    StackedMNIST5kDataConfig,
    SwissRollDataConfig,
    TorchvisionDataConfig,
)
from wgan_repro.schema.eval import ImageEvalConfig, ToyEvalConfig
from wgan_repro.schema.models import (
    ConstantFilterGeneratorConfig,
    DCGANCriticConfig,
    DCGANGeneratorConfig,
    MLPCriticConfig,
    MLPGeneratorConfig,
)
from wgan_repro.schema.objective import ObjectiveConfig, objective_default
from wgan_repro.schema.optimizer import AdamConfig, RMSpropConfig
from wgan_repro.schema.study import FixedGeneratorConfig, OptimalCriticConfig, ParallelLinesConfig
from wgan_repro.schema.train import TrackingConfig, TrainConfig

__all__ = ["ClipWhen", "ConfigError", "Config", "COMPOSED", "Device", "GROUPS", "MLPInit", "Precision", "SCHEMAS",
           "knob", "register_configs"]


@dataclass
class Config:
    arch: Any = MISSING
    critic: Any = MISSING
    objective: Any = MISSING
    constraint: Any = MISSING
    optimizer: Any = MISSING
    data: Any = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: Any = MISSING
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    experiment: Optional[str] = knob(None, "name of the experiment preset, when one is used (logged as a tag)")
    sweep: Optional[str] = knob(None, "name of the sweep this run belongs to (logged as a tag)")
    study: Any = knob(None, "a study that trains no generator (conf/study: Figures 1 and 3), set by its experiment")


# --------------------------------------------------------------------------- the config groups
GROUPS = {  # conf/<group>/, one YAML per choice: the one list that help, validation, run tags, tests and docs read
    "arch": "the generator",
    "critic": "the critic (the discriminator, for the standard GAN)",
    "objective": "WGAN, the standard GAN (-log D) and others: losses and the estimate each logs",
    "constraint": "the Lipschitz constraint: weight clipping, gradient penalty, spectral norm, none",
    "optimizer": "RMSProp or Adam, with their learning rates",
    "data": "toy mixtures, digits, MNIST, image folders",
    "eval": "how runs are measured (each data preset picks its own)",
    "experiment": "a preset laid over the others: a figure of the paper",
    "study": "a study that trains no generator (Figures 1 and 3), set by its experiment",
}
COMPOSED = tuple(g for g in GROUPS if g != "experiment")  # a node of the run's config, its choice a run tag


# Group schemas live under schema/<group>/ so that they never show up as choices of the group itself.
SCHEMAS: dict[str, dict[str, type]] = {
    "arch": {"mlp": MLPGeneratorConfig, "dcgan": DCGANGeneratorConfig, "constant": ConstantFilterGeneratorConfig},
    "critic": {"mlp": MLPCriticConfig, "dcgan": DCGANCriticConfig},
    "objective": {"base": ObjectiveConfig},
    "constraint": {"clip": ClipConfig, "none": NoConstraintConfig, "gp": GradientPenaltyConfig,
                   "spectral": SpectralNormConfig},
    "optimizer": {"rmsprop": RMSpropConfig, "adam": AdamConfig},
    "eval": {"toy": ToyEvalConfig, "images": ImageEvalConfig},
    "study": {"parallel_lines": ParallelLinesConfig, "optimal_critic": OptimalCriticConfig,
              "fixed_generator": FixedGeneratorConfig},
    "data": {"ring": RingDataConfig, "grid": GridDataConfig, "swiss_roll": SwissRollDataConfig,
             "digits": DigitsDataConfig, "stacked_digits": StackedDigitsDataConfig, "mnist_5k": MNIST5kDataConfig,
             "stacked_mnist_5k": StackedMNIST5kDataConfig,
             "torchvision": TorchvisionDataConfig},
}


def register_configs() -> None:
    """Register the root schema and every group schema in Hydra's ConfigStore (idempotent)."""
    if not OmegaConf.has_resolver("objective"):
        OmegaConf.register_new_resolver("objective", objective_default)
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
