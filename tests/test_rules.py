"""Decision rules on made-up exports (claims/rules.py): each verdict word is reachable, from the thresholds the
claim file commits, and a broken control makes a claim inconclusive instead of deciding it."""

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


def f6(data: ClaimData):
    claim = load_claim("F6")
    return RULES[claim.rule.name](data, claim.rule)


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
