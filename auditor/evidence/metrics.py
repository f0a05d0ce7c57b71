"""The engine's own Prometheus counters: a second witness of what a repetition served.

vLLM's benchmark client GETs /metrics right before its timed requests and right after them;
the leg runner keeps both answers verbatim (gzipped) beside the rep's result file
(raw/rep_<i>.metrics_before.prom.gz, raw/rep_<i>.metrics_after.prom.gz). The difference of the two
is what the engine itself counted in exactly the window the tool timed: prompt and
generation tokens, finished requests, and the TTFT / end-to-end latency histograms. A
producer who forges the tool's file and geak's normalized copy consistently still has to
forge these, in the engine's text format, consistently with each other.

Pure: bytes in, a window out. The text format (Prometheus exposition 0.0.4) is parsed by a
small line reader, bounded by the store's size limit; a line that does not parse is counted,
never raised.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import dialects

from .decoding import gunzip_capped

# family -> engine metric name: each engine's dialect names its own (dialects/). Counters are
# summed over their labels (vLLM labels request_success by finished_reason); histograms keep their buckets.
COUNTERS, HISTOGRAMS = dialects.COUNTERS, dialects.HISTOGRAMS
# gzip of the engine's answer: lossless, and ~9x smaller (a vLLM answer is ~54 kB of text)
SUFFIX_BEFORE, SUFFIX_AFTER = ".metrics_before.prom.gz", ".metrics_after.prom.gz"
MAX_TEXT_BYTES = 16 << 20  # decompressed; a real answer is well under 1 MB

_LE = re.compile(r'(?:^|[{,])\s*le="([^"]*)"')
MAX_LINE = 4096


def decode_snapshot(data: bytes) -> str:
    """The text of a stored snapshot; ValueError (with the reason) for a corrupt file or a bomb."""
    return gunzip_capped(data, MAX_TEXT_BYTES).decode("utf-8", errors="replace")


def snapshot_names(rep_file: str) -> tuple[str, str]:
    """The two snapshot files that belong to a rep's result file (the one place they are named)."""
    stem = rep_file[: -len(".json")] if rep_file.endswith(".json") else rep_file
    return stem + SUFFIX_BEFORE, stem + SUFFIX_AFTER


@dataclass
class Snapshot:
    counters: dict[str, float] = field(default_factory=dict)  # family -> summed value
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)  # family -> le -> cumulative count
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    engine: str | None = None
    bad_lines: list[int] = field(default_factory=list)


_wanted_gen = -1
_wanted_map: dict[str, tuple[str, str, str]] = {}


def _wanted() -> dict[str, tuple[str, str, str]]:
    """Sample name -> (family, kind, engine), for every registered engine's dialect (built once per
    registration, not per snapshot)."""
    global _wanted_gen, _wanted_map
    g = dialects.generation()
    if _wanted_gen == g:
        return _wanted_map
    out: dict[str, tuple[str, str, str]] = {}
    for d in dialects.all_dialects():
        for fam, name in d.metrics.items():
            if fam in COUNTERS:
                out[name] = (fam, "counter", d.name)
            elif fam in HISTOGRAMS:
                for suffix, kind in (("_bucket", "bucket"), ("_sum", "sum"), ("_count", "count")):
                    out[name + suffix] = (fam, kind, d.name)
    _wanted_gen, _wanted_map = g, out
    return out


def parse_snapshot(text: str) -> Snapshot:
    """The families geak reads, from one /metrics answer. Lines of other metrics are skipped
    by a prefix test before any regex runs (a vLLM answer is ~600 lines, most irrelevant)."""
    snap = Snapshot()
    wanted = _wanted()
    prefixes = tuple(wanted)
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(prefixes):
            continue
        if len(line) > MAX_LINE:
            snap.bad_lines.append(n)
            continue
        sample = _split(line)
        if sample is None:
            snap.bad_lines.append(n)
            continue
        name, labels, value = sample
        hit = wanted.get(name)
        if hit is None:
            continue
        try:
            v = float(value)
        except ValueError:
            snap.bad_lines.append(n)
            continue
        if not math.isfinite(v) or v < 0:
            snap.bad_lines.append(n)
            continue
        fam, kind, engine = hit
        snap.engine = snap.engine or engine
        if kind == "counter":
            snap.counters[fam] = snap.counters.get(fam, 0.0) + v
        elif kind == "sum":
            snap.sums[fam] = snap.sums.get(fam, 0.0) + v
        elif kind == "count":
            snap.counts[fam] = snap.counts.get(fam, 0.0) + v
        else:
            le = _LE.search(labels)
            try:
                edge = float(le.group(1)) if le else math.nan
            except ValueError:
                edge = math.nan
            if math.isnan(edge):
                snap.bad_lines.append(n)
                continue
            b = snap.buckets.setdefault(fam, {})
            b[edge] = b.get(edge, 0.0) + v
    return snap


def _split(line: str) -> tuple[str, str, str] | None:
    """name, {labels}, value of one sample line; None if it is not one. String operations,
    no backtracking regex: a producer's 4 kB line costs 4 kB of work."""
    brace = line.find("{")
    if brace >= 0:
        end = line.find("}", brace)
        if end < 0:
            return None
        name, labels, rest = line[:brace], line[brace : end + 1], line[end + 1 :]
    else:
        name, _, rest = line.partition(" ")
        labels = ""
    parts = rest.split()
    if not name or not 1 <= len(parts) <= 2 or any(c.isspace() for c in name):
        return None
    return name, labels, parts[0]


@dataclass
class Window:
    """What the engine counted between the two snapshots."""

    counters: dict[str, float]
    buckets: dict[str, list[tuple[float, float]]]  # family -> [(le, cumulative count)] ascending
    sums: dict[str, float]
    counts: dict[str, float]
    problems: list[str]


def window(before: Snapshot, after: Snapshot) -> Window:
    probs: list[str] = []
    if before.bad_lines or after.bad_lines:
        probs.append(
            f"{len(before.bad_lines) + len(after.bad_lines)} metric line(s) do not parse "
            f"(first at line {(before.bad_lines or after.bad_lines)[0]})"
        )
    counters = {}
    for fam in COUNTERS:
        if fam in before.counters and fam in after.counters:
            d = after.counters[fam] - before.counters[fam]
            if d < 0:
                probs.append(
                    f"counter {fam} went down ({before.counters[fam]:g} -> {after.counters[fam]:g}): "
                    "the snapshots are not of one engine, or not in order"
                )
            counters[fam] = d
    buckets: dict[str, list[tuple[float, float]]] = {}
    sums, counts = {}, {}
    for fam in HISTOGRAMS:
        b0, b1 = before.buckets.get(fam), after.buckets.get(fam)
        if b0 is not None and b1 is not None and set(b0) == set(b1):
            rows = [(le, b1[le] - b0[le]) for le in sorted(b1)]
            if any(c < 0 for _, c in rows) or any(a[1] > b[1] + 1e-9 for a, b in zip(rows, rows[1:])):
                probs.append(f"histogram {fam}: bucket counts are not cumulative over the window")
            else:
                buckets[fam] = rows
        elif b0 is not None or b1 is not None:
            probs.append(f"histogram {fam}: the two snapshots have different buckets")
        if fam in before.sums and fam in after.sums:
            sums[fam] = after.sums[fam] - before.sums[fam]
        if fam in before.counts and fam in after.counts:
            counts[fam] = after.counts[fam] - before.counts[fam]
        if fam in buckets:
            probs += _implausible(fam, buckets[fam], sums.get(fam), counts.get(fam))
    return Window(counters=counters, buckets=buckets, sums=sums, counts=counts, problems=probs)


def _implausible(fam: str, rows: list[tuple[float, float]], total: float | None, count: float | None) -> list[str]:
    """A histogram window no engine could have written: its count is not its last bucket's, or
    its sum lies outside what its buckets allow (each observation between its bucket's edges).
    A forger who scales a rep's latencies in the tool's file and moves the engine's _sum with
    them, but not every bucket, is caught here."""
    out = []
    if count is not None and rows and abs(rows[-1][1] - count) > 0.5:
        out.append(
            f"histogram {fam}: _count says {count:g} observations in the window, its buckets hold {rows[-1][1]:g}"
        )
    if total is None or not rows:
        return out
    lo = hi = 0.0
    prev_le, prev_c = 0.0, 0.0
    for le, c in rows:
        n = c - prev_c
        lo += n * prev_le
        hi += n * le if n > 0 else 0.0  # an empty +Inf bucket adds nothing (0 * inf is nan)
        prev_le, prev_c = le, c
    slack = 1e-6 * max(abs(total), 1.0)
    if total < lo - slack or total > hi + slack:
        out.append(
            f"histogram {fam}: _sum {total:.6g} s cannot come from its buckets, whose observations sum to between "
            f"{lo:.6g} and {hi:.6g} s"
        )
    return out


def quantile_bucket(rows: list[tuple[float, float]], q: float) -> tuple[float, float] | None:
    """(lower, upper) edge of the bucket holding the q-quantile of a cumulative histogram;
    None when it holds no observation. The +Inf bucket's upper edge is inf."""
    if not rows or rows[-1][1] <= 0:
        return None
    target = q * rows[-1][1]
    lower = 0.0
    for le, c in rows:
        if c >= target and c > 0:
            return lower, le
        lower = le
    return lower, math.inf


def went_down(earlier: Snapshot, later: Snapshot) -> list[str]:
    """Counters of one server lifetime that are lower in a later answer than in an earlier one:
    one rep's closing snapshot and the next rep's opening one cannot both be the engine's."""
    out = []
    for fam in COUNTERS:
        a, b = earlier.counters.get(fam), later.counters.get(fam)
        if a is not None and b is not None and b < a - 0.5:
            out.append(f"counter {fam} {a:g} -> {b:g}")
    for fam in HISTOGRAMS:
        for what, d0, d1 in (("_count", earlier.counts, later.counts), ("_sum", earlier.sums, later.sums)):
            a, b = d0.get(fam), d1.get(fam)
            if a is not None and b is not None and b < a - 1e-6 * max(a, 1.0):
                out.append(f"histogram {fam}{what} {a:.6g} -> {b:.6g}")
    return out
