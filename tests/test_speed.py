"""The speed features change no result: an ensemble's member equals the single run of its seed (and the check
catches a broken ensemble), a diverging member fails alone, a compiled ensemble compiles the stacked networks; the
benchmark times both loops. The harness-equals-the-plain-loop checks are in test_parity.py."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from conftest import compose, history
from omegaconf import OmegaConf
from test_parity import FP64_GAP, gap

from wgan_repro.runs.runner import run
from wgan_repro.store import CONFIG_HASH

# --------------------------------------------------------------------------- ensembles against single runs
ENSEMBLE = ["train.warmup=false", "train.iterations=8", "train.log_every=4", "eval.every=4", "eval.n_samples=200",
            "eval.w1_points=100", "arch.hidden=32", "critic.hidden=32", "train.progress=false", "eval.figures=false",
            "train.precision=fp64", "tracking.experiment=ensemble"]
MEMBERS = [(5, 5e-5), (6, 5e-5), (5, 1e-3), (6, 1e-3)]  # (seed, lr) of members 0..3 below
ENSEMBLE_COMMAND = "python -m wgan_repro train.ensemble=2 train.ensemble_lr=[5e-5,1e-3] train.seed=5"
COMPARED = ("loss/critic", "loss/generator", "estimate/em", "eval/w1")


def run_record(uri: str, run_id: str, folder) -> dict:
    """What the comparison reads of one run: its logged series and its final checkpoint."""
    return {"run_id": run_id, "series": {key: history(uri, run_id, key) for key in COMPARED},
            "ckpt": torch.load(folder / "checkpoint.pt", weights_only=False)}


def gaps(member: dict, single: dict) -> dict[str, float]:
    """The gap of every logged series, network tensor and optimiser-state tensor between two runs."""
    out = {key: gap(member["series"][key], want) for key, want in single["series"].items()}
    a, b = member["ckpt"], single["ckpt"]
    for part in ("generator", "critic"):
        out.update({f"{part}.{n}": gap(a[part][n], v) for n, v in b[part].items()})
    for part in ("opt_generator", "opt_critic"):
        for i, state in b[part]["state"].items():
            out.update({f"{part}.{i}.{n}": gap(a[part]["state"][i][n], v) for n, v in state.items()})
    return out


def too_far(member: dict, single: dict) -> list[str]:
    """The equivalence check: the quantities on which a member differs from its single run by more than FP64_GAP."""
    return sorted(k for k, v in gaps(member, single).items() if not v <= FP64_GAP)


@pytest.fixture(scope="module")
def singles(tmp_path_factory, mlflow_uri) -> list[dict]:
    """The single run of each member's seed and learning rate, in float64."""
    out = tmp_path_factory.mktemp("singles")
    records = []
    for k, (seed, lr) in enumerate(MEMBERS):
        cfg, choices = compose(*ENSEMBLE, f"tracking.uri={mlflow_uri}", f"train.seed={seed}", f"optimizer.lr={lr}")
        alone = run(cfg, choices, out / f"alone{k}")
        assert alone["status"] == "FINISHED"
        records.append(run_record(mlflow_uri, alone["run_id"], out / f"alone{k}"))
    return records


def train_ensemble(tmp_path, uri: str) -> list[dict]:
    cfg, choices = compose(*ENSEMBLE, f"tracking.uri={uri}", *ENSEMBLE_COMMAND.split()[3:])
    together = run(cfg, choices, tmp_path / "ensemble", command=ENSEMBLE_COMMAND)
    assert together["status"] == "FINISHED" and len(together["run_id"]) == len(MEMBERS)
    return [run_record(uri, run_id, tmp_path / "ensemble" / f"member{k}")
            for k, run_id in enumerate(together["run_id"])]


def test_an_ensemble_member_equals_the_single_run_of_its_seed(tmp_path, mlflow_uri, singles) -> None:
    """train.ensemble=2 x train.ensemble_lr=[5e-5,1e-3] at seed 5: member k logs, to its own MLflow run, what the
    single run at its seed and learning rate logs, and ends with its weights and optimiser state, up to float64
    rounding."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    for k, (member, single, (seed, lr)) in enumerate(zip(train_ensemble(tmp_path, mlflow_uri), singles, MEMBERS)):
        got, want = client.get_run(member["run_id"]), client.get_run(single["run_id"])
        assert got.data.params == want.data.params  # the config of the single run, seed and lr included
        assert got.data.tags[CONFIG_HASH] == want.data.tags[CONFIG_HASH]
        assert got.data.tags["ensemble_member"] == str(k) and got.data.tags["ensemble"] == "4"
        assert got.data.tags["mlflow.note.content"].endswith(f"train.seed={seed} optimizer.lr={lr}`")
        assert all(len(v) > 0 for v in member["series"].values())
        assert too_far(member, single) == [], {k: v for k, v in gaps(member, single).items() if not v <= FP64_GAP}
        a, b = member["ckpt"], single["ckpt"]
        assert a["gen_iter"] == b["gen_iter"] == 8 and a["critic"]["net.0.weight"].dtype == torch.float64
        for part in ("opt_generator", "opt_critic"):  # groups, lr, and every state tensor (compared above)
            assert a[part]["param_groups"] == b[part]["param_groups"]
            assert a[part]["state"].keys() == b[part]["state"].keys()
        assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])  # the member's stream is where the run's would be


def feed_another_members_batch(monkeypatch) -> int:
    """Bug: member k trains on member k-1's real batch."""
    from wgan_repro.runs.ensemble import EnsembleData

    sample = EnsembleData.sample
    monkeypatch.setattr(EnsembleData, "sample", lambda self, m: torch.roll(sample(self, m), 1, dims=0))
    return 1


def swap_learning_rates(monkeypatch) -> int:
    """Bug: member k's optimiser group gets another member's learning rate (the lr list reversed)."""
    from wgan_repro.runs import ensemble

    groups = ensemble.member_groups

    def reversed_lrs(stacked, members, network):
        out = groups(stacked, members, network)
        return [{**g, "lr": h["lr"]} for g, h in zip(out, reversed(out))]
    monkeypatch.setattr(ensemble, "member_groups", reversed_lrs)
    return 0


def skip_a_members_clip(monkeypatch) -> int:
    """Bug: member 1's critic is not clipped (its slices put back after the stacked clamp)."""
    from wgan_repro.constraints import Clip
    from wgan_repro.runs.ensemble import Stacked

    clip = Clip.clip

    def clip_all_but_one(self, critic):
        if not isinstance(critic, Stacked):
            return clip(self, critic)
        kept = [p.detach()[1].clone() for p in critic.parameters()]
        clip(self, critic)
        with torch.no_grad():
            for p, v in zip(critic.parameters(), kept):
                p[1].copy_(v)
    monkeypatch.setattr(Clip, "clip", clip_all_but_one)
    return 1


@pytest.mark.parametrize("bug", [feed_another_members_batch, swap_learning_rates, skip_a_members_clip])
def test_the_equivalence_check_catches_a_broken_ensemble(bug, tmp_path, mlflow_uri, singles, monkeypatch) -> None:
    """Each deliberate bug makes its member fail the check that test_an_ensemble_member_equals_the_single_run_of_its
    _seed passes, by far more than float64 rounding."""
    member = bug(monkeypatch)
    records = train_ensemble(tmp_path, mlflow_uri)
    monkeypatch.undo()
    failing = too_far(records[member], singles[member])
    assert failing, f"{bug.__name__}: member {member} still equals its single run"
    assert max(gaps(records[member], singles[member]).values()) > 1e4 * FP64_GAP


def test_a_diverging_member_fails_alone(tmp_path, mlflow_uri) -> None:
    """An ensemble over learning rates in which one diverges: that member is FAILED with its reason and keeps no
    checkpoint past its last good state; the others train on to the end, FINISHED, each with its checkpoint."""
    from mlflow.tracking import MlflowClient

    cfg, choices = compose("train.warmup=false", "train.iterations=40", "train.log_every=5", "eval.every=20",
                           "eval.n_samples=200", "eval.w1_points=100", "arch.hidden=32", "critic.hidden=32",
                           "train.progress=false", "eval.figures=false", f"tracking.uri={mlflow_uri}",
                           "tracking.experiment=ensemble_diverge", "train.ensemble_lr=[5e-5,1e4,1e-4]")
    result = run(cfg, choices, tmp_path)
    assert result["status"] == "FAILED" and [m["status"] for m in result["members"]] == ["FINISHED", "FAILED",
                                                                                         "FINISHED"]
    assert result["members"][1]["reason"].startswith("diverged at generator iteration")
    client = MlflowClient(mlflow_uri)
    runs = [client.get_run(run_id) for run_id in result["run_id"]]
    assert [r.info.status for r in runs] == ["FINISHED", "FAILED", "FINISHED"]
    assert runs[1].data.tags["status_reason"] == result["members"][1]["reason"]
    for k in (0, 2):
        steps = [m.step for m in client.get_metric_history(runs[k].info.run_id, "estimate/em")]
        assert sorted(steps) == list(range(1, 41))
        assert torch.load(tmp_path / f"member{k}" / "checkpoint.pt", weights_only=False)["gen_iter"] == 40
    assert not (tmp_path / "member1" / "checkpoint.pt").exists()  # it diverged before its first checkpoint


def test_the_benchmark_times_both_loops_and_refuses_unknown_settings(mlflow_uri, capsys, tmp_path) -> None:
    """One short toy record with every field the README's table reads; an unknown setting exits 2 naming the
    allowed ones."""
    from wgan_repro import bench
    from wgan_repro.bench import timing

    record = timing.bench_setting("toy", ["arch.hidden=32", "critic.hidden=32"], torch.device("cpu"), mlflow_uri,
                                 repeats=1, budget_s=0.05)
    assert record["ratio"] == pytest.approx(record["harness_its"] / record["reference_its"])
    assert record["harness_flops_per_s"] == pytest.approx(record["flops_per_gen_iter"] * record["harness_its"])
    # 3 hidden layers of 32 on 2-D data: a generator iteration is a few MFLOP, well under the 3x512 default's 2.7 G
    assert 1e6 < record["flops_per_gen_iter"] < 1e8
    assert 0 < record["harness_share_of_peak"] < 1 and 0 <= record["tracking_share"] < 1
    assert "toy" in timing.table([record])
    assert timing.run(OmegaConf.create({"settings": ["toy", "nope"]})) == 2
    assert f"unknown ['nope']; allowed: {sorted([*bench.SETTINGS, *bench.OWN_TIMING])}" in capsys.readouterr().err
    # through the command line, before any work, one line; an unknown key is Hydra's to refuse
    cli = subprocess.run([sys.executable, "-m", "wgan_repro.bench", "bench.settings=[nope]"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert cli.returncode == 2 and cli.stderr.strip().splitlines() == [
        f"error: bench.settings=['nope']: unknown ['nope']; allowed: {sorted([*bench.SETTINGS, *bench.OWN_TIMING])}"]
    assert list(tmp_path.iterdir()) == []  # no log file, no outputs/ folder
    cli = subprocess.run([sys.executable, "-m", "wgan_repro.bench", "bench.nope=1"], capture_output=True, text=True)
    assert cli.returncode != 0 and "bench.nope" in cli.stderr


def test_a_compiled_ensemble_compiles_the_stacked_networks(tmp_path, mlflow_uri, monkeypatch) -> None:
    """train.compile with an ensemble wraps the stacked networks' forward, not the members' (a compiled member
    forward, copied into the stack, would score every member with member 0's weights). torch.compile is replaced
    by a plain wrapper that records what it wraps, so the test runs without a compiler."""
    from wgan_repro.runs.ensemble import Stacked

    wrapped = []

    def fake_compile(fn):
        wrapped.append(fn.__self__)
        return lambda *args, **kwargs: fn(*args, **kwargs)  # a closure, copied by reference like a compiled fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    common = ["train.warmup=false", "train.iterations=4", "train.log_every=2", "eval.every=4", "eval.n_samples=200",
              "eval.w1_points=100", "arch.hidden=16", "critic.hidden=16", "train.progress=false",
              "eval.figures=false", "train.precision=fp64", f"tracking.uri={mlflow_uri}",
              "tracking.experiment=ensemble_compiled"]
    cfg, choices = compose(*common, "train.ensemble=2", "train.compile=true")
    together = run(cfg, choices, tmp_path / "ensemble")
    assert len(wrapped) == 2 and all(isinstance(m, Stacked) for m in wrapped)
    monkeypatch.undo()
    for k, run_id in enumerate(together["run_id"]):
        cfg, choices = compose(*common, f"train.seed={k}")
        alone = run(cfg, choices, tmp_path / f"alone{k}")
        got, want = history(mlflow_uri, run_id, "loss/critic"), history(mlflow_uri, alone["run_id"], "loss/critic")
        assert len(got) == len(want) == 4 and gap(got, want) <= FP64_GAP  # member k's own weights scored it


# --------------------------------------------------------------------------- threads beside other processes
def test_a_run_takes_the_threads_it_is_given_or_the_cpus_that_others_leave_free(monkeypatch) -> None:
    """train.threads wins, then $OMP_NUM_THREADS; else the CPUs this process may use less those other processes keep
    busy (two trainings on two cores: one thread; an idle machine: both), at least one."""
    from wgan_repro import host

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert host.threads_for(4) == (4, "train.threads=4") and host.threads_for(None)[0] == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(host, "usable_cpus", lambda: 2)
    for busy, threads in ((0.0, 2), (0.4, 2), (0.6, 1), (1.7, 1), (5.0, 1)):
        monkeypatch.setattr(host, "busy_elsewhere", lambda seconds=0.0, b=busy: b)
        assert host.threads_for(None)[0] == threads, busy


def test_busy_elsewhere_sees_another_process_working_and_not_this_one() -> None:
    """/proc/stat's busy ticks, less this process's own: a spinning child counts (at least 0.4 of a CPU, whatever
    else runs beside the test); the process's own work does not make the measure larger than everything busy."""
    from wgan_repro import host

    if not host.PROC_STAT.is_file():
        pytest.skip("no /proc/stat on this system")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # the interpreter is up and spinning
        assert host.busy_elsewhere(1.0) > 0.4
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.0 <= host.busy_elsewhere(0.2) <= host.usable_cpus()


def test_a_runs_threads_follow_what_other_processes_do_and_change_no_result(tmp_path, mlflow_uri,
                                                                           monkeypatch) -> None:
    """Chosen again at each flush: a run that another process joins gives up the core it would wait for, and takes
    it back when the other leaves; perf/threads logs each stretch's count. Its numbers are those of a run with one
    fixed count: on this CPU one thread and two train the default MLP (3 x 512, batch 64) bitwise alike, so the
    choice changes no result (were that to fail on some CPU, train.threads=<n> fixes the count)."""
    from wgan_repro import host

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(host, "usable_cpus", lambda: 2)
    monkeypatch.setattr(host, "busy_elsewhere", lambda seconds=0.0: 0.0)  # idle as it starts
    loads = iter([1.4, 1.4, 0.1] + [0.1] * 100)  # CPUs busy elsewhere at each flush: joined, then left alone
    monkeypatch.setattr(host.CpuWatch, "busy_elsewhere", lambda self: next(loads))
    applied = []
    threads = host.Threads(None, applied.append)
    assert [threads.adjust() for _ in range(4)] == [1, 1, 2, 2] and applied == [2, 1, 2]
    assert host.Threads(3, applied.append).adjust() == 3  # told: never changed

    loads = iter([1.4, 1.4, 0.1] + [0.1] * 100)
    base = ["train.iterations=40", "train.warmup=false", "train.log_every=10", "eval.every=40", "eval.n_samples=200",
            "eval.w1_points=100", "eval.figures=false", "train.progress=false", f"tracking.uri={mlflow_uri}",
            "tracking.experiment=threads"]
    changing = run(*compose(*base), tmp_path / "auto")
    # each stretch's count beside its speed: 2 from the start, 1 while joined, 2 again
    assert history(mlflow_uri, changing["run_id"], "perf/threads") == [2.0, 1.0, 1.0, 2.0]
    weights = {}
    for name, extra in (("auto", []), ("t1", ["train.threads=1"]), ("t2", ["train.threads=2"])):
        if extra:
            run(*compose(*base, *extra, "tracking.enabled=false"), tmp_path / name)
        weights[name] = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["generator"]
    assert all(torch.equal(weights["t1"][k], weights["t2"][k]) and torch.equal(weights["t1"][k], weights["auto"][k])
               for k in weights["t1"])
