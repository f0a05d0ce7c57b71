"""A leg's repetitions and the numbers each one yields, re-derived from per-request arrays.

A rep comes from the tool's raw file (``from_raw``) or, where raw/ is absent, from geak's
normalized line of bench_runs.jsonl (``derive_rep``); either way its throughputs are recomputed
from the requests, never taken from the producer. Which reps a leg counts, and where the
claim disagrees with raw, is reconcile.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from .models import METRICS, BenchRep, RequestArrays
from .raw import EMPTY_SUCCESS, RawRep
from .decoding import Problem

LATENCY_FIELDS = ("ttft_ms", "e2e_ms", "tpot_ms")
# per-request arrays the rules read, and the raw key each comes from (for messages)
COMPARED = {"output_lens": "output_lens", "input_lens": "input_lens", "ttft_ms": "ttfts", "e2e_ms": "latencies"}


@dataclass
class RepData:
    """One repetition, with its recomputed numbers."""

    line: int | None
    rep: BenchRep
    file: str
    # recomputed from per-request arrays; None where arrays are absent
    output_throughput: float | None = None
    request_throughput: float | None = None
    total_token_throughput: float | None = None
    failed_requests: int | None = None
    empty_successes: int = 0  # requests the tool counted completed that served nothing (raw.py), among the failed
    empty_input_tokens: float = 0.0  # their prompts, which the tool's total_token_throughput counts
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)  # the tool's own aggregates
    errors: list[str] = field(default_factory=list)
    from_raw: bool = False
    raw: RawRep | None = None  # the tool's file behind this rep, when raw/ has it

    @property
    def record_id(self) -> str:
        return f"rep{self.rep.rep_index}"

    @property
    def has_arrays(self) -> bool:
        return "ok" in self.arrays

    def value(self, metric: str) -> tuple[float | None, str]:
        """(value, source): recomputed from requests when possible, else the tool's report. Only
        a metric of the closed vocabulary has a value: the name may be a producer's."""
        if metric not in METRICS:
            return None, "missing"
        v = getattr(self, metric, None)
        if v is not None:
            return v, "requests"
        r = self.reported.get(metric)
        if isinstance(r, (int, float)) and not isinstance(r, bool) and np.isfinite(r):
            return float(r), "reported"
        return None, "missing"


def _check_array(name: str, arr: np.ndarray, ok: np.ndarray, file: str, line: int | None, prefix: str) -> list[Problem]:
    """NaN/inf/negative on an ok request is a Problem naming the first entry."""
    probs: list[Problem] = []
    if len(arr) != len(ok):
        return [Problem(file, f"has {len(arr)} entries, expected {len(ok)} (one per request)", line, f"{prefix}{name}")]
    with np.errstate(invalid="ignore"):
        for mask, what in (
            (ok & ~np.isfinite(arr), "is NaN, infinite or null on a successful request"),
            (ok & (arr < 0), "is negative"),
        ):
            idx = np.flatnonzero(mask)
            if len(idx):
                extra = f" ({len(idx)} entries in all)" if len(idx) > 1 else ""
                probs.append(Problem(file, f"{what}: {arr[idx[0]]!r}{extra}", line, f"{prefix}{name}[{int(idx[0])}]"))
    return probs


def _throughputs(rd: RepData, duration: float | None, file: str, line: int | None) -> list[Problem]:
    a = rd.arrays
    ok, out_lens, in_lens = a["ok"], a["output_lens"], a["input_lens"]
    rd.failed_requests = int(len(ok) - ok.sum())
    empty = np.array([e == EMPTY_SUCCESS for e in rd.errors], dtype=bool)
    if empty.any() and len(empty) == len(in_lens):
        rd.empty_successes = int(empty.sum())
        rd.empty_input_tokens = float(np.nansum(np.where(empty, in_lens, 0.0)))
    if duration is None or not np.isfinite(duration) or duration <= 0:
        return [
            Problem(
                file,
                f"duration is {duration!r}: throughput cannot be re-derived",
                line,
                "duration_s" if not rd.from_raw else "duration",
            )
        ]
    if len(out_lens) == len(ok) and len(in_lens) == len(ok):
        good_out = np.where(ok, out_lens, 0.0)
        good_in = np.where(ok, in_lens, 0.0)
        if np.isfinite(good_out).all():
            rd.output_throughput = float(good_out.sum() / duration)
            rd.request_throughput = float(ok.sum() / duration)
            if np.isfinite(good_in).all():
                rd.total_token_throughput = float((good_out.sum() + good_in.sum()) / duration)
    return []


class _ClaimRequests(msgspec.Struct):
    ok: list[bool]
    input_lens: list[int | None]
    output_lens: list[int | None]
    ttft_ms: list[float | None]
    e2e_ms: list[float | None]


class _ClaimLine(msgspec.Struct):
    """The part of a bench_runs.jsonl line reconcile.compare() holds to raw; other fields are skipped."""

    schema_version: int
    kind: str
    leg_id: str
    rep_index: int
    tool: str
    warmup: bool = False
    raw_file: str | None = None
    duration_s: float | None = None
    reported: dict[str, Any] = {}
    requests: _ClaimRequests | None = None


_CLAIM = msgspec.json.Decoder(_ClaimLine)


def fast_claim(line: bytes) -> BenchRep | None:
    """A claim line of the shape geak writes, decoded by msgspec (~4x pydantic on a 10k-request
    line); None for anything else, which the validating path then reads and names."""
    try:
        c = _CLAIM.decode(line)
    except (msgspec.DecodeError, RecursionError):
        return None
    if c.schema_version != 1 or c.kind != "bench_rep":
        return None
    r = c.requests
    req = (
        None
        if r is None
        else RequestArrays.model_construct(
            ok=r.ok,
            input_lens=r.input_lens,
            output_lens=r.output_lens,
            ttft_ms=r.ttft_ms,
            e2e_ms=r.e2e_ms,
            tpot_ms=None,
            start_s=None,
            errors=None,
        )
    )
    return BenchRep.model_construct(
        schema_version=1,
        kind="bench_rep",
        leg_id=c.leg_id,
        rep_index=c.rep_index,
        warmup=c.warmup,
        tool=c.tool,
        raw_file=c.raw_file,
        duration_s=c.duration_s,
        reported=c.reported,
        requests=req,
    )


def derive_rep(line: int, rep: BenchRep, file: str, *, claim_only: bool = False) -> tuple[RepData, list[Problem]]:
    """A rep from geak's normalized line alone: the leg's numbers where raw/ is absent, else
    (``claim_only``) just what reconcile.compare() holds to raw: no TPOT, no value checks (raw's own
    values are checked; a claim that differs from them is a mismatch either way)."""
    errs = rep.requests.errors if rep.requests and not claim_only else None
    rd = RepData(
        line=line,
        rep=rep,
        file=file,
        reported=dict(rep.reported),
        errors=[e or "" for e in errs] if errs and any(errs) else [""] * len(errs or ()),
    )
    req = rep.requests
    if req is None:
        return rd, []
    ok = np.array(req.ok, dtype=bool)
    probs: list[Problem] = []
    rd.arrays = {"ok": ok}
    for name in ("output_lens", "input_lens") + (("ttft_ms", "e2e_ms") if claim_only else LATENCY_FIELDS):
        vals = getattr(req, name)
        if vals is None:
            continue
        arr = np.array(vals, dtype=float)  # None -> nan
        if not claim_only:
            probs += _check_array(name, arr, ok, file, line, "requests.")
        rd.arrays[name] = arr
    if claim_only:
        return rd, probs
    if (
        "tpot_ms" not in rd.arrays
        and "ttft_ms" in rd.arrays
        and "e2e_ms" in rd.arrays
        and len(rd.arrays["output_lens"]) == len(ok)
    ):
        with np.errstate(invalid="ignore", divide="ignore"):
            decode = rd.arrays["output_lens"] - 1
            rd.arrays["tpot_ms"] = (rd.arrays["e2e_ms"] - rd.arrays["ttft_ms"]) / np.where(decode > 0, decode, np.nan)
    probs += _throughputs(rd, rep.duration_s, file, line)
    return rd, probs


def from_raw(rr: RawRep, rep: BenchRep, line: int | None) -> tuple[RepData, list[Problem]]:
    rd = RepData(
        line=line, rep=rep, file=rr.file, reported=dict(rr.aggregates), errors=list(rr.errors), from_raw=True, raw=rr
    )
    if not rr.arrays:
        return rd, []
    rd.arrays = dict(rr.arrays)
    ok = rr.arrays["ok"]
    probs: list[Problem] = []
    for name, raw_key in COMPARED.items():
        probs += _check_array(raw_key, rr.arrays[name], ok, rr.file, None, "")
    probs += _throughputs(rd, rr.duration_s, rr.file, None)
    return rd, probs
