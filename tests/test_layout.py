"""The architecture, checked from the source: no import cycle (function-level imports included, read from the AST),
layers that import only downwards, the claims and the report in one direction, commands whose --help loads none of
the heavy libraries, the run layer as one package; and what stores and checkpoints written before the move hold
keeps loading."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from conftest import compose

PACKAGE = Path(__file__).resolve().parents[1] / "wgan_repro"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str, pages: bool = False) -> set[str]:
    """The package's modules that `name` imports anywhere (top level or inside functions). `from pkg import mod` is
    an edge to mod; with `pages`, also to pkg, whose __init__ Python runs first (the cycle check counts it; the
    layers do not, a package's page being where its layer begins)."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names] + ([node.module] if pages else [])
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


GRAPH = {name: imports(name) for name in MODULES}
RUNTIME = {name: imports(name, pages=True) for name in MODULES}  # what importing `name` makes Python run


def test_no_import_cycle_even_through_function_level_imports() -> None:
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(RUNTIME[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif not state.get(nxt):
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(MODULES):
        if not state.get(name):
            visit(name, [name])
    assert not cycles, cycles


def test_the_claims_and_the_report_depend_in_one_direction() -> None:
    claims = {n for n in MODULES if n.startswith("wgan_repro.claims")}
    report = {n for n in MODULES if n.startswith("wgan_repro.report")}
    assert not any(GRAPH[n] & report for n in claims)  # the report draws on claims (stats, sections), never back


COMMANDS = {"wgan_repro.__main__", "wgan_repro.reproduce", "wgan_repro.bench.__main__", "wgan_repro.evaluate.__main__",
            "wgan_repro.report.__main__", "wgan_repro.cli"}
LAYERS = [  # lowest first: a module imports its own layer and those below, never one above
    ("schema", ["wgan_repro", "wgan_repro.schema", "wgan_repro.app_schema", "wgan_repro.members", "wgan_repro.host",
                "wgan_repro.curves", "wgan_repro.evaluate.metrics", "wgan_repro.bench"]),
    ("config", ["wgan_repro.config", "wgan_repro.store", "wgan_repro.cluster"]),
    ("components", ["wgan_repro.objectives", "wgan_repro.constraints", "wgan_repro.models", "wgan_repro.data",
                    "wgan_repro.evaluate", "wgan_repro.diagnostics", "wgan_repro.tracking"]),
    ("runs", ["wgan_repro.runs", "wgan_repro.reference_loop", "wgan_repro.bench.timing",
              "wgan_repro.bench.contention"]),
    ("claims", ["wgan_repro.claims"]),
    ("report", ["wgan_repro.report"]),
    ("commands", sorted(COMMANDS)),
]


def layer(name: str) -> int:
    """The layer of a module: the deepest prefix that names it (wgan_repro.evaluate.metrics before evaluate)."""
    best = max(((len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if name == p or name.startswith(p + ".") and p != "wgan_repro"), default=None)
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[1]


def test_every_module_imports_only_its_own_layer_and_those_below() -> None:
    upward = [(n, LAYERS[layer(n)][0], sorted(f"{m} ({LAYERS[layer(m)][0]})" for m in GRAPH[n]
                                              if layer(m) > layer(n)))
              for n in sorted(MODULES)]
    assert [u for u in upward if u[2]] == []
    # the cases by name: the config and the evaluators never reach the run layer; the claims never reach
    # the benchmark
    assert layer("wgan_repro.config") < layer("wgan_repro.runs.setup") > layer("wgan_repro.evaluate.toy")
    assert not any(m.startswith("wgan_repro.bench") for m in GRAPH["wgan_repro.reproduce"])


HEAVY = ("torch", "mlflow", "matplotlib", "scipy")
ALLOWED = {  # what a command's help may load, and why
    "wgan_repro": {"torch"},  # train.n_critic and train.warmup default to the chosen objective class's attributes
    # (${objective:...}, one home for each default), and objectives.py is torch code; composing resolves them
}
HELP = """
import contextlib, io, json, runpy, sys
sys.argv = [sys.argv[1], "--help"]
with contextlib.redirect_stdout(io.StringIO()) as out:
    runpy.run_module(sys.argv[0], run_name="__main__")
print(json.dumps({"help": out.getvalue(), "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


@pytest.mark.parametrize("command", ["wgan_repro", "wgan_repro.reproduce", "wgan_repro.report",
                                     "wgan_repro.evaluate", "wgan_repro.bench"])
def test_a_commands_help_loads_none_of_the_heavy_libraries(command: str) -> None:
    """`--help` (and the refusals, which compose the same config) answer without torch, mlflow, matplotlib or scipy:
    a module that the help path imports gains `import torch` at its top, and this fails."""
    done = subprocess.run([sys.executable, "-c", HELP, command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["help"].startswith(f"usage: python -m {command} ")
    assert set(said["heavy"]) <= ALLOWED.get(command, set()), said["heavy"]


def test_the_heavy_import_check_has_teeth(tmp_path) -> None:
    """The same probe on a package whose command imports torch at the top reports it."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text("")
    (tmp_path / "probe" / "__main__.py").write_text("import torch\nprint('usage: python -m probe ')\n")
    done = subprocess.run([sys.executable, "-c", HELP, "probe"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert json.loads(done.stdout.strip().splitlines()[-1])["heavy"] == ["torch"]


def test_the_run_layer_is_one_package_and_libraries_never_import_commands() -> None:
    assert {"runner", "train", "setup", "checkpoint", "ensemble", "sweep", "studies"} <= {
        p.stem for p in (PACKAGE / "runs").glob("*.py")}
    libraries = [n for n in MODULES if n not in COMMANDS]
    assert not [(n, sorted(GRAPH[n] & COMMANDS)) for n in libraries if GRAPH[n] & COMMANDS]


def test_a_checkpoint_and_a_store_written_before_the_move_resume_and_re_evaluate(tmp_path, monkeypatch) -> None:
    """tests/data/legacy_run.tar.gz: a run of commit c5cd64f (10 iterations; its store with the old tag names and
    absolute artifact paths of another folder; its checkpoint). Here, after the run layer moved and the store moved:
    the checkpoint continues the same MLflow run to 20 iterations, and `evaluate run_id=` re-evaluates it."""
    from mlflow.tracking import MlflowClient

    from wgan_repro.config import build
    from wgan_repro.evaluate.__main__ import execute
    from wgan_repro.runs.runner import run
    from wgan_repro.runs.studies import ParallelLines

    study = compose("experiment=fig1_parallel_lines")[0].study
    study._target_ = "wgan_repro.studies.ParallelLines"  # as runs recorded it before the run layer was a package
    assert type(build(study)) is ParallelLines and study._target_ == "wgan_repro.runs.studies.ParallelLines"
    with tarfile.open(Path(__file__).parent / "data" / "legacy_run.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ckpt["gen_iter"] == 10 and "config_hash" in MlflowClient(uri).get_run(ckpt["run_id"]).data.tags
    common = ["train.warmup=false", "train.log_every=5", "eval.every=5", "arch.hidden=16", "critic.hidden=16",
              "eval.n_samples=100", "eval.w1_points=50", "eval.figures=false", f"tracking.uri={uri}",
              "tracking.experiment=legacy", "train.progress=false"]
    cfg, choices = compose(*common, "train.iterations=20", f"train.resume={tmp_path / 'run' / 'checkpoint.pt'}")
    result = run(cfg, choices, tmp_path / "continued")
    assert result["status"] == "FINISHED" and result["run_id"] == ckpt["run_id"] and result["gen_iter"] == 20
    steps = sorted(m.step for m in MlflowClient(uri).get_metric_history(ckpt["run_id"], "estimate/em"))
    assert steps == list(range(1, 21))
    monkeypatch.chdir(tmp_path)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro.config import CONF_DIR
    from wgan_repro.evaluate.__main__ import hydra_args

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        args = hydra_compose("evaluate", overrides=hydra_args([f"run_id={ckpt['run_id']}", f"tracking.uri={uri}",
                                                              "eval.n_samples=100", "train.device=cpu"]))
    assert execute(args) == 0
    shutil.rmtree(tmp_path / "store")
