"""Claims as code: every claim file composes and its budgets validate; `python -m wgan_repro.reproduce` runs a
claim's smoke budget under one parent, renders a section whose verdict is one of the three words with numeric
CSVs, and renders the same section from its export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from conftest import compose
from wgan_repro.claims import BUDGETS, VERDICTS, claim_ids, jobs, load_claim
from wgan_repro.claims.rules import RULES
from wgan_repro.config import ConfigError, validate

REPO = Path(__file__).resolve().parents[1]


def test_seven_claims_each_with_three_budgets_a_rule_and_the_paper() -> None:
    assert claim_ids() == [f"F{i}" for i in range(1, 8)]
    for cid in claim_ids():
        claim = load_claim(cid)
        assert claim.id == cid and claim.paper and claim.rule_text and claim.rule.name in RULES
        assert set(claim.budgets) == set(BUDGETS), cid


@pytest.mark.parametrize("cid", [f"F{i}" for i in range(1, 8)])
def test_every_budget_composes_and_validates(cid: str) -> None:
    claim = load_claim(cid)
    for budget in BUDGETS:
        for job in jobs(claim, budget):
            cfg, _ = compose(*job.overrides)
            validate(cfg)


def test_unknown_claim_and_budget_are_refused() -> None:
    with pytest.raises(ConfigError, match="allowed: F1"):
        load_claim("F9")
    with pytest.raises(ConfigError, match="budget=huge"):
        jobs(load_claim("F3"), "huge")


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
    assert record["verdict"] in VERDICTS and record["budget"] == "smoke"
    text = (out / cid / "section.md").read_text()
    assert f"Verdict (smoke): {record['verdict']}." in text and "fixed at commit" in text
    per_run = pd.read_csv(out / cid / "per_run.csv")
    numeric = per_run.drop(columns=["run_id", "arm", "status", "pass", "group"], errors="ignore")
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) for c in numeric), numeric.dtypes
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name(f"claims_{cid}").experiment_id
    (parent,) = client.search_runs([exp], "tags.sweep_parent = 'true'")
    assert parent.data.tags["claim"] == cid and parent.data.tags["verdict"] == record["verdict"]
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


def test_bad_input_exits_2_naming_the_key_before_any_work(tmp_path) -> None:
    done = reproduce(tmp_path, "claim=F3", "budget=huge")
    assert done.returncode == 2 and "budget=huge" in done.stderr and not list(tmp_path.iterdir())


def test_the_reference_index_and_the_readme_summary_follow_the_committed_sections(tmp_path) -> None:
    """reports/reference/README.md is what index() makes of the sections' verdict.json, and README.md's summary of
    the reproduction is that index's table and verdict lines (all of them): neither is edited by hand."""
    from wgan_repro.claims.section import README_MARKERS, index, readme_summary

    ref = REPO / "reports" / "reference"
    for f in [ref / "INTRO.md", *ref.glob("*/verdict.json")]:
        (tmp_path / f.relative_to(ref)).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.relative_to(ref)).write_text(f.read_text())
    rebuilt = index(tmp_path).read_text()
    assert rebuilt == (ref / "README.md").read_text()
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(README_MARKERS[0]):readme.index(README_MARKERS[1]) + len(README_MARKERS[1])]
    assert block == readme_summary(rebuilt)
    rows = [line for line in block.splitlines() if line.startswith(("| [F", "| F"))]
    assert [r.split("|")[1].strip().strip("[").split("]")[0] for r in rows] == [f"F{i}" for i in range(1, 8)]


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
    assert (new["verdict"], new["reason"]) == (committed["verdict"], committed["reason"])
    claim = load_claim(cid)
    changes = [c for c in claim.changes if committed["commit"].startswith(c.runs_commit)]
    section = (tmp_path / "out" / cid / "section.md").read_text()
    index = (tmp_path / "out" / "README.md").read_text()
    assert section.count("**Changed after the runs**") == len(changes) == len(new["changed_after_runs"])
    assert ("rule changed after the runs" in index) == bool(changes)
    for change in changes:
        assert change.before.split(".")[0] in VERDICTS


def test_a_rule_change_marks_only_the_runs_it_came_after() -> None:
    from wgan_repro.claims.section import changes_after

    claim = load_claim("F5")
    assert [c.runs_commit for c in changes_after(claim, "6cf25a6774553a2134dcb79ff06a6c19027ba9ce")] == ["6cf25a6"]
    assert changes_after(claim, "0123456789abcdef") == []  # a later run of F5, under the changed rule
