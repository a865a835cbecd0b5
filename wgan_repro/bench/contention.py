"""The `contention` setting of the benchmark: the toy run as a user starts it (`python -m wgan_repro`, its own
process), alone and then two started together, each with the harness's thread choice (train.threads=null) and with
torch's own (one thread per core, what a run took before it chose). Each run's speed is the median of its logged
`perf/gen_iters_per_s` (one value per train.log_every generator iterations; the last, which holds the final
evaluation, left out), read back from a throwaway MLflow store.

What it prints, for the harness's choice: each of two runs started together as a share of one run alone (the aim:
at least 40%), and one run alone against one run alone with torch's threads (the aim: within 5%).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from wgan_repro.bench import COMMON, CONTENTION, SETTINGS
from wgan_repro.evaluate import metrics as M
from wgan_repro.host import cpu_name, usable_cpus
from wgan_repro.store import mlflow_client

ITERATIONS = 600  # about 20 s alone on 2 cores: 11 rates of 50 iterations each
EXPERIMENT = "contention"


def start(name: str, overrides: list[str], folder: Path, uri: str, iterations: int) -> subprocess.Popen:
    """`python -m wgan_repro` on the toy setting, its own process, as a user would start it."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # the run chooses, or is told by overrides
    argv = [sys.executable, "-m", "wgan_repro", *COMMON, *SETTINGS["toy"], f"train.iterations={iterations}",
            f"eval.every={iterations}", "train.log_every=50", f"tracking.uri={uri}",
            f"tracking.experiment={EXPERIMENT}", f"tracking.run_name={name}", f"hydra.run.dir={folder / name}",
            *overrides]
    return subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def rate(uri: str, name: str) -> tuple[float, int]:
    """(median generator iterations per second of run `name`, its threads)."""
    client = mlflow_client(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id],
                                f"attributes.run_name = '{name}'")
    history = sorted(client.get_metric_history(run.info.run_id, M.ITERS_PER_S.key), key=lambda m: m.step)
    return statistics.median(m.value for m in history[:-1]), int(run.data.tags.get("threads", "0"))


def scenario(label: str, runs: int, overrides: list[str], folder: Path, uri: str, iterations: int
             ) -> list[tuple[float, int]]:
    """`runs` runs started together; each one's (it/s, threads)."""
    names = [f"{label}-{k}" for k in range(runs)]
    procs = [start(n, overrides, folder, uri, iterations) for n in names]
    for name, proc in zip(names, procs):
        err = proc.communicate()[1]
        if proc.returncode:
            raise RuntimeError(f"contention run {name} exited {proc.returncode}: {err[-1500:]}")
    return [rate(uri, n) for n in names]


def bench_contention(overrides: list[str], iterations: int = ITERATIONS) -> dict[str, Any]:
    torch_threads = usable_cpus()  # torch's default on these machines: one thread per core it may use
    with tempfile.TemporaryDirectory() as tmp:
        folder, uri = Path(tmp), f"sqlite:///{tmp}/contention.db"
        mlflow_client(uri).create_experiment(EXPERIMENT)  # once, before runs start together (creation races)
        torch_own = [*overrides, f"train.threads={torch_threads}"]
        alone = scenario("alone", 1, overrides, folder, uri, iterations)[0]
        alone_torch = scenario("alone_torch", 1, torch_own, folder, uri, iterations)[0]
        two = scenario("two", 2, overrides, folder, uri, iterations)
        two_torch = scenario("two_torch", 2, torch_own, folder, uri, iterations)
    return {"setting": CONTENTION, "overrides": overrides, "cpu": cpu_name(), "usable_cpus": usable_cpus(),
            "iterations": iterations, "alone": alone, "alone_torch_threads": alone_torch, "two_together": two,
            "two_together_torch_threads": two_torch,
            "alone_vs_torch": alone[0] / alone_torch[0],
            "two_share_of_alone": [r[0] / alone[0] for r in two],
            "two_torch_share_of_alone": [r[0] / alone_torch[0] for r in two_torch]}


def contention_table(r: dict[str, Any]) -> str:
    def runs(pairs: list) -> str:
        return ", ".join(f"{its:.1f} it/s ({threads} thr)" for its, threads in pairs)

    shares = ", ".join(f"{100 * s:.0f}%" for s in r["two_share_of_alone"])
    torch_shares = ", ".join(f"{100 * s:.0f}%" for s in r["two_torch_share_of_alone"])
    return (f"contention ({r['cpu']}, {r['usable_cpus']} usable CPUs; toy, {r['iterations']} iterations per run, "
            f"its own process each):\n"
            f"  one run alone:        harness's threads {runs([r['alone']])}; torch's "
            f"{runs([r['alone_torch_threads']])} -> {r['alone_vs_torch']:.2f}x (aim: within 5%)\n"
            f"  two started together: harness's threads {runs(r['two_together'])} = {shares} of one alone (aim: each "
            f">= 40%); torch's {runs(r['two_together_torch_threads'])} = {torch_shares}")
