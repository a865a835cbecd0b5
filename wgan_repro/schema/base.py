"""What every schema uses: the error a refused value raises, `knob` (a field with its doc and range) and the
enumerations of the run config."""

from __future__ import annotations

import enum
from dataclasses import field
from typing import Any


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
