"""Which repetitions are one measurement copied: found by what they measured, not by their bytes.

A copied rep with one byte changed (a duration nudged, a key reordered, a request dropped, every
latency scaled) is a second file with other bytes but the same measurement. Two honest reps of one
workload never share it: their per-request latencies differ at the engine's microsecond grain,
request by request, and are no scale or shift of each other. So two reps are one measurement when

- per request (the tool kept its arrays): at least half of the requests of the shorter rep carry a
  (TTFT, latency) pair the other rep also carries, in any order; or the one rep's latencies are
  the other's under one scale and shift (a fit that leaves no residual); or
- aggregates only: every measured aggregate (duration, the throughputs, the *_ms statistics) is
  the other rep's times one factor (or its inverse): an exact copy is the factor 1.

Start times are no key (some tools write them relative to the run's start, so honest reps may
share them). Pure: a fingerprint per rep (computed once), two fingerprints in, a reason or None out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .raw import RawRep

MIN_REQUESTS = 3  # fewer per-request pairs than this say nothing either way
SHARED_FRACTION = 0.5  # of the shorter rep's requests
FIT_RESIDUAL = 1e-6  # relative: an affine copy leaves float rounding, honest reps leave noise
FACTOR_SPREAD = 1e-6  # in log space, across a rep's measured aggregates


@dataclass
class Print:
    """What a rep measured, in the form two reps are compared in: computed once per rep."""

    file: str
    pairs: np.ndarray  # (TTFT, latency) ms per request with both finite
    keys: np.ndarray  # the pairs at the microsecond grain, one int64 each, sorted, unique
    counts: np.ndarray  # how often each key occurs
    measured: dict[str, float]  # measured aggregates (aggregates-only rows)


def fingerprint(r: RawRep) -> Print:
    ttft, e2e = r.arrays.get("ttft_ms"), r.arrays.get("e2e_ms")
    if ttft is None or e2e is None or len(ttft) != len(e2e):
        pairs = np.empty((0, 2))
    else:
        a = np.column_stack([ttft, e2e]).astype(float)
        pairs = a[np.isfinite(a).all(axis=1) & (a[:, 1] > 0) & (a[:, 0] >= 0)]
    # microsecond grain: what a tool's float seconds keep, and far finer than two honest reps agree
    # on; one int64 per pair (TTFT and latency below ~35 minutes each fit 31 bits of microseconds)
    us = np.minimum(np.round(pairs * 1000.0), 2**31 - 1).astype(np.int64)
    keys, counts = (
        np.unique((us[:, 0] << 31) | us[:, 1], return_counts=True)
        if len(us)
        else (np.empty(0, np.int64), np.empty(0, np.int64))
    )
    return Print(r.file, pairs, keys, counts, _measured(r))


def _shared_pairs(a: Print, b: Print) -> int:
    _, ia, ib = np.intersect1d(a.keys, b.keys, assume_unique=True, return_indices=True)
    return int(np.minimum(a.counts[ia], b.counts[ib]).sum())


def _affine(x: np.ndarray, y: np.ndarray) -> bool:
    """y = k x + c with no residual (k > 0): a copy scaled and shifted."""
    if len(x) < MIN_REQUESTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return False
    k, c = np.polyfit(x, y, 1)
    if not k > 0:
        return False
    resid = y - (k * x + c)
    return bool(np.sqrt(np.mean(resid**2)) <= FIT_RESIDUAL * max(float(np.std(y)), 1e-12))


def _measured(r: RawRep) -> dict[str, float]:
    out = {}
    for k, v in r.aggregates.items():
        if (
            (k == "duration" or k.endswith("_ms") or "throughput" in k)
            and isinstance(v, float)
            and math.isfinite(v)
            and v > 0
        ):
            out[k] = v
    if r.duration_s and r.duration_s > 0:
        out["duration_s"] = float(r.duration_s)
    return out


def same_measurement(a: Print, b: Print) -> str | None:
    """Why ``b`` is ``a``'s measurement again (None: two measurements)."""
    pa, pb = a.pairs, b.pairs
    if len(pa) >= MIN_REQUESTS and len(pb) >= MIN_REQUESTS:
        shared = _shared_pairs(a, b)
        n = min(len(pa), len(pb))
        if shared >= max(MIN_REQUESTS, SHARED_FRACTION * n):
            return f"{shared} of its {len(pb)} requests carry a (TTFT, latency) pair of {a.file}, to the microsecond"
        if len(pa) == len(pb) and _affine(pa[:, 1], pb[:, 1]) and _affine(pa[:, 0], pb[:, 0]):
            return f"its per-request TTFTs and latencies are those of {a.file} under one scale and shift, request by request"
        return None
    ma, mb = a.measured, b.measured
    keys = sorted(set(ma) & set(mb))
    if len(keys) < 4:
        return None
    logs = [abs(math.log(mb[k] / ma[k])) for k in keys]
    if max(logs) - min(logs) <= FACTOR_SPREAD:
        f = math.exp(logs[0])
        how = "the same" if logs[0] <= FACTOR_SPREAD else f"{f:.6g} times (or 1/{f:.6g} of)"
        return f"its {len(keys)} measured aggregates ({', '.join(keys[:3])}, ...) are {how} those of {a.file}"
    return None
