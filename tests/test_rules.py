"""Decision rules on made-up exports (claims/rules.py): each verdict word is reachable, from the thresholds the
claim file commits; a broken control makes a claim inconclusive instead of deciding it; a common trend in time is
not taken for an estimate that tracks quality."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from wgan_repro.claims import load_claim
from wgan_repro.claims.data import ClaimData
from wgan_repro.claims.rules import RULES

ARMS = [f"{g}/{o}" for g in ("control", "fig7", "fig8") for o in ("wgan", "gan", "gan_matched")]


def f6_data(quality: dict[str, float], classes: dict[str, int] | None = None,
            failed: tuple[str, ...] = ()) -> ClaimData:
    """Five seeds per arm; an arm's classifier FID is its value times (1 + seed / 100), floor 10, KL 0.1."""
    rows = []
    for arm in ARMS:
        for seed in range(5):
            rows.append({"run_id": f"{arm}-{seed}", "status": "FAILED" if arm in failed else "FINISHED",
                         "tags.arm": arm, "tags.seed": str(seed), "tags.quality": "eval/fid_mnist",
                         "tags.quality_floor": "eval/fid_mnist_floor",
                         "metrics.eval/fid_mnist": quality[arm] * (1 + seed / 100),
                         "metrics.eval/fid_mnist_floor": 10.0,
                         "metrics.eval/classes": float((classes or {}).get(arm, 10)),
                         "metrics.eval/kl_classes": 0.1})
    return ClaimData(pd.DataFrame(rows), pd.DataFrame(columns=["run_id", "key", "step", "value"]))


def verdict(cid: str, data: ClaimData):
    claim = load_claim(cid)
    return RULES[claim.rule.name](data, claim.rule)


def f6(data: ClaimData):
    return verdict("F6", data)


# a control at 60 x its floor still learns (every class): what a CPU budget reaches
GOOD = {"control/wgan": 600, "control/gan": 620, "control/gan_matched": 580,
        "fig7/wgan": 700, "fig7/gan": 2000, "fig7/gan_matched": 1800,
        "fig8/wgan": 650, "fig8/gan": 2500, "fig8/gan_matched": 2200}


def test_f6_reproduced_when_the_gan_is_worse_on_both_weak_generators_and_the_control_learns() -> None:
    v = f6(f6_data(GOOD))
    assert v.word == "reproduced", v.reason
    assert v.numbers["control_learns"] and max(v.numbers["p_holm"]) < 0.05
    assert "wgan 100%, gan 100%" in v.reason


def test_f6_not_reproduced_when_a_gan_arm_matches_wgan_on_a_weak_generator() -> None:
    v = f6(f6_data({**GOOD, "fig8/gan_matched": 600}))
    assert v.word == "not reproduced", v.reason


def test_f6_a_failed_gan_run_counts_as_infinitely_bad() -> None:
    v = f6(f6_data({**GOOD, "fig7/gan": 500}, failed=("fig7/gan",)))
    assert v.word == "reproduced", v.reason
    assert np.isinf(v.tables["per_run"].query("arm == 'fig7/gan'")["quality"]).all()


def test_f6_inconclusive_when_the_control_gan_collapses_or_fails() -> None:
    collapsed = f6(f6_data(GOOD, classes={"control/gan": 6}))
    assert collapsed.word == "inconclusive" and "control" in collapsed.reason and "gan 0%" in collapsed.reason
    failed = f6(f6_data(GOOD, failed=("control/wgan",)))
    assert failed.word == "inconclusive" and "wgan 0%" in failed.reason
    unmeasured = f6_data(GOOD)
    unmeasured.runs.loc[unmeasured.runs["tags.arm"] == "control/gan", "metrics.eval/classes"] = np.nan
    v = f6(unmeasured)  # a run without the classifier's measures has not shown that it learned
    assert v.word == "inconclusive" and "wgan 100%, gan 0%" in v.reason


# --------------------------------------------------------------------------- F4 / F5: does the estimate track quality
def tracking_data(arms: dict[str, tuple[str, float, float]], seeds: int = 5, iterations: int = 2000,
                  every: int = 100) -> ClaimData:
    """Per arm (estimate key, follow, trend): quality falls from 2,000 towards 500 with seeded wiggles at every
    evaluation; the estimate is `follow` x quality / 1,000 (its wiggles included) plus `trend` x a falling line, held
    from each evaluation to the next (so its running median at an evaluation is that evaluation's value). With
    follow 0 the estimate's first differences are all equal: no rank correlation with quality's at all."""
    runs, curves = [], []
    for arm, (key, follow, trend) in arms.items():
        for seed in range(seeds):
            rng = np.random.default_rng(100 * len(runs) + seed)
            steps = np.arange(every, iterations + 1, every)
            quality = 500 + 1500 * np.exp(-steps / 600) + rng.normal(0, 40, len(steps)) + 30 * seed
            line = 1 - steps / iterations
            at_eval = follow * quality / 1000 + trend * line
            run_id = f"{arm}-{seed}"
            its = np.arange(1, iterations + 1)
            nearest = np.clip(np.rint(its / every).astype(int) - 1, 0, len(steps) - 1)
            estimate = at_eval[nearest] + rng.normal(0, 1e-4, iterations)
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "tags.estimate": key, "tags.quality": "eval/fid_mnist",
                         "tags.quality_floor": "eval/fid_mnist_floor", "metrics.eval/fid_mnist": quality[-1],
                         "metrics.eval/fid_mnist_floor": 10.0})
            curves += [{"run_id": run_id, "key": "eval/fid_mnist", "step": int(s), "value": v}
                       for s, v in zip(steps, quality)]
            curves += [{"run_id": run_id, "key": key, "step": int(s), "value": v} for s, v in zip(its, estimate)]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f4_reproduced_when_the_estimate_follows_quality_within_and_across_runs() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 1.0, 0.0), "mlp_g": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "reproduced", v.reason
    assert (v.tables["per_run"]["rho_diff"] > 0.9).all() and v.numbers["rho_across"] > 0.9


def test_f4_a_common_trend_alone_is_not_tracking() -> None:
    """An estimate that only falls with time correlates with quality's levels, not with its wiggles."""
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 0.0, 1.0), "mlp_g": ("estimate/em", 0.0, 1.0)}))
    assert v.word != "reproduced", v.reason
    assert (v.tables["per_run"]["rho"] > 0.8).all() and abs(v.tables["per_run"]["rho_diff"].median()) < 0.5


def test_f4_not_reproduced_when_the_estimate_moves_against_quality() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", -1.0, 0.0), "mlp_g": ("estimate/em", -1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason


def test_f4_inconclusive_below_twenty_evaluations() -> None:
    v = verdict("F4", tracking_data({"dcgan": ("estimate/em", 1.0, 0.0)}, every=200))
    assert v.word == "inconclusive" and "fewer than 20 evaluations" in v.reason


def test_f5_reproduced_when_only_the_wgan_estimate_tracks_quality() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", -1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "reproduced", v.reason
    assert v.numbers["gan_improved"] == 5
    assert (v.tables["per_run"].query("arm == 'gan'")["rho_diff"] < -0.9).all()


def test_f5_not_reproduced_when_the_gan_estimate_tracks_quality_too() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", 1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason


# --------------------------------------------------------------------------- F2: modes and rotations
def f2_data(wgan_modes: list[int], gan_modes: list[int]) -> ClaimData:
    """WGAN runs spread (dominant share 1/modes), GAN runs held by one mode at a time that moves every evaluation."""
    runs, curves = [], []
    for arm, modes in (("wgan", wgan_modes), ("gan", gan_modes)):
        for seed, m in enumerate(modes):
            run_id = f"{arm}-{seed}"
            share = 0.9 if arm == "gan" else 1 / m
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "metrics.eval/modes": float(m), "metrics.eval/high_quality": 0.8, "metrics.eval/w1": 0.2,
                         "metrics.eval/w1_floor": 0.05, "metrics.eval/dominant_share": share})
            for k, step in enumerate(range(100, 1100, 100)):
                curves += [{"run_id": run_id, "key": "eval/dominant_mode", "step": step,
                            "value": float(k % 8 if arm == "gan" else 0)},
                           {"run_id": run_id, "key": "eval/dominant_share", "step": step, "value": share}]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f2_counts_rotations_and_reproduces_when_wgan_covers_all_modes() -> None:
    v = verdict("F2", f2_data([8, 8, 8, 8, 7], [1, 1, 1, 2, 1]))
    assert v.word == "reproduced", v.reason
    per_run = v.tables["per_run"].set_index("arm")
    assert (per_run.loc["gan", "rotations"] == 9).all() and (per_run.loc["wgan", "rotations"] == 0).all()


def test_f2_not_reproduced_when_wgan_beats_the_gan_but_misses_modes() -> None:
    """F2's real outcome: a significant difference, but WGAN's median run covers 5 of 8 modes, not 8."""
    v = verdict("F2", f2_data([5, 5, 4, 6, 5], [1, 0, 1, 1, 0]))
    assert v.word == "not reproduced" and "WGAN median 5" in v.reason, v.reason


# --------------------------------------------------------------------------- F7: momentum and instability
def f7_data(blow_ups: dict[str, int], runs_per_arm: int = 6) -> ClaimData:
    """W1 falls from 1 to 0.1 over 20 evaluations; in the runs of an arm named in `blow_ups` it jumps up from
    that evaluation on (W1 5), and the share of steps whose cosine with the gradient is negative is 0.6 over the 3
    evaluation intervals that end there (0 elsewhere)."""
    runs, curves = [], []
    steps = np.arange(100, 2100, 100)
    for arm in ("adam_b0.5@lr1e-4", "adam_b0.9@lr1e-4", "rmsprop@lr5e-5"):
        for seed in range(runs_per_arm):
            run_id, at = f"{arm}-{seed}", blow_ups.get(arm.split("@")[0])
            w1 = np.linspace(1.0, 0.1, len(steps))
            share = np.zeros(2000)
            if at is not None:
                w1[at:] = 5.0
                share[steps[at - 3]:steps[at]] = 0.6  # iterations (steps[at-3], steps[at]], 0-based
            runs.append({"run_id": run_id, "status": "FINISHED", "tags.arm": arm, "tags.seed": str(seed),
                         "params.optimizer.lr": float(arm.split("@lr")[1]), "params.eval.every": "100",
                         "metrics.eval/w1": w1[-1], "metrics.eval/w1_floor": 0.05})
            curves += [{"run_id": run_id, "key": "eval/w1", "step": int(s), "value": v} for s, v in zip(steps, w1)]
            curves += [{"run_id": run_id, "key": "optim/negative_cosine_share", "step": i + 1, "value": v}
                       for i, v in enumerate(share)]
    return ClaimData(pd.DataFrame(runs), pd.DataFrame(curves))


def test_f7_reproduced_when_momentum_runs_blow_up_after_negative_cosines() -> None:
    v = verdict("F7", f7_data({"adam_b0.5": 12, "adam_b0.9": 10}))
    assert v.word == "reproduced", v.reason
    assert v.numbers["momentum_runs_with_events"] == 12 and v.numbers["baseline_runs_with_events"] == 0
    assert v.numbers["share_inside"] == pytest.approx(0.6) and v.numbers["share_outside"] == 0


def test_f7_not_reproduced_when_rmsprop_blows_up_as_often() -> None:
    v = verdict("F7", f7_data({"adam_b0.5": 12, "adam_b0.9": 10, "rmsprop": 8}))
    assert v.word == "not reproduced", v.reason


def test_f7_no_event_is_inconclusive() -> None:
    v = verdict("F7", f7_data({}))
    assert v.word == "inconclusive" and "no instability event" in v.reason


def test_f5_figure_draws_each_estimate_on_its_own_axis(tmp_path) -> None:
    from PIL import Image

    from wgan_repro.claims.section import figure

    data = tracking_data({"gan": ("estimate/js", 0.0, 1.0), "wgan": ("estimate/em", 1.0, 0.0)})
    claim = load_claim("F5")
    path = figure("F5", claim.rule, data, verdict("F5", data), tmp_path / "figure.png")
    width, height = Image.open(path).size
    assert width > 1.4 * height  # three panels a row: the JS estimate, the EM estimate, quality; the strips below
