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


# ---------------------------------------------------------------- paired designs


def _brute_signed_rank_p(d):
    """Every sign assignment enumerated (the definition), average ranks for ties."""
    import itertools

    d = [x for x in d if x != 0]
    a = sorted(abs(x) for x in d)
    rank = {v: (a.index(v) + 1 + len(a) - a[::-1].index(v)) / 2 for v in a}
    rs = [rank[abs(x)] for x in d]
    w = sum(r for r, x in zip(rs, d) if x > 0)
    sums = [sum(r for r, s in zip(rs, signs) if s) for signs in itertools.product((0, 1), repeat=len(rs))]
    lo = sum(s <= w + 1e-9 for s in sums) / len(sums)
    hi = sum(s >= w - 1e-9 for s in sums) / len(sums)
    return w, min(1.0, 2 * min(lo, hi))


def test_signed_rank_textbook_values():
    assert stats.signed_rank([1, 2, 3, 4, 5]) == (15.0, 2 / 32)  # all positive: the two extreme assignments
    assert stats.signed_rank([-1, 2, 3, 4, 5]) == (14.0, 4 / 32)
    assert stats.signed_rank([0, 0]) is None and stats.signed_rank([]) is None


@pytest.mark.parametrize(
    "d",
    [
        [0.5, -1.2, 3.1, 0.5, 2.2, -0.1, 4.0],
        [1, 1, -1, 2, 2, -2, 3, 0, 3],
        [2.5, -3.0, 1.0, 4.5, -0.5, 6.0, 2.0, 3.5, -1.5, 5.0],
    ],
)
def test_signed_rank_matches_brute_force_with_ties_and_zeros(d):
    w, p = stats.signed_rank(d)
    bw, bp = _brute_signed_rank_p(d)
    assert w == pytest.approx(bw) and p == pytest.approx(bp)


def test_pair_deltas_and_their_ci():
    assert stats.pair_deltas_pct([100, 200], [110, 190]) == pytest.approx([10.0, -5.0])
    assert stats.pair_deltas_pct([100, 200], [110, 190], higher_is_better=False) == pytest.approx([-10.0, 5.0])
    assert stats.pair_deltas_pct([100], [1, 2]) is None and stats.pair_deltas_pct([0], [1]) is None
    lo, hi = stats.bootstrap_pairs_ci([4.0, 5.0, 6.0, 5.5, 4.5])
    assert 4.0 <= lo <= 5.0 <= hi <= 6.0
    assert stats.bootstrap_pairs_ci([1.0, 2.0, 3.0]) == stats.bootstrap_pairs_ci([1.0, 2.0, 3.0])  # seeded
    assert stats.bootstrap_pairs_ci([]) is None


def test_overlap_fraction():
    assert stats.overlap_fraction((0, 10), (0, 10)) == 1.0
    assert stats.overlap_fraction((0, 10), (5, 15)) == 0.5
    assert stats.overlap_fraction((0, 10), (20, 30)) == 0.0
    assert stats.overlap_fraction((0, 10), (2, 4)) == 0.2  # over the longer span: a short half is uneven
    assert stats.overlap_fraction((5, 5), (0, 1)) is None


def test_the_blocks_decision_banks_by_ranges_or_by_the_test_and_says_which():
    from geak.auditor.stats import aa_band, blocks_decision

    # three reps a side (the H100 recording's max_num_seqs gate): too few for the rank test, every rep above
    d = blocks_decision([3161.8, 3150.0, 3170.4], [3981.0, 3990.2, 3950.7], 4.92, min_reps_for_test=5, alpha=0.05)
    assert (d.passed, d.by, d.tested, round(d.delta_pct, 2)) == (True, "ranges", False, 25.91)
    # ranges overlap by one rep but eight reps a side clear the band by the test
    ref, cand = [100, 101, 99, 100, 102, 98, 100, 115], [120, 121, 119, 120, 122, 118, 120, 99]
    d = blocks_decision(ref, cand, 5.0, min_reps_for_test=5, alpha=0.05)
    assert (d.passed, d.by, d.non_overlap, d.tested) == (True, "test", False, True)
    assert not blocks_decision(ref, cand, 25.0, min_reps_for_test=5, alpha=0.05).passed  # the band decides
    assert aa_band([2.4, 4.9], [3174.5, 3044.9]) == 4.9  # within-leg spread the wider
    assert round(aa_band([0.5, 0.7], [100.0, 104.0]), 6) == 4.0  # the gap between lifetimes the wider
