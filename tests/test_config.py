"""Composition of every group, the per-objective defaults, and bad input rejected before any work."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import CONF, compose
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf.errors import ValidationError

from wgan_repro.config import ConfigError, validate
from wgan_repro.members import ensemble_members
from wgan_repro.schema import COMPOSED

GROUP_CHOICES = {g: sorted(p.stem for p in (CONF / g).glob("*.yaml")) for g in COMPOSED
                 if g not in ("eval", "study")}  # the choices a run may combine freely


@pytest.mark.parametrize("group,choice", [(g, c) for g, cs in GROUP_CHOICES.items() for c in cs])
def test_every_choice_composes_and_validates(group: str, choice: str) -> None:
    cfg, choices = compose(f"{group}={choice}")
    assert choices[group] == choice
    validate(cfg)
    assert cfg[group]["_target_"]


def test_defaults_are_algorithm_1() -> None:
    cfg, choices = compose()
    assert choices == {"arch": "mlp", "critic": "mlp", "objective": "wgan", "constraint": "clip",
                       "optimizer": "rmsprop", "data": "eight_gaussians", "eval": "toy", "study": None,
                       "experiment": None}
    assert (cfg.optimizer.lr, cfg.constraint.c, cfg.train.batch_size, cfg.train.n_critic) == (5e-5, 0.01, 64, 5)
    assert cfg.constraint.when == "after" and cfg.train.warmup is True
    assert cfg.optimizer.momentum == 0.0


def test_gan_defaults_to_no_constraint_and_one_critic_step() -> None:
    cfg, choices = compose("objective=gan")
    assert choices["constraint"] == "none"
    assert cfg.train.n_critic == 1 and cfg.train.warmup is False


def test_axes_are_independent() -> None:
    cfg, choices = compose("objective=gan", "constraint=clip", "train.n_critic=3")
    assert choices["constraint"] == "clip" and cfg.train.n_critic == 3
    cfg, choices = compose("objective=wgan", "constraint=none")
    assert choices["constraint"] == "none" and cfg.train.n_critic == 5


def test_adam_defaults_to_official_betas() -> None:
    cfg, _ = compose("optimizer=adam")
    assert list(cfg.optimizer.betas) == [0.5, 0.999]


@pytest.mark.parametrize("override,needle", [
    ("optimizer.lr=-1", "optimizer.lr must be > 0, got -1"),
    ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
    ("train.n_critic=0", "train.n_critic must be >= 1, got 0"),
    ("constraint.c=0", "constraint.c must be > 0, got 0"),
    ("optimizer.lr_critic=-0.1", "optimizer.lr_critic must be > 0, got -0.1"),
    ("eval.every=0", "eval.every must be >= 1, got 0"),
])
def test_out_of_range_values_name_key_value_and_rule(override: str, needle: str) -> None:
    cfg, _ = compose(override)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        validate(cfg)


def test_fp64_is_refused_where_it_does_not_reach() -> None:
    for overrides, what in ((["data=digits"], "data._target_=wgan_repro.data.images.Digits"),
                            (["experiment=fig1_parallel_lines"], "study wgan_repro.runs.studies.ParallelLines")):
        cfg, _ = compose(*overrides, "train.precision=fp64")
        with pytest.raises(ConfigError, match=re.escape(f"{what} is not; allowed there: fp32, bf16")):
            validate(cfg)
    validate(compose("data=swiss_roll", "train.precision=fp64")[0])  # toy data: accepted


def test_bad_betas_are_rejected() -> None:
    cfg, _ = compose("optimizer=adam", "optimizer.betas=[0.5,1.5]")
    with pytest.raises(ConfigError, match="optimizer.betas"):
        validate(cfg)


@pytest.mark.parametrize("overrides,needle", [
    (["train.ensemble=4", "arch=dcgan"], "train.ensemble=4 needs arch=mlp; got arch._target_="),
    (["train.ensemble=2", "data=digits"], "needs toy data"),
    (["train.ensemble=2", "train.resume=auto"], "an ensemble starts afresh"),
    (["train.ensemble=2", "train.log_step_cosine=true"], "the cosine is per run"),
    (["train.ensemble_lr=[1e-4,0]"], "train.ensemble_lr=[0.0001, 0.0]: every learning rate must be a finite number"),
    (["train.ensemble_lr=[1e-4,1e-3]", "optimizer.lr_critic=1e-4"], "optimizer.lr_critic=0.0001 overrides it"),
])
def test_ensembles_refuse_what_they_cannot_do(overrides: list[str], needle: str) -> None:
    cfg, _ = compose(*overrides)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        validate(cfg)


def test_ensemble_members_cross_learning_rates_with_seeds() -> None:
    cfg, _ = compose("train.ensemble=2", "train.seed=7", "train.ensemble_lr=[1e-4,1e-3]")
    assert ensemble_members(cfg) == [(7, 1e-4), (8, 1e-4), (7, 1e-3), (8, 1e-3)]
    cfg, _ = compose("train.ensemble=3")
    assert ensemble_members(cfg) == [(0, None), (1, None), (2, None)]
    assert ensemble_members(compose()[0]) == [(0, None)]  # the default: one plain run


def test_unknown_choice_lists_the_available_ones() -> None:
    with pytest.raises(MissingConfigException) as err:
        compose("arch=nope")
    assert "arch/nope" in str(err.value) and "mlp" in str(err.value)


@pytest.mark.parametrize("override,needle", [
    ("train.batch_size=abc", "train.batch_size"),
    ("constraint.when=sometimes", "constraint.when"),
    ("train.device=tpu", "train.device"),
    ("train.batchsize=3", "batchsize"),
])
def test_wrong_types_and_typos_fail_at_composition(override: str, needle: str) -> None:
    with pytest.raises((ConfigCompositionException, ValidationError, HydraException)) as err:
        compose(override)
    assert needle in str(err.value) + str(err.value.__cause__)


def test_cli_rejects_bad_value_before_any_run(tmp_path) -> None:
    """The real entry point: exit 2, a clear message, and no MLflow store or run left behind."""
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    out = subprocess.run([sys.executable, "-m", "wgan_repro", "optimizer.lr=-1", f"hydra.run.dir={tmp_path}/out"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "optimizer.lr must be > 0, got -1" in out.stderr
    assert not db.exists()


def test_one_list_of_config_groups_matches_conf_help_and_the_schemas() -> None:
    """schema.GROUPS is conf/'s groups (a folder of choices each, the commands' own groups aside), every group with
    typed schemas is in it, the run command's --help lists each of them and docs/configuration.md has its row."""
    from wgan_repro import cli
    from wgan_repro.schema import GROUPS, SCHEMAS

    apps = {"claim", "hydra"}  # reproduce's group; Hydra's own
    assert set(GROUPS) == {p.name for p in CONF.iterdir() if p.is_dir() and list(p.glob("*.yaml"))} - apps
    assert set(SCHEMAS) <= set(GROUPS)
    text = cli.help_text("wgan_repro", "config", "", list(GROUPS), [])
    assert all(f"  {g}: {', '.join(cli.group_choices(g))}" in text for g in GROUPS)
    table = (CONF.parent / "docs" / "configuration.md").read_text()
    assert [g for g in GROUPS if f"\n| `{g}`" not in table] == []  # the docs' table of groups has a row for each
