"""Group-sequential boundaries (claims/sequential.py) against Jennison and Turnbull's tables (2000, Tables 2.1 and
2.3) and Lan and DeMets' spending, and their error rate by simulation of the canonical joint distribution."""

from __future__ import annotations

import numpy as np
import pytest

from wgan_repro.claims import sequential as S

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
