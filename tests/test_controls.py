"""Every claim's known-answer controls (claims/<id>.py, Claim.controls) through its whole committed decision at its
cpu budget's arms and seeds: the positive ones read "reproduced" under the primary and every variant, the negative
ones "not reproduced" with no variant reading "reproduced". Deliberate bugs show the check has teeth: a threshold out
of reach fails a positive control, a decision that always says yes fails a negative one, and a design whose
controls fail is refused before any run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wgan_repro.claims import budget_arms, claim_ids, load_claim
from wgan_repro.claims import decision as D
from wgan_repro.claims.engine import check_controls, claim_module, controls_refusal, design_of


def checked(cid: str, rule=None, budget: str = "cpu"):
    claim = load_claim(cid)
    return check_controls(cid, rule if rule is not None else claim.rule, budget_arms(claim, budget),
                          design_of(claim, budget))


@pytest.mark.parametrize("cid", claim_ids())
def test_control_each_claim_has_a_positive_and_a_negative_control_and_each_gives_its_word(cid: str) -> None:
    results = checked(cid)
    kinds = [c.control.kind for c in results]
    assert "positive" in kinds and "negative" in kinds, kinds
    assert len({c.control.name for c in results}) == len(results)  # names tell them apart in a section
    for c in results:
        assert c.ok, c.line()
    assert controls_refusal(cid, results) is None


@pytest.mark.parametrize("cid", claim_ids())
def test_control_a_decision_that_always_says_yes_fails_every_negative_control(cid: str, monkeypatch) -> None:
    monkeypatch.setattr(D, "judge_interval", lambda *a, **k: (D.REPRODUCED, ""))
    results = checked(cid)
    for c in results:
        if c.control.kind == "negative":
            assert not c.ok, c.line()
    assert "negative control" in controls_refusal(cid, results)


@pytest.mark.parametrize("cid", claim_ids())
def test_control_a_decision_that_never_says_yes_fails_every_positive_control(cid: str, monkeypatch) -> None:
    monkeypatch.setattr(D, "judge_interval", lambda *a, **k: (D.NOT_REPRODUCED, "bug"))
    results = checked(cid)
    for c in results:
        if c.control.kind == "positive":
            assert not c.ok and "expected 'reproduced'" in c.line(), c.line()
    assert "positive control" in controls_refusal(cid, results)


def test_control_a_missing_kind_of_control_is_refused(monkeypatch) -> None:
    results = [c for c in checked("F3") if c.control.kind == "positive"]
    assert "declares no negative control" in controls_refusal("F3", results)


def test_control_a_variant_that_cannot_give_the_primarys_word_on_the_positive_control_fails_it() -> None:
    results = checked("F3")
    positive = next(c for c in results if c.control.kind == "positive")
    broken = dataclasses.replace(positive.result.variants[0], word=D.INCONCLUSIVE, detail="a broken variant")
    result = dataclasses.replace(positive.result, variants=[broken, *positive.result.variants[1:]])
    bad = dataclasses.replace(positive, result=result)
    assert not bad.ok and "a variant must give the primary's word on the positive control" in bad.line()


def export_control(cid: str, kind: str, folder) -> None:
    """A control's runs written in the export format (runs.csv, curves.csv.gz, meta.json): what a reader who did not
    write the claim would build to check it."""
    import json

    from wgan_repro.claims.data import export
    from wgan_repro.claims.engine import thresholds

    claim = load_claim(cid)
    control = next(c for c in claim_module(cid).controls(thresholds(cid, claim.rule)) if c.kind == kind)
    data = control.build(budget_arms(claim, "cpu"))
    data.runs = data.runs.assign(**{"start_time": "2026-12-07T00:00:00.000000Z", "end_time": "2026-12-07T00:01:00Z",
                                    "tags.git_commit": "c0ffee0c0ffee0", "tags.git_dirty": "false"})
    export(data, folder)
    (folder / "meta.json").write_text(json.dumps({
        "n_runs": len(data.runs), "commit": "c0ffee0c0ffee0", "clean": True, "wall_s": 60, "wall": "1 min",
        "machine": "constructed", "command": f"constructed {kind} control of {cid}", "rule_commit": "constructed"}))


@pytest.mark.parametrize("cid", claim_ids())
def test_control_exported_like_a_section_renders_from_its_export_to_its_word(cid: str, tmp_path) -> None:
    import json
    import subprocess
    import sys

    export_control(cid, "positive", tmp_path / "positive")
    done = subprocess.run([sys.executable, "-m", "wgan_repro.reproduce", f"claim={cid}", "budget=cpu",
                           f"render_from={tmp_path / 'positive'}", f"report.out_dir={tmp_path / 'out'}",
                           f"ledger={tmp_path / 'ledger'}"],  # no seed seen before: the control's runs are all new
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "out" / cid / "verdict.json").read_text())
    assert record["word"] == "reproduced" and record["seed_independence"].startswith("every run fresh"), record


def test_an_interval_past_the_null_is_reproduced_and_says_its_size() -> None:
    import math

    from wgan_repro.claims.engine import Result

    two = math.log(2)  # the null a ratio of 1, the smallest effect of interest a factor 2 (F7's)
    word, why = D.judge_interval(math.log(1.68), math.log(2.28), 0.0, "above", two)  # crosses the SESOI
    assert word == D.REPRODUCED and why.startswith(D.UNRESOLVED)
    assert D.judge_interval(math.log(2.1), math.log(3), 0.0, "above", two) == (D.REPRODUCED, "")
    word, why = D.judge_interval(math.log(1.1), math.log(1.5), 0.0, "above", two)  # inside it: a real, smaller effect
    assert word == D.REPRODUCED and why.startswith(D.SMALLER)
    assert D.judge_interval(-0.5, -0.3, 0.0, "below", 0.2) == (D.REPRODUCED, "")  # past it on the lower side
    assert D.judge_interval(-0.1, 0.1, 0.0, "above", 0.2)[0] == D.NOT_REPRODUCED  # equivalence, not past the null
    outcome = D.decide(D.SubTest("u", "ratio", (np.log([1.7, 1.9, 2.0, 2.1, 2.3]),), "mean", "log", 0.0, "above",
                                 two), 0.05)
    result = Result(outcome.word, outcome.detail, outcome, [], "robust", [])
    assert result.headline == f"reproduced ({D.UNRESOLVED})"
    small = D.decide(D.SubTest("s", "ratio", (np.log([1.2, 1.25, 1.3, 1.22, 1.28]),), "mean", "log", 0.0, "above",
                               two), 0.05)
    assert Result(small.word, small.detail, small, [], "robust", []).headline == f"reproduced ({D.SMALLER})"
    large = D.decide(D.SubTest("a", "a", (np.log([3.0, 3.2, 3.4, 3.1, 3.3]),), "mean", "log", 0.0, "above", two),
                     0.05)
    both = D.combine("primary", [large, outcome])
    assert both.word == D.REPRODUCED and both.detail == f"{D.UNRESOLVED} (u)"  # the claim is as large as its least
    three = D.combine("primary", [large, outcome, small])
    assert three.detail == f"{D.SMALLER} (s)" and three.name == "primary" and three.label == "ratio"


def test_the_words_are_monotone_in_the_interval() -> None:
    """Moving an interval towards the claim's side never gives a worse word (not reproduced < inconclusive <
    reproduced), nor a smaller size; a wider interval never has a definite word (or a definite size) that an
    interval inside it lacks, and one that reads "not reproduced" holds an interval that reads it too or
    "reproduced (smaller than the smallest effect of interest)": more noise cannot earn the better word (the
    review's S1: an interval past the null and inside the SESOI read "not reproduced" while a wider one crossing
    the SESOI read "reproduced")."""
    size = {D.SMALLER: 0, D.UNRESOLVED: 1, "": 2}
    def read(*interval):  # the word and, for "reproduced", its size
        word, detail = D.judge_interval(*interval)
        return word, next((s for s in size if detail.startswith(s)), None) if word == D.REPRODUCED else None

    grid = np.round(np.arange(-1.55, 1.56, 0.1), 2)  # never on a threshold or a margin: no ties
    for side, margin in (("above", 0.5), ("below", 0.5), ("above", None)):
        words = {(lo, hi): read(lo, hi, 0.0, side, margin) for lo in grid for hi in grid if lo < hi}
        step = 0.1 if side == "above" else -0.1
        rank = {D.NOT_REPRODUCED: 0, D.INCONCLUSIVE: 1, D.REPRODUCED: 2}
        for (lo, hi), (word, sized) in words.items():
            moved = words.get((round(lo + step, 2), round(hi + step, 2)))
            if moved is not None:  # towards the claim: never a worse word, and a reproduced one never smaller
                assert rank[moved[0]] >= rank[word], (side, margin, (lo, hi), word, moved)
                if word == D.REPRODUCED:
                    assert size[moved[1]] >= size[sized], (side, lo, hi, moved)
            for (a, b), inner in words.items():  # (a, b) inside (lo, hi): the same runs with less noise
                if not (lo <= a and b <= hi):
                    continue
                if word == D.REPRODUCED:  # noise never earns "reproduced", nor a size the narrower one lacks
                    assert inner[0] == D.REPRODUCED, (side, margin, (lo, hi), (a, b), inner)
                    assert sized == D.UNRESOLVED or inner[1] == sized, (side, margin, (lo, hi), (a, b), inner)
                if word == D.NOT_REPRODUCED:  # on the other side, or smaller than the SESOI either way
                    assert inner in ((D.NOT_REPRODUCED, None), (D.REPRODUCED, D.SMALLER)), (side, (lo, hi), inner)
        if margin is not None:  # every word and size is reached
            assert {w for w, _ in words.values()} == {D.REPRODUCED, D.NOT_REPRODUCED, D.INCONCLUSIVE}
            assert {s for w, s in words.values() if w == D.REPRODUCED} == set(size)


def test_holm_corrects_the_not_reproduced_branch_only() -> None:
    """Any one of several sub-tests can decide "not reproduced", so that branch is Holm-corrected: a sub-test not
    reproduced at alpha but not at alpha / m reads inconclusive; one past alpha / m keeps the word; "reproduced"
    (every sub-test must pass) is not corrected."""
    up = D.SubTest("up", "x", (np.array([3.0, 3.2, 2.9, 3.1, 3.0]),))
    t = lambda xs: D.SubTest("b", "x", (np.array(xs),))  # noqa: E731
    barely = t([-0.45, -0.05, -0.3, -0.1, -0.1])  # t 90% upper bound -0.04, 95% +0.01
    assert D.decide(barely, 0.05).word == D.NOT_REPRODUCED and D.decide(barely, 0.025).word == D.INCONCLUSIVE
    assert D.judge("one", [barely], 0.05).word == D.NOT_REPRODUCED  # one sub-test: no correction
    pair = D.judge("two", [up, barely], 0.05)
    assert pair.word == D.INCONCLUSIVE and "Holm" in pair.detail and "0.025" in pair.detail, pair.detail
    clear = t([-3.0, -3.2, -2.9, -3.1, -3.0])
    assert D.judge("two", [up, clear], 0.05).word == D.NOT_REPRODUCED
    kept = D.holm([clear, barely], [D.decide(clear, 0.05), D.decide(barely, 0.05)], 0.05)
    assert [p.word for p in kept] == [D.NOT_REPRODUCED, D.NOT_REPRODUCED]  # step two: alpha / 1 for the second
    assert D.judge("two", [up, up], 0.05).word == D.REPRODUCED
