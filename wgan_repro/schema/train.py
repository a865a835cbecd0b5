"""The run's own keys, not a group: `train` (the loop, Algorithm 1's hyper-parameters) and `tracking` (MLflow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from wgan_repro.evaluate import metrics as M
from wgan_repro.schema.base import Device, Precision, knob


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
    threads: Optional[int] = knob(None, "CPU threads of torch's intra-op pool; null: the CPUs this process may use "
                                        "less those other processes keep busy when the run starts (at least 1), or "
                                        "$OMP_NUM_THREADS when set", ge=1)
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
                                           f"weights at their bound ({M.WEIGHTS_NEAR_MAX.key}, and by layer: "
                                           f"{M.WEIGHTS_AT_BOUND_LAYER.key_pattern}) with the weights' "
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
class TrackingConfig:
    uri: Optional[str] = knob(None, "MLflow tracking URI; null: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db")
    experiment: str = knob("wgan_repro", "MLflow experiment name")
    run_name: Optional[str] = knob(None, "MLflow run name; null: <objective>-<arch>-<data>-s<seed>-<config hash's "
                                         "first 6 characters> (runs whose configs differ never share a name)")
    enabled: bool = knob(True, "false: train without any tracking (nothing is written to MLflow)")
