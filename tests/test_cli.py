"""One error contract on every command: a refused input exits 2 with one line naming the key, the value and what is
allowed, before any work (no traceback, no outputs/ or multirun/ folder, no store file, no run); `--help` documents
every key from the schema. Most cases run the commands' own pre-flight in-process (the same function the command
line calls before Hydra starts); one real subprocess per command proves the wiring."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compose

from wgan_repro import cli

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {  # command -> (module, its config name, its pre-flight check, its entry point)
    "wgan_repro": ("wgan_repro.__main__", "config", "check", "entry"),
    "wgan_repro.reproduce": ("wgan_repro.reproduce", "reproduce", "preflight", "entry"),
    "wgan_repro.report": ("wgan_repro.report.__main__", "report", "preflight", "entry"),
    "wgan_repro.evaluate": ("wgan_repro.evaluate.__main__", "evaluate", "preflight", "main"),
    "wgan_repro.bench": ("wgan_repro.bench.__main__", "bench", "preflight", "entry"),
}


def preflight(command: str, argv: list[str], capsys) -> tuple[int, str]:
    """Run the command's checks on argv in-process: (exit status, stderr); Hydra's main must never be reached."""
    module, config_name, check, _ = COMMANDS[command]
    mod = importlib.import_module(module)

    def never() -> None:
        raise AssertionError("the command started its work")
    if command == "wgan_repro.evaluate":
        argv = mod.hydra_args(argv)
    with pytest.raises(SystemExit) as exit_:
        cli.run(command, config_name, never, "", getattr(mod, check), argv=argv)
    return exit_.value.code, capsys.readouterr().err


CASES = [
    ("wgan_repro", ["train.foo=1"], "train.foo=1: no such key; allowed keys of train: batch_size"),
    ("wgan_repro", ["optimizer=adma"], "optimizer=adma: no such choice; allowed: adam, adam_dcgan"),
    ("wgan_repro", ["--multirun", "optimizer=rmsprop,adma"], "optimizer=adma: no such choice"),
    ("wgan_repro", ["--multirun", "train.seed=0,1", "train.iterations=5,0"], "train.iterations must be >= 1, got 0"),
    ("wgan_repro", ["train.iterations=abc"], "train.iterations=abc: expected integer"),
    ("wgan_repro", ["optimizer.lr=inf"], "optimizer.lr=inf: expected a finite number"),
    ("wgan_repro", ["constraint=gp", "constraint.lam=-inf"], "constraint.lam=-inf: expected a finite number"),
    ("wgan_repro", ["train.ensemble=2", "train.ensemble_lr=[1e-4,inf]"], "every learning rate must be a finite"),
    ("wgan_repro", ["train.device=tpu"], "train.device=tpu: allowed: auto, cpu, cuda"),
    ("wgan_repro", ["train.progress=maybe"], "train.progress=maybe: expected true or false"),
    ("wgan_repro", ["train.iterations=(("], "train.iterations=((: cannot be read as an override"),
    ("wgan_repro", ["train.ensemble=2", "data=digits"], "needs toy data"),
    ("wgan_repro", ["--multirun", "--config-dir", str(REPO / "sweeps"), "--config-name", "lr_x_optimizer",
                    "optimizer.lr=0"], "optimizer.lr must be > 0"),
    ("wgan_repro.reproduce", [], "claim: missing; allowed: F1, F2"),
    ("wgan_repro.reproduce", ["claim=F9"], "claim=F9: no such choice; allowed: F1"),
    ("wgan_repro.reproduce", ["claim=F3", "budget=huge"], "budget=huge: allowed: smoke, pilot, cpu, full"),
    ("wgan_repro.reproduce", ["claim=F3", "plan=maybe"], "plan=maybe: expected true or false"),
    ("wgan_repro.reproduce", ["claim=F3", "jobs=0"], "jobs must be >= 1, got 0"),
    ("wgan_repro.reproduce", ["claim=F3", "render_from=/nope"], "render_from=/nope: no export there"),
    ("wgan_repro.report", ["report.filter=garbage(("], "report.filter=garbage((: cannot be read as an override"),
    ("wgan_repro.report", ["report.nme=x"], "report.nme=x: no such key; allowed keys of report: filter"),
    ("wgan_repro.evaluate", ["fid", "a=/nope", "b=/tmp"], "a=/nope: no such folder"),
    ("wgan_repro.evaluate", ["nonsense"], "nonsense: cannot be read as an override (key=value"),
    ("wgan_repro.evaluate", ["fid", "space=vgg", "a=/tmp", "b=/tmp"], "space=vgg: allowed: inception, digits, mnist"),
    ("wgan_repro.bench", ["bench.settings=[nope]"], "bench.settings=['nope']: unknown ['nope']; allowed:"),
    ("wgan_repro.bench", ["bench.repeats=0"], "bench.repeats must be >= 1, got 0"),
]


@pytest.mark.parametrize("command,argv,needle", CASES, ids=[f"{c} {' '.join(a)}" for c, a, _ in CASES])
def test_a_refused_input_exits_2_with_one_line_before_any_work(command, argv, needle, capsys, tmp_path,
                                                                monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, err = preflight(command, argv, capsys)
    assert status == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # no outputs/, multirun/, store file


def test_folders_and_stores_are_checked_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "mlflow.db").write_text("")  # a store the report may read
    for command, argv, needle in [
            ("wgan_repro.reproduce", ["claim=F3", f"report.out_dir={tmp_path / 'afile'}"], "is a file"),
            ("wgan_repro.report", [f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"], "no store there"),
            ("wgan_repro.report", [f"report.out_dir={tmp_path / 'afile' / 'x'}"], "afile is a file"),
            ("wgan_repro.evaluate", ["run_id=abc", f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"], "no store")]:
        status, err = preflight(command, argv, capsys)
        assert status == 2 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mlflow.db"]


def test_a_combination_that_makes_little_sense_is_warned_about_not_refused(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    reached = []
    mod = importlib.import_module("wgan_repro.__main__")
    cli.run("wgan_repro", "config", lambda: reached.append(True), "", mod.check,
            argv=["objective=hinge", "constraint=clip"])
    assert reached and "warning: objective=hinge with constraint=clip" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_documents_every_key_from_the_schema(command: str, capsys, monkeypatch) -> None:
    module, _, _, entry = COMMANDS[command]
    monkeypatch.setattr(sys, "argv", [command, "--help"])
    getattr(importlib.import_module(module), entry)()  # the command's own entry point, as `python -m` calls it
    out = capsys.readouterr().out
    needles = {"wgan_repro": ["train.iterations: int = 10000  generator iterations", "optimizer: adam, adam_dcgan",
                              "experiment: fig1_parallel_lines", "--multirun"],
               "wgan_repro.reproduce": ["claim: F1, F2", "budget: smoke | pilot | cpu | full", "plan: bool = False",
                                        "render_from: str or null"],
               "wgan_repro.report": ["report.name: str = 'latest'", "report.sweep: str or null"],
               "wgan_repro.evaluate": ["run_id: str or null", "space: inception | digits | mnist"],
               "wgan_repro.bench": ["bench.settings: list[str]", "bench.repeats: int = 5"]}[command]
    for needle in needles:
        assert needle in out, needle


def test_help_shows_the_keys_of_the_choices_given() -> None:
    text = cli.help_text("wgan_repro", "config", "", [], ["optimizer=adam"])
    assert "optimizer.betas: list[float] = [0.5, 0.999]" in text and "optimizer.momentum" not in text


@pytest.mark.parametrize("objective,n_critic,warmup", [("wgan", 5, True), ("gan", 1, False), ("hinge", 5, False),
                                                       ("gan_minimax", 1, False)])
def test_help_shows_the_defaults_the_chosen_objective_gives(objective: str, n_critic: int, warmup: bool) -> None:
    """train.n_critic and train.warmup default to the objective class's attributes: --help shows their values for
    the objective chosen (it showed only '${objective:n_critic}'), read from the class (gan_minimax: its base's)."""
    cfg, _ = compose(f"objective={objective}")
    assert (cfg.train.n_critic, cfg.train.warmup) == (n_critic, warmup)  # what a run resolves
    text = cli.help_text("wgan_repro", "config", "", [], [f"objective={objective}"])
    assert f"train.n_critic: int = {n_critic} (${{objective:n_critic}})" in text
    assert f"train.warmup: bool = {warmup} (${{objective:warmup}})" in text


@pytest.mark.parametrize("argv,needle", [
    (["-m", "wgan_repro", "--multirun", "optimizer=rmsprop,adma"], "error: optimizer=adma: no such choice"),
    (["-m", "wgan_repro.reproduce", "--help"], "budget: smoke | pilot | cpu | full"),
    (["-m", "wgan_repro.report", "report.filter=garbage(("], "error: report.filter=garbage(("),
    (["-m", "wgan_repro.evaluate", "fid", "a=/nope", "b=/tmp"], "error: a=/nope: no such folder"),
    (["-m", "wgan_repro.bench", "bench.nope=1"], "error: bench.nope=1: no such key"),
    (["-m", "wgan_repro", "tracking.experiment="], "error: tracking.experiment='': an MLflow experiment needs a name"),
    (["-m", "wgan_repro", "optimizer=adamm", "--help"], "error: optimizer=adamm"),
    (["-m", "wgan_repro.reproduce", "claim=F99", "--help"], "error: claim=F99"),
    (["-m", "wgan_repro.bench", "bench.device=gpu"], "error: bench.device=gpu: allowed: auto, cpu, cuda"),
    (["-m", "wgan_repro.bench", "bench.out=/tmp"], "error: bench.out=/tmp: is a folder"),
    (["-m", "wgan_repro.bench", "bench.out=/proc/nope/records.json"], "error: bench.out=/proc/nope/records.json: "),
    (["-m", "wgan_repro.bench", "bench.overrides=['optimiser=adam']"], "optimiser=adam: no such key"),
    (["-m", "wgan_repro.bench", "bench.overrides=['optimizer.lr=-1']"], "optimizer.lr must be > 0, got -1"),
    (["-m", "wgan_repro.bench", "bench.settings=toy"], "error: bench.settings=toy: expected a list"),
    (["-m", "wgan_repro", "tracking.uri=sqlite:////proc/mlflow.db"],
     "error: tracking.uri=sqlite:////proc/mlflow.db: /proc is not writable"),
    (["-m", "wgan_repro.reproduce", "claim=F3", "budget=smoke", "report.out_dir=/proc/nope/out"],
     "error: report.out_dir=/proc/nope/out: /proc is not writable"),
])
def test_the_commands_check_before_hydra_starts(argv: list[str], needle: str, tmp_path) -> None:
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    help_ = "--help" in argv and not needle.startswith("error:")  # a bad override beside --help is refused
    assert done.returncode == (0 if help_ else 2), done.stderr[-2000:]
    assert needle in (done.stdout if help_ else done.stderr)
    if not help_:
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args,needle", [
    (["data=folder", "data.root={empty}"], "error: data=folder: no data found under data.root="),
    (["train.resume={here}/nope.pt"], "error: train.resume="),
    (["arch=dcgan", "critic=dcgan", "data=eight_gaussians"], "error: DCGAN models need image data"),
    (["data=folder", "data.root={bad}"], "1 of 1 image files do not open as images"),
])
def test_a_run_refused_once_hydra_started_leaves_no_folder_behind(args: list[str], needle: str, tmp_path) -> None:
    """Refusals that need the composed run (its data, its checkpoint, its models) come after Hydra made the run's
    folder: the folder goes again, with its date folder and outputs/, and nothing else is made."""
    here, empty, bad = tmp_path / "work", tmp_path / "empty", tmp_path / "bad"
    for folder in (here, empty, bad):
        folder.mkdir()
    (bad / "a.png").write_text("a text file named like an image\n")
    argv = [a.format(here=here, empty=empty, bad=bad) for a in args]
    done = subprocess.run([sys.executable, "-m", "wgan_repro", *argv, f"tracking.uri=sqlite:///{here}/m.db"],
                          capture_output=True, text=True, cwd=here, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=300)
    assert done.returncode == 2 and needle in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert sorted(p.name for p in here.iterdir()) in ([], ["m.db"]), sorted(here.rglob("*"))


def test_a_store_that_is_not_a_database_is_refused_before_any_work(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n")
    done = subprocess.run([sys.executable, "-m", "wgan_repro", f"tracking.uri=sqlite:///{tmp_path}/notes.txt"],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=120)
    assert done.returncode == 2 and "notes.txt is not an SQLite database" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"] and (tmp_path / "notes.txt").read_text()


def test_an_image_folder_whose_files_do_not_open_is_refused_by_evaluate_before_any_feature(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_text("not a png\n")
    done = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "fid", f"a={tmp_path / 'a'}",
                           f"b={tmp_path / 'a'}"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 2 and "1 of 1 image files do not open as images" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("bad,needle", [
    ("train.device=gpu", "error: train.device=gpu: allowed: auto, cpu, cuda"),
    ("eval.fidd=true", "error: eval.fidd=True: no such key of the run's eval config; allowed: every, "),
])
def test_evaluate_refuses_a_bad_device_or_eval_key_before_loading_the_run(bad: str, needle: str, tmp_path) -> None:
    """Checked before any run is read (a store is there; the run id is never looked up)."""
    from wgan_repro.store import prepare_store

    prepare_store(f"sqlite:///{tmp_path}/m.db", "wgan_repro")
    done = subprocess.run([sys.executable, "-m", "wgan_repro.evaluate", "run_id=abc",
                           f"tracking.uri=sqlite:///{tmp_path}/m.db", bad], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 2 and needle in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1
