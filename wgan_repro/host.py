"""This machine in words, for the figures and sections that must say where they were measured: the CPU model, its
core count, its instruction sets, and the GPU when there is one. Below every command (the benchmark and the claims
both read it); imports no torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpuinfo() -> str:
    """/proc/cpuinfo as it reads (the model and the instruction sets), "" where there is no such file."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def cpu_name(info: str | None = None) -> str:
    """The CPU's model name (from `info`, by default /proc/cpuinfo read now), or what the platform says where there is
    none."""
    for line in (cpuinfo() if info is None else info).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> str:
    """The CPU model and core count, and the GPU when there is one ("AMD EPYC, 2 cores")."""
    import torch  # asked only here: the commands' --help imports this module and loads no torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu_name()}, {os.cpu_count()} cores{gpu}"
