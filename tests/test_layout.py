"""The architecture, checked from the source: no import cycle (function-level imports included, read from the AST),
the claims and the report in one direction, every import inside a function saying why, the run layer as one
package; and what stores and checkpoints written before the move hold keeps loading."""

from __future__ import annotations

import ast
import shutil
import tarfile
from pathlib import Path

import torch
from conftest import compose

PACKAGE = Path(__file__).resolve().parents[1] / "wgan_repro"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The package's modules that `name` imports anywhere (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


GRAPH = {name: imports(name) for name in MODULES}


def test_no_import_cycle_even_through_function_level_imports() -> None:
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
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


def test_every_import_inside_a_function_says_why() -> None:
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
                            "#" in lines[i] for i in range(node.lineno - 1, node.end_lineno)):
                        unexplained.append(f"{name}:{node.lineno}")
    assert not unexplained, unexplained


def test_the_run_layer_is_one_package_and_libraries_never_import_commands() -> None:
    assert {"runner", "train", "setup", "checkpoint", "ensemble", "sweep", "studies"} <= {
        p.stem for p in (PACKAGE / "runs").glob("*.py")}
    commands = {"wgan_repro.__main__", "wgan_repro.reproduce", "wgan_repro.bench", "wgan_repro.evaluate.__main__",
                "wgan_repro.report.__main__", "wgan_repro.cli"}
    libraries = [n for n in MODULES if n not in commands and n not in ("wgan_repro.reproduce",)]
    assert not [(n, sorted(GRAPH[n] & commands)) for n in libraries if GRAPH[n] & commands]


def test_a_checkpoint_and_a_store_written_before_the_move_resume_and_re_evaluate(tmp_path, monkeypatch) -> None:
    """tests/data/legacy_run.tar.gz: a run of commit c5cd64f (10 iterations; its store with the old tag names and
    absolute artifact paths of another folder; its checkpoint). Here, after the run layer moved and the store moved:
    the checkpoint continues the same MLflow run to 20 iterations, and `evaluate run_id=` re-evaluates it."""
    from mlflow.tracking import MlflowClient

    from wgan_repro.evaluate.__main__ import execute
    from wgan_repro.runs.runner import run
    from wgan_repro.studies import OptimalCritic, ParallelLines  # recorded _target_ paths of studies

    assert OptimalCritic.__module__ == ParallelLines.__module__ == "wgan_repro.runs.studies"
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
