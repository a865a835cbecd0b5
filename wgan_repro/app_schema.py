"""The typed schemas of the applications beside training: reproduce, report, evaluate and bench, registered in
Hydra's ConfigStore. Each default is written here once (conf/<app>.yaml only names the schema and Hydra's own
settings), and each key carries its one-line doc, so `--help`, validation and defaults have one home."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from wgan_repro.schema import knob
from wgan_repro.schema.base import Device


class Choice(str, enum.Enum):
    """A closed set of words: reads as its word (str(), f-strings, comparisons with strings)."""

    def __str__(self) -> str:
        return self.value


class Budget(Choice):
    smoke = "smoke"  # seconds: checks the pipeline, decides nothing
    pilot = "pilot"  # a claim's cpu arms on pilot seeds: the SDs plan=true reads for power; decides nothing
    cpu = "cpu"  # the reference reproduction on a 2-core CPU
    full = "full"  # the paper's scale (data roots, a GPU)


class Launcher(Choice):
    local = "local"  # a process pool on this machine, `jobs` at a time
    slurm = "slurm"  # one SLURM job per run through submitit, a round of a claim one job array


class Command(Choice):
    run = "run"
    fid = "fid"
    convert = "convert"


class Space(Choice):
    inception = "inception"
    digits = "digits"
    mnist = "mnist"


@dataclass
class AppTracking:
    uri: Optional[str] = knob(None, "MLflow tracking URI; null: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db")
    experiment: str = knob("wgan_repro", "the MLflow experiment")


@dataclass
class ClaimsTracking(AppTracking):
    experiment: str = knob("claims", "the MLflow experiment of the claims' runs")


@dataclass
class ReproduceReport:
    out_dir: Optional[str] = knob(None, "where sections go; null: reports/claims-<budget>/ (the reference: "
                                        "reports/reference)")
    allow_mixed: bool = knob(False, "pool runs of several commits or of a dirty tree (listed in the section)")


@dataclass
class ReproduceConfig:
    claim: Any = knob(MISSING, "the claim: F1 ... F7 (conf/claim/), or all (in order)")
    budget: Budget = knob(Budget.smoke, "smoke | pilot | cpu | full (each claim file defines what its budgets "
                                        "run; pilot: where a claim has one)")
    jobs: Optional[int] = knob(None, "runs in parallel, one thread each; null: the budget's own (2 on a 2-core CPU)",
                               ge=1)
    render_only: bool = knob(False, "render the section from MLflow without running anything")
    render_from: Optional[str] = knob(None, "a section's data/ folder: re-render from its export alone (no MLflow)")
    plan: bool = knob(False, "print the design, power, gates, variants and wall from the pilot; train nothing")
    pilot: Optional[str] = knob(None, "the pilot export for plan and power; null: reports/reference/<ID>/data")
    force: bool = knob(False, "run a budget whose power at the smallest effect of interest is under 80%")
    replicate: Optional[str] = knob(None, "a commit whose runs this replicates: allows seeds the claim's seed ledger "
                                          "holds, and the section says it is a replication, not a confirmation")
    ledger: Optional[str] = knob(None, "the folder of the claims' seed ledgers; null: reports/ledger")
    launcher: Launcher = knob(Launcher.local, "local: a process pool here | slurm: one SLURM job per run through "
                                              "submitit (a round one job array), with conf/hydra/launcher/slurm.yaml's "
                                              "keys, the ones sweeps use")
    slurm: dict[str, Any] = knob({}, "launcher=slurm: overrides of conf/hydra/launcher/slurm.yaml's keys, e.g. "
                                     "slurm.partition=cpu slurm.timeout_min=60 (partition, gpus_per_node, "
                                     "cpus_per_task, mem_gb, timeout_min, array_parallelism, max_num_timeout, "
                                     "signal_delay_s, additional_parameters)")
    tracking: ClaimsTracking = field(default_factory=ClaimsTracking)
    report: ReproduceReport = field(default_factory=ReproduceReport)


@dataclass
class ReportSettings:
    name: str = knob("latest", "the report's name; written to reports/<name> unless out_dir is set")
    out_dir: Optional[str] = knob(None, "where the report goes; null: reports/<name>")
    sweep: Optional[str] = knob(None, "only the runs tagged sweep=<this>")
    filter: Optional[str] = knob(None, "an MLflow filter string, e.g. \"tags.data = 'digits'\"")
    preface: Optional[str] = knob(None, "a text file whose paragraphs open the report (what was run, how long)")
    verdicts: Optional[str] = knob(None, "a text file with the verdict per claim, appended after the figures")


@dataclass
class ReportConfig:
    tracking: AppTracking = field(default_factory=AppTracking)
    report: ReportSettings = field(default_factory=ReportSettings)


@dataclass
class EvaluateTrain:
    device: Device = knob(Device.auto, "run: auto | cpu | cuda")


@dataclass
class EvaluateConfig:
    command: Command = knob(Command.run, "run: re-evaluate run_id | fid: FID/KID of folder a against b | convert: "
                                         "the Inception weights")
    run_id: Optional[str] = knob(None, "run: the MLflow run whose final checkpoint is evaluated (metrics logged into "
                                       "it)")
    eval: dict[str, Any] = knob({}, "run: overrides of the run's eval config, e.g. eval.fid=true "
                                    "eval.fid_samples=50000")
    train: EvaluateTrain = field(default_factory=EvaluateTrain)
    tracking: AppTracking = field(default_factory=AppTracking)
    a: Optional[str] = knob(None, "fid: a folder of images (the generated ones)")
    b: Optional[str] = knob(None, "fid: a folder of images (the real ones)")
    space: Space = knob(Space.inception, "fid: inception, or a classifier's features (digits, mnist)")
    isc: bool = knob(False, "fid: also the Inception Score of a (needs torch-fidelity's own weights)")
    kid_subset_size: int = knob(1000, "fid: KID subset size", ge=2)
    force: bool = knob(False, "convert: convert again even when the cached file's hash matches")


@dataclass
class BenchSettings:
    settings: list[str] = knob(["toy", "toy_ensemble16", "dcgan32", "dcgan64", "fid"], "which to time: toy, "
                               "toy_ensemble16, toy_gp, toy_spectral, dcgan32, dcgan64, mnist_preset, fid, and "
                               "contention (two runs at once against one alone; not by default)")
    overrides: list[str] = knob([], "applied to every setting's config, quoted: "
                                    "\"bench.overrides=['train.precision=bf16']\"")
    device: Device = knob(Device.auto, "auto | cpu | cuda")
    repeats: int = knob(5, "timed segments per loop; the median is reported", ge=1)
    segment_seconds: float = knob(2.0, "each timed segment runs about this long (at least one generator iteration)",
                                  gt=0)
    out: Optional[str] = knob(None, "a JSON file for the records")


@dataclass
class BenchConfig:
    bench: BenchSettings = field(default_factory=BenchSettings)


APPS = {"reproduce": ReproduceConfig, "report": ReportConfig, "evaluate": EvaluateConfig, "bench": BenchConfig}


def register_app_configs() -> None:
    """Register each application's schema as <app>_schema (idempotent)."""
    cs = ConfigStore.instance()
    for name, node in APPS.items():
        cs.store(name=f"{name}_schema", node=node)
