# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The suite's own chi-square test (no scipy): exact where closed forms exist, calibrated
on simulated counts, so the stated false-failure rate of the distribution tests holds."""
import math
import random

import pytest

import diffharness as h


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 10.0, 30.0, 80.0, 300.0])
def test_chi2_sf_matches_closed_forms(x):
    assert h.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10, abs=1e-300)
    assert h.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert h.chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9, abs=1e-300)


def test_chi2_sf_at_the_critical_values_of_alpha_1e_4():
    # chi-square quantiles for upper tail 1e-4 (standard tables)
    for df, critical in ((1, 15.1367), (2, 18.4207), (3, 21.1075), (5, 25.7448), (10, 35.5640)):
        assert h.chi2_sf(critical, df) == pytest.approx(1e-4, rel=2e-4)


def test_chi_square_merges_small_bins_and_flags_impossible_choices():
    fit = h.chi_square({"a": 3, "b": 500, "c": 497, "z": 1}, {"a": 0.2, "b": 49.9, "c": 49.9, "z": 0.0})
    assert fit.impossible == {"z": 1}
    assert fit.df == 1  # 'a' (2 expected) merged into the next smallest bin
    assert sorted(len(names) for names, _, _ in fit.bins) == [1, 2]


def test_false_failure_rate_on_simulated_counts_is_as_stated():
    """Counts drawn from the chances themselves fail at about the nominal rate."""
    rng = random.Random(1234)
    chances = {"a": 0.5, "b": 13.5, "c": 33.0, "d": 53.0}
    names, weights = list(chances), list(chances.values())
    trials, alpha, failures = 2000, 0.01, 0
    for _ in range(trials):
        counts = dict.fromkeys(names, 0)
        for name in rng.choices(names, weights, k=600):
            counts[name] += 1
        if h.chi_square(counts, chances).p_value < alpha:
            failures += 1
    # binomial(2000, 0.01): mean 20, sd 4.4; this seed is fixed, the bound is loose
    assert 5 <= failures <= 40, failures
