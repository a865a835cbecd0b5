"""Group-sequential boundaries (claims/sequential.py) against Jennison and Turnbull's tables (2000, Tables 2.1 and
2.3) and Lan and DeMets' spending, and their error rate by simulation of the canonical joint distribution."""

from __future__ import annotations

import numpy as np
import pytest

from wgan_repro.claims import decision as D
from wgan_repro.claims import engine as E
from wgan_repro.claims import sequential as S
from wgan_repro.claims.data import constructed

FIVE = [0.2, 0.4, 0.6, 0.8, 1.0]


def test_obrien_fleming_and_pocock_boundaries_are_jennison_and_turnbulls() -> None:
    assert [round(c, 3) for c in S.classical(FIVE, 0.05, 0.0)] == [4.562, 3.226, 2.634, 2.281, 2.040]  # Table 2.3
    assert [round(c, 3) for c in S.classical(FIVE, 0.05, 0.5)] == [2.413] * 5  # Table 2.1
    assert round(S.classical([0.5, 1.0], 0.05, 0.5)[0], 3) == 2.178  # Pocock, 2 looks (Table 2.1)


def test_lan_demets_obrien_fleming_type_spends_the_published_levels() -> None:
    spent = [S.SPENDING["obrien_fleming"](t, 0.05) for t in FIVE]
    assert [round(s, 6) for s in spent[:1]] == [0.000012]
    assert [round(s, 5) for s in spent[1:2]] == [0.00194]
    assert [round(s, 4) for s in spent[2:]] == [0.0114, 0.0284, 0.05]
    assert S.SPENDING["pocock"](1.0, 0.05) == pytest.approx(0.05)


@pytest.mark.parametrize("spending", sorted(S.SPENDING))
def test_spending_boundaries_spend_exactly_their_level_by_each_look(spending: str) -> None:
    looks = [3 / 24, 6 / 24, 10 / 24, 16 / 24, 1.0]  # unequal looks, as a claim's rounds of seeds are
    bounds = S.spending_bounds(looks, 0.10, spending)
    up, low = S.crossing(bounds, looks)
    cumulative = np.cumsum(up + low)
    assert cumulative == pytest.approx([S.SPENDING[spending](t, 0.10) for t in looks], abs=1e-7)
    assert all(a > b for a, b in zip(bounds, bounds[1:])) or spending == "pocock"
    assert S.nominal_levels(bounds)[-1] < 0.05  # the last look pays for the earlier ones


def test_the_boundaries_hold_their_level_on_simulated_sequences() -> None:
    """20,000 sequences of 5 looks under no effect: the chance of crossing at any look is the design's 0.10 (Monte
    Carlo SE 0.002); looking at 0.05 each time, without a boundary, it is about 0.23."""
    rng = np.random.default_rng(7)
    increments = rng.standard_normal((20_000, 5)) * np.sqrt(0.2)
    z = np.cumsum(increments, axis=1) / np.sqrt(FIVE)
    bounds = np.array(S.spending_bounds(FIVE, 0.10))
    crossed = (np.abs(z) >= bounds).any(axis=1).mean()
    naive = (np.abs(z) >= 1.645).any(axis=1).mean()
    assert abs(crossed - 0.10) < 0.008 and naive > 0.2


# --------------------------------------------------------------------------- a claim judged at its looks
class Mean(E.Claim):
    """A one-arm claim: the mean of x is above 0 (smallest effect of interest 0.5)."""

    def table(self, data, t, **choices):
        return data.runs.assign(x=data.runs["metrics.x"].astype(float))

    def subtests(self, data, t, table, **choices):
        return [D.SubTest("x", "mean x", (table["x"].to_numpy(),), "mean", "identity", 0.0, "above", 0.5)]


@pytest.fixture
def mean_claim(monkeypatch):
    monkeypatch.setattr(E, "claim_module", lambda cid: Mean())
    return {"name": "x", "alpha": 0.05, "agree_share": 0.75}


def runs(values):
    return constructed([{"run_id": f"r{i}", "tags.arm": "a", "tags.seed": i, "metrics.x": v}
                        for i, v in enumerate(values)])


ARMS = {"a": list(range(24))}
DESIGN = E.Design((3, 6, 10, 16, 24))


def test_a_clear_effect_stops_at_the_first_look_whose_interval_clears_the_boundary(mean_claim) -> None:
    """O'Brien-Fleming-type spending barely spends at 3 of 24 seeds (level 1.6e-6: a t quantile of about 550 with 2
    degrees of freedom), so even a mean 30 SDs above 0 waits for the second look."""
    rng = np.random.default_rng(1)
    result, looks = E.judge_sequential("X", mean_claim, runs(3 + 0.1 * rng.standard_normal(24)), ARMS, DESIGN)
    assert result.word == D.REPRODUCED and [look.n for look in looks] == [3, 6]
    assert looks[0].level == pytest.approx(DESIGN.levels(0.05)[0]) and looks[0].level < 1e-5
    from wgan_repro.claims.section import looks_line

    line = looks_line(result, 24)  # the section: where it stopped, why, and the bias of an early stop
    assert "Stopped at look 2 (6 seeds per arm)" in line and "before its cap (24" in line and "biased" in line
    assert "biased" not in looks_line(result, 6)  # stopped at the cap: no early stop


def test_a_look_waits_for_its_whole_round(mean_claim) -> None:
    rng = np.random.default_rng(2)
    result, looks = E.judge_sequential("X", mean_claim, runs(0.3 + rng.standard_normal(8)), ARMS, DESIGN)
    assert [look.n for look in looks] == [3, 6]  # 8 runs: looks at 3 and 6, the round of 10 not ended
    assert result.word == looks[-1].result.word and result.looks == looks  # the last look's, with every look
    assert E.judge_sequential("X", mean_claim, runs([1.0, 2.0]), ARMS, DESIGN) == (None, [])


def test_no_effect_at_the_cap_reads_inconclusive_cap_or_equivalence(mean_claim) -> None:
    rng = np.random.default_rng(3)
    noisy = runs(0.25 + 2.0 * rng.standard_normal(24))  # an interval that never clears 0 nor the +-0.5 band
    result, looks = E.judge_sequential("X", mean_claim, noisy, ARMS, DESIGN)
    assert len(looks) == 5 and result.headline == "inconclusive (cap)" and result.detail.startswith("cap: 24 seeds")
    flat = runs(0.01 * rng.standard_normal(24))
    result, looks = E.judge_sequential("X", mean_claim, flat, ARMS, DESIGN)
    assert result.word == D.NOT_REPRODUCED and "equivalent" in result.detail  # stops for the other word too


def sequential_t(x: np.ndarray, design: E.Design, alpha: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The sequential t rule of the claim above, vectorised over rows of x: (reproduced, stopped at any look)."""
    from scipy import stats

    hit, stopped = np.zeros(len(x), bool), np.zeros(len(x), bool)
    for n, level in zip(design.looks, design.levels(alpha)):
        mean, se = x[:, :n].mean(1), x[:, :n].std(1, ddof=1) / np.sqrt(n)
        lo, hi = mean - stats.t.ppf(1 - level, n - 1) * se, mean + stats.t.ppf(1 - level, n - 1) * se
        hit |= (lo > 0) & ~stopped
        stopped |= (lo > 0) | (hi < 0) | ((lo > -margin) & (hi < margin))
    return hit, stopped


def test_the_sequential_rule_keeps_its_level_over_all_looks(mean_claim) -> None:
    """The engine's sequential rule is the vectorised one on 25 claims (each word the same), and the vectorised rule
    on 40,000 claims with no effect (truth at the threshold) says 'reproduced' at most alpha (0.05) plus Monte Carlo
    error (SE 0.0011); judged at alpha at every look, without the boundaries, it says so about twice as often."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((25, 24)) * 0.8 + 0.2
    hit, _ = sequential_t(x, DESIGN, 0.05, 0.5)
    engine = [E.judge_sequential("X", mean_claim, runs(row), ARMS, DESIGN)[0].word == D.REPRODUCED for row in x]
    assert list(hit) == engine and 0 < sum(engine) < 25
    null = np.random.default_rng(5).standard_normal((40_000, 24))
    false = sequential_t(null, DESIGN, 0.05, 0.5)[0].mean()
    naive = sequential_t(null, E.Design(DESIGN.looks[-1:]), 0.05, 0.5)[0].mean()  # one look: alpha itself
    from scipy import stats

    looked = np.zeros(len(null), bool)
    for n in DESIGN.looks:  # alpha at every look, no boundary
        m, se = null[:, :n].mean(1), null[:, :n].std(1, ddof=1) / np.sqrt(n)
        looked |= m - stats.t.ppf(0.95, n - 1) * se > 0
    assert false <= 0.05 + 3 * 0.0011 and abs(naive - 0.05) < 0.004 and looked.mean() > 1.8 * false


def test_a_budgets_runs_split_into_one_round_per_look_and_arms_at_fewer_seeds_end_early() -> None:
    from omegaconf import OmegaConf

    from wgan_repro.claims import BudgetConfig, jobs
    from wgan_repro.claims.launch import Rounds

    budget = OmegaConf.merge(OmegaConf.structured(BudgetConfig), {
        "arms": {"a": ["x=1"], "b": ["x=2"]}, "seeds": [10, 11, 12, 13, 14, 15], "arm_seeds": {"b": [20, 21, 22]},
        "looks": [2, 4, 6]})
    claim = OmegaConf.create({"id": "X", "budgets": {"cpu": budget}})
    rounds = Rounds(claim, "cpu", jobs(claim, "cpu"))
    assert [[(j.arm, j.seed) for j in r] for r in rounds.rounds] == [
        [("a", 10), ("a", 11), ("b", 20), ("b", 21)], [("a", 12), ("a", 13), ("b", 22)], [("a", 14), ("a", 15)]]
    assert rounds.sequential and rounds.left_to_cap() == 5


def test_a_look_too_early_to_spend_anything_cannot_stop_and_the_rest_still_hold_their_level() -> None:
    """O'Brien-Fleming-type spending at 2 of 50 seeds spends under 1e-300 (once a crash: an infinite boundary)."""
    levels = E.Design((2, 25, 50)).levels(0.05)
    assert levels[0] == 0.0 and 0 < levels[1] < levels[2] < 0.05
    bounds = S.spending_bounds([0.04, 0.5, 1.0], 0.10)
    up, low = S.crossing(bounds, [0.04, 0.5, 1.0])
    assert float((up + low).sum()) == pytest.approx(0.10, abs=1e-6)


def test_a_pilot_without_the_measure_gives_no_sequential_power() -> None:
    from wgan_repro.claims import power as P

    empty = D.SubTest("x", "x", (np.array([np.nan, np.nan]),), "mean", "identity", 0.0, "above", 0.5)
    stops = P.sequential_stops([empty], [0.01, 0.04], (3, 6), 3, 1.0, simulations=5)
    assert np.isnan(stops.power) and np.isnan(stops.undecided)


def test_an_exact_tests_floor_is_printed_for_counts_and_ranks() -> None:
    from wgan_repro.claims import power as P

    counts = D.SubTest("c", "c", (np.ones(5), np.zeros(5)), "fisher", "log", 0.0, "above")
    assert P.smallest_p(counts, 1.0).startswith("0.00397 (Fisher's exact, 5 against 5: 1 / C(10, 5))")


# --------------------------------------------------------------------------- every claim's own sequential rule
@pytest.mark.parametrize("cid", ["F1", "F2", "F3", "F4", "F5", "F6", "F7", "G1", "G2", "G3"])
def test_each_claims_sequential_rule_says_reproduced_at_its_threshold_at_most_alpha(cid: str) -> None:
    """Every claim's cpu budget is sequential, and its whole primary rule (every sub-test, intersection-union, on the
    committed pilot's units and SDs; a pilot without the rule's measures: its positive control's runs), run look by
    look at the budget's nominal levels with the truth at every threshold, says "reproduced" at most alpha plus 3
    Monte Carlo SEs (400 simulations: SE 0.011). Its first look lets each exact test of the primary reach its
    level (a look below an exact test's floor could not stop on it)."""
    from wgan_repro.claims import budget_arms, load_claim
    from wgan_repro.claims import power as P
    from wgan_repro.claims.data import load_export
    from wgan_repro.claims.engine import built, claim_module, design_of, thresholds
    from wgan_repro.config import CONF_DIR

    claim = load_claim(cid)
    design = design_of(claim, "cpu")
    assert len(design.looks) > 1, f"{cid}'s cpu budget is a fixed design"
    module, t = claim_module(cid), thresholds(cid, claim.rule)
    data = load_export(CONF_DIR.parent / "reports" / "reference" / cid / "data")
    tests = module.subtests(data, t, module.table(data, t, **module.variants["primary"]),
                            **module.variants["primary"])
    units = data.runs["tags.seed"].nunique()
    if not P.measured(tests):  # a pilot from before the rule's measures
        positive = next(c for c in module.controls(t) if c.kind == "positive")
        arms = budget_arms(claim, "cpu")
        data = built(cid, positive, arms)
        tests = module.subtests(data, t, module.table(data, t, **module.variants["primary"]),
                                **module.variants["primary"])
        units = len(next(iter(arms.values())))
    levels = design.levels(t.alpha)
    stops = P.sequential_stops(tests, levels, design.looks, units, 0.0, simulations=400, seed=3)
    assert stops.power <= t.alpha + 3 * 0.011, (cid, stops)
    for test in tests:
        assert P.floor_p(test, design.looks[0] / units)[0] <= levels[0], (cid, test.name)
