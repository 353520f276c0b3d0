"""The statistics of a comparison over seeds, against values computed by hand."""

import math

import pytest

from stssl.report.stats import CONTRADICTED, HOLDS, compare, verdict_text


def test_three_seeds_of_one_two_three_points():
    c = compare([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.302653: half width 4.302653 / sqrt(3) = 2.484138
    assert (c.mean, c.sd, c.n, c.ahead) == (2.0, 1.0, 3, 3)
    assert c.low == pytest.approx(2 - 2.484138, abs=1e-6) and c.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert c.verdict(+1) == "not resolved" and c.verdict(-1) == "not resolved"
    # 4 seeds: t(0.975, 3) = 3.182446, 3.182446 / 2 = 1.591 < 2; 3 seeds were not enough (2.484 > 2)
    assert c.seeds_needed() == 4
    assert verdict_text(c, +1) == "not resolved at 3 seeds (the observed spread would need 4)"
    assert (
        c.describe(+1, " pt") == "+2.00 pt [-0.48, +4.48] (3/3 seeds ahead): not resolved at 3 seeds "
        "(the observed spread would need 4)"
    )


def test_an_interval_that_excludes_zero_holds_on_its_side_and_contradicts_the_other():
    c = compare([1.0, 1.5, 2.0, 2.5, float("nan")])  # a seed without both sides is left out
    # mean 1.75, sd 0.645497, t(0.975, 3) = 3.182446: half width 3.182446 * 0.645497 / 2 = 1.027130
    assert c.n == 4 and c.low == pytest.approx(0.722870, abs=1e-5) and c.high == pytest.approx(2.777130, abs=1e-5)
    assert c.verdict(+1) == HOLDS and c.verdict(-1) == CONTRADICTED
    assert verdict_text(c, -1) == "contradicted"
    mixed = compare([-1.0, 0.5, -2.0])
    assert mixed.ahead == 1 and mixed.mean == pytest.approx(-0.833333, abs=1e-6)


def test_one_seed_or_none_resolves_nothing():
    one = compare([0.7])
    assert one.n == 1 and math.isnan(one.low) and one.verdict(+1) == "not resolved" and one.seeds_needed() is None
    assert verdict_text(one, +1) == "not resolved at 1 seed" and one.describe() == "+0.70 (1/1 seeds ahead)"
    none = compare([])
    assert none.n == 0 and math.isnan(none.mean) and none.verdict(-1) == "not resolved"
    same = compare([0.5, 0.5])  # no spread: two seeds settle it
    assert same.verdict(+1) == HOLDS and same.seeds_needed() == 2
    assert compare([1.0, -1.0]).seeds_needed() is None  # a zero mean needs infinitely many


def test_a_claim_of_about_equal_holds_inside_the_band_and_is_contradicted_wholly_outside():
    c = compare([1.0, 2.0, 3.0])  # [-0.484, 4.484], as above
    assert c.within(5.0) == HOLDS and verdict_text(c, within=5.0) == "holds"
    assert compare([10.0, 11.0, 12.0]).within(5.0) == CONTRADICTED  # [8.516, 13.484]: wholly above +5
    assert c.within(1.0) == "not resolved"
    # the mean is 1 from the band's edge: 7 seeds give t(0.975, 6) / sqrt(7) = 2.446912 / 2.645751 = 0.925 < 1,
    # 6 give t(0.975, 5) / sqrt(6) = 2.570582 / 2.449490 = 1.049 > 1
    assert c.seeds_needed(1.0) == 7
    assert verdict_text(c, within=1.0) == "not resolved at 3 seeds (the observed spread would need 7)"
    assert compare([0.5, 1.5]).seeds_needed(1.0) is None  # a mean on the edge: no number of seeds settles it
