"""Every default is written once: a choice's YAML that extends a schema (conf/<group>/<choice>.yaml with
`/schema/<group>/<name>@_here_`) must not repeat a value the schema already gives."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from conftest import CONF
from wgan_repro.config import SCHEMAS

FILES = [p for group in SCHEMAS for p in sorted((CONF / group).glob("*.yaml"))]


def repeated(path) -> list[str]:
    """Keys of the YAML at `path` whose value equals its schema's default."""
    raw = OmegaConf.to_container(OmegaConf.load(path))
    group = path.parent.name
    schema = next((SCHEMAS[group][d.split("/")[3].split("@")[0]] for d in raw.get("defaults", [])
                   if isinstance(d, str) and d.startswith(f"/schema/{group}/")), None)
    if schema is None:
        return []
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(schema) if f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING}
    return [k for k, v in raw.items() if k != "defaults" and k in defaults and v == defaults[k]]


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_no_yaml_repeats_its_schema_default(path) -> None:
    assert not repeated(path), f"{path}: repeats the schema's default for {repeated(path)}"


def test_the_check_fails_on_a_repeated_default(tmp_path) -> None:
    bad = tmp_path / "constraint" / "clip.yaml"
    bad.parent.mkdir()
    bad.write_text("defaults:\n  - /schema/constraint/clip@_here_\n  - _self_\nc: 0.01\n")
    assert repeated(bad) == ["c"]
