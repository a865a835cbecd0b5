"""Each claim's rule (claims/<id>.py through engine.judge) on made-up exports whose answer is known: each word is
reachable from the thresholds its YAML commits, an arm that missed its regime makes the word "inconclusive
(budget)", never "not reproduced"; a common trend in time is not taken for an estimate that tracks quality; the
measures are validated on synthetic cases (a rotation rotates, a run broken from its first evaluation is the worst)."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from wgan_repro.claims import claim_ids, load_claim
from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.engine import judge, thresholds
from wgan_repro.config import ConfigError

NO_CURVES = pd.DataFrame(columns=["run_id", "key", "step", "value"])


def verdict(cid: str, data: ClaimData):
    claim = load_claim(cid)
    return judge(cid, claim.rule, data)


@pytest.mark.parametrize("cid", claim_ids())
def test_every_claim_module_takes_its_yaml_and_refuses_a_misspelt_threshold(cid: str) -> None:
    rule = dict(load_claim(cid).rule)
    thresholds(cid, rule)  # the committed YAML is complete and in range
    key = next(k for k in rule if k != "name")
    with pytest.raises(ConfigError, match=rf"rule\.{key}x is not a threshold of claim {cid}; allowed: "):
        thresholds(cid, {**{k: v for k, v in rule.items() if k != key}, f"{key}x": rule[key]})
    with pytest.raises(ConfigError, match=r"rule.alpha must be <= 0.25, got 0.5"):
        thresholds(cid, {**rule, "alpha": 0.5})


# --------------------------------------------------------------------------- F1: parallel lines
def f1_data(slope: float = 0.2, shape=np.abs, k_max: float = 1.342, noise: float = 0.002) -> ClaimData:
    """Three study runs on 11 thetas: the estimate is slope x shape(theta) plus seeded noise; JS is log 2 off 0."""
    runs, curves = [], []
    theta = np.linspace(-1, 1, 11)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        em = slope * shape(theta) + rng.normal(0, noise, len(theta))
        js = np.where(np.abs(theta) < 1e-9, 0.0, math.log(2))
        run_id = f"study-{seed}"
        runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": "study", "tags.seed": str(seed),
                     "metrics.fig1/k_max": k_max})
        for key, values in (("fig1/theta", theta), ("estimate/em", em), ("estimate/js", js)):
            curves += [{"run_id": run_id, "key": key, "step": i, "value": v} for i, v in enumerate(values)]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f1_reproduced_on_a_linear_estimate_and_not_on_a_curved_one() -> None:
    assert verdict("F1", f1_data()).word == "reproduced"
    curved = verdict("F1", f1_data(shape=lambda t: np.sqrt(np.abs(t))))  # continuous, but not linear in |theta|
    assert curved.word == "not reproduced", curved.reason()


def test_f1_pooling_changes_the_noise_not_the_estimand() -> None:
    """On a noise-free estimate near the bound (K |theta| + a little curvature) the pooled and the unpooled fit read
    the same deviation over their bounds (each bound is what the same systematic residual gives on the grid); noise
    between +theta and -theta only adds to the unpooled one (the pairs' differences: the single fits' pure error)."""
    from wgan_repro.claims.f1 import bounds

    grid = bounds(np.linspace(-1, 1, 11), 0.02)
    assert grid["unpooled"] == pytest.approx(0.02 * 2 * 0.7 / (12.4 / 11), rel=1e-9)  # SS of |theta|: 0.7, 1.127
    assert grid["uncentred"] == pytest.approx(0.02 * 0.7 / 2.2, rel=1e-9)
    ratio = lambda v: {o.name: o.parts[0].value for o in [v.primary, *v.variants]}  # noqa: E731
    bent = ratio(verdict("F1", f1_data(shape=lambda t: np.abs(t) + 0.3 * t ** 2, noise=0.0)))
    assert 0.2 < bent["primary"] < 1 and bent["without pooling +-theta"] == pytest.approx(bent["primary"], rel=0.05)
    noisy = ratio(verdict("F1", f1_data(noise=0.01)))
    assert noisy["without pooling +-theta"] > 2 * noisy["primary"]


def test_f1_is_inconclusive_when_the_critic_never_left_its_initial_scale() -> None:
    v = verdict("F1", f1_data(slope=0.05))  # K / K_max 0.04: under the gate's tenth
    assert v.headline == "inconclusive (budget: arm study did not reach its regime)", v.reason()


# --------------------------------------------------------------------------- F2: modes
def f2_data(wgan_modes: list[float], gan_modes: list[float], w1_over_floor: float = 4.0,
            gan_moves: bool = True) -> ClaimData:
    """Each run covers its number of modes evenly at each of 10 evaluations (dominant share 1 / modes; none without
    a mode); WGAN's dominant mode stays, the GAN's moves every evaluation (gan_moves) or never."""
    runs, curves = [], []
    for arm, modes in (("wgan", wgan_modes), ("gan", gan_modes)):
        for seed, m in enumerate(modes):
            run_id = f"{arm}-{seed}"
            share = 1 / m if m else math.nan
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "metrics.eval/modes": float(m), "metrics.eval/high_quality": 0.8,
                         "metrics.eval/w1": 0.05 * w1_over_floor, "metrics.eval/w1_floor": 0.05,
                         "metrics.eval/dominant_share": share})
            for k, step in enumerate(range(100, 1100, 100)):
                dominant = float(k % 8 if arm == "gan" and gan_moves else 0) if m else math.nan
                curves += [{"run_id": run_id, "key": "eval/dominant_mode", "step": step, "value": dominant},
                           {"run_id": run_id, "key": "eval/dominant_share", "step": step, "value": share},
                           {"run_id": run_id, "key": "eval/modes", "step": step, "value": float(m)}]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f2_counts_rotations_and_reproduces_when_wgan_covers_more_modes() -> None:
    v = verdict("F2", f2_data([8, 8, 8, 8, 7], [1, 1, 1, 1, 1]))
    assert v.word == "reproduced", v.reason()
    assert [p.name for p in v.primary.parts] == ["modes", "coverage", "rotations"]
    per_run = v.tables["per_run"].set_index("arm")
    assert (per_run.loc["gan", "rotations"] == 9).all() and (per_run.loc["wgan", "rotations"] == 0).all()
    by_arm = v.tables["by_arm"].set_index("arm")
    assert 0 <= by_arm.loc["gan", "modes_last_lo"] <= by_arm.loc["gan", "modes_last_hi"] <= 8  # stays in range


def test_f2_not_reproduced_when_wgan_covers_no_more_modes_and_inconclusive_when_it_did_not_train() -> None:
    same = verdict("F2", f2_data([2, 1, 2, 1, 2], [1, 2, 1, 2, 2]))
    assert same.word == "not reproduced" and "equivalent" in same.detail, same.reason()
    untrained = verdict("F2", f2_data([8, 8, 8, 8, 7], [1, 1, 1, 2, 1], w1_over_floor=30.0))
    assert untrained.headline == "inconclusive (budget: arm wgan did not reach its regime)", untrained.reason()
    assert untrained.primary.word == "reproduced"  # the analysis would have said so: the gate decides
    # a WGAN collapsed onto one mode is about 20 x its W1 floor: the gate cannot tell it from one that did not train
    collapsed = verdict("F2", f2_data([1, 1, 1, 1, 1], [1, 1, 1, 1, 1], w1_over_floor=20.0))
    assert collapsed.headline.startswith("inconclusive (budget"), collapsed.reason()


def test_f2_wgan_covering_more_modes_than_the_gan_but_not_all_of_them_is_not_coverage() -> None:
    # the committed runs' picture: WGAN about 5 of 8 modes, the GAN at most one, rotating (with the spread of
    # [7, 6, 3, 5, 5] coverage is short of 7 at 90%, not at Holm's 96.7% over the three sub-tests: inconclusive)
    v = verdict("F2", f2_data([6, 5, 4, 5, 5], [0, 1, 0, 1, 1]))
    words = {p.name: p.word for p in v.primary.parts}
    assert words == {"modes": "reproduced", "coverage": "not reproduced", "rotations": "reproduced"}, v.reason()
    assert v.word == "not reproduced" and "coverage" in v.detail, v.reason()


def test_f2_a_gan_collapsed_onto_one_mode_that_never_moves_does_not_rotate() -> None:
    v = verdict("F2", f2_data([8, 8, 8, 8, 7], [1, 1, 1, 1, 1], gan_moves=False))
    assert v.word == "not reproduced" and "rotations: equivalent" in v.detail, v.reason()
    assert (v.tables["per_run"].query("arm == 'gan'")["rotations"] == 0).all()


def test_f2_collapse_comes_first_samples_of_the_mixture_never_rotate_a_hopping_generator_does() -> None:
    from wgan_repro.claims.f2 import rotations, scripted_run

    def series(kind: str, seed: int, key: str) -> pd.Series:
        points = [(step, v) for k, step, v in scripted_run(kind, seed, False)[1] if k == key]
        return pd.Series([v for _, v in points], index=[s for s, _ in points])

    for seed in range(3):
        mode, share = (series("mixture", seed, k) for k in ("eval/dominant_mode", "eval/dominant_share"))
        assert (mode.diff().fillna(0) != 0).sum() > 25 and share.max() < 0.2  # the dominant mode changes by chance
        assert rotations(mode, share, 1.0) == rotations(mode, share, 0.5) == 0
        assert (series("mixture", seed, "eval/modes") == 8).all()
        mode, share = (series("hopping", seed, k) for k in ("eval/dominant_mode", "eval/dominant_share"))
        assert (share == 1).all() and rotations(mode, share, 1.0) == (mode.diff().fillna(0) != 0).sum() > 0
    # few high-quality samples spread over several modes give a dominant share of 1/2 or more by chance: the
    # committed WGAN runs' 3-17 "rotations" at a share of 0.5 (5 covered modes, shares 0.5-0.8); none at 1
    mode, share = pd.Series([6.0, 1, 5, 0, 7, 1]), pd.Series([0.5, 0.6, 0.75, 0.5, 0.8, 0.54])
    assert rotations(mode, share, 0.5) == 5 and rotations(mode, share, 1.0) == 0


# --------------------------------------------------------------------------- F3
def f3_data(ratio: float, r2: float, clean: float = 0.55) -> ClaimData:
    """Five study runs: the minimax gradient at the fakes `ratio` times the critic's, the critic's R^2 against the
    exact optimal critic `r2`, its gradient at the fakes `clean` times the exact optimal critic's at its estimate
    (W1 = 4: estimate = 4 x gradient / clean)."""
    rows = [{"run_id": f"s{seed}", "status": "FINISHED", "tags.arm": "study", "tags.seed": str(seed),
             "metrics.fig3/critic_grad_at_fake": 0.1, "metrics.estimate/em": 0.4 / (clean * (1 + seed / 20)),
             "metrics.fig3/minimax_grad_at_fake": 0.1 * ratio * (1 + seed / 10),
             "metrics.fig3/nonsat_grad_at_fake": 9.0, "metrics.fig3/critic_linearity_r2": r2 - seed / 1000,
             "metrics.fig3/critic_slope_max": 1.3} for seed in range(5)]
    return ClaimData(pd.DataFrame(rows), NO_CURVES)


def test_f3_each_word() -> None:
    assert verdict("F3", f3_data(1e-6, 0.97)).word == "reproduced"
    assert verdict("F3", f3_data(0.5, 0.97)).word == "not reproduced"  # the discriminator does not saturate
    assert verdict("F3", f3_data(1e-6, 0.5)).word == "not reproduced"  # farther from f* than the discriminator
    saturating = verdict("F3", f3_data(1e-6, 0.97, clean=1e-4))  # nearly linear by R^2, yet flat at the fakes
    assert saturating.word == "not reproduced" and "clean gradient" in saturating.detail, saturating.reason()
    reversed_ = verdict("F3", f3_data(1e-6, 0.97, clean=-1.0))  # a line, pointing the fakes away from the reals
    assert reversed_.word == "not reproduced" and "clean gradient" in reversed_.detail, reversed_.reason()


def test_f3_references_come_from_the_problem() -> None:
    """The linearity bound is the optimal discriminator's own 1 - R^2 against the exact optimal critic f*(x) = x on
    the study's grid, from the formula; the problem's constants are the study's defaults."""
    import dataclasses

    from scipy.special import expit

    from wgan_repro.claims import f3
    from wgan_repro.schema.study import OptimalCriticConfig

    defaults = {f.name: f.default for f in dataclasses.fields(OptimalCriticConfig)}
    assert (f3.REAL_MEAN, f3.FAKE_MEAN, f3.STD) == (defaults["real_mean"], defaults["fake_mean"], defaults["std"])
    x = np.linspace(-4.2, 4.2, 801)
    x = x[(x >= -2) & (x <= 2)]
    r2 = np.corrcoef(x, expit(4 * x / 0.09))[0, 1] ** 2  # log p_real / p_fake = (2 - -2) x / 0.3^2
    assert f3.discriminator_bend() == pytest.approx(1 - r2, rel=1e-9) and 0.2 < f3.discriminator_bend() < 0.25
    assert f3.linear_r2(x, 3 * x - 1) == pytest.approx(1.0)


# --------------------------------------------------------------------------- F4 / F5: does the estimate track quality
def tracking_data(arms: dict[str, tuple[str, float, float]], seeds: int = 5, iterations: int = 2000,
                  every: int = 100, learn: bool = True) -> ClaimData:
    """Per arm (estimate key, follow, trend): quality falls from 2,000 towards 500 (or stays near 2,000 when not
    `learn`) with seeded wiggles at every evaluation; the estimate is `follow` x quality / 1,000 (its wiggles
    included) plus `trend` x a falling line, held from each evaluation to the next (so its running median at an
    evaluation is that evaluation's value)."""
    runs, curves = [], []
    for arm, (key, follow, trend) in arms.items():
        for seed in range(seeds):
            rng = np.random.default_rng(100 * len(runs) + seed)
            steps = np.arange(every, iterations + 1, every)
            level = 500 + 1500 * np.exp(-steps / 600) if learn else np.full(len(steps), 2000.0)
            quality = level + rng.normal(0, 40, len(steps)) + 30 * seed
            line = 1 - steps / iterations
            at_eval = follow * quality / 1000 + trend * line
            run_id = f"{arm}-{seed}"
            its = np.arange(1, iterations + 1)
            nearest = np.clip(np.rint(its / every).astype(int) - 1, 0, len(steps) - 1)
            estimate = at_eval[nearest] + rng.normal(0, 1e-4, iterations)
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "tags.estimate": key, "tags.quality": "eval/fid_mnist",
                         "tags.quality_floor": "eval/fid_mnist_floor", "metrics.eval/fid_mnist": quality[-1],
                         "metrics.eval/fid_mnist_floor": 25.0})  # a learning run ends at 20-30 x its floor
            curves += [{"run_id": run_id, "key": "eval/fid_mnist", "step": int(s), "value": v}
                       for s, v in zip(steps, quality)]
            curves += [{"run_id": run_id, "key": key, "step": int(s), "value": v} for s, v in zip(its, estimate)]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f4_reproduced_when_the_estimate_follows_quality_with_both_generators() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 1.0, 0.0), "mlp_g": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "reproduced" and v.robustness == "robust", v.reason()
    assert (v.tables["per_run"]["rho_diff"] > 0.9).all()


def test_f4_a_common_trend_alone_is_not_tracking() -> None:
    """An estimate that only falls with time correlates with quality's levels, not with its wiggles."""
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 0.0, 1.0), "mlp_g": ("estimate/em", 0.0, 1.0)}))
    assert v.word != "reproduced", v.reason()
    assert (v.tables["per_run"]["rho"] > 0.8).all() and abs(v.tables["per_run"]["rho_diff"].median()) < 0.5


def test_f4_not_reproduced_when_the_estimate_moves_against_quality() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", -1.0, 0.0), "mlp_g": ("estimate/em", -1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason()


def test_f4_a_generator_that_never_learned_makes_it_inconclusive_not_a_failure() -> None:
    data = tracking_data({"dcgan": ("estimate/em", 1.0, 0.0)})
    stuck = tracking_data({"mlp_g": ("estimate/em", -1.0, 0.0)}, learn=False)
    v = verdict("F4", ClaimData(pd.concat([data.runs, stuck.runs]), pd.concat([data.curves, stuck.curves])))
    assert v.headline == "inconclusive (budget: arm mlp_g did not reach its regime)", v.reason()


def test_f4_inconclusive_below_twenty_evaluations() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 1.0, 0.0)}, every=200))
    assert v.word == "inconclusive" and v.tables["per_run"]["rho_diff"].isna().all()


UNRELATED = ("estimate/js", 0.0, 0.0)  # a GAN estimate that is noise only: no correlation with quality


def test_f5_reproduced_when_only_the_wgan_estimate_tracks_quality() -> None:
    v = verdict("F5", tracking_data({"gan": UNRELATED, "wgan": ("estimate/em", 1.0, 0.0)}, seeds=10, every=50))
    assert v.word == "reproduced", v.reason()
    gan = v.primary.parts[0]
    assert -0.2 < gan.lo < gan.hi < 0.2, v.reason()


def test_f5_a_gan_estimate_that_moves_against_quality_tracks_it_too() -> None:
    """Issue 45's review: a strong anti-correlation is a meaningful correlation; "does not track" is an equivalence
    test inside +-0.2, no longer one-sided below 0.2 (which read this "reproduced")."""
    v = verdict("F5", tracking_data({"gan": ("estimate/js", -1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert (v.tables["per_run"].query("arm == 'gan'")["rho_diff"] < -0.9).all()
    assert v.word == "not reproduced" and "beyond the margin" in v.detail, v.reason()


def test_f5_not_reproduced_when_the_gan_estimate_tracks_quality_too() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", 1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason()


def test_f5_a_floor_gate_holds_back_runs_that_improved_but_stayed_far_from_their_floor() -> None:
    data = tracking_data({"gan": UNRELATED, "wgan": ("estimate/em", 1.0, 0.0)}, seeds=10, every=50)  # end 20-30 x floor
    rule = {k: v for k, v in load_claim("F5").rule.items() if k != "floor_factor"}
    near = judge("F5", {**rule, "floor_factor": 35.0}, data)
    assert near.word == "reproduced", near.reason()
    far = judge("F5", {**rule, "floor_factor": 15.0}, data)
    assert far.headline == ("inconclusive (budget: arm gan did not reach its regime; arm wgan did not reach its "
                            "regime)"), far.reason()
    assert "final / floor" in far.reason() and "and 15 x floor" in far.reason()
    unset = judge("F5", rule, data)  # without the key: the first edition's gate, quality halved
    assert unset.word == "reproduced" and "final / floor" not in unset.reason()


def test_f4_and_f5_read_one_estimand_with_one_threshold_and_one_gate() -> None:
    """"Tracks" (F4) and "does not track" (F5) share the meaningful correlation, the filter and the learning gate."""
    from wgan_repro.claims.meaningful_loss import TrackingThresholds

    f4, f5 = (thresholds(cid, load_claim(cid).rule) for cid in ("F4", "F5"))
    shared = [f.name for f in dataclasses.fields(TrackingThresholds)]
    assert {k: getattr(f4, k) for k in shared} == {k: getattr(f5, k) for k in shared}
    assert f4.rho_meaningful == 0.2 and f4.floor_factor == 35.0


def test_f4_reads_a_correlation_past_0_that_crosses_the_meaningful_one_as_size_unresolved() -> None:
    """The F4 control's world (an estimate that is quality exactly) with more noise than the committed runs had:
    every interval clears 0, some cross 0.2."""
    from wgan_repro.claims.meaningful_loss import PROFILES, world
    from wgan_repro.evaluate import metrics as M

    arms = {"dcgan": range(5), "mlp_g": range(5)}
    noisy = {a: dataclasses.replace(PROFILES["mlp_g"], noise=0.6) for a in arms}
    v = verdict("F4", world(arms, dict.fromkeys(arms, "quality"), noisy, dict.fromkeys(arms, M.EM.key)))
    assert v.headline == "reproduced (size unresolved)", v.reason()
    assert all(0 < p.lo < 0.2 < p.hi for p in v.primary.parts), v.reason()


def test_f4_a_generator_that_ends_far_from_its_floor_did_not_reach_the_regime() -> None:
    """F5's gate, 35 x the floor: runs that halved their quality but end 45 x their floor are held back."""
    data = tracking_data({"dcgan": ("estimate/em", 1.0, 0.0), "mlp_g": ("estimate/em", 1.0, 0.0)})
    far = data.runs["tags.arm"] == "mlp_g"
    data.runs.loc[far, "metrics.eval/fid_mnist_floor"] = data.runs.loc[far, "metrics.eval/fid_mnist"] / 45
    v = verdict("F4", data)
    assert v.headline == "inconclusive (budget: arm mlp_g did not reach its regime)", v.reason()


def test_f5_every_variant_reads_a_gan_estimate_that_tracks_quality_as_tracking_and_no_filter_would_not() -> None:
    """The issue's control: the GAN's estimate is quality exactly, plus the GAN's noise as measured. Every declared
    variant reads it as tracking (the GAN's interval above 0.2); the dropped unfiltered reading attenuates it
    towards 0 and does not."""
    from wgan_repro.claims import budget_arms
    from wgan_repro.claims.engine import analyse, claim_module

    claim, rule = claim_module("F5"), load_claim("F5").rule
    t = thresholds("F5", rule)
    seven = {arm: seeds[:7] for arm, seeds in budget_arms(load_claim("F5"), "cpu").items()}  # the second edition's
    both = next(c for c in claim.controls(t) if c.name == "both track").build(seven)  # size: 14 seeds see through it
    v = judge("F5", rule, both)
    assert [o.word for o in [v.primary, *v.variants]] == ["not reproduced"] * (1 + len(v.variants)), v.reason()
    assert "no filter" not in claim.variants
    unfiltered = analyse(claim_with({"no filter": {"filter": "none"}}, claim), both, t, "no filter")[0]
    assert unfiltered.word != "not reproduced" and unfiltered.parts[0].value < v.primary.parts[0].value - 0.3


def claim_with(variants: dict[str, dict[str, Any]], claim: Any) -> Any:
    """A copy of a claim's analysis with more variants (the module's own is left alone)."""
    other = copy.copy(claim)
    other.variants = {**claim.variants, **variants}
    return other


# --------------------------------------------------------------------------- F6: weak generators
ARMS = [f"{g}/{o}" for g in ("control", "fig7", "fig8") for o in ("wgan", "gan", "gan_matched")]
GOOD = {"control/wgan": 600, "control/gan": 620, "control/gan_matched": 580,
        "fig7/wgan": 700, "fig7/gan": 2000, "fig7/gan_matched": 1800,
        "fig8/wgan": 650, "fig8/gan": 2500, "fig8/gan_matched": 2200}
COLLAPSED = {"fig7/gan": 4, "fig7/gan_matched": 4, "fig8/gan": 5, "fig8/gan_matched": 5}  # runs, of 5 (as committed)


def f6_data(quality: dict[str, float], classes: dict[str, int] | None = None,
            failed: tuple[str, ...] = (), spread: dict[str, float] | None = None,
            collapsed: dict[str, int] | None = None,
            reason: str = "diverged at generator iteration 40: loss/critic=nan") -> ClaimData:
    """Five seeds per arm; an arm's classifier FID is its value times (1 + seed / 20), floor 10, KL 0.1; recall and
    coverage 0.3 + seed / 100 (`spread`: the arm's value instead of 0.3); the first `collapsed` runs of an arm (default
    COLLAPSED) one class, KL log 10."""
    rows = []
    for arm in ARMS:
        for seed in range(5):
            one = seed < (COLLAPSED if collapsed is None else collapsed).get(arm, 0)
            rows.append({"run_id": f"{arm}-{seed}", "status": "FAILED" if arm in failed else "FINISHED",
                         "tags.status_reason": reason if arm in failed else None, "tags.arm": arm,
                         "tags.seed": str(seed), "tags.quality": "eval/fid_mnist",
                         "tags.quality_floor": "eval/fid_mnist_floor",
                         "metrics.eval/fid_mnist": quality[arm] * (1 + seed / 20),
                         "metrics.eval/fid_mnist_floor": 10.0,
                         "metrics.eval/classes": 1.0 if one else float((classes or {}).get(arm, 10)),
                         "metrics.eval/kl_classes": math.log(10) if one else 0.1,
                         "metrics.eval/recall_mnist": (spread or {}).get(arm, 0.3) + seed / 100,
                         "metrics.eval/coverage_mnist": (spread or {}).get(arm, 0.3) + seed / 100})
    return ClaimData(pd.DataFrame(rows), NO_CURVES)


def test_f6_reproduced_when_the_gan_is_much_worse_and_collapses_on_both_weak_generators_and_wgan_learns() -> None:
    v = verdict("F6", f6_data(GOOD))
    assert v.word == "reproduced", v.reason()
    assert all(g.passed for g in v.gates)
    assert [p.name for p in v.primary.parts] == [f"{w}/{g} {half}" for half in ("quality", "collapse")
                                                 for w in ("fig7", "fig8") for g in ("gan", "gan_matched")]


def test_f6_not_reproduced_when_a_gan_arm_matches_wgan_on_a_weak_generator() -> None:
    v = verdict("F6", f6_data({**GOOD, "fig8/gan_matched": 600}, collapsed={**COLLAPSED, "fig8/gan_matched": 0}))
    assert v.word == "not reproduced", v.reason()


def test_f6_the_collapse_half_counts_collapsed_runs_by_fishers_exact_test() -> None:
    from scipy import stats

    v = verdict("F6", f6_data(GOOD))
    counts = {p.name: p for p in v.primary.parts if p.name.endswith("collapse")}
    assert counts["fig7/gan collapse"].p == pytest.approx(5 / 210)  # 4 of 5 against 0 of 5: C(5,4) / C(10,4)
    assert counts["fig8/gan collapse"].p == pytest.approx(1 / 252)  # 5 of 5 against 0 of 5: 1 / C(10,5)
    assert counts["fig7/gan collapse"].lo > 1 and counts["fig7/gan collapse"].hi == math.inf
    # 3 of 5 against 0 of 5 (Fisher p = 10/120): not enough, where a Welch interval on the 0/1 flags clears 0
    three = verdict("F6", f6_data(GOOD, collapsed={**COLLAPSED, "fig7/gan": 3}))
    part = next(p for p in three.primary.parts if p.name == "fig7/gan collapse")
    assert part.word == "inconclusive" and part.p == pytest.approx(10 / 120), part.text()
    flags = np.r_[np.ones(3), np.zeros(2)]
    assert stats.ttest_ind(flags, np.zeros(5), equal_var=False, alternative="greater").pvalue < 0.05
    assert three.word == "inconclusive", three.reason()


def test_f6_a_gan_that_is_worse_without_collapsing_is_not_shown_to_collapse() -> None:
    # the count has no equivalence branch: 0 of 5 against 0 of 5 is no evidence either way; the classes variant has
    v = verdict("F6", f6_data(GOOD, collapsed={}))
    assert v.word == "inconclusive" and "collapse: the lower bound does not clear" in v.detail, v.reason()
    classes = next(o for o in v.variants if o.name == "classes covered")
    assert classes.word == "not reproduced", classes.text()


def test_f6_a_failed_gan_run_counts_as_worse_than_any_finished_and_as_collapsed() -> None:
    v = verdict("F6", f6_data({**GOOD, "fig7/gan": 500}, failed=("fig7/gan",)))
    assert v.word == "reproduced", v.reason()
    failed = v.tables["per_run"].query("arm == 'fig7/gan'")
    assert (failed["quality"] > v.tables["per_run"].query("status == 'FINISHED'")["quality"].max()).all()
    assert failed["collapsed"].all()


def test_a_failed_run_the_rule_does_not_score_is_neither_dropped_nor_counted_and_names_itself() -> None:
    """F6 scores a run that diverged as the worst outcome (its rule); one that crashed could be any run: the word is
    "inconclusive (failed runs: ...)" naming it. A claim that scores no failure (F2) says the same of a diverged run,
    where dropping it would have read "reproduced"."""
    from wgan_repro.claims.engine import NOT_JUDGED_FAILED

    crashed = verdict("F6", f6_data({**GOOD, "fig7/gan": 500}, failed=("fig7/gan",),
                                    reason="RuntimeError: CUDA out of memory"))
    assert crashed.headline.startswith("inconclusive (failed runs: fig7/gan seed 0 (RuntimeError: CUDA out of memory)"
                                       "; fig7/gan seed 1 "), crashed.headline
    assert crashed.robustness == NOT_JUDGED_FAILED
    data = f2_data([8, 8, 8, 8, 7, 8], [1, 1, 1, 1, 1, 1])
    assert verdict("F2", data).word == "reproduced"
    data.runs.loc[5, ["status", "tags.status_reason"]] = ["FAILED",
                                                          "diverged at generator iteration 9: loss/critic=inf"]
    failed = verdict("F2", data)
    assert failed.headline == ("inconclusive (failed runs: wgan seed 5 (diverged at generator iteration 9: "
                               "loss/critic=inf))"), failed.headline


def test_a_value_that_is_not_finite_makes_its_sub_test_inconclusive_never_silently_dropped() -> None:
    from wgan_repro.claims import decision as D

    test = D.SubTest("t", "a statistic", (np.array([1.0, 1.1, 0.9, 1.05, math.nan]),), threshold=0.0)
    outcome = D.decide(test, 0.05)
    assert outcome.word == "inconclusive" and outcome.detail.startswith("1 of 5 values not finite"), outcome.text()
    assert outcome.lo > 0  # the interval of the finite ones is still shown
    assert D.decide(dataclasses.replace(test, samples=(test.samples[0][:4],)), 0.05).word == "reproduced"
    assert D.decide(dataclasses.replace(test, samples=(np.array([1.0, math.inf]),)), 0.05).word == "inconclusive"


def test_f6_inconclusive_when_the_control_or_a_weak_wgan_does_not_learn() -> None:
    collapsed = verdict("F6", f6_data(GOOD, classes={"control/gan": 6}))
    assert collapsed.headline == "inconclusive (budget: arm control/gan did not reach its regime)"
    weak = verdict("F6", f6_data(GOOD, classes={"fig8/wgan": 3, "fig8/gan": 1, "fig8/gan_matched": 1}))
    assert weak.headline == "inconclusive (budget: arm fig8/wgan did not reach its regime)", weak.reason()
    unmeasured = f6_data(GOOD)
    unmeasured.runs.loc[unmeasured.runs["tags.arm"] == "control/gan", "metrics.eval/classes"] = np.nan
    assert verdict("F6", unmeasured).word == "inconclusive"  # an unmeasured run has not shown that it learned


def test_f6_recall_and_coverage_variants_compare_wgan_with_each_gan_arm_and_count_a_failed_run_as_zero() -> None:
    collapsed = {"fig7/gan": 0.01, "fig7/gan_matched": 0.02, "fig8/gan": 0.0, "fig8/gan_matched": 0.01}
    words = {o.name: o.word for o in verdict("F6", f6_data(GOOD, spread=collapsed)).variants}
    assert words["recall"] == words["coverage"] == "reproduced"
    same = {o.name: o for o in verdict("F6", f6_data(GOOD)).variants}  # every arm's recall alike: no effect shown
    assert same["recall"].word == same["coverage"].word == "inconclusive", same["recall"].text()
    failed = verdict("F6", f6_data(GOOD, failed=("fig8/gan",), spread={"fig8/gan": 0.9}))
    assert (failed.tables["per_run"].query("arm == 'fig8/gan'")[["recall", "coverage"]] == 0).all().all()


def test_f6_a_weak_wgan_with_figure_8s_recall_clears_the_recall_margin() -> None:
    # Figure 8's WGAN runs as committed: recall 0.0245-0.0505 against the collapsed GANs' 0; under the earlier margin
    # of 0.05, which its own recall cannot clear, this read "not reproduced"
    data = f6_data(GOOD)
    runs, recall = data.runs, "metrics.eval/recall_mnist"
    runs.loc[runs["tags.arm"].isin(list(COLLAPSED)), recall] = 0.0
    runs.loc[runs["tags.arm"] == "fig8/wgan", recall] = [0.0505, 0.0245, 0.035, 0.0295, 0.0395]
    variant = next(o for o in verdict("F6", data).variants if o.name == "recall")
    assert variant.word == "reproduced", variant.text()
    part = next(p for p in variant.parts if p.name == "fig8/gan collapse")
    assert part.value == pytest.approx(0.0358) and part.lo > 0.0005, part.text()


def test_f6_ten_seeds_give_the_collapse_count_80_percent_power_at_80_against_5_percent() -> None:
    """Exact power of the four count sub-tests together (each GAN arm against its weak generator's one WGAN arm):
    5 seeds give 20%, the budget's 10 give 91%."""
    from scipy import stats

    def power(n: int, gan: float = 0.8, wgan: float = 0.05) -> float:
        passes = lambda x, y: stats.fisher_exact([[x, n - x], [y, n - y]], alternative="greater").pvalue < 0.05  # noqa
        one = sum(stats.binom.pmf(y, n, wgan) * sum(stats.binom.pmf(x, n, gan) for x in range(n + 1)
                                                    if passes(x, y)) ** 2 for y in range(n + 1))
        return one ** 2  # two weak generators, independent
    seeds = len(load_claim("F6").budgets["cpu"].seeds)
    assert power(5) < 0.25 and power(9) > 0.8 and power(seeds) > 0.9, (power(5), power(seeds))


# --------------------------------------------------------------------------- F7: momentum and instability
def f7_data(jumps: dict[str, float], broken: tuple[str, ...] = (), seeds: int = 5) -> ClaimData:
    """W1 falls from 1 towards 0.05 over 30 evaluations; an arm named in `jumps` worsens by that factor (times
    1 + seed / 10) at every fifth evaluation and recovers at the next; a run of an arm in `broken` sits at 100 x
    its floor from its first evaluation (a run that never trained)."""
    runs, curves = [], []
    steps = np.arange(50, 1550, 50)
    for group in ("rmsprop", "adam_b0", "adam_b0.5", "adam_b0.9"):
        for lr in (5e-5, 5e-4):
            for seed in range(seeds):
                w1 = np.geomspace(1.0, 0.05, len(steps))
                if group in jumps:
                    w1[4::5] *= jumps[group] * (1 + seed / 10)
                if f"{group}@{lr:g}" in broken:
                    w1 = np.full(len(steps), 5.0)
                run_id = f"{group}@{lr:g}-{seed}"
                runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": f"{group}@{lr:g}",
                             "tags.seed": str(seed), "params.optimizer.lr": lr, "metrics.eval/w1": w1[-1],
                             "metrics.eval/w1_floor": 0.05})
                curves += [{"run_id": run_id, "key": "eval/w1", "step": int(s), "value": v} for s, v in zip(steps, w1)]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f7_reproduced_when_momentum_runs_worsen_far_more_than_rmsprop() -> None:
    v = verdict("F7", f7_data({"adam_b0.5": 4.0, "adam_b0.9": 6.0}))
    assert v.word == "reproduced", v.reason()
    table = v.tables["per_run"]
    assert (table.query("group == 'rmsprop'")["u"] == 0).all()  # a run that only improves: U = 0, ...
    assert (table.query("group == 'rmsprop'")["log_u"] < table.query("u > 0")["log_u"].min()).all()  # ... the best


def test_f7_a_true_doubling_of_u_reads_as_a_doubling() -> None:
    """The threshold is on U itself (the first design's U + 0.01 read a doubling of U as about 1.65 x): on the
    control where momentum's U is twice RMSProp's, the primary's interval holds 2 and every analysis reads
    reproduced."""
    from wgan_repro.claims import budget_arms
    from wgan_repro.claims.engine import claim_module

    rule = load_claim("F7").rule
    control = next(c for c in claim_module("F7").controls(thresholds("F7", rule)) if c.name == "momentum doubles U")
    v = judge("F7", rule, control.build(budget_arms(load_claim("F7"), "cpu")))
    assert v.primary.lo < 2 < v.primary.hi, v.reason()
    assert all(o.word == "reproduced" for o in [v.primary, *v.variants]), v.reason()
    assert "offset" not in thresholds("F7", rule).__dataclass_fields__


def test_f7_not_reproduced_when_rmsprop_is_as_unstable() -> None:
    v = verdict("F7", f7_data({"adam_b0.5": 4.0, "adam_b0.9": 4.0, "rmsprop": 4.0}))
    assert v.word == "not reproduced", v.reason()


def test_f7_a_run_broken_from_its_first_evaluation_is_the_worst_and_a_broken_baseline_fails_the_gate() -> None:
    """The tested rates are fixed before the runs (every rate but the rule's high_rates): RMSProp broken at one of
    them fails the gate ("inconclusive (budget)"), no longer drops that rate (a choice made from the outcome)."""
    v = verdict("F7", f7_data({}, broken=("adam_b0.9@5e-05", "adam_b0.9@0.0005")))
    table = v.tables["per_run"]
    assert (table.query("group == 'adam_b0.9'")["u"] == 0).all()  # flat: no increase at all, yet ...
    assert table.query("group == 'adam_b0.9'")["broken"].all()  # ... 100 x its floor: it never trained
    assert (table.query("group == 'adam_b0.9'")["log_u"] > table.query("not broken")["log_u"].max()).all()
    gated = verdict("F7", f7_data({"adam_b0.9": 4.0}, broken=("rmsprop@0.0005",)))
    assert gated.headline == "inconclusive (budget: arm rmsprop did not reach its regime)", gated.reason()
    assert "100% of runs at 5e-05, 0% of runs at 0.0005" in gated.gates[0].text, gated.gates[0].text
    assert not any(s.startswith("high learning rates") for s in gated.tables["sub_claims"]["sub_claim"])  # none named


# --------------------------------------------------------------------------- G1-G3: the case against clipping
def g1_data(slopes: dict[str, float], gp_learned: bool = True, start: dict[str, float] | None = None) -> ClaimData:
    """Per arm, 3 seeds: 13 layers' gradient norms 10^(slope x layer) (+ seeded wiggles) at iteration 0 (slope
    `start`, default 0: He initialisation is flat) and at 3 evaluations (slope `slopes`); W1 falls by 4x (or stays,
    when the penalty did not learn)."""
    runs, curves = [], []
    for arm, s in slopes.items():
        for seed in range(3):
            rng = np.random.default_rng(seed)
            run_id = f"{arm}-{seed}"
            w1 = [1.0, 1.0, 0.5, 0.25] if (arm != "gp" or gp_learned) else [1.0, 1.0, 1.0, 1.0]
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "metrics.eval/w1": w1[-1], "metrics.eval/w1_floor": 0.05})
            for step, value, at in zip((0, 50, 100, 150), w1, ((start or {}).get(arm, 0.0), s, s, s)):
                curves.append({"run_id": run_id, "key": "eval/w1", "step": step, "value": value})
                for layer in range(1, 14):
                    norm = 10 ** (at * layer + rng.normal(0, 0.02))
                    curves.append({"run_id": run_id, "key": f"critic/grad_norm/layer_{layer:02d}", "step": step,
                                   "value": norm})
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_g1_reads_explosion_vanishing_and_flatness_from_the_layers() -> None:
    paper = {"clip_0.1": -0.5, "clip_0.01": 0.6, "clip_0.001": 1.2, "gp": 0.0}
    assert verdict("G1", g1_data(paper)).word == "reproduced"
    assert verdict("G1", g1_data({**paper, "gp": 0.5})).word == "not reproduced"  # the penalty's gradients vanish too
    untrained = verdict("G1", g1_data(paper, gp_learned=False))
    assert untrained.headline == "inconclusive (budget: arm gp did not reach its regime)"


def test_g1_judges_the_penalty_against_its_own_slope_at_iteration_0() -> None:
    """Flat is "as flat as before training": a penalty whose profile keeps a tilt it had at iteration 0 stays flat;
    one that ends at 0.05 from an iteration-0 slope of 0.2 drifted; a run without an evaluation at iteration 0 cannot
    say."""
    paper = {"clip_0.1": -0.5, "clip_0.01": 0.6, "clip_0.001": 1.2, "gp": 0.2}
    kept = verdict("G1", g1_data(paper, start={"gp": 0.2}))
    assert kept.word == "reproduced", kept.reason()
    drifted = verdict("G1", g1_data({**paper, "gp": 0.05}, start={"gp": 0.2}))
    assert drifted.word == "not reproduced" and drifted.primary.name == "primary", drifted.reason()
    assert "gp: the interval lies beyond the margin" in drifted.primary.detail
    flat = g1_data({**paper, "gp": 0.0})
    flat.curves = flat.curves[flat.curves["step"] > 0]
    assert verdict("G1", flat).word == "inconclusive"


def g2_data(at_bound: dict[str, tuple[float, float]], seeds: int = 5) -> ClaimData:
    """Per arm, `seeds` runs of a critic with two hidden layers and the score's: each hidden layer's share of weights
    at its bound at iteration 0 and at 3 later evaluations, moving linearly from the first to the second value of
    `at_bound` (+ seeded jitter of 1% on the odds); the score layer's moves the other way (the rule leaves it out)."""
    runs, curves = [], []
    for arm, (first, last) in at_bound.items():
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            run_id = f"{arm}-{seed}"
            for layer, (a, b) in enumerate([(first, last), (first, last), (last, first)], 1):
                for step in (0, 100, 200, 300):
                    share = a + (b - a) * step / 300
                    odds = share / (1 - share) * math.exp(rng.normal(0, 0.01))
                    curves.append({"run_id": run_id, "key": f"critic/weights_at_bound/layer_{layer:02d}",
                                   "step": step, "value": odds / (1 + odds)})
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed)})
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_g2_reads_the_weights_pushed_to_the_bound_by_training_not_by_the_initialisation() -> None:
    """The change from iteration 0 decides: weights at the bound from the start that stay there read "not
    reproduced" (the review's case: 0.934 at every evaluation), however far above the penalty's share; a clipped
    share that grows from 0.38 to 0.95 while the penalty's stays reads "reproduced"; growth by less than a factor 2 in
    the odds is reproduced but smaller than the claim; no evaluation at iteration 0 reads "inconclusive"."""
    untrained = verdict("G2", g2_data({"clip_0.1": (0.934, 0.934), "clip_0.01": (0.934, 0.934), "gp": (3e-5, 3e-5)}))
    assert untrained.word == "not reproduced", untrained.reason()
    assert untrained.primary.hi < 2  # inside the smallest effect of interest: no effect
    pushed = verdict("G2", g2_data({"clip_0.1": (0.38, 0.95), "clip_0.01": (0.934, 0.934), "gp": (3e-5, 3e-5)}))
    assert pushed.word == "reproduced" and pushed.robustness == "robust", pushed.reason()
    odds = lambda s: s / (1 - s)  # noqa: E731
    assert pushed.primary.value == pytest.approx(odds(0.95) / odds(0.38), rel=0.02)  # the score layer left out
    small = verdict("G2", g2_data({"clip_0.1": (0.38, 0.5), "gp": (3e-5, 3e-5)}))  # odds x1.6
    assert small.headline == "reproduced (smaller than the smallest effect of interest)", small.reason()
    pulled = verdict("G2", g2_data({"clip_0.1": (0.38, 0.1), "gp": (3e-5, 3e-5)}))
    assert pulled.word == "not reproduced" and "other side" in pulled.primary.detail
    late = g2_data({"clip_0.1": (0.38, 0.95), "gp": (3e-5, 3e-5)})
    late.curves = late.curves[late.curves["step"] > 0]
    assert verdict("G2", late).word == "inconclusive"
    lost = g2_data({"clip_0.1": (0.38, 0.95), "gp": (3e-5, 3e-5)})  # one run's final share of a layer not logged
    c = lost.curves
    gone = (c["run_id"] == "clip_0.1-0") & (c["step"] == 300) & c["key"].str.endswith("01")
    lost.curves.loc[gone, "value"] = math.nan
    v = verdict("G2", lost)
    assert v.word == "inconclusive" and "not finite" in v.detail, v.reason()  # not the evaluation before it


def test_g2_a_clipped_share_that_falls_is_not_reproduced_however_far_the_penalty_falls() -> None:
    """The review's blocking case: the contrast alone reads "reproduced" when the penalty's share falls further than
    the clipped one's; the clipped arm's own growth must pass too, and here it lies below 1."""
    v = verdict("G2", g2_data({"clip_0.1": (0.5, 0.3), "gp": (0.05, 1e-4)}))
    words = {p.name: p.word for p in v.primary.parts}
    assert words == {"clip_0.1": "reproduced", "clip_0.1 itself": "not reproduced"}, v.reason()
    assert v.word == "not reproduced" and "clip_0.1 itself" in v.detail, v.reason()


G3_BASELINE = {"eight_gaussians": 0.53, "twenty_five_gaussians": 0.80, "swiss_roll": 0.85}  # the controls' best cone
G3_EXACT = {"eight_gaussians": 0.99, "twenty_five_gaussians": 0.95, "swiss_roll": 0.97}  # and exact potential
# (fractions of W1 at the paper's unit-variance noise: claims/g3.py's controls, 2,000 points a side)


def g3_data(shares: dict[str, Any], references: bool = True) -> ClaimData:
    """Per data set and constraint, 3 seeds whose critics close the given shares of the gap between the best trivial
    function and the exact potential (one share for every seed, or one per seed), the references as the controls
    measure them (a seed's references move by 0.005); references=False: an export from before they were logged."""
    from wgan_repro.evaluate import metrics as M

    rows = []
    for data in G3_BASELINE:
        for constraint in ("clip", "gp"):
            for seed in range(3):
                base, exact = G3_BASELINE[data] + 0.005 * (seed - 1), G3_EXACT[data] - 0.005 * (seed - 1)
                share = np.broadcast_to(shares[constraint], 3)[seed]
                fraction = base + share * (exact - base)
                row = {"run_id": f"{data}-{constraint}-{seed}", "status": "FINISHED",
                       "tags.arm": f"{data}/{constraint}", "tags.seed": str(seed),
                       M.column(M.G3_FRACTION_SAMPLED): fraction,
                       M.column(M.G3_FRACTION_BOUND): fraction / 3, M.column(M.G3_ESTIMATE): fraction * 0.6,
                       M.column(M.G3_W1): 0.6, M.column(M.G3_W1_FLOOR): 0.05,
                       M.column(M.G3_LIPSCHITZ_SAMPLED): 1.0}
                if references:
                    row.update({M.column(M.G3_FRACTION_BASELINE): base, M.column(M.G3_FRACTION_EXACT): exact})
                rows.append(row)
    return ClaimData(pd.DataFrame(rows), NO_CURVES)


def test_g3_reads_the_share_of_the_gap_closed_between_the_cone_and_the_exact_potential() -> None:
    """The claim's world (clipping's critic at the cone, the penalty's at the exact potential) reads reproduced, with
    the statistic on its scale (1: the whole gap); both at the cone reads not reproduced by equivalence."""
    paper = verdict("G3", g3_data({"clip": [-0.05, 0.0, 0.05], "gp": [0.95, 1.0, 1.02]}))
    assert paper.word == "reproduced" and paper.robustness == "robust", paper.reason()
    assert paper.primary.value == pytest.approx(0.99, abs=0.01)
    cone = verdict("G3", g3_data({"clip": [-0.05, 0.0, 0.05], "gp": [-0.04, 0.02, 0.03]}))
    assert cone.word == "not reproduced" and "equivalent" in cone.detail, cone.reason()


def test_g3_a_perfect_penalty_critic_reads_reproduced_against_the_clipped_critics_the_review_measured() -> None:
    """Issue 41: against the clipped critics' fractions of W1 (0.49, 0.78, 0.69), a penalty critic at the exact
    potential's fraction could read at most 2.04, 1.29 and 1.44 times clipping's before, short of the factor 2
    asked; on the share of the gap it reads reproduced."""
    from wgan_repro.evaluate import metrics as M

    data = g3_data({"clip": 0.0, "gp": 1.0})
    runs = data.runs
    clipped = {"eight_gaussians": 0.49, "twenty_five_gaussians": 0.78, "swiss_roll": 0.69}
    for name, fraction in clipped.items():
        runs.loc[runs["tags.arm"] == f"{name}/clip", M.column(M.G3_FRACTION_SAMPLED)] = fraction
    v = verdict("G3", data)
    assert v.word == "reproduced", v.reason()
    assert all(p.lo > 0.5 for p in v.primary.parts)  # past the smallest effect of interest on every data set


def test_g3_says_the_size_of_an_effect_smaller_than_half_the_gap() -> None:
    crossing = verdict("G3", g3_data({"clip": [-0.02, 0.0, 0.02], "gp": [0.45, 0.55, 0.65]}))
    assert crossing.headline == "reproduced (size unresolved)", crossing.reason()
    inside = verdict("G3", g3_data({"clip": [-0.02, 0.0, 0.02], "gp": [0.2, 0.25, 0.3]}))
    assert inside.headline == "reproduced (smaller than the smallest effect of interest)", inside.reason()
    level = verdict("G3", g3_data({"clip": [-0.02, 0.0, 0.02], "gp": [-0.05, 0.0, 0.05]}))
    assert level.word == "not reproduced" and "equivalent" in level.detail, level.reason()


def test_g3_an_export_without_the_references_reads_inconclusive_and_says_why() -> None:
    v = verdict("G3", g3_data({"clip": 0.0, "gp": 1.0}, references=False))
    assert v.word == "inconclusive" and all(g.passed for g in v.gates), v.reason()
    assert "not logged" in v.primary.label and "no interval" in v.detail


def test_g3_references_reach_what_they_should_on_known_samples() -> None:
    """The exact potential is 1-Lipschitz and reaches W1 on the samples it was solved on; the trivial baseline fitted
    to a radial world finds its centre; on unit-variance noise around a ring the cone reaches about half of W1 and
    the exact potential, out of sample, nearly all of it."""
    from wgan_repro.claims.g3 import toy
    from wgan_repro.evaluate import potentials as P

    rng = np.random.default_rng(0)
    real = toy("eight_gaussians", rng, 600)
    fake = toy("eight_gaussians", rng, 600) + rng.standard_normal((600, 2))
    w1, f = P.exact_potential(real, fake)
    assert P.estimate(f, real, fake) == pytest.approx(w1, rel=1e-9)
    z, step = rng.standard_normal((50, 2)), 1e-6
    slope = np.hypot(f(z + [step, 0]) - f(z), f(z + [0, step]) - f(z)) / step
    assert np.allclose(slope, 1.0, atol=1e-4)
    shifted = rng.standard_normal((4000, 2)) + [0.5, -0.3]
    cone = P.trivial_baseline(shifted, shifted * 2 - [0.5, -0.3])  # the fake spreads out from (0.5, -0.3)
    assert cone(np.array([[0.5, -0.3]]))[0] == pytest.approx(0.0, abs=0.05)  # its apex, at -||x - c||
    x, y = toy("eight_gaussians", rng, 8192), toy("eight_gaussians", rng, 8192) + rng.standard_normal((8192, 2))
    assert 0.4 < P.estimate(P.trivial_baseline(real, fake), x, y) / w1 < 0.65
    assert P.estimate(f, x, y) / w1 > 0.85


def test_g3_controls_draw_the_data_sets_the_study_draws() -> None:
    """claims/g3.py's numpy copies of the three toy presets: the mode centres, their spread and the Swiss roll's
    noise and scale of data/toy.py at conf/data's values."""
    import torch
    from conftest import compose

    from wgan_repro.claims.g3 import TOY
    from wgan_repro.data import build_data

    for name, (centres, std, scale) in TOY.items():
        cfg, _ = compose("experiment=g3_fixed_generator", f"data={name}")
        data = build_data(cfg.data, torch.device("cpu"))
        assert (data.std, data.scale) == pytest.approx((std, scale))
        if centres is not None:
            rows = lambda m: np.array(sorted(map(tuple, np.round(m, 6))))  # noqa: E731 - the modes in one order
            assert np.allclose(rows(data.modes.numpy()), rows(centres * scale), atol=1e-5)


# --------------------------------------------------------------------------- the word, decided in one place
def outcome(word: str, detail: str = "") -> Any:
    from wgan_repro.claims import decision as D

    return D.Outcome("primary", word, "x", 1.0, 0.5, 1.5, 0.0, "above", 8, "t", detail)


@pytest.mark.parametrize("case", ["gate", "underpowered miss", "underpowered hit", "enough power", "no plan"])
def test_the_word_and_its_qualifiers_come_from_one_function(case: str) -> None:
    """engine.verdict: a missed gate outranks everything (power included); under the target power a miss reads
    'underpowered' and a hit carries the warning; at or above it, or with no plan, the primary's word stands."""
    from wgan_repro.claims import decision as D
    from wgan_repro.claims.engine import NOT_JUDGED, Gate, Power, Result, verdict

    low, high = Power(0.3, 12), Power(0.85, 5)
    passed, missed = [Gate("wgan", True, "ok")], [Gate("gan", False, "no")]
    if case == "gate":
        said = verdict(outcome(D.INCONCLUSIVE, "the lower bound does not clear the threshold"), [], missed, 0.75, low)
        assert (said.word, said.robustness) == (D.INCONCLUSIVE, NOT_JUDGED)
        assert said.detail == "budget: arm gan did not reach its regime"
    elif case == "underpowered miss":
        said = verdict(outcome(D.INCONCLUSIVE, "the lower bound does not clear the threshold"),
                       [outcome(D.INCONCLUSIVE)], passed, 0.75, low)
        assert (said.word, said.detail, said.robustness) == (D.INCONCLUSIVE, "underpowered: about 12 seeds needed",
                                                              "robust")
        result = Result(said.word, said.detail, outcome(said.word), [], said.robustness, passed)
        assert result.headline == "inconclusive (underpowered: about 12 seeds needed)"
    elif case == "underpowered hit":
        said = verdict(outcome(D.REPRODUCED), [outcome(D.NOT_REPRODUCED)], passed, 0.75, Power(0.3, None))
        assert (said.word, said.robustness) == (D.REPRODUCED, "contested")
        assert said.notes == ("significant at 30% power: its effect size is likely exaggerated (more than 200 seeds "
                              "needed for 80%)",)
    else:
        power = high if case == "enough power" else None
        for word in (D.REPRODUCED, D.NOT_REPRODUCED, D.INCONCLUSIVE):
            said = verdict(outcome(word, "why"), [outcome(word)], passed, 0.75, power)
            assert (said.word, said.detail, said.notes) == (word, "why", ())
