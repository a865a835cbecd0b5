"""Every default is written once: a choice's YAML that extends a schema (conf/<group>/<choice>.yaml with
`/schema/<group>/<name>@_here_`) must not repeat a value the schema already gives."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest
from conftest import CONF
from omegaconf import OmegaConf

from wgan_repro import schema
from wgan_repro.schema import SCHEMAS

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


# Knobs of separate things that happen to share a value: the generator's and the critic's sizes (the official code
# sizes them alike, each with its own flag) and each optimiser's own PyTorch default.
INDEPENDENT = {"hidden", "layers", "n_extra_layers", "batch_norm", "eps"}


def schema_repeats(classes) -> list[str]:
    """'name=value: A, B' for each default written in two schemas (not inherited from a common base)."""
    written: dict[tuple[str, str], list[str]] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            inherited = any(f.name in getattr(base, "__dataclass_fields__", {})
                            and base.__dataclass_fields__[f.name].default == f.default for base in cls.__mro__[1:])
            if inherited or f.name.startswith("_") or f.name in INDEPENDENT:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            if default is None or (isinstance(default, str) and default.startswith("${")):
                continue
            written.setdefault((f.name, repr(default)), []).append(cls.__name__)
    return [f"{k}={v}: {', '.join(c)}" for (k, v), c in written.items() if len(c) > 1]


def schema_classes() -> list[type]:
    """Every dataclass written in the schema package (one module per group, conf/'s mirror)."""
    modules = [schema, *(importlib.import_module(f"{schema.__name__}.{m.name}")
                         for m in pkgutil.iter_modules(schema.__path__))]
    found = {c for mod in modules for c in vars(mod).values()
             if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == mod.__name__}
    assert len(found) > 30  # the package's schemas, not an empty walk
    return sorted(found, key=lambda c: c.__qualname__)


def test_no_schema_repeats_another_schemas_default() -> None:
    assert not schema_repeats(schema_classes()), schema_repeats(schema_classes())


def test_the_schema_check_fails_on_a_repeated_default() -> None:
    @dataclasses.dataclass
    class A:
        c: float = 0.01

    @dataclasses.dataclass
    class B:
        c: float = 0.01

    @dataclasses.dataclass
    class C(A):
        pass  # inherits: written once

    assert schema_repeats([A, B, C]) == ["c=0.01: A, B"]


def test_every_schema_field_carries_its_doc() -> None:
    """Each field of each schema is a knob with a one-line doc (`--help` prints it; `validate` reads its range), the
    class path `_target_` and the root's nodes aside (a group's words are schema.GROUPS; train's and tracking's keys
    carry their own). A class decorated twice, whose second pass turns knobs into plain defaults, fails."""
    nodes = {*schema.GROUPS, "train", "tracking"}
    undocumented = [f"{c.__qualname__}.{f.name}" for c in schema_classes() for f in dataclasses.fields(c)
                    if not f.name.startswith("_") and f.metadata.get("doc") is None
                    and not (c is schema.Config and f.name in nodes)]
    assert undocumented == []
