import math

import pytest

from geak.auditor import stats


def test_median_and_mad_of_seed_reps():
    xs = [966.36, 1004.05, 1004.71]
    assert stats.median(xs) == 1004.05
    assert stats.mad(xs) == pytest.approx(0.66)


def test_spread_pct_matches_seed_incident():
    # FAILURES.md B2: reps 966.36, 1004.05, 1004.71 -> spread 3.82%
    assert stats.spread_pct([966.36, 1004.05, 1004.71]) == pytest.approx(3.82, abs=0.005)


def test_empty_input_is_none_not_zero():
    assert stats.median([]) is None
    assert stats.spread_pct([]) is None
    assert stats.delta_pct(None, 3.0) is None
    assert stats.non_overlap([], [1.0]) is None


def test_delta_pct_respects_direction():
    assert stats.delta_pct(100, 110) == pytest.approx(10.0)
    assert stats.delta_pct(100, 110, higher_is_better=False) == pytest.approx(-10.0)


def test_non_overlap():
    assert stats.non_overlap([1, 2, 3], [3.5, 4]) is True
    assert stats.non_overlap([1, 2, 3], [2.5, 4]) is False
    assert stats.non_overlap([10, 11], [8, 9], higher_is_better=False) is True


def test_outlier_vs_rest_flags_cold_first_rep():
    is_out, centre, half = stats.outlier_vs_rest([966.36, 1004.05, 1004.71], 0, k=5, floor=5.0)
    assert is_out and centre == pytest.approx(1004.38)
    assert not stats.outlier_vs_rest([1003.9, 1004.05, 1004.71], 0, k=5, floor=5.0)[0]


def test_mann_whitney_separated_samples_are_significant():
    u, p = stats.mann_whitney_u([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
    assert u == 0.0
    # exact two-sided p for n1=n2=6 full separation is 0.0022; the normal approximation with
    # continuity correction gives ~0.005
    assert p < 0.01


def test_mann_whitney_identical_samples_not_significant():
    _, p = stats.mann_whitney_u([5, 5, 5], [5, 5, 5])
    assert p == 1.0


def test_bootstrap_ci_is_seeded_and_brackets_the_delta():
    ref = [100.0, 100.2, 99.9, 100.1, 100.0]
    cand = [110.0, 110.1, 109.8, 110.3, 110.0]
    a = stats.bootstrap_delta_ci(ref, cand)
    b = stats.bootstrap_delta_ci(ref, cand)
    assert a == b
    assert a[0] < 10.0 < a[1] and a[0] > 9.0


def test_cosine():
    assert stats.cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert stats.cosine([1, 0], [0, 1]) == pytest.approx(0.0)
    assert stats.cosine([0, 0], [1, 1]) is None


def test_rel_close():
    assert stats.rel_close(100.0, 100.4, 0.005)
    assert not stats.rel_close(100.0, 101.0, 0.005)
    assert stats.rel_close(None, None, 0.1) and not stats.rel_close(None, 1.0, 0.1)
    assert not math.isnan(stats.percentile([1, 2, 3], 50))
