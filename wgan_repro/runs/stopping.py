"""Clean stops: SIGTERM (a scheduler, `kill`), SIGINT (Ctrl-C) and SIGUSR2 (SLURM's warning before a time limit
or a preemption: submitit's `--signal`) end a run after the generator iteration in progress, with its metric
history flushed and a checkpoint written, as KILLED with the reason; a second signal stops at once.
`train.resume=auto` then continues it to the same final metrics as an uninterrupted run.

`stop_on_signals()` installs the handlers for a block (in the main thread; elsewhere it is a no-op) and restores
the previous ones; the loop asks `requested()` at the end of each generator iteration and raises `Stopped`. A run
stopped by SIGUSR2 then hands the signal to the handler that was there before, once its checkpoint is written: in a
submitit job that is submitit's own, which requeues the job (Hydra's sweeps and reproduce's claims submit
checkpointable jobs), and the requeued job continues the run.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Any, Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)
HANDED_ON = signal.SIGUSR2  # after the checkpoint, to the handler before ours (submitit's requeue)
_state: dict[str, Any] = {"signum": None, "depth": 0}


class Stopped(Exception):
    """A run stopped by a signal after finishing its generator iteration: checkpointed, to be resumed."""

    def __init__(self, reason: str, signum: int) -> None:
        super().__init__(reason)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 143 for SIGTERM, 130 for SIGINT


def requested() -> int | None:
    """The signal that asked to stop, or None."""
    return _state["signum"]


def request(signum: int = signal.SIGTERM) -> None:
    """Ask the loop to stop as a first signal would, without one (a claim's worker told by its parent); a signal
    already received keeps its name."""
    if _state["signum"] is None:
        _state["signum"] = signum


def stop(where: str, then: str = "train.resume=auto continues it") -> Stopped:
    """The Stopped to raise for the pending request, its reason naming the signal, where, and what follows."""
    signum = _state["signum"] or signal.SIGTERM
    return Stopped(f"stopped by {signal.Signals(signum).name} {where}; {then}", signum)


def _handler(signum: int, frame: Any) -> None:
    if _state["signum"] is not None:  # the second one: stop now
        raise KeyboardInterrupt
    _state["signum"] = signum
    print(f"{signal.Signals(signum).name}: stopping after the generator iteration in progress (checkpoint, metrics "
          "flushed); send it again to stop at once", file=sys.stderr)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT ask the loop to stop (module docstring) while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    if _state["depth"] == 0:
        _state["signum"] = None
        for s in SIGNALS:
            signal.signal(s, _handler)
    _state["depth"] += 1
    hand_on = None
    try:
        yield
    except Stopped as exc:
        if exc.signum == HANDED_ON and callable(previous[HANDED_ON]) and previous[HANDED_ON] is not _handler:
            hand_on = previous[HANDED_ON]
        raise
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            for s, h in previous.items():
                signal.signal(s, h)
            if hand_on is not None:  # checkpointed: now submitit's requeue (it exits the job), or whoever asked
                hand_on(HANDED_ON, None)
