"""This machine in words, for the figures and sections that must say where they were measured: the CPU model, its
core count, its instruction sets, and the GPU when there is one; and how many threads a run should take of the CPUs it
may use, beside what already runs there. Below every command (the benchmark and the claims both read it); imports no
torch."""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)
CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")
SAMPLE_S = 0.3  # how long a run watches the CPUs before choosing its threads


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


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (taskset, cgroups, a SLURM allocation), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_ticks(cpus: set[int]) -> tuple[int, int]:
    """(busy, all) clock ticks of `cpus` since boot, from /proc/stat's per-CPU lines."""
    busy = total = 0
    for line in PROC_STAT.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


class CpuWatch:
    """How many of this process's CPUs other processes keep busy, between two readings: /proc/stat's busy ticks of
    those CPUs, less this process's own CPU time. 0.0 where /proc/stat cannot be read."""

    def __init__(self) -> None:
        try:
            self.cpus = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            self.cpus = set(range(os.cpu_count() or 1))
        self.mark = self.reading()

    def reading(self) -> tuple[int, int, float, float] | None:
        try:
            busy, total = _cpu_ticks(self.cpus)
        except (OSError, ValueError):
            return None
        return busy, total, sum(os.times()[:2]), time.monotonic()

    def busy_elsewhere(self) -> float:
        """CPUs' worth of other processes' work since the last call (or since the watch began): 0.0 on an idle
        machine, about 2.0 beside two single-threaded trainings."""
        now, then = self.reading(), self.mark
        self.mark = now
        if now is None or then is None or now[1] <= then[1] or now[3] <= then[3]:
            return 0.0
        share = (now[0] - then[0]) / (now[1] - then[1]) * len(self.cpus)  # everyone's busy CPUs
        return max(0.0, share - (now[2] - then[2]) / (now[3] - then[3]))


def busy_elsewhere(seconds: float = SAMPLE_S) -> float:
    """CPUs' worth of other processes' work over the next `seconds` (CpuWatch)."""
    watch = CpuWatch()
    time.sleep(seconds)
    return watch.busy_elsewhere()


def free_cpus(usable: int, busy: float) -> int:
    """The threads that fit beside `busy` CPUs of other work: the rest of the usable CPUs, at least one."""
    return max(1, min(usable, round(usable - busy)))


def fixed_threads(setting: int | None) -> tuple[int, str] | None:
    """The threads a run was told to take, and by what: train.threads, else $OMP_NUM_THREADS; None when neither."""
    if setting is not None:
        return int(setting), f"train.threads={setting}"
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"]), f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    return None


def threads_for(setting: int | None) -> tuple[int, str]:
    """The intra-op threads a run starts with, and why: as told (fixed_threads), else the CPUs it may use less those
    that other processes keep busy now (free_cpus)."""
    told = fixed_threads(setting)
    if told:
        return told
    usable, busy = usable_cpus(), busy_elsewhere()
    return free_cpus(usable, busy), f"{usable} usable CPU(s), {busy:.1f} busy with other processes"


class Threads:
    """A run's intra-op threads: fixed when given (train.threads, $OMP_NUM_THREADS); else chosen at the start
    (threads_for) and chosen again at each metric flush from what other processes did since the last one, so that a
    run started beside another, or joined by one, gives up the cores it would only wait for, and takes them back
    when they are free. Threads that wait for cores another process holds slow every process down far more than a
    fair share would (docs/speed.md). The count changes no result on the CPUs tested (tests/test_speed.py)."""

    def __init__(self, setting: int | None, apply: Callable[[int], None]) -> None:
        self.apply = apply
        told = fixed_threads(setting)
        self.count, self.why = told or threads_for(None)
        self.watch = None if told else CpuWatch()
        apply(self.count)

    def say(self) -> None:
        log.info("%d intra-op thread(s) to start with: %s%s", self.count, self.why,
                 "; chosen again at each metric flush" if self.watch is not None else "")

    def adjust(self) -> int:
        """The count for the next stretch of the loop (applied when it changes)."""
        if self.watch is not None:
            count = free_cpus(usable_cpus(), self.watch.busy_elsewhere())
            if count != self.count:
                self.count = count
                self.apply(count)
        return self.count
