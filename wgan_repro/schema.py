"""The typed schema behind conf/, registered in Hydra's ConfigStore.

Each config group (GROUPS: arch, critic, objective, ...) has one schema per choice; the YAML files in conf/<group>/
extend them. Types are checked by OmegaConf when Hydra composes; ranges are declared
next to each field (`knob(..., ge=1)`) and checked by `config.validate`, before anything is created. Every field
carries a one-line doc, and every default is written here once (tests/test_defaults_once.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, OmegaConf

from wgan_repro.evaluate import metrics as M


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key, the value and what is allowed."""


def knob(default: Any, doc: str, *, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    """A dataclass field with a one-line doc and an optional range, checked by `validate`."""
    meta = {"doc": doc, "gt": gt, "ge": ge, "le": le}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


class Precision(str, enum.Enum):
    fp32 = "fp32"  # everything in float32 (the default; the results the tests pin)
    bf16 = "bf16"  # forward passes under torch.autocast(bfloat16): fast on GPUs and CPUs with bf16 instructions
    fp64 = "fp64"  # networks, optimiser state, toy data and losses in float64: numerical debugging, equivalence tests


class MLPInit(str, enum.Enum):
    torch = "torch"  # PyTorch's default (kaiming_uniform with a = sqrt(5)), as the official code
    he = "he"  # WGAN-GP's toy script

    def __str__(self) -> str:
        return self.value


class Device(str, enum.Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class ClipWhen(str, enum.Enum):
    after = "after"  # Algorithm 1, line 7: clip after each critic update
    before = "before"  # official main.py: clamp at the start of each critic iteration (issue #50)


# --------------------------------------------------------------------------- train / eval / tracking
@dataclass
class TrainConfig:
    iterations: int = knob(10000, "generator iterations (the loop's counter)", ge=1)
    batch_size: int = knob(64, "m in Algorithm 1: real and fake samples per step", ge=1)
    n_critic: int = knob("${objective:n_critic}", "critic iterations per generator iteration (Algorithm 1, line 2); "
                         "by default the objective's (WGAN 5, GAN 1)", ge=1)
    warmup: bool = knob("${objective:warmup}", "official code, not in Algorithm 1: warmup_critic_iters critic steps "
                        "early and periodically; by default the objective's (WGAN on, others off)")
    warmup_critic_iters: int = knob(100, "critic iterations during a warm-up burst (official main.py: 100)", ge=1)
    warmup_first: int = knob(25, "burst on each of the first this-many generator iterations (official: 25)", ge=0)
    warmup_every: int = knob(500, "and on every this-many-th generator iteration (official: 500)", ge=1)
    seed: int = knob(0, "seeds torch, numpy and python; logged as a tag", ge=0)
    device: Device = knob(Device.auto, "auto: cuda when available, else cpu")
    log_every: int = knob(50, "generator iterations between metric flushes (metrics stay on the device between)", ge=1)
    progress: bool = knob(True, "show a progress bar on stderr (always off when CI is set or stderr is not a terminal)")
    log_step_cosine: Optional[bool] = knob(None, f"log {M.STEP_COSINE.key}, cos(critic update, -gradient) per "
                                                 "generator iteration (Sec. 4.3); null: on for optimisers with "
                                                 "momentum (Adam), off otherwise (~8% of the toy run's time)")
    divergence_threshold: float = knob(1e6, "a logged loss above this (or NaN) marks the run failed", gt=0)
    resume: Optional[str] = knob(None, "auto: find this config's run in the store by its config_hash tag; skip it "
                                       "when FINISHED (or diverged), continue it from its last checkpoint otherwise, "
                                       "start it when absent (the default under submitit, so a requeued job "
                                       "continues); or the path of a checkpoint.pt to continue (same MLflow run)")
    heartbeat_stale: float = knob(900.0, "train.resume=auto leaves a RUNNING run alone while its heartbeat "
                                         "(refreshed at each metric flush) is younger than this many seconds", gt=0)
    take_over: bool = knob(False, "train.resume=auto takes over a RUNNING run even when its heartbeat is fresh")
    checkpoint_every: Optional[int] = knob(None, "generator iterations between checkpoints (written atomically, "
                                                 "logged to MLflow); null: at each evaluation", ge=1)
    critic_diagnostics: bool = knob(False, "at each evaluation, on a batch of its own stream: the gradient norm of "
                                           "the critic's loss at each layer's activations "
                                           f"({M.GRAD_NORM_LAYER.key_pattern}, NN from the input) and the share of "
                                           f"weights at their bound ({M.WEIGHTS_NEAR_MAX.key}) with the weights' "
                                           f"histogram ({M.WEIGHT_HIST_BIN.key_pattern}); WGAN-GP Sec. 3, Figure 1")
    compile: bool = knob(False, "torch.compile the generator's and critic's forward passes (changes float rounding; "
                                "first iterations pay the compilation)")
    flush_denormal: bool = knob(True, "compute float denormals as zero on the CPU: RMSProp's running square of a "
                                      "weight whose gradient stopped decays into them, which x86 CPUs compute "
                                      "slowly (a 1,500-iteration toy RMSProp run: 1.05x faster flushed; false: IEEE "
                                      "denormals, as runs before this knob)")
    precision: Precision = knob(Precision.fp32, "fp32; bf16: forward passes under autocast (changes the numbers; "
                                                "slower on CPUs without bf16 instructions); fp64: everything in "
                                                "float64, toy data only (about 2x slower; rounding 1e-16, not 1e-7, "
                                                "so runs that sum in another order agree to ~1e-12)")
    channels_last: bool = knob(False, "DCGAN networks in channels_last memory format (faster convolutions on GPUs)")
    ensemble: int = knob(1, "train this many toy runs (seeds seed .. seed+K-1) as one batched computation, each "
                            "its own MLflow run, as if run alone (MLP generator and critic, toy data)", ge=1)
    ensemble_lr: Optional[list[float]] = knob(None, "with train.ensemble: learning rates (optimizer.lr, both networks) "
                                                    "crossed with the seeds, one member per (lr, seed); null: every "
                                                    "member at optimizer.lr")


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


@dataclass
class TrackingConfig:
    uri: Optional[str] = knob(None, "MLflow tracking URI; null: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db")
    experiment: str = knob("wgan_repro", "MLflow experiment name")
    run_name: Optional[str] = knob(None, "MLflow run name; null: <objective>-<arch>-<data>-s<seed>")
    enabled: bool = knob(True, "false: train without any tracking (nothing is written to MLflow)")


# --------------------------------------------------------------------------- groups
@dataclass
class MLPConfig:
    init: MLPInit = knob(MLPInit.torch, "torch: PyTorch's default (official code); he: WGAN-GP's toy script (uniform "
                                        "+-sqrt(6/fan_in), output +-sqrt(3/fan_in), biases 0)")


@dataclass
class MLPGeneratorConfig(MLPConfig):
    _target_: str = "wgan_repro.models.mlp.MLPGenerator"
    nz: int = knob(2, "noise dimension; z ~ N(0, I)", ge=1)
    hidden: int = knob(512, "units per hidden layer (official MLP_G: ngf = 512)", ge=1)
    layers: int = knob(3, "hidden ReLU layers (official MLP_G: 3)", ge=1)
    tanh: bool = knob(False, "squash the output with tanh (the official MLP_G has none, issue #29)")


@dataclass
class MLPCriticConfig(MLPConfig):
    _target_: str = "wgan_repro.models.mlp.MLPCritic"
    hidden: int = knob(512, "units per hidden layer (official MLP_D: ndf = 512)", ge=1)
    layers: int = knob(3, "hidden ReLU layers (official MLP_D: 3)", ge=1)


@dataclass
class ConvGeneratorConfig:
    _target_: str = MISSING
    nz: int = knob(100, "noise dimension; z ~ N(0, I) of shape (B, nz)", ge=1)
    ngf: int = knob(64, "generator width: DCGAN's last hidden layer has ngf filters, doubling towards the input; "
                        "the constant-filter generator has ngf at every layer (WGAN-GP's dim = 64)", ge=2)


@dataclass
class DCGANGeneratorConfig(ConvGeneratorConfig):
    _target_: str = "wgan_repro.models.dcgan.DCGANGenerator"
    n_extra_layers: int = knob(0, "extra 3x3 conv layers at the last hidden resolution (official --n_extra_layers)",
                               ge=0)
    batch_norm: bool = knob(True, "batch norm after every hidden layer (false: the official --noBN generator)")
    constant_filters: bool = knob(False, "ngf filters at every layer instead of halving (a Figure 7 reading)")


@dataclass
class ConstantFilterGeneratorConfig(ConvGeneratorConfig):
    _target_: str = "wgan_repro.models.dcgan.ConstantFilterGenerator"


@dataclass
class DCGANCriticConfig:
    _target_: str = "wgan_repro.models.dcgan.DCGANCritic"
    ndf: int = knob(64, "critic width: the first layer has ndf filters, doubling as the image halves", ge=1)
    n_extra_layers: int = knob(0, "extra 3x3 conv layers at the first hidden resolution", ge=0)
    batch_norm: bool = knob(True, "batch norm after every hidden layer but the first (clipped like every weight)")


@dataclass
class ClipConfig:
    _target_: str = "wgan_repro.constraints.Clip"
    c: float = knob(0.01, "clipping bound: every critic parameter is clamped to [-c, c] (Algorithm 1: 0.01)", gt=0)
    when: ClipWhen = knob(ClipWhen.after, "after each critic update (Algorithm 1) or before it (official code)")


@dataclass
class NoConstraintConfig:
    _target_: str = "wgan_repro.constraints.NoConstraint"


@dataclass
class GradientPenaltyConfig:
    _target_: str = "wgan_repro.constraints.GradientPenalty"
    lam: float = knob(10.0, "penalty weight lambda (WGAN-GP: 10 on images, 0.1 in its toy code)", gt=0)
    one_sided: bool = knob(False, "penalise only gradient norms above 1")


@dataclass
class SpectralNormConfig:
    _target_: str = "wgan_repro.constraints.SpectralNorm"
    n_power_iterations: int = knob(1, "power iterations per forward pass (Miyato et al.: 1)", ge=1)


@dataclass
class OptimizerConfig:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = knob(5e-5, "learning rate of both networks (Algorithm 1: alpha = 5e-5)", gt=0)
    lr_critic: Optional[float] = knob(None, "critic learning rate (official --lrD); null: lr", gt=0)
    lr_generator: Optional[float] = knob(None, "generator learning rate (official --lrG); null: lr", gt=0)


@dataclass
class RMSpropConfig(OptimizerConfig):
    _target_: str = "torch.optim.RMSprop"
    alpha: float = knob(0.99, "smoothing constant (PyTorch default, as the official code)", gt=0, le=1)
    eps: float = knob(1e-8, "term added to the denominator", gt=0)
    momentum: float = knob(0.0, "momentum (0 in the paper; Sec. 4.3 blames momentum for instability)", ge=0)


@dataclass
class AdamConfig(OptimizerConfig):
    _target_: str = "torch.optim.Adam"
    betas: list[float] = knob([0.5, 0.999], "(beta1, beta2); official --adam: (0.5, 0.999)")
    eps: float = knob(1e-8, "term added to the denominator", gt=0)


@dataclass
class ToyDataConfig:
    _target_: str = MISSING
    std: float = knob(0.02, "standard deviation of each mode, before scaling", gt=0)
    scale: float = knob(1.0, "all points are multiplied by this", gt=0)


@dataclass
class RingDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.Ring"
    n_modes: int = knob(8, "modes evenly spaced on the circle", ge=1)
    radius: float = knob(2.0, "circle radius, before scaling", gt=0)


@dataclass
class GridDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.Grid"
    side: int = knob(5, "modes per side of the square grid", ge=1)
    spacing: float = knob(2.0, "distance between neighbouring modes, before scaling", gt=0)


@dataclass
class SwissRollDataConfig(ToyDataConfig):
    _target_: str = "wgan_repro.data.toy.SwissRoll"
    std: float = knob(0.25, "noise added to the roll (sklearn make_swiss_roll's noise), before scaling", gt=0)


@dataclass
class ImageDataConfig:
    _target_: str = MISSING
    image_size: int = knob(32, "images are resized (and centre-cropped) to image_size x image_size", ge=4)


@dataclass
class DigitsDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.Digits"


@dataclass
class StackedDigitsDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.StackedDigits"


@dataclass
class MNIST5kDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.MNIST5k"
    split: str = knob("train", "train (4,000: 400 per class), test (the 1,000 held out from the classifier) or all")


@dataclass
class StackedMNIST5kDataConfig(MNIST5kDataConfig):
    _target_: str = "wgan_repro.data.images.StackedMNIST5k"


@dataclass
class TorchvisionDataConfig(ImageDataConfig):
    _target_: str = "wgan_repro.data.images.torchvision_data"
    name: str = knob(MISSING, "mnist | fashion_mnist | cifar10 | celeba | lsun | folder")
    root: str = knob("data", "where the data set lives (or is downloaded to)")
    download: bool = knob(False, "let torchvision download the data set into root when it is missing")
    num_workers: int = knob(2, "DataLoader workers for data sets streamed from disk (celeba, lsun, folder)", ge=0)
    lsun_classes: list[str] = knob(["bedroom_train"], "LSUN categories (the paper: bedroom_train)")


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


@dataclass
class ObjectiveConfig:
    _target_: str = MISSING  # a class of wgan_repro.objectives (its n_critic and warmup: train's defaults)


def objective_default(key: str, *, _root_: Any) -> Any:
    """`${objective:KEY}`: the chosen objective class's attribute KEY (n_critic, warmup): train's defaults."""
    return getattr(get_class(_root_.objective._target_), key)


# --------------------------------------------------------------------------- root
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
GROUPS = {  # conf/<group>/, one YAML per choice: the one list that help, validation, run tags, claims and docs read
    "arch": "the generator",
    "critic": "the critic (the discriminator, for the standard GAN)",
    "objective": "WGAN, the standard GAN (-log D) and others: losses and the estimate each logs",
    "constraint": "the Lipschitz constraint: weight clipping, gradient penalty, spectral norm, none",
    "optimizer": "RMSProp or Adam, with their learning rates",
    "data": "toy mixtures, digits, MNIST, image folders",
    "eval": "how runs are measured (each data preset picks its own)",
    "study": "a study that trains no generator (Figures 1 and 3), set by its experiment",
    "experiment": "a preset laid over the others: a figure of the paper",
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
