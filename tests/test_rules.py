"""Decision rules on made-up exports (claims/rules.py): each verdict word is reachable, from the thresholds the
claim file commits; a broken control makes a claim inconclusive instead of deciding it; a common trend in time is
not taken for an estimate that tracks quality."""

from __future__ import annotations

import numpy as np
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


# --------------------------------------------------------------------------- F4 / F5: does the estimate track quality
def tracking_data(arms: dict[str, tuple[str, float, float]], seeds: int = 5, iterations: int = 2000,
                  every: int = 100) -> ClaimData:
    """Per arm (estimate key, follow, trend): quality falls from 2,000 towards 500 with seeded wiggles at every
    evaluation; the estimate is `follow` x quality / 1,000 (its wiggles included) plus `trend` x a falling line, held
    from each evaluation to the next (so its running median at an evaluation is that evaluation's value)."""
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


def test_f5_reproduced_when_only_the_gan_estimate_ignores_quality() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", 0.0, 1.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "reproduced", v.reason
    assert v.numbers["gan_improved"] == 5


def test_f5_not_reproduced_when_the_gan_estimate_tracks_quality_too() -> None:
    v = verdict("F5", tracking_data({"gan": ("estimate/js", 1.0, 0.0), "wgan": ("estimate/em", 1.0, 0.0)}))
    assert v.word == "not reproduced", v.reason
