"""The claims' seed ledgers (reports/ledger/<ID>.yaml): a confirmatory budget on seeds already run is refused
before any work, naming the seeds and where they were seen; replicate=<commit> allows them and the section says it
is a replication; a relaunch of the same parent continues; a section says how many of its runs repeat data seen."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from wgan_repro.claims import REPO, claim_ids
from wgan_repro.claims import ledger as L


def ledger(*entries: L.Entry) -> L.Ledger:
    return L.Ledger("X", list(entries))


EARLIER = L.Entry({"wgan": [0, 1, 2], "gan": [0, 1]}, "reports/reference/X/data", "abcdef1234", "cpu", parent="p1")


@pytest.mark.parametrize("cid", claim_ids())
def test_the_committed_ledger_holds_every_seed_of_the_committed_export(cid: str) -> None:
    runs = pd.read_csv(REPO / "reports" / "reference" / cid / "data" / "runs.csv", dtype=str)
    seen = L.load(cid).seen()
    assert set(runs["tags.seed"].astype(int)) <= set(seen)


def test_seen_seeds_are_refused_for_a_confirmatory_budget_naming_them_and_where() -> None:
    why = L.refusal(ledger(EARLIER), "cpu", {"wgan": [1, 2, 3], "gan": [3]}, None)
    assert "seeds already run" in why and "seeds 1, 2: reports/reference/X/data (commit abcdef1)" in why
    assert "replicate=<commit>" in why
    assert L.refusal(ledger(EARLIER), "cpu", {"wgan": [3, 4]}, None) is None  # unseen
    assert L.refusal(ledger(EARLIER), "smoke", {"wgan": [0]}, None) is None  # a pipeline check decides nothing


def test_replicate_allows_seen_seeds_only_for_a_commit_the_ledger_knows() -> None:
    assert L.refusal(ledger(EARLIER), "cpu", {"wgan": [0, 1]}, "abcdef1") is None
    why = L.refusal(ledger(EARLIER), "cpu", {"wgan": [0, 1]}, "1234567")
    assert why.startswith("replicate=1234567: not a commit") and "allowed: abcdef1234" in why


def test_a_relaunch_of_the_same_parent_continues_and_is_recorded_once(tmp_path) -> None:
    book = ledger(EARLIER)
    assert L.refusal(book, "cpu", {"wgan": [0]}, None, parent="p1") is None
    assert L.refusal(book, "cpu", {"wgan": [0]}, None, parent="p2") is not None
    L.record(book, L.Entry({"wgan": [7]}, "a store", "fedcba9876", "cpu", parent="p3"), tmp_path)
    L.record(book, L.Entry({"wgan": [7]}, "a store", "fedcba9876", "cpu", parent="p3"), tmp_path)
    again = L.load("X", tmp_path)
    assert [e.parent for e in again.entries] == ["p1", "p3"] and 7 in again.seen()


def test_a_sections_label_counts_the_runs_that_repeat_seen_data_and_names_a_replication() -> None:
    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "tags.arm": ["wgan"] * 4, "tags.seed": ["1", "2", "8", "9"]})
    label, repeat = L.independence(ledger(EARLIER), runs, ["0123456789"])
    assert label.startswith("2 of 4 runs repeat data already seen (seeds 1, 2 by reports/reference/X/data (commit "
                            "abcdef1))") and repeat == ["a", "b"]
    label, repeat = L.independence(ledger(EARLIER), runs, ["abcdef1234"])  # its own runs are not earlier data
    assert label.startswith("every run fresh") and repeat == []
    assert L.independence(ledger(EARLIER), runs, ["x"], replicate="abcdef1")[0].startswith("a replication of commit")


def test_span_joins_runs_of_seeds() -> None:
    assert L.span([0, 1, 2, 3, 7, 9, 10]) == "0-3, 7, 9, 10"


def reproduce(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wgan_repro.reproduce", *args,
                           f"tracking.uri=sqlite:///{tmp_path}/m.db", f"report.out_dir={tmp_path}/out"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_reproduce_refuses_seen_seeds_before_any_work_and_plan_shows_them(tmp_path) -> None:
    refused = reproduce(tmp_path, "claim=F3", "budget=full")  # seeds 0-9: all ran in the second edition
    assert refused.returncode == 2, refused.stderr
    assert "seeds already run" in refused.stderr and "reports/reference/F3/data" in refused.stderr
    assert not (tmp_path / "m.db").exists() and not (tmp_path / "out").exists()  # nothing started, nothing left
    plan = reproduce(tmp_path, "claim=F3", "budget=full", "plan=true", "replicate=90e7ff6")
    assert plan.returncode == 0, plan.stderr
    assert "a replication of 90e7ff6" in plan.stdout and "known-answer controls" in plan.stdout


@pytest.mark.parametrize("cid", claim_ids())
def test_the_third_editions_seeds_are_unseen_by_every_ledger(cid: str) -> None:
    """Each claim's cpu budget (the third edition's design) runs seeds no earlier run of the claim used: what the
    plan prints as "=> unseen" (launch.seeds_lines)."""
    from wgan_repro.claims import load_claim
    from wgan_repro.claims.launch import budget_arms

    arms = budget_arms(load_claim(cid), "cpu")
    assert L.refusal(L.load(cid), "cpu", arms, None) is None
    assert min(s for seeds in arms.values() for s in seeds) >= 1000


def test_smoke_runs_use_pilot_seeds_and_confirmatory_budgets_never_do(tmp_path, monkeypatch) -> None:
    import wgan_repro.claims as C
    from wgan_repro.config import ConfigError

    texts = {cid: C.claim_path(cid).read_text() for cid in ("F3", "G2")}
    for cid, budget, seeds, allowed in (("F3", "smoke", "[0]", "allowed: 10000-19999"),
                                        ("F3", "cpu", "[3, 10005]", "allowed: seeds outside 10000-19999"),
                                        ("G2", "pilot", "[10100, 1000]", "allowed: 10000-19999")):
        text = texts[cid]
        start = text.index(f"\n  {budget}:")
        at = text.index("    seeds: ", start)
        bad = text[:at] + f"    seeds: {seeds}" + text[text.index("\n", at):]
        (tmp_path / f"{cid}.yaml").write_text(bad)
        monkeypatch.setattr(C, "claim_path", lambda cid: tmp_path / f"{cid}.yaml")
        with pytest.raises(ConfigError, match=rf"budgets\.{budget} seeds .*; {allowed}"):
            C.load_claim(cid)


@pytest.mark.parametrize("cid", ["F3", "F7"])
def test_the_committed_ledger_holds_every_earlier_export_in_git_history(cid: str) -> None:
    """Every version of the claim's export ever committed, the first edition and the smoke runs before the pilot
    seeds: the ledger began as that and may only grow."""
    committed = {(e.where, e.commit, tuple(sorted(e.all_seeds()))) for e in L.load(cid).entries}
    for e in L.from_history(cid).entries:
        assert (e.where, e.commit, tuple(sorted(e.all_seeds()))) in committed, e


def test_each_round_of_a_launch_adds_its_seeds_to_the_one_entry_of_its_parent(tmp_path) -> None:
    book = ledger(EARLIER)
    for seeds in ([5, 6], [7, 8], [7, 8]):  # two rounds, then a relaunch of the second
        L.record(book, L.Entry({"wgan": seeds, "gan": seeds}, "a store", "fedcba9876", "cpu", parent="p9"), tmp_path)
    again = L.load("X", tmp_path)
    assert [e.parent for e in again.entries] == ["p1", "p9"] and again.entries[1].seeds == {"gan": [5, 6, 7, 8],
                                                                                              "wgan": [5, 6, 7, 8]}


def test_the_harness_own_writes_do_not_make_a_run_dirty(tmp_path) -> None:
    """A section or a seed ledger written while another claim's runs go on leaves their tree clean; a change to the
    code does not."""
    import shutil

    from wgan_repro import store

    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO}", str(repo)], check=True, timeout=120)
    shutil.copy(store.__file__, repo / "wgan_repro" / "store.py")  # this checkout's version of git_dirty
    probe = [sys.executable, "-c", "import sys; sys.path.insert(0, '.'); import wgan_repro.store as s; "
             "print(s.git_dirty())"]
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "this store.py", "--allow-empty"], check=True)
    dirty = lambda: subprocess.run(probe, cwd=repo, capture_output=True, text=True).stdout.strip()  # noqa: E731
    assert dirty() == "false"
    (repo / "reports" / "ledger" / "F3.yaml").write_text("claim: F3\nentries: []\n")
    (repo / "README.md").write_text("changed by a render\n")
    assert dirty() == "false"
    (repo / "conf" / "claim" / "F3.yaml").write_text("# a change to a claim's configuration\n")
    assert dirty() == "true"  # anywhere in the checkout, not only the package
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "conf"], check=True)
    assert dirty() == "false"
    (repo / "wgan_repro" / "claims" / "f3.py").write_text("# a change to the code\n")
    assert dirty() == "true"
