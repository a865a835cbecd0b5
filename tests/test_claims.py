"""Claims as code: every claim file composes and its budgets validate; `python -m wgan_repro.reproduce` runs a
claim's smoke budget under one parent, renders a section whose verdict is one of the three words with numeric
CSVs, and renders the same section from its export."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from wgan_repro.claims import BUDGETS, REQUIRED_BUDGETS, VERDICTS, claim_ids, jobs, load_claim
from wgan_repro.claims.engine import claim_module
from wgan_repro.config import ConfigError

REPO = Path(__file__).resolve().parents[1]


CLAIMS = claim_ids()  # found from conf/claim/: adding a claim is one YAML and one module


@pytest.mark.parametrize("cid", CLAIMS)
def test_each_claim_has_its_budgets_a_module_variants_and_its_smallest_effect(cid: str) -> None:
    claim = load_claim(cid)
    assert claim.id == cid and claim.paper and claim.rule_text and claim.sesoi
    assert set(REQUIRED_BUDGETS) <= set(claim.budgets) <= set(BUDGETS), cid
    module = claim_module(cid)
    assert list(module.variants)[0] == "primary" and 2 <= len(module.variants) - 1 <= 8  # 2-8 variants


@pytest.mark.parametrize("cid", CLAIMS)
def test_every_budget_composes_and_validates(cid: str) -> None:
    """Every run of every budget, as `reproduce` checks it before any work: each arm composed once (its runs differ
    only in train.seed), each run validated at its own seed; an arm's overrides are indeed the same but for it."""
    from omegaconf import OmegaConf

    from wgan_repro.claims.launch import check

    claim = load_claim(cid)
    for budget in claim.budgets:
        todo = check(claim, budget, OmegaConf.create({"tracking": {"uri": None, "experiment": "x"}}))
        assert todo == jobs(claim, budget)
        for arm in {job.arm for job in todo}:
            assert len({tuple(o for o in j.overrides if not o.startswith("train.seed=")) for j in todo
                        if j.arm == arm}) == 1


def test_a_run_that_cannot_run_at_its_seed_is_refused_before_any_work(tmp_path, monkeypatch) -> None:
    """The per-arm composition still validates each run: a negative seed in one arm's seeds is refused, named."""
    from omegaconf import OmegaConf

    import wgan_repro.claims as claims
    from wgan_repro.claims.launch import check

    bad = OmegaConf.load(claims.claim_path("F3"))
    bad.budgets.cpu.seeds = [*bad.budgets.cpu.seeds[:-1], -1]  # (as many seeds: its looks still end at the cap)
    OmegaConf.save(bad, tmp_path / "F3.yaml")
    monkeypatch.setattr(claims, "claim_path", lambda cid: tmp_path / f"{cid}.yaml")
    with pytest.raises(ConfigError, match=r"claim F3, budget cpu, arm .*train.seed must be >= 0, got -1"):
        check(claims.load_claim("F3"), "cpu", OmegaConf.create({"tracking": {"uri": None, "experiment": "x"}}))


def test_unknown_claim_and_budget_are_refused() -> None:
    with pytest.raises(ConfigError, match="allowed: F1"):
        load_claim("F9")
    with pytest.raises(ConfigError, match="budget=huge"):
        jobs(load_claim("F3"), "huge")


def test_arm_seeds_run_an_arm_at_its_own_seeds_and_must_name_an_arm(tmp_path, monkeypatch) -> None:
    from omegaconf import OmegaConf

    import wgan_repro.claims as claims

    claim = load_claim("F7")
    cpu = claim.budgets.cpu
    seeds = {arm: sorted(j.seed for j in jobs(claim, "cpu") if j.arm == arm) for arm in cpu.arms}
    assert seeds["rmsprop@5e-05"] == list(cpu.seeds) and seeds["rmsprop@0.005"] == list(cpu.arm_seeds["rmsprop@0.005"])
    assert len(jobs(claim, "cpu")) == sum(len(cpu.arm_seeds.get(a, cpu.seeds)) for a in cpu.arms)
    bad = OmegaConf.load(claims.claim_path("F7"))
    bad.budgets.cpu.arm_seeds["rmsprop@1"] = [0]
    OmegaConf.save(bad, tmp_path / "F7.yaml")
    monkeypatch.setattr(claims, "claim_path", lambda cid: tmp_path / f"{cid}.yaml")
    with pytest.raises(ConfigError, match=r"budgets.cpu.arm_seeds names rmsprop@1, not arms; allowed: rmsprop@5e-05"):
        claims.load_claim("F7")


def reproduce(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "wgan_repro.reproduce", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("cid", ["F3", "F7"])
def test_a_smoke_claim_runs_renders_a_verdict_and_rerenders_from_its_export(tmp_path, mlflow_uri, cid) -> None:
    out = tmp_path / "sections"
    common = [f"tracking.uri={mlflow_uri}", f"tracking.experiment=claims_{cid}", f"report.out_dir={out}",
              "report.allow_mixed=true"]  # a developer's tree may be dirty; the section says so
    done = reproduce(tmp_path, f"claim={cid}", "budget=smoke", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / cid / "verdict.json").read_text())
    assert record["word"] in VERDICTS and record["budget"] == "smoke" and len(record["variants"]) >= 2
    text = (out / cid / "section.md").read_text()
    assert f"Verdict (smoke): {record['verdict']} (smoke); {record['robustness']}." in text
    assert "specification.png" in text and "Pipeline check, not a verdict" in text.split("\n\n")[1]
    index = (out / "README.md").read_text()
    assert index.startswith("# wgan_repro: pipeline check, not a verdict (budget=smoke)") and "reference" not in index
    assert f"**{record['verdict']} (smoke)**" in index
    per_run = pd.read_csv(out / cid / "per_run.csv")
    numeric = per_run.drop(columns=["run_id", "arm", "status", "group", "generator", "objective", "learned", "broken"],
                           errors="ignore")
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) for c in numeric), numeric.dtypes
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name(f"claims_{cid}").experiment_id
    (parent,) = client.search_runs([exp], "tags.sweep_parent = 'true'")
    assert parent.data.tags["claim"] == cid and parent.data.tags["verdict"] == record["verdict"]
    assert parent.data.tags["robustness"] == record["robustness"]
    children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == len(jobs(load_claim(cid), "smoke")) and all(r.data.tags["arm"] for r in children)
    assert "section" in {a.path for a in client.list_artifacts(parent.info.run_id)}

    again = reproduce(tmp_path, f"claim={cid}", "budget=smoke", f"render_from={out / cid / 'data'}",
                      f"report.out_dir={tmp_path / 'again'}", "report.allow_mixed=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "again" / cid / "verdict.json").read_text())["reason"] == record["reason"]
    for table in out.joinpath(cid).glob("*.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(table), pd.read_csv(tmp_path / "again" / cid / table.name))
    html = (out / cid / "section.html").read_text()
    assert "<strong>" in html and "<table>" in html and "data:image/png;base64" in html and "**" not in html
    if cid == "F7":  # a claim that trains a generator: each arm's lowest seed's samples, mid-training and final
        samples = pd.read_csv(out / cid / "data" / "samples.csv")
        assert sorted(samples["arm"].unique()) == sorted(load_claim(cid).budgets.smoke.arms)
        assert set(samples["stage"]) == {"mid", "final"} and (samples["seed"] == 10000).all()
        assert sorted(samples.loc[samples["stage"] == "final", "step"]) == [40, 40]
        assert sorted(samples.loc[samples["stage"] == "mid", "step"]) == [20, 20]
        for name in samples["file"]:
            assert (out / cid / "data" / "samples" / name).read_bytes()[:4] == b"\x89PNG"
            assert f"(data/samples/{name})" in text
            assert (tmp_path / "again" / cid / "data" / "samples" / name).is_file()  # render_from keeps them
        assert html.count("data:image/png;base64") >= 2 + len(samples)  # specification, figure, every sample
    else:  # a study that trains no generator: its picture of the fitted critic, one per arm, exported
        samples = pd.read_csv(out / cid / "data" / "samples.csv")
        assert list(samples["stage"]) == ["study"] and list(samples["arm"]) == ["study"]
        name = samples["file"][0]
        assert (tmp_path / "again" / cid / "data" / "samples" / name).read_bytes()[:4] == b"\x89PNG"
        assert "This claim trains no generator" in text and f"(data/samples/{name})" in text


def test_claims_share_one_pool_each_rendered_when_its_runs_end_with_one_progress_line(tmp_path, mlflow_uri,
                                                                                     caplog) -> None:
    """What `claim=all` does, on two smoke claims: every run of both in one pool, each claim closed and rendered
    when its last run ends, and after every run one line for the whole reproduction."""
    import logging

    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro.app_schema import register_app_configs
    from wgan_repro.claims.launch import run_claims
    from wgan_repro.config import CONF_DIR

    register_app_configs()  # conf/reproduce.yaml names its schema (the command registers it when imported)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("reproduce", overrides=["claim=F3", "budget=smoke", f"tracking.uri={mlflow_uri}",
                                                    "tracking.experiment=claims_pool",
                                                    f"report.out_dir={tmp_path / 'out'}", "report.allow_mixed=true"])
    claims = [load_claim("F3"), load_claim("F7")]
    todo = {c.id: jobs(c, "smoke") for c in claims}
    n = sum(len(t) for t in todo.values())
    with caplog.at_level(logging.INFO, logger="wgan_repro.reproduce"):
        run_claims(claims, "smoke", cfg, todo, "python -m wgan_repro.reproduce claim=all budget=smoke", {})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reproduction: ")]
    assert len(lines) == n and f", 1/{n} runs, " in lines[0] and "left at the pace so far" in lines[0]
    assert lines[-1].startswith(f"reproduction: 2/2 claims, {n}/{n} runs") and lines[-1].endswith("elapsed, done")
    for c in claims:
        assert json.loads((tmp_path / "out" / c.id / "verdict.json").read_text())["budget"] == "smoke"
    client = MlflowClient(mlflow_uri)
    parents = client.search_runs([client.get_experiment_by_name("claims_pool").experiment_id],
                                 "tags.sweep_parent = 'true'")
    assert sorted(p.data.tags["claim"] for p in parents) == ["F3", "F7"]
    assert all(p.info.status == "FINISHED" and p.data.tags["verdict"] for p in parents)


def test_a_rerender_from_mlflow_keeps_the_command_and_plan_its_section_recorded_for_the_same_runs(tmp_path) -> None:
    from wgan_repro.claims.render import recorded

    meta = {"commit": "abc", "command": "python -m wgan_repro.reproduce claim=F7 budget=cpu "
                                        "tracking.uri=sqlite:////home/me/m.db report.out_dir=/home/me/out",
            "plan_power": 0.95, "plan_seeds_needed": 5, "wall": "1 min"}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert recorded(tmp_path / "meta.json", "abc") == {
        "command": "python -m wgan_repro.reproduce claim=F7 budget=cpu", "plan_power": 0.95, "plan_seeds_needed": 5}
    assert recorded(tmp_path / "meta.json", "def") == {}  # other runs: nothing carried over
    assert recorded(tmp_path / "none.json", "abc") == {}


def test_a_rerender_reads_the_power_the_plan_printed_before_the_runs(tmp_path) -> None:
    from wgan_repro.claims import REPO as ROOT
    from wgan_repro.claims.plan import make
    from wgan_repro.claims.render import planned

    claim = load_claim("F7")
    claim.budgets.cpu.looks = []  # a fixed design, as the sections older than plan.json were
    plan = make(claim, "cpu", ROOT / "reports" / "reference" / "F7" / "data")
    (tmp_path / "plan.txt").write_text(plan.text())  # a section older than plan.json: its printed words
    printed = int(f"{plan.power:.0%}".rstrip("%")) / 100  # as the plan printed it (0.885 prints 88% or 89%)
    assert planned(tmp_path) == {"plan_power": printed, "plan_seeds_needed": plan.seeds_needed}
    (tmp_path / "plan.json").write_text(json.dumps(plan.numbers()))  # the numbers themselves, unrounded
    assert planned(tmp_path) == {"plan_power": plan.power, "plan_seeds_needed": plan.seeds_needed}
    assert planned(tmp_path / "none") == {}


STOPPED_CLAIM = """
import sys
from hydra import compose, initialize_config_dir
from wgan_repro.claims import jobs, load_claim
from wgan_repro.config import CONF_DIR
from wgan_repro.claims.launch import run_claims
from wgan_repro.app_schema import register_app_configs
from wgan_repro.runs import stopping

if __name__ == "__main__":
    register_app_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("reproduce", overrides=["claim=F7", "budget=smoke", f"tracking.uri={sys.argv[1]}", "jobs=1",
                                              "tracking.experiment=stopped", f"report.out_dir={sys.argv[2]}"])
    claim = load_claim("F7")
    claim.budgets.smoke.common = [*claim.budgets.smoke.common, "train.iterations=100000", "eval.every=100000"]
    try:
        run_claims([claim], "smoke", cfg, {"F7": jobs(claim, "smoke")}, "test", {})
    except stopping.Stopped as exc:
        sys.exit(exc.exit_code)
"""


def test_a_claim_sent_sigterm_stops_its_run_cleanly_and_starts_no_queued_one(tmp_path, mlflow_uri) -> None:
    """The pool holds queued runs it cannot cancel: after SIGTERM the run in progress ends KILLED with a checkpoint,
    no queued run starts (each worker watches the claim's stop event), the parent ends KILLED, the exit code is 143."""
    import signal
    import time

    (tmp_path / "stopped.py").write_text(STOPPED_CLAIM)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, str(tmp_path / "stopped.py"), mlflow_uri, str(tmp_path / "out")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # its workers too are killed below if anything fails
    try:
        client, deadline = MlflowClient(mlflow_uri), time.monotonic() + 120
        while time.monotonic() < deadline:  # until the first run is training
            time.sleep(0.5)
            exp = client.get_experiment_by_name("stopped")
            running = [r for r in (client.search_runs([exp.experiment_id]) if exp else [])
                       if r.data.tags.get("sweep_parent") != "true"]
            if running and client.get_metric_history(running[0].info.run_id, "eval/w1"):  # step 0: training next
                break
        else:
            raise AssertionError("the claim's first run never started")
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        out, _ = process.communicate(timeout=120)
        assert time.monotonic() - sent < 60, "it stops after the generator iteration in progress, not at the run's end"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # ended, with its workers
            pass
    assert process.returncode == 143, out[-3000:]
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    children = [r for r in runs if r.data.tags.get("sweep_parent") != "true"]
    (parent,) = [r for r in runs if r.data.tags.get("sweep_parent") == "true"]
    assert len(children) == 1 and children[0].info.status == "KILLED", out[-3000:]  # nothing queued started
    assert parent.info.status == "KILLED" and "SIGTERM" in parent.data.tags["status_reason"]


def test_bad_input_exits_2_naming_the_key_before_any_work(tmp_path) -> None:
    done = reproduce(tmp_path, "claim=F3", "budget=huge")
    assert done.returncode == 2 and "budget=huge" in done.stderr and not list(tmp_path.iterdir())
    done = reproduce(tmp_path, "claim=F3", "budget=smoke", f"report.out_dir={tmp_path / 'reports' / 'reference'}")
    assert done.returncode == 2 and "budget=smoke gives no verdict" in done.stderr and not list(tmp_path.iterdir())


def test_a_misspelt_threshold_in_a_claim_file_is_refused_before_any_run(tmp_path, monkeypatch) -> None:
    from omegaconf import OmegaConf

    import wgan_repro.claims as claims
    from wgan_repro.claims.launch import check

    bad = OmegaConf.load(claims.claim_path("F7"))
    bad.rule["sesoi_facter"] = bad.rule.pop("sesoi_factor")
    OmegaConf.save(bad, tmp_path / "F7.yaml")
    monkeypatch.setattr(claims, "claim_path", lambda cid: tmp_path / f"{cid}.yaml")
    needle = r"rule\.sesoi_facter is not a threshold of claim F7; allowed: .*sesoi_factor"
    with pytest.raises(ConfigError, match=needle):
        check(claims.load_claim("F7"), "smoke", OmegaConf.create({"tracking": {"uri": None, "experiment": "x"}}))


def test_the_plan_prints_power_and_trains_nothing(tmp_path) -> None:
    done = reproduce(tmp_path, "claim=F7", "budget=cpu", "plan=true")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for needle in ("design: 11 arms", "= 63 runs", "smallest p: 1.53e-05 (exact signed-rank, 16 pairs", "pilot SD",
                   "(its 80% upper limit)", "power of the whole primary rule at the smallest effects, every gate",
                   "level at no effect",
                   "seeds needed for 80%:", "minimum detectable effect:", "equivalence the design can establish",
                   "gate on the pilot: pass", "wall: about", "- every second evaluation: every=2",
                   "known-answer controls", "seeds: 1000-1007; the seed ledger"):
        assert needle in out, needle
    assert not list(tmp_path.iterdir())  # no store, no outputs: nothing trained


def test_an_underpowered_budget_is_refused_unless_forced(tmp_path) -> None:
    # G2: its pilot lacks the measure its rule reads, so its power is unknown, which is refused as under 80% is (a
    # claim whose power is known could reach 80% after a redesign, and this test would then start its runs)
    done = reproduce(tmp_path, "claim=G2", "budget=cpu", f"tracking.uri=sqlite:///{tmp_path}/m.db",
                     f"ledger={tmp_path}/ledger")  # an empty ledger: the seeds pass, the power does not
    assert done.returncode == 2 and "power" in done.stderr and "force=true runs it anyway" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.db").exists()
    assert not (tmp_path / "ledger").exists()  # a refused launch records nothing


def test_the_reference_index_and_the_readme_summary_follow_the_committed_sections(tmp_path) -> None:
    """reports/reference/README.md is what index() makes of the sections' verdict.json, and README.md's summary of
    the reproduction is that index's table and verdict lines (all of them): neither is edited by hand."""
    from wgan_repro.claims.section import README_MARKERS, index, readme_summary

    ref, copy = REPO / "reports" / "reference", tmp_path / "reference"
    for f in [ref / "INTRO.md", *ref.glob("*/verdict.json")]:
        (copy / f.relative_to(ref)).parent.mkdir(parents=True, exist_ok=True)
        (copy / f.relative_to(ref)).write_text(f.read_text())
    rebuilt = index(copy).read_text()
    assert rebuilt == (ref / "README.md").read_text()
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(README_MARKERS[0]):readme.index(README_MARKERS[1]) + len(README_MARKERS[1])]
    assert block == readme_summary(rebuilt)
    rows = [line for line in block.splitlines() if line.startswith(("| [F", "| F"))]
    assert [r.split("|")[1].strip().strip("[").split("]")[0] for r in rows] == [f"F{i}" for i in range(1, 8)]


def same(new: object, committed: object) -> bool:
    """Equal, numbers to 1e-9 relative: another CPU sums in another order (the last digits of a float move)."""
    if isinstance(new, float) and isinstance(committed, (int, float)):
        return math.isclose(new, committed, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(new) and math.isnan(committed))
    if isinstance(new, dict) and isinstance(committed, dict):
        return new.keys() == committed.keys() and all(same(new[k], committed[k]) for k in new)
    if isinstance(new, list) and isinstance(committed, list):
        return len(new) == len(committed) and all(same(a, b) for a, b in zip(new, committed))
    return new == committed


@pytest.mark.parametrize("cid", sorted(p.parent.name for p in (REPO / "reports" / "reference").glob("*/verdict.json")))
def test_each_reference_section_recomputes_from_its_export(tmp_path, cid) -> None:
    """The committed export alone gives the committed verdict, and a rule changed after its runs says so in the
    verdict line, in a paragraph with the verdict it gave before, and in the index row."""
    ref = REPO / "reports" / "reference" / cid
    done = reproduce(tmp_path, f"claim={cid}", "budget=cpu", f"render_from={ref / 'data'}",
                     f"report.out_dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-2000:]
    new, committed = (json.loads(p.read_text()) for p in (tmp_path / "out" / cid / "verdict.json",
                                                          ref / "verdict.json"))
    for key in ("verdict", "robustness", "reason", "primary", "variants", "gates", "controls", "seed_independence",
                "changed_after_runs"):
        assert same(new[key], committed[key]), key
    claim = load_claim(cid)
    changes = [c for c in claim.changes if committed["commit"].startswith(c.runs_commit)]
    section = (tmp_path / "out" / cid / "section.md").read_text()
    index = (tmp_path / "out" / "README.md").read_text()
    assert section.count("**Changed after the runs**") == len(changes)
    assert [c["before"] for c in new["changed_after_runs"]] == [c.before for c in changes]
    assert ("rule changed after the runs" in index) == bool(changes)
    for change in changes:
        assert change.before.split(".")[0].split(" (")[0] in VERDICTS
    if changes:  # the newest change says what it gives now: the verdict these runs get under the rule as it is
        assert changes[-1].after.startswith(new["verdict"]), (changes[-1].after, new["verdict"])
    assert all(c["passed"] for c in new["controls"]) and {c["kind"] for c in new["controls"]} == {"positive",
                                                                                                   "negative"}
    # a second analyst's choices are computed, and the word is called robust only by the house's rule
    words = [v["word"] for v in new["variants"]]
    primary = new["primary"]["word"]
    opposite = {"reproduced": "not reproduced", "not reproduced": "reproduced"}.get(primary)
    if new["robustness"] == "robust":
        assert opposite not in words and sum(w == primary for w in words) >= 0.75 * len(words)
    gated = not all(g["passed"] for g in new["gates"])
    assert gated == new["robustness"].startswith("not judged") == new["verdict"].startswith("inconclusive (budget")
    if opposite in words and not gated:
        assert new["robustness"] == "contested"
    # no interval of a bounded measure outside its range
    for table in (tmp_path / "out" / cid).glob("by_arm.csv"):
        frame = pd.read_csv(table)
        for col in [c for c in frame if c.startswith(("modes_last", "collapsed", "learned", "broken")) and
                    c.endswith(("_lo", "_hi"))]:
            top = 8 if col.startswith("modes") else 1  # modes of 8; the others are shares of runs
            assert frame[col].dropna().between(0, top).all(), col


def test_a_rule_change_marks_only_the_runs_it_came_after() -> None:
    from wgan_repro.claims.section import changes_after

    claim = load_claim("F5")
    first = [c for c in claim.changes if c.runs_commit == "6cf25a6"]  # after the first edition's runs
    second = [c for c in claim.changes if c.runs_commit == "bcfc480"]  # after the second's (2026-12-07)
    assert len(first) >= 2 and second and len(first) + len(second) == len(claim.changes)
    assert changes_after(claim, "6cf25a6774553a2134dcb79ff06a6c19027ba9ce") == first
    assert changes_after(claim, "bcfc480791aaaa") == second
    assert changes_after(claim, "0123456789abcdef") == []  # a later run of F5, under the changed rule


def committed(cid: str):
    """A committed section's export (reports/reference/<cid>/data), as the renderer reads it."""
    from wgan_repro.claims.data import load_export

    return load_export(REPO / "reports" / "reference" / cid / "data")


def test_a_study_protocol_names_no_generator_evaluations_and_a_training_claim_names_its_spacing() -> None:
    from wgan_repro.claims.engine import thresholds
    from wgan_repro.claims.section import protocol

    lines = {cid: " ".join(protocol(claim_module(cid), thresholds(cid, dict(load_claim(cid).rule)),
                                    committed(cid)))
             for cid in ("F1", "F6")}
    assert "Evaluated every" not in lines["F1"] and "Estimate:" not in lines["F1"]  # F1 fits critics only
    assert "Evaluated every" in lines["F6"] and "Estimate: " in lines["F6"]


def test_the_index_sums_the_claims_walls_paper_and_project_apart() -> None:
    """The index's time line is the sum of the sections' measured walls, F* and G* apart; no sections, no line."""
    from wgan_repro.claims.section import wall_total

    records = [{"claim": "F1", "wall_s": 600}, {"claim": "F7", "wall_s": 1200}, {"claim": "G2", "wall_s": 300}]
    line = wall_total(records)[0]
    assert "summed over the 3 sections above: 35 min (30 min for the paper's claims F*, 5 min for G*)" in line
    assert wall_total([]) == []


@pytest.mark.parametrize("lo, hi, least", [(80, 103, 3), (95, 103, 3), (85, 190, 3), (2, 9, 3), (0.3, 40, 3),
                                           (1e-3, 1e4, 3)])
def test_a_log_axis_labels_three_ticks_or_more_and_never_a_crowd(lo, hi, least) -> None:
    """F5's final-quality strip (80 to 103) and F3's (85 to 190) once showed a single label ("100"): a log axis
    that 1-2-5 would leave mostly unlabelled gets evenly spaced ticks; a wide one still labels one tick per decade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wgan_repro.claims.section import log_scale

    fig, ax = plt.subplots()
    ax.plot([0, 1], [lo, hi])
    log_scale(ax)
    fig.canvas.draw()
    y0, y1 = ax.get_ylim()
    labels = [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks()) if y0 <= v <= y1 and t.get_text()]
    plt.close(fig)
    assert least <= len(labels) <= 8, labels
    assert all(t.get_text() == "" for t in ax.get_yticklabels(minor=True))


def test_the_strip_of_final_quality_names_the_measure_in_words(tmp_path, monkeypatch) -> None:
    """F5's figure labels its quality strip with the runs' measure in words, never "final quality" alone or a raw
    metric key (eval/fid_mnist)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from wgan_repro.claims.engine import judge, thresholds
    from wgan_repro.claims.section import figure

    labels: list[str] = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: labels.extend(ax.get_ylabel() for ax in fig.axes))
    claim = load_claim("F5")
    data = committed("F5")
    table = judge("F5", claim.rule, data).tables["per_run"]
    figure("F5", claim_module("F5"), thresholds("F5", claim.rule), data, table, tmp_path / "figure.png")
    assert "final FID in an MNIST classifier's features\n(lower is better)" in labels
    assert not any("eval/" in label for label in labels)


def test_the_first_sentence_shows_the_claims_statistic_and_the_weakest_passing_sub_test() -> None:
    """"<the paper>; we measured <statistic [interval]>; <word>, <robustness> (k of n)": with every sub-test passing,
    the one that passed by least (largest p; on a tie, the bound nearer its threshold) is shown beside the claim's own;
    a failing claim shows what decided it."""
    from types import SimpleNamespace

    from wgan_repro.claims import decision as D
    from wgan_repro.claims.section import sentence

    part = lambda name, value, p, word=D.REPRODUCED: D.Outcome(  # noqa: E731
        name=name, word=word, label=f"{name}: rho", value=value, lo=value - 0.1, hi=value + 0.1, threshold=0.0,
        side="above", n=5, method="t 90%", p=p)
    strong, weak = part("dcgan", 0.92, 1e-5), part("mlp_g", 0.30, 0.013)
    claim = SimpleNamespace(title="The EM estimate tracks sample quality", paper="Sec. 4.2: the lower the error")
    both = D.combine("primary", [strong, weak])
    result = SimpleNamespace(primary=both, variants=[both, D.combine("v", [strong, part("mlp_g", 0.1, 0.2,
                                                                                          D.INCONCLUSIVE)])],
                             headline=both.word, robustness="robust")
    text = sentence(claim, result, "cpu")
    assert text.startswith("**The EM estimate tracks sample quality** (Sec. 4.2); we measured dcgan: rho **0.92** "
                           "[0.82, 1.02] (t 90%, n=5) and, the weakest of its 2 sub-tests, mlp_g: rho **0.3** "
                           "[0.2, 0.4]")
    assert text.endswith("**reproduced**, robust (1 of 2 variant analyses give the primary's word).")
    first_weakest = D.combine("primary", [weak, strong])  # the claim's own statistic is the weakest: shown once
    assert sentence(claim, SimpleNamespace(primary=first_weakest, variants=[], headline=first_weakest.word,
                                           robustness="robust"), "cpu").count("mlp_g") == 1
    tied = D.combine("primary", [part("dcgan", 0.92, 0.03125), part("mlp_g", 0.30, 0.03125)])  # an exact test's floor
    assert "the weakest of its 2 sub-tests, mlp_g" in sentence(
        claim, SimpleNamespace(primary=tied, variants=[], headline=tied.word, robustness="robust"), "cpu")
    failed = D.combine("primary", [strong, part("mlp_g", -0.3, 0.99, D.NOT_REPRODUCED)])
    text = sentence(claim, SimpleNamespace(primary=failed, variants=[], headline=failed.word, robustness="robust"),
                    "cpu")
    assert "we measured mlp_g: rho **-0.3**" in text and "weakest" not in text


def test_the_specification_curve_labels_a_log_row_sparingly_and_shows_the_binding_sub_test(tmp_path,
                                                                                         monkeypatch) -> None:
    """F3's rows on a log axis once labelled every minor tick (0.5 0.6 0.7 0.8 0.9 1 2 3 ...); each row now carries
    at most 8 labels, and a primary whose sub-tests all pass is drawn by the one that passed by least."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from wgan_repro.claims import decision as D
    from wgan_repro.claims.engine import Result
    from wgan_repro.claims.section import spec_curve

    rows: list[tuple[str, list[str]]] = []

    def keep(fig, *args, **kwargs) -> None:
        fig.canvas.draw()
        for ax in fig.axes:
            x0, x1 = sorted(ax.get_xlim())
            shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if x0 <= v <= x1]
            shown += [t.get_text() for t in ax.get_xticklabels(minor=True)]
            rows.append((ax.get_title(loc="left"), [s for s in shown if s]))

    monkeypatch.setattr(Figure, "savefig", keep)
    rng = np.random.default_rng(3)
    # two sub-tests on the log scale that both pass, the second by less (a ratio near 1e-7 against 0.01, and a
    # deviation from a line 0.02 against 0.05), as F3's once did; and a variant on another measure
    parts = [D.decide(D.SubTest("ratio", "gradient ratio", (np.log(1e-7 * rng.lognormal(0, 1, 10)),), "mean", "log",
                                math.log(0.01), "below"), 0.05),
             D.decide(D.SubTest("line", "1 - R^2", (np.log(0.02 * rng.lognormal(0, 0.5, 10)),), "mean", "log",
                                math.log(0.05), "below"), 0.05)]
    primary = D.combine("primary", parts)
    variant = D.decide(D.SubTest("raw", "gradient ratio, raw", (1e-7 * rng.lognormal(0, 1, 10),), "mean", "identity",
                                 0.01, "below"), 0.05)
    result = Result(primary.word, primary.detail, primary, [replace(variant, name="raw scale")], "robust", [])
    spec_curve("X", result, tmp_path / "specification.png")
    weakest = max(parts, key=lambda p: p.p)
    assert primary.word == "reproduced" and weakest is parts[1]  # built so: the line passed by less
    assert rows[0][0] == f"{weakest.label}: reproduced"
    assert all(1 <= len(labels) <= 8 for _, labels in rows), rows


@pytest.mark.parametrize("cid", claim_ids())
def test_a_rules_files_are_its_yaml_module_the_analyses_it_imports_and_the_engine(cid: str) -> None:
    """rule_commit's files: a change to any of them is a change of the claim's rule (F4's and F5's shared analysis
    and the engine's power threshold included, which the first editions' list missed); how a section is drawn or
    its runs launched is not."""
    from wgan_repro.claims.render import rule_files

    files = rule_files(cid)
    assert files[:2] == [f"conf/claim/{cid}.yaml", f"wgan_repro/claims/{cid.lower()}.py"]
    assert {"wgan_repro/claims/engine.py", "wgan_repro/claims/decision.py", "wgan_repro/claims/power.py",
            "wgan_repro/claims/stats.py"} <= set(files)  # the engine's own imports, reached through it
    assert "wgan_repro/claims/section.py" not in files and "wgan_repro/claims/launch.py" not in files
    assert all((REPO / f).is_file() for f in files)
    assert ("wgan_repro/claims/meaningful_loss.py" in files) == (cid in ("F4", "F5"))


def sequential_smoke(tmp_path: Path, mlflow_uri: str, experiment: str):
    """F7's smoke budget as a two-look sequential design (3 seeds, looks at 2 and 3): its first look cannot stop
    (the signed-rank test's floor at 2 pairs is 0.25), so the claim always runs a second round."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wgan_repro.app_schema import register_app_configs
    from wgan_repro.config import CONF_DIR

    register_app_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("reproduce", overrides=[
            "claim=F7", "budget=smoke", f"tracking.uri={mlflow_uri}", f"tracking.experiment={experiment}",
            f"report.out_dir={tmp_path / experiment}", f"ledger={tmp_path / experiment / 'ledger'}",
            "report.allow_mixed=true"])
    claim = load_claim("F7")
    claim.budgets.smoke.seeds = [10000, 10001, 10002]
    claim.budgets.smoke.looks = [2, 3]
    return claim, cfg


def finished_runs(mlflow_uri: str, experiment: str) -> list[tuple[str, str, str]]:
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return sorted((r.data.tags["arm"], r.data.tags["seed"], r.info.status) for r in runs
                  if r.data.tags.get("sweep_parent") != "true")


def test_a_sequential_claim_killed_between_looks_resumes_at_its_round_with_the_same_word_and_runs(
        tmp_path, mlflow_uri, monkeypatch) -> None:
    """Killed after its first look's round (the process gone before the next round starts), a relaunch reruns
    nothing that finished, judges the first look again, runs the second round and ends with the word and the runs
    of an uninterrupted launch."""
    from wgan_repro.claims import launch
    from wgan_repro.runs import stopping

    claim, cfg = sequential_smoke(tmp_path, mlflow_uri, "seq_whole")
    launch.run_claims([claim], "smoke", cfg, {"F7": jobs(claim, "smoke")}, "test", {})
    whole = json.loads((tmp_path / "seq_whole" / "F7" / "verdict.json").read_text())
    assert [look["seeds"] for look in whole["looks"]] == [2, 3]  # the first look decided nothing

    claim, cfg = sequential_smoke(tmp_path, mlflow_uri, "seq_killed")
    decided = launch.Rounds.decided

    def killed(self, cfg, parent):  # the process dies as the first look is taken
        raise stopping.Stopped("killed between looks", 15)

    monkeypatch.setattr(launch.Rounds, "decided", killed)
    with pytest.raises(stopping.Stopped):
        launch.run_claims([claim], "smoke", cfg, {"F7": jobs(claim, "smoke")}, "test", {})
    first = finished_runs(mlflow_uri, "seq_killed")
    assert [(a, s) for a, s, _ in first] == sorted((j.arm, str(j.seed)) for j in jobs(claim, "smoke")
                                                   if j.seed in (10000, 10001))  # round 1 only
    monkeypatch.setattr(launch.Rounds, "decided", decided)
    started = {r.info.run_id: r.info.start_time for r in MlflowClient(mlflow_uri).search_runs(
        [MlflowClient(mlflow_uri).get_experiment_by_name("seq_killed").experiment_id])}
    launch.run_claims([claim], "smoke", cfg, {"F7": jobs(claim, "smoke")}, "test again", {})
    resumed = json.loads((tmp_path / "seq_killed" / "F7" / "verdict.json").read_text())
    assert finished_runs(mlflow_uri, "seq_killed") == finished_runs(mlflow_uri, "seq_whole")
    assert all(status == "FINISHED" for _, _, status in finished_runs(mlflow_uri, "seq_killed"))
    runs = MlflowClient(mlflow_uri).search_runs(
        [MlflowClient(mlflow_uri).get_experiment_by_name("seq_killed").experiment_id])
    assert all(r.info.start_time == started[r.info.run_id] for r in runs if r.info.run_id in started)  # not rerun
    for key in ("verdict", "robustness", "reason", "looks"):
        assert resumed[key] == whole[key], key
