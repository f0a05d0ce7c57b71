"""Statistics the auditor re-derives numbers with. Small pure functions over plain sequences.

No function here reads a file or knows what a leg is. Empty input returns None, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable, Sequence

import numpy as np


def _arr(xs: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(xs, dtype=float)


def median(xs: Sequence[float] | np.ndarray) -> float | None:
    return float(np.median(_arr(xs))) if len(xs) else None


def mad(xs: Sequence[float]) -> float | None:
    """Median absolute deviation (unscaled)."""
    if not len(xs):
        return None
    a = _arr(xs)
    return float(np.median(np.abs(a - np.median(a))))


def percentile(xs: Sequence[float] | np.ndarray, q: float) -> float | None:
    """Linear-interpolated percentile, q in [0, 100] (numpy's default, as vLLM's client uses)."""
    return float(np.percentile(_arr(xs), q)) if len(xs) else None


def spread_pct(xs: Sequence[float]) -> float | None:
    """(max - min) / median, in percent."""
    if not len(xs):
        return None
    m = median(xs)
    if not m:
        return None
    return (max(xs) - min(xs)) / abs(m) * 100.0


def delta_pct(reference: float | None, candidate: float | None, higher_is_better: bool = True) -> float | None:
    """Improvement of candidate over reference in percent (positive = better)."""
    if reference is None or candidate is None or reference == 0:
        return None
    d = (candidate - reference) / abs(reference) * 100.0
    return d if higher_is_better else -d


def non_overlap(reference: Sequence[float], candidate: Sequence[float], higher_is_better: bool = True) -> bool | None:
    """True when the candidate's worst repetition beats the reference's best."""
    if not len(reference) or not len(candidate):
        return None
    if higher_is_better:
        return min(candidate) > max(reference)
    return max(candidate) < min(reference)


def outlier_vs_rest(xs: Sequence[float], index: int, k: float, floor: float) -> tuple[bool, float | None, float | None]:
    """Is xs[index] outside median(rest) +- max(k * 1.4826 * MAD(rest), floor)?

    Returns (is_outlier, centre, half_width). ``floor`` keeps two near-identical reps
    (MAD ~ 0) from flagging every sub-noise wobble.
    """
    rest = [x for i, x in enumerate(xs) if i != index]
    if not rest:
        return False, None, None
    centre = median(rest)
    assert centre is not None
    half = max(k * 1.4826 * (mad(rest) or 0.0), floor)
    return abs(xs[index] - centre) > half, centre, half


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """Two-sided Mann-Whitney U test with normal approximation and tie correction.

    Returns (U of a, p-value). None when either sample is empty.
    """
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        return None
    combined = np.concatenate([_arr(a), _arr(b)])
    order = np.argsort(combined, kind="mergesort")
    ranks = np.empty(n1 + n2)
    sorted_vals = combined[order]
    i = 0
    tie_term = 0.0
    while i < n1 + n2:
        j = i
        while j + 1 < n1 + n2 and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        avg = (i + j) / 2.0 + 1.0
        ranks[order[i : j + 1]] = avg
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    r1 = ranks[:n1].sum()
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    n = n1 + n2
    sigma2 = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if sigma2 <= 0:
        return float(u1), 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(sigma2)  # continuity correction
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return float(u1), min(1.0, p)


def bootstrap_delta_ci(
    reference: Sequence[float],
    candidate: Sequence[float],
    *,
    higher_is_better: bool = True,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of delta_pct between medians. Seeded: same input, same interval."""
    if not len(reference) or not len(candidate):
        return None
    rng = np.random.default_rng(seed)
    ra, ca = _arr(reference), _arr(candidate)
    rb = np.median(rng.choice(ra, size=(n_boot, len(ra)), replace=True), axis=1)
    cb = np.median(rng.choice(ca, size=(n_boot, len(ca)), replace=True), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (cb - rb) / np.abs(rb) * 100.0
    if not higher_is_better:
        d = -d
    d = d[np.isfinite(d)]
    if not len(d):
        return None
    lo = float(np.percentile(d, (1 - confidence) / 2 * 100))
    hi = float(np.percentile(d, (1 + confidence) / 2 * 100))
    return lo, hi


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    x, y = _arr(a), _arr(b)
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if not nx or not ny or len(x) != len(y):
        return None
    return float(np.dot(x, y) / (nx * ny))


def topk_cosine(ref: dict[str, float], cand: dict[str, float]) -> float:
    """Cosine of two top-k logprob vectors over the union of their tokens. A token missing
    from one side gets that side's smallest logprob (it ranked below all of its top-k); a
    non-finite value gives NaN, which no threshold passes."""
    if not ref or not cand:
        return float("nan")
    toks = sorted(set(ref) | set(cand))
    fr, fc = min(ref.values()), min(cand.values())
    a = np.array([ref.get(t, fr) for t in toks], dtype=float)
    b = np.array([cand.get(t, fc) for t in toks], dtype=float)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def topk_agreement(pairs: Iterable[tuple[dict[str, float], dict[str, float]]]) -> tuple[float | None, bool | None]:
    """(worst cosine, argmax equal on every pair) over (reference, candidate) top-k pairs: the
    one-token parity probe's two numbers. A NaN cosine is the worst; no pair gives (None, None)."""
    worst: float | None = None
    arg_eq: bool | None = None
    for r, c in pairs:
        cos = topk_cosine(r, c)
        if worst is None or not (cos >= worst):  # NaN sticks
            worst = cos
        eq = bool(r) and bool(c) and max(r, key=r.get) == max(c, key=c.get)  # type: ignore[arg-type]
        arg_eq = eq if arg_eq is None else (arg_eq and eq)
    return worst, arg_eq


def rel_close(a: float | None, b: float | None, rel: float, abs_tol: float = 0.0) -> bool:
    """Agreement "within rounding": |a-b| <= max(rel*max(|a|,|b|), abs_tol)."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_tol)


__all__ = [
    "topk_cosine",
    "topk_agreement",
    "median",
    "mad",
    "percentile",
    "spread_pct",
    "delta_pct",
    "non_overlap",
    "outlier_vs_rest",
    "mann_whitney_u",
    "bootstrap_delta_ci",
    "cosine",
    "rel_close",
]


# ---------------------------------------------------------------- paired designs (issue 18)
# A paired A/B measures reference and candidate reps side by side in time (interleaved, or at
# once on two device sets and then swapped): drift between blocks cancels inside each pair, so
# the claim is about per-pair ratios, not about two medians.


def pair_deltas_pct(
    reference: Sequence[float], candidate: Sequence[float], higher_is_better: bool = True
) -> list[float] | None:
    """Per-pair delta in % (candidate vs its own reference rep, the sign of "better"); None when
    the sides differ in length, are empty, or a reference rep is zero."""
    if not len(reference) or len(reference) != len(candidate) or any(r == 0 for r in reference):
        return None
    d = [(c - r) / abs(r) * 100.0 for r, c in zip(reference, candidate)]
    return d if higher_is_better else [-x for x in d]


def signed_rank(diffs: Sequence[float]) -> tuple[float, float] | None:
    """Two-sided Wilcoxon signed-rank test, exact (ties get average ranks, zeros are dropped).

    Returns (W+, p). None with no non-zero difference. The exact null distribution is counted
    over doubled ranks (integers even with ties), so small samples get no normal approximation."""
    d = [float(x) for x in diffs if x != 0 and math.isfinite(x)]
    n = len(d)
    if not n:
        return None
    order = sorted(range(n), key=lambda i: abs(d[i]))
    ranks2 = [0] * n  # 2 x rank
    i = 0
    while i < n:
        j = i
        while j + 1 < n and abs(d[order[j + 1]]) == abs(d[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks2[order[k]] = i + j + 2  # 2 x the average of ranks i+1 .. j+1
        i = j + 1
    w2 = sum(r for r, x in zip(ranks2, d) if x > 0)
    counts = {0: 1}
    for r in ranks2:  # every sign assignment equally likely under the null
        nxt: dict[int, int] = {}
        for s, c in counts.items():
            nxt[s] = nxt.get(s, 0) + c
            nxt[s + r] = nxt.get(s + r, 0) + c
        counts = nxt
    all_ = 2**n
    lo = sum(c for s, c in counts.items() if s <= w2) / all_
    hi = sum(c for s, c in counts.items() if s >= w2) / all_
    return w2 / 2.0, min(1.0, 2 * min(lo, hi))


def bootstrap_pairs_ci(
    deltas: Sequence[float], *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the median per-pair delta, resampling whole pairs. Seeded."""
    if not len(deltas):
        return None
    rng = np.random.default_rng(seed)
    a = _arr(deltas)
    b = np.median(rng.choice(a, size=(n_boot, len(a)), replace=True), axis=1)
    return float(np.percentile(b, (1 - confidence) / 2 * 100)), float(np.percentile(b, (1 + confidence) / 2 * 100))


def overlap_fraction(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    """How much two time spans (start, end) share, over the longer one: 1.0 = the same window,
    0.0 = disjoint. None for an empty or reversed span."""
    la, lb = a[1] - a[0], b[1] - b[0]
    if la <= 0 or lb <= 0:
        return None
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / max(la, lb)


# ---------------------------------------------------------------- decisions the rules and bench/ share


@dataclass(frozen=True)
class BlocksDecision:
    """P3's call on a blocks design (reference legs, then candidate legs), from values alone."""

    passed: bool
    by: str | None  # "test" (Mann-Whitney and the bootstrap CI clear the band) | "ranges" | None
    delta_pct: float | None
    non_overlap: bool | None
    tested: bool = False  # enough reps on both sides for the rank test and the CI
    mann_whitney_p: float | None = None
    ci_pct: tuple[float, float] | None = None


def blocks_decision(
    reference: Sequence[float],
    candidate: Sequence[float],
    band_pct: float,
    *,
    min_reps_for_test: int,
    alpha: float,
    higher_is_better: bool = True,
) -> BlocksDecision:
    """A change is real when, with enough reps, the rank test is significant and the CI's low end
    clears the band; or when the median delta clears the band and every candidate rep beats every
    reference rep. The one statement of it: auditor/checks/patch.py P3 and bench/ both call this."""
    delta = delta_pct(median(reference), median(candidate), higher_is_better)
    no = non_overlap(reference, candidate, higher_is_better)
    p = ci = None
    tested = min(len(reference), len(candidate)) >= min_reps_for_test
    if tested:
        mw = mann_whitney_u(reference, candidate)
        ci = bootstrap_delta_ci(reference, candidate, higher_is_better=higher_is_better)
        p = mw[1] if mw else None
        if p is not None and ci and p < alpha and ci[0] > band_pct:
            return BlocksDecision(True, "test", delta, no, tested, p, ci)
    if no and delta is not None and delta > band_pct:
        return BlocksDecision(True, "ranges", delta, no, tested, p, ci)
    return BlocksDecision(False, None, delta, no, tested, p, ci)


def aa_band(within_spread_pct: Sequence[float], leg_medians: Sequence[float]) -> float:
    """The A/A band from usable A/A legs: the widest within-leg spread, or the gap between the
    legs' medians (max - min over min), whichever is wider. auditor/noise.py and bench/ both call this."""
    between = 0.0
    if len(leg_medians) >= 2 and min(leg_medians):
        between = (max(leg_medians) - min(leg_medians)) / min(leg_medians) * 100
    return max(max(within_spread_pct, default=0.0), between)
