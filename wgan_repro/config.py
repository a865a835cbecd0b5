"""Composing, checking and building configs: `compose` (what `python -m wgan_repro <overrides>` runs), `validate`
(every declared range and the cross-field rules, before any work), `build` (instantiate), and the run's params and
command line. The schema itself is the schema package (one module per group)."""

from __future__ import annotations

import dataclasses
import math
import operator
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf, ValueNode, open_dict

from wgan_repro.evaluate import metrics as M
from wgan_repro.members import check_ensemble, ensemble_members
from wgan_repro.schema import COMPOSED, ConfigError, Device, register_configs

__all__ = ["ConfigError", "CONF_DIR", "advisories", "build", "check_ranges", "command_line", "compose", "flat_params",
           "validate"]


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose(overrides: list[str] | tuple[str, ...] = ()) -> tuple[DictConfig, dict[str, str]]:
    """The config `python -m wgan_repro <overrides>` would run, and the group choices Hydra made (for tags)."""
    register_configs()
    if GlobalHydra.instance().is_initialized():  # inside this project's Hydra apps (the bench): conf/ is searched
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


MOVED = {"wgan_repro.studies.": "wgan_repro.runs.studies."}  # a recorded `_target_` prefix -> where it lives now


def relocated(node: Any) -> Any:
    """The node, each `_target_` recorded before a move (MOVED) set to the class's home now (in place), so that runs
    and checkpoints keep loading without an alias module at the old path; interpolations are left unresolved."""
    children = [] if not isinstance(node, (dict, list, DictConfig, ListConfig)) else (
        list(node.keys()) if isinstance(node, (dict, DictConfig)) else list(range(len(node))))
    for key in children:
        child = node._get_node(key) if isinstance(node, (DictConfig, ListConfig)) else node[key]
        raw = child._value() if isinstance(child, ValueNode) else child  # as written: an interpolation unresolved
        if key == "_target_" and isinstance(raw, str):
            for old, new in MOVED.items():
                if raw.startswith(old):
                    node[key] = new + raw[len(old):]
        elif isinstance(child, (dict, list, DictConfig, ListConfig)):
            relocated(child)
    return node


def build(node: DictConfig | dict[str, Any], **kwargs: Any) -> Any:
    """hydra.utils.instantiate (of the node relocated), letting a ConfigError raised by the target through
    unwrapped."""
    try:
        return instantiate(relocated(node), **kwargs, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


# --------------------------------------------------------------------------- validation
def _check_range(key: str, value: Any, meta: dict[str, Any]) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):  # inf passes every `> 0` (and a run at lr=inf diverges at its first step)
        raise ConfigError(f"{key}={value}: expected a finite number ({meta.get('doc', '')})")
    for bound, ok, words in (("gt", operator.gt, ">"), ("ge", operator.ge, ">="), ("le", operator.le, "<=")):
        limit = meta.get(bound)
        if limit is not None and not ok(value, limit):
            raise ConfigError(f"{key} must be {words} {limit:g}, got {value!r} ({meta.get('doc', '')})")


def check_ranges(node: DictConfig, prefix: str) -> None:
    """Every declared range (knob's gt/ge/le) under a schema-typed node, keys named from `prefix`."""
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return
    for f in dataclasses.fields(schema):
        if f.name not in node:
            continue
        key = f"{prefix}{f.name}"
        value = node[f.name]
        if isinstance(value, DictConfig):
            check_ranges(value, key + ".")
        else:
            _check_range(key, value, dict(f.metadata))


def flat_params(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config flattened to dotted keys, as MLflow params."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "")
    return out


def command_line(hc: Any, multirun: bool = False) -> str:
    """The command that reruns a job (or, multirun, relaunches its sweep) from its Hydra config `hc`: its config
    (a sweep file's, when launched from one) and overrides."""
    words = ["python -m wgan_repro" + (" --multirun" if multirun else "")]
    if hc.job.config_name != "config":
        source = next((s.path for s in hc.runtime.config_sources if s.provider == "command-line"), None)
        if source:
            path = Path(source.split("://", 1)[-1])
            words += ["--config-dir", str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)]
        words += ["--config-name", hc.job.config_name]
    launch = [o for o in hc.overrides.hydra if not o.startswith("hydra.mode=")] if multirun else []
    return " ".join(words + launch + list(hc.overrides.task))


ODD = {  # (objective, constraint) pairs that run but mean little; committed sweeps use some, so warned, not refused
    ("Hinge", "Clip"): "the hinge loss wants scores beyond +-1, which a critic clipped at c = 0.01 hardly reaches "
                       "(a cell of sweeps/constraint_x_objective.yaml)",
    ("WGAN", "NoConstraint"): "an unconstrained critic is not Lipschitz: its EM estimate is unbounded",
}


def advisories(cfg: DictConfig) -> list[str]:
    """Combinations that run but make little sense, said before the run (the CLI prints them as warnings)."""
    pair = (cfg.objective._target_.rsplit(".", 1)[-1], cfg.constraint._target_.rsplit(".", 1)[-1])
    return [f"objective={pair[0].lower()} with constraint={pair[1].lower()}: {ODD[pair]}"] if pair in ODD else []


def validate(cfg: DictConfig) -> None:
    """Check every declared range and the cross-field rules; raise ConfigError before any work starts."""
    OmegaConf.resolve(cfg)
    for node in (*COMPOSED, "train", "tracking"):
        if cfg.get(node) is not None:  # (a study only when its experiment sets one)
            check_ranges(cfg[node], node + ".")
    if cfg.optimizer.get("betas") is not None:
        betas = list(cfg.optimizer.betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f"optimizer.betas must be two numbers in [0, 1), got {betas}")
    if cfg.train.device == Device.cuda:
        import torch  # only a config asking for CUDA needs torch to check it: refusals answer without it

        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but no CUDA device is available; allowed: auto, cpu, cuda")
    if cfg.get("study") is not None:
        if get_class(cfg.objective._target_).estimate_key != M.EM.key:
            raise ConfigError(f"study {cfg.study._target_} estimates the EM distance with the run's critic and draws "
                              f"it against a GAN discriminator; objective._target_={cfg.objective._target_} does not "
                              "estimate EM; allowed: objective=wgan (any constraint, optimizer, critic)")
    if cfg.train.precision == "fp64" and (cfg.get("study") is not None or
                                          not cfg.data._target_.startswith("wgan_repro.data.toy.")):
        what = f"study {cfg.study._target_}" if cfg.get("study") is not None else f"data._target_={cfg.data._target_}"
        raise ConfigError(f"train.precision=fp64 trains toy data (a 2-D mixture or the Swiss roll) in float64; "
                          f"{what} is not; allowed there: fp32, bf16")
    if len(ensemble_members(cfg)) > 1:
        check_ensemble(cfg)
    if cfg.train.resume == "auto" and not cfg.tracking.enabled:
        raise ConfigError("train.resume=auto finds the run in the MLflow store, but tracking.enabled=false; "
                          "allowed: tracking.enabled=true with auto, or the path of a checkpoint.pt")
    if cfg.tracking.enabled and not str(cfg.tracking.experiment).strip():
        raise ConfigError(f"tracking.experiment={cfg.tracking.experiment!r}: an MLflow experiment needs a name; "
                          "allowed: any non-empty name (default wgan_repro)")
