"""Which repetitions of two legs ran side by side, from the benchmark tool's own bytes (issue 18).

vLLM's client (``vllm bench serve --save-detailed``) records every request's start on the host's
monotonic clock (``start_times``: time.perf_counter) and its latency, so a repetition ran from its
first request's start to its last request's end, to the microsecond. Two clients on one host
read the same clock. Each result's ``date`` (the wall clock when it was saved, whole seconds)
ties that clock to wall time: two repetitions whose monotonic-to-wall offsets differ by more than
the date's resolution were timed on different clocks (another host, another boot), and no
pairing between them can be verified. Everything here is total: odd bytes give None.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any


DATE_RESOLUTION_S = 1.0  # vLLM's "date" is "%Y%m%d-%H%M%S"
CLOCK_TOLERANCE_S = 2.0  # two offsets within this are one clock (the date's rounding, twice)


@dataclass(frozen=True)
class RepWindow:
    file: str
    start: float  # host monotonic seconds
    end: float
    wall_end: float | None  # the tool's "date", unix seconds (UTC as written)

    @property
    def offset(self) -> float | None:
        """wall - monotonic: the same (within the date's resolution) for every rep timed on one clock."""
        return None if self.wall_end is None else self.wall_end - self.end


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def rep_window(raw: Any, file: str) -> RepWindow | None:
    """The span the tool timed, from its per-request starts and latencies; None without them."""
    if not isinstance(raw, dict):
        return None
    starts, lats = raw.get("start_times"), raw.get("latencies")
    if not isinstance(starts, list) or not isinstance(lats, list) or len(starts) != len(lats) or not starts:
        return None
    spans = [
        (s, s + lat)
        for s, lat in ((_num(a), _num(b)) for a, b in zip(starts, lats))
        if s is not None and lat is not None and lat >= 0
    ]
    if not spans:
        return None
    return RepWindow(file, min(s for s, _ in spans), max(e for _, e in spans), _wall(raw.get("date")))


def _wall(date: Any) -> float | None:
    if not isinstance(date, str):
        return None
    try:
        return dt.datetime.strptime(date, "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def window_of(raw: Any) -> RepWindow | None:
    """The window of a rep the loader already parsed (raw.RawRep: first request start, span, date)."""
    start, span = getattr(raw, "first_start_s", None), getattr(raw, "span_s", None)
    if start is None or span is None or not math.isfinite(start) or not math.isfinite(span) or span < 0:
        return None
    return RepWindow(raw.file, start, start + span, _wall(getattr(raw, "date", None)))


def overlap_s(a: list[RepWindow], b: list[RepWindow]) -> float | None:
    """Seconds the two sides' reps ran at the same time, summed over rep pairs; None when there is
    nothing to compare or the sides were timed on different clocks."""
    if not a or not b or any(same_clock(x, y) is False for x in a for y in b):
        return None
    return sum(max(0.0, min(x.end, y.end) - max(x.start, y.start)) for x in a for y in b)


def same_clock(a: RepWindow, b: RepWindow, tol_s: float = CLOCK_TOLERANCE_S) -> bool | None:
    """True: timed on one host's clock; False: not; None: a date is missing (cannot tell)."""
    if a.offset is None or b.offset is None:
        return None
    return abs(a.offset - b.offset) <= tol_s


def evenness(a: RepWindow, b: RepWindow) -> float | None:
    """How evenly two reps ran side by side, 0..1: the share of the shorter rep that ran while the
    other did, less the share of it by which their starts differ. Two reps started together score
    1.0 whatever their lengths: a faster side ends first (that is the effect being measured, not
    an uneven pair); a rep that started late, or one the other only partly covered, scores less.
    None for an empty span."""
    short = min(a.end - a.start, b.end - b.start)
    if short <= 0:
        return None
    shared = max(0.0, min(a.end, b.end) - max(a.start, b.start)) / short
    return max(0.0, min(shared, 1.0 - abs(a.start - b.start) / short))


@dataclass(frozen=True)
class Pairing:
    pairs: list[tuple[RepWindow, RepWindow, float]]  # (reference, candidate, evenness)
    dropped: list[tuple[RepWindow, RepWindow, float, str]]  # side by side, but not evenly: why
    unverifiable: str | None  # why no pairing can be shown from these bytes; None when it can


def simultaneous(ref: list[RepWindow], cand: list[RepWindow], min_evenness: float) -> Pairing:
    """Pairs of reps that ran at once (one on each side): each reference rep with the candidate
    rep it ran most evenly beside (``evenness``), one to one, best first. A matched pair less even
    than ``min_evenness`` is dropped (uneven: drift would land on one half)."""
    if not ref or not cand:
        return Pairing([], [], "a side has no repetition with per-request start times (vLLM --save-detailed)")
    clocks = [same_clock(a, b) for a in ref for b in cand]
    if any(c is False for c in clocks):
        return Pairing(
            [],
            [],
            "the two sides were timed on different clocks (their monotonic-to-wall offsets differ "
            f"by more than {CLOCK_TOLERANCE_S:g} s): another host or another boot",
        )
    cands = sorted(((evenness(a, b) or 0.0, i, j) for i, a in enumerate(ref) for j, b in enumerate(cand)), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs, dropped = [], []
    for f, i, j in cands:
        if f <= 0 or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        if f >= min_evenness:
            pairs.append((ref[i], cand[j], f))
        else:
            dropped.append(
                (
                    ref[i],
                    cand[j],
                    f,
                    f"they ran {f:.0%} evenly (< {min_evenness:.0%}): one started late or stopped early",
                )
            )
    pairs.sort(key=lambda p: p[0].start)
    why = None if pairs or dropped else "no repetition of one side ran at the same time as one of the other"
    return Pairing(pairs, dropped, why)
