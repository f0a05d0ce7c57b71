"""Pure statistics of the op harness: no torch, no clocks, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence


def median(xs: Sequence[float]) -> float | None:
    s = sorted(float(x) for x in xs)
    n = len(s)
    if n == 0:
        return None
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def median_ratio(baseline_ms: Sequence[float], candidate_ms: Sequence[float]) -> float | None:
    """claimed_speedup: median(baseline) / median(candidate), the formula the auditor re-derives (H9)."""
    b, c = median(baseline_ms), median(candidate_ms)
    if b is None or c is None or c <= 0:
        return None
    return b / c


def plan_reps(est_ms: float, target_ms: float, min_reps: int, max_reps: int) -> int:
    """Adaptive iteration count: enough reps of a call taking ``est_ms`` to time ``target_ms``."""
    if not math.isfinite(est_ms) or est_ms <= 0:
        return max_reps
    return int(min(max_reps, max(min_reps, math.ceil(target_ms / est_ms))))


def gbps(nbytes: float, ms: float | None) -> float | None:
    """Bytes per call over milliseconds per call, in GB/s (1e9 bytes)."""
    if ms is None or ms <= 0:
        return None
    return nbytes / (ms * 1e-3) / 1e9


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)
