"""Each claim's rule (claims/<id>.py through engine.judge) on made-up exports whose answer is known: each word is
reachable from the thresholds its YAML commits, an arm that missed its regime makes the word "inconclusive
(budget)", never "not reproduced"; a common trend in time is not taken for an estimate that tracks quality; the
measures are validated on synthetic cases (a rotation rotates, a run broken from its first evaluation is the worst)."""

from __future__ import annotations

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


def test_f1_is_inconclusive_when_the_critic_never_left_its_initial_scale() -> None:
    v = verdict("F1", f1_data(slope=0.05))  # K / K_max 0.04: under the gate's tenth
    assert v.headline == "inconclusive (budget: arm study did not reach its regime)", v.reason()


# --------------------------------------------------------------------------- F2: modes
def f2_data(wgan_modes: list[float], gan_modes: list[float], w1_over_floor: float = 4.0) -> ClaimData:
    """WGAN runs spread (dominant share 1 / modes), GAN runs held by one mode at a time that moves every evaluation;
    the modes curve holds each run's count at its last 10 evaluations."""
    runs, curves = [], []
    for arm, modes in (("wgan", wgan_modes), ("gan", gan_modes)):
        for seed, m in enumerate(modes):
            run_id = f"{arm}-{seed}"
            share = 0.9 if arm == "gan" else 1 / max(m, 1)
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "metrics.eval/modes": float(m), "metrics.eval/high_quality": 0.8,
                         "metrics.eval/w1": 0.05 * w1_over_floor, "metrics.eval/w1_floor": 0.05,
                         "metrics.eval/dominant_share": share})
            for k, step in enumerate(range(100, 1100, 100)):
                curves += [{"run_id": run_id, "key": "eval/dominant_mode", "step": step,
                            "value": float(k % 8 if arm == "gan" else 0)},
                           {"run_id": run_id, "key": "eval/dominant_share", "step": step, "value": share},
                           {"run_id": run_id, "key": "eval/modes", "step": step, "value": float(m)}]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f2_counts_rotations_and_reproduces_when_wgan_covers_more_modes() -> None:
    v = verdict("F2", f2_data([8, 8, 8, 8, 7], [1, 1, 1, 2, 1]))
    assert v.word == "reproduced", v.reason()
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


# --------------------------------------------------------------------------- F3
def f3_data(ratio: float, r2: float) -> ClaimData:
    rows = [{"run_id": f"s{seed}", "status": "FINISHED", "tags.arm": "study", "tags.seed": str(seed),
             "metrics.fig3/critic_grad_at_fake": 0.1,
             "metrics.fig3/minimax_grad_at_fake": 0.1 * ratio * (1 + seed / 10),
             "metrics.fig3/nonsat_grad_at_fake": 9.0, "metrics.fig3/critic_linearity_r2": r2 - seed / 1000,
             "metrics.fig3/critic_slope_max": 1.3} for seed in range(5)]
    return ClaimData(pd.DataFrame(rows), NO_CURVES)


def test_f3_each_word() -> None:
    assert verdict("F3", f3_data(1e-6, 0.97)).word == "reproduced"
    assert verdict("F3", f3_data(0.5, 0.97)).word == "not reproduced"  # the discriminator does not saturate
    assert verdict("F3", f3_data(1e-6, 0.5)).word == "not reproduced"  # the critic is not linear


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


def test_f5_reproduced_when_only_the_wgan_estimate_tracks_quality() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", -1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "reproduced", v.reason()
    assert (v.tables["per_run"].query("arm == 'gan'")["rho_diff"] < -0.9).all()


def test_f5_not_reproduced_when_the_gan_estimate_tracks_quality_too() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", 1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason()


def test_f5_a_floor_gate_holds_back_runs_that_improved_but_stayed_far_from_their_floor() -> None:
    data = tracking_data({"gan": ("estimate/js", -1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)})  # end 20-30 x floor
    rule = {k: v for k, v in load_claim("F5").rule.items() if k != "floor_factor"}
    near = judge("F5", {**rule, "floor_factor": 35.0}, data)
    assert near.word == "reproduced", near.reason()
    far = judge("F5", {**rule, "floor_factor": 15.0}, data)
    assert far.headline == ("inconclusive (budget: arm gan did not reach its regime; arm wgan did not reach its "
                            "regime)"), far.reason()
    assert "final / floor" in far.reason() and "and 15 x floor" in far.reason()
    unset = judge("F5", rule, data)  # without the key: the first edition's gate, quality halved
    assert unset.word == "reproduced" and "final / floor" not in unset.reason()


# --------------------------------------------------------------------------- F6: weak generators
ARMS = [f"{g}/{o}" for g in ("control", "fig7", "fig8") for o in ("wgan", "gan", "gan_matched")]
GOOD = {"control/wgan": 600, "control/gan": 620, "control/gan_matched": 580,
        "fig7/wgan": 700, "fig7/gan": 2000, "fig7/gan_matched": 1800,
        "fig8/wgan": 650, "fig8/gan": 2500, "fig8/gan_matched": 2200}


def f6_data(quality: dict[str, float], classes: dict[str, int] | None = None,
            failed: tuple[str, ...] = (), spread: dict[str, float] | None = None) -> ClaimData:
    """Five seeds per arm; an arm's classifier FID is its value times (1 + seed / 20), floor 10, KL 0.1; recall and
    coverage 0.3 + seed / 100 (`spread`: the arm's value instead of 0.3)."""
    rows = []
    for arm in ARMS:
        for seed in range(5):
            rows.append({"run_id": f"{arm}-{seed}", "status": "FAILED" if arm in failed else "FINISHED",
                         "tags.arm": arm, "tags.seed": str(seed), "tags.quality": "eval/fid_mnist",
                         "tags.quality_floor": "eval/fid_mnist_floor",
                         "metrics.eval/fid_mnist": quality[arm] * (1 + seed / 20),
                         "metrics.eval/fid_mnist_floor": 10.0,
                         "metrics.eval/classes": float((classes or {}).get(arm, 10)),
                         "metrics.eval/kl_classes": 0.1,
                         "metrics.eval/recall_mnist": (spread or {}).get(arm, 0.3) + seed / 100,
                         "metrics.eval/coverage_mnist": (spread or {}).get(arm, 0.3) + seed / 100})
    return ClaimData(pd.DataFrame(rows), NO_CURVES)


def test_f6_reproduced_when_the_gan_is_much_worse_on_both_weak_generators_and_wgan_learns() -> None:
    v = verdict("F6", f6_data(GOOD))
    assert v.word == "reproduced", v.reason()
    assert all(g.passed for g in v.gates)


def test_f6_not_reproduced_when_a_gan_arm_matches_wgan_on_a_weak_generator() -> None:
    v = verdict("F6", f6_data({**GOOD, "fig8/gan_matched": 600}))
    assert v.word == "not reproduced", v.reason()


def test_f6_a_failed_gan_run_counts_as_worse_than_any_finished() -> None:
    v = verdict("F6", f6_data({**GOOD, "fig7/gan": 500}, failed=("fig7/gan",)))
    assert v.word == "reproduced", v.reason()
    failed = v.tables["per_run"].query("arm == 'fig7/gan'")["quality"]
    assert (failed > v.tables["per_run"].query("status == 'FINISHED'")["quality"].max()).all()


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
    same = {o.name: o for o in verdict("F6", f6_data(GOOD)).variants}  # every arm's recall alike: equivalent
    assert same["recall"].word == same["coverage"].word == "not reproduced", same["recall"].text()
    failed = verdict("F6", f6_data(GOOD, failed=("fig8/gan",), spread={"fig8/gan": 0.9}))
    assert (failed.tables["per_run"].query("arm == 'fig8/gan'")[["recall", "coverage"]] == 0).all().all()


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
    assert (v.tables["per_run"].query("group == 'rmsprop'")["u"] == 0).all()  # a run that only improves: U = 0


def test_f7_not_reproduced_when_rmsprop_is_as_unstable() -> None:
    v = verdict("F7", f7_data({"adam_b0.5": 4.0, "adam_b0.9": 4.0, "rmsprop": 4.0}))
    assert v.word == "not reproduced", v.reason()


def test_f7_a_run_broken_from_its_first_evaluation_is_the_worst_and_a_broken_baseline_rate_is_left_out() -> None:
    v = verdict("F7", f7_data({}, broken=("adam_b0.9@5e-05", "adam_b0.9@0.0005")))
    table = v.tables["per_run"]
    assert (table.query("group == 'adam_b0.9'")["u"] == 0).all()  # flat: no increase at all, yet ...
    assert table.query("group == 'adam_b0.9'")["broken"].all()  # ... 100 x its floor: it never trained
    assert (table.query("group == 'adam_b0.9'")["log_u"] > table.query("not broken")["log_u"].max()).all()
    gated = verdict("F7", f7_data({"adam_b0.9": 4.0}, broken=("rmsprop@0.0005",)))
    subs = gated.tables["sub_claims"].set_index("sub_claim")
    assert subs.loc["high learning rates (RMSProp broken too)", "learning_rates"] == "0.0005"
    assert "learning rates 5e-05 of" in gated.gates[0].text


# --------------------------------------------------------------------------- G1-G3: the case against clipping
def g1_data(slopes: dict[str, float], gp_learned: bool = True) -> ClaimData:
    """Per arm, 3 seeds: 13 layers' gradient norms 10^(slope x layer) (+ seeded wiggles) at 3 evaluations; W1 falls
    by 4x (or stays, when the penalty did not learn)."""
    runs, curves = [], []
    for arm, s in slopes.items():
        for seed in range(3):
            rng = np.random.default_rng(seed)
            run_id = f"{arm}-{seed}"
            w1 = [1.0, 0.5, 0.25] if (arm != "gp" or gp_learned) else [1.0, 1.0, 1.0]
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "metrics.eval/w1": w1[-1], "metrics.eval/w1_floor": 0.05})
            for step, value in zip((50, 100, 150), w1):
                curves.append({"run_id": run_id, "key": "eval/w1", "step": step, "value": value})
                for layer in range(1, 14):
                    norm = 10 ** (s * layer + rng.normal(0, 0.02))
                    curves.append({"run_id": run_id, "key": f"critic/grad_norm/layer_{layer:02d}", "step": step,
                                   "value": norm})
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_g1_reads_explosion_vanishing_and_flatness_from_the_layers() -> None:
    paper = {"clip_0.1": -0.5, "clip_0.01": 0.6, "clip_0.001": 1.2, "gp": 0.0}
    assert verdict("G1", g1_data(paper)).word == "reproduced"
    assert verdict("G1", g1_data({**paper, "gp": 0.5})).word == "not reproduced"  # the penalty's gradients vanish too
    untrained = verdict("G1", g1_data(paper, gp_learned=False))
    assert untrained.headline == "inconclusive (budget: arm gp did not reach its regime)"


def test_g3_compares_the_fraction_of_w1_reached() -> None:
    rows = []
    for data in ("eight_gaussians", "twenty_five_gaussians", "swiss_roll"):
        for constraint, fraction in (("clip", 0.1), ("gp", 0.9)):
            for seed in range(3):
                rows.append({"run_id": f"{data}-{constraint}-{seed}", "status": "FINISHED",
                             "tags.arm": f"{data}/{constraint}", "tags.seed": str(seed),
                             "metrics.g3/fraction_sampled": fraction * (1 + seed / 10),
                             "metrics.g3/fraction_bound": fraction / 50, "metrics.g3/estimate": fraction,
                             "metrics.g3/w1": 1.0, "metrics.g3/w1_floor": 0.1, "metrics.g3/lipschitz_sampled": 1.0})
    v = verdict("G3", ClaimData(pd.DataFrame(rows), NO_CURVES))
    assert v.word == "reproduced", v.reason()
    assert v.primary.value == pytest.approx(9.0, rel=0.05)


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
