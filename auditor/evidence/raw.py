"""The benchmark tool's own bytes, normalized by the auditor itself. Pure but for reading.

A leg's raw/ folder holds what the engine's own client wrote, verbatim: one JSON object per
repetition (vLLM ``--save-result --save-detailed``; SGLang ``--output-file`` JSONL, one
line per run). bench_runs.jsonl is geak's normalized copy, written by the leg runner, a
producer: a claim. This module re-derives every per-request array from raw so the loader
can use the tool's numbers and hold the claim against them.

Parsing: msgspec decodes straight into a Struct that declares only the fields a rule reads,
so the bulk of a --save-detailed file (generated texts, per-token ITL lists) is skipped at
C speed and never becomes Python objects. A file msgspec rejects (NaN, which Python's json
writes for an empty metric) is read again with the stdlib and converted, slower but exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from .normalize import AGGREGATE_KEYS
from .workload import KNOWN, workload_fields
from .decoding import Problem, loads

FloatList = list[float | None] | None


_ARRAYS: list[tuple[str, Any, Any]] = [
    ("duration", float | None, None),
    ("input_lens", list[int | None] | None, None),
    ("output_lens", list[int | None] | None, None),
    ("ttfts", FloatList, None),
    ("latencies", FloatList, None),
    ("start_times", FloatList, None),
    ("date", Any, None),  # vLLM: when the result was saved, "%Y%m%d-%H%M%S" (ties start_times' clock to wall time)
    ("errors", list[str | None] | None, None),
    # SGLang's name for the total; vLLM's total_token_throughput is an aggregate below
    ("total_throughput", float | None, None),
    # SGLang's bench_serving embeds the server's own /get_server_info answer in each row
    ("server_info", dict[str, Any] | None, None),
    ("max_concurrency", Any, None),
    # written only when the server speculated: vLLM bench serve's spec_decode_* block, SGLang's
    # accept_length (null without speculative decoding)
    ("spec_decode_acceptance_length", Any, None),
    ("spec_decode_num_drafts", Any, None),
    ("accept_length", Any, None),
]
_AGGREGATES = [(k, Any, None) for k in AGGREGATE_KEYS + ("median_e2e_latency_ms",) if k not in ("duration",)]
# what a big row says it ran (workload.py), read in the same decode
_WORKLOAD = [(k, Any, None) for k in KNOWN if k not in {n for n, _, _ in _ARRAYS + _AGGREGATES}]
# One decode per file: the fields the rules read; everything else (generated texts, ITLs) is
# skipped by msgspec without becoming Python objects.
ToolResult = msgspec.defstruct("ToolResult", _ARRAYS + _AGGREGATES + _WORKLOAD)
# only decoded when the tool saved no latencies (SGLang): e2e = ttft + sum(itls)
_Itls = msgspec.defstruct("Itls", [("itls", list[list[float] | None] | None, None)])
_AGG_NAMES = tuple(k for k, _, _ in _AGGREGATES)


@dataclass
class RawRep:
    """One repetition as the tool wrote it."""

    file: str  # run-relative
    size: int  # bytes; files of equal size are compared by content (reconcile.py) to find copies
    duration_s: float | None
    aggregates: dict[str, float]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    first_start_s: float | None = None
    # from the first request's start to the last one's end: the time the tool's own requests
    # took, which its duration cannot be shorter than
    span_s: float | None = None
    max_concurrency: int | None = None
    server_info: dict[str, Any] | None = None
    date: str | None = None  # the tool's own save time, as written
    sha256: str | None = None  # set by the loader only where two raw files have one size
    # what experiment the row says it ran (workload.py): rate, concurrency, lengths, the tool's
    # --metadata and a sweep's overrides; measured fields excluded
    workload: dict[str, Any] = field(default_factory=dict)
    # the tool saw speculative decoding: its accepted tokens per step (a lever, P6), or None
    spec_accept_length: float | None = None

    @property
    def n(self) -> int:
        return len(self.arrays.get("ok", ()))


EMPTY_SUCCESS = "counted as failed: the tool says it completed with 0 output tokens and TTFT 0.0"


def _decode(data: bytes, typ: type) -> Any:
    try:
        return msgspec.json.decode(data, type=typ)
    except msgspec.DecodeError as fast_err:
        # NaN/Infinity literals (Python's json writes them): the slow path, exact
        try:
            obj = loads(data)
        except ValueError as e:
            raise ValueError(str(e) if "nested" in str(e) else f"not valid JSON: {fast_err}") from None
        try:
            return msgspec.convert(obj, type=typ, strict=False)
        except msgspec.ValidationError as e:
            raise ValueError(str(e)) from None


def _floats(xs: list[Any] | None, n: int) -> np.ndarray:
    # numpy turns None into NaN for a float dtype: no Python-level pass over the list
    return np.full(n, np.nan) if xs is None else np.array(xs, dtype=float)


def _speculated(res: Any) -> float | None:
    def pos(v: Any) -> float | None:
        return (
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 else None
        )

    length = pos(res.spec_decode_acceptance_length) or pos(res.accept_length)
    if length is None and pos(res.spec_decode_num_drafts) is not None:
        return 1.0  # drafts proposed, none accepted: still a speculating server
    return length


# JSON integers are unbounded; no count or measurement a tool writes passes 2**53 (where a float
# stops being exact), and one past float's range once overflowed the rules that read it
MAX_TOOL_INT = 2**53


def _huge(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and abs(x) > MAX_TOOL_INT


# the arrays the Struct types as integers: msgspec gives a float-typed array floats (and refuses one
# past float's range) and a str-typed one strings, so only these can hold an unbounded int
_INT_LISTS = frozenset(n for n, t, _ in _ARRAYS if "list[int" in repr(t))


def _huge_entries(v: list[Any]) -> list[int]:
    """Indexes of integers no tool writes. One C-level pass decides for an array of numbers (the
    per-request arrays hold 10^5-10^6 entries); entry by entry only where it finds one, or where
    the array is no array of numbers (an int past float's range, a string)."""
    try:
        arr = np.array(v, dtype=float)
        clean = arr.ndim == 1 and not bool((np.abs(arr) > MAX_TOOL_INT).any())
    except (TypeError, ValueError, OverflowError):
        clean = False
    return [] if clean else [i for i, x in enumerate(v) if _huge(x)]


def _bound_integers(res: Any, rel: str) -> list[Problem]:
    """An integer no tool writes, in a top-level field or an array of the tool's file: a Problem
    naming the field (its first entry for an array), and the value read as missing."""
    probs: list[Problem] = []
    for name in res.__struct_fields__:
        v = getattr(res, name)
        if _huge(v):
            probs.append(
                Problem(
                    rel,
                    f"holds an integer of {v.bit_length()} bits, no count or measurement a tool writes; "
                    "read as missing",
                    None,
                    name,
                )
            )
            setattr(res, name, None)
        elif isinstance(v, list) and name in _INT_LISTS:
            bad = _huge_entries(v)
            if bad:
                probs.append(
                    Problem(
                        rel,
                        f"holds an integer of {v[bad[0]].bit_length()} bits, no count a tool writes"
                        + (f" ({len(bad)} entries in all)" if len(bad) > 1 else "")
                        + "; read as missing",
                        None,
                        f"{name}[{bad[0]}]",
                    )
                )
                for i in bad:
                    v[i] = None
    return probs


def _read(data: bytes, rel: str) -> tuple[Any, bytes, list[Problem]]:
    """(the decoded result or None, the bytes it came from, problems). SGLang appends one JSON
    line per run; geak gives each rep its own file, so more than one line means the file was
    appended to: the last line is read, and that is said."""
    try:
        return _decode(data, ToolResult), data, []
    except ValueError as e:
        why = str(e)
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    if len(lines) < 2:
        return None, data, [Problem(rel, f"the tool's output cannot be read: {why.splitlines()[0][:300]}")]
    body = lines[-1]
    try:
        res = _decode(body, ToolResult)
    except ValueError as e2:
        return None, body, [Problem(rel, f"the tool's output cannot be read: {str(e2).splitlines()[0][:300]}")]
    return (
        res,
        body,
        [Problem(rel, f"holds {len(lines)} lines, one repetition writes one object; the last line is read")],
    )


def _aggregates(res: Any) -> dict[str, float]:
    """The tool's own finite aggregates, under vLLM's names where SGLang spells one otherwise."""
    aggregates = {
        k: float(v)
        for k in _AGG_NAMES
        if isinstance(v := getattr(res, k), (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    if (
        res.total_throughput is not None
        and "total_token_throughput" not in aggregates
        and math.isfinite(res.total_throughput)
    ):
        aggregates["total_token_throughput"] = float(res.total_throughput)
    if "median_e2e_latency_ms" in aggregates and "median_e2el_ms" not in aggregates:
        aggregates["median_e2el_ms"] = aggregates["median_e2e_latency_ms"]
    return aggregates


@dataclass
class _Requests:
    """One file's per-request columns as the tool wrote them (tokens, seconds)."""

    n: int
    ok: np.ndarray
    errors: list[str]
    out_lens: np.ndarray
    in_lens: np.ndarray
    ttft: np.ndarray
    e2e_s: np.ndarray


def _outcomes(res: Any, n: int, rel: str) -> tuple[list[str], np.ndarray, list[Problem]]:
    """(error per request, "" for none; which succeeded; problems) from the tool's errors."""
    probs: list[Problem] = []
    errors = res.errors or []
    if res.errors is not None and len(errors) != n:
        probs.append(Problem(rel, f"has {len(errors)} entries, expected {n} (one per request)", None, "errors"))
    if any(errors):  # the common case, every request clean, costs one C-level scan
        errors = [e or "" for e in errors]
        errors += [""] * (n - len(errors))
        ok = np.array([not e for e in errors[:n]], dtype=bool)
    else:
        errors, ok = [""] * n, np.ones(n, dtype=bool)
    return errors, ok, probs


def _e2e_seconds(res: Any, body: bytes, ttft: np.ndarray, n: int, rel: str) -> tuple[np.ndarray, list[Problem]]:
    """Each request's end-to-end latency: the tool's, or (SGLang saves none) TTFT plus its ITLs."""
    if res.latencies is not None:
        e2e_s = _floats(res.latencies, n)
        if len(e2e_s) != n:
            return e2e_s, [Problem(rel, f"has {len(e2e_s)} entries, expected {n} (one per request)", None, "latencies")]
        return e2e_s, []
    itls = _decode(body, _Itls).itls
    e2e_s = (
        (ttft + np.array([sum(x or ()) for x in itls], dtype=float))
        if itls is not None and len(itls) == n
        else np.full(n, np.nan)
    )
    return e2e_s, []


def _requests(res: Any, body: bytes, rel: str) -> tuple[_Requests, list[Problem]]:
    """The file's per-request columns, a served-nothing "success" counted failed; a Problem for
    each column whose length is not one entry per request."""
    n = len(res.output_lens)
    errors, ok, probs = _outcomes(res, n, rel)
    out_lens = _floats(res.output_lens, n)
    in_lens = _floats(res.input_lens, n)
    ttft = _floats(res.ttfts, n)
    if len(out_lens) == n and len(ttft) == n:
        # a "success" that served nothing (0 output tokens, TTFT exactly 0) is a failed request:
        # counted, it pulls the mean TTFT down and the failure count under P11's threshold
        empty = ok & (out_lens == 0) & (ttft == 0)
        if empty.any():
            ok = ok & ~empty
            errors = [EMPTY_SUCCESS if empty[i] else e for i, e in enumerate(errors[:n])]
    for name, a in (("input_lens", in_lens), ("ttfts", ttft)):
        if len(a) != n:
            probs.append(Problem(rel, f"has {len(a)} entries, expected {n} (one per request)", None, name))
    e2e_s, e2e_probs = _e2e_seconds(res, body, ttft, n, rel)
    return _Requests(n, ok, errors, out_lens, in_lens, ttft, e2e_s), probs + e2e_probs


def _fill(rr: RawRep, q: _Requests, start_times: list[float | None] | None) -> None:
    """The per-request arrays the rules read (ms, successful requests only), and the rep's span."""
    ok, n = q.ok, q.n
    with np.errstate(invalid="ignore", divide="ignore"):
        ttft_ms = np.where(ok, q.ttft * 1000.0, np.nan)
        e2e_ms = np.where(ok, q.e2e_s * 1000.0, np.nan)
        decode = q.out_lens - 1
        tpot_ms = np.where(ok & (decode > 0), (e2e_ms - ttft_ms) / np.where(decode > 0, decode, np.nan), np.nan)
    rr.arrays = {
        "ok": ok,
        "output_lens": q.out_lens,
        "input_lens": q.in_lens,
        "ttft_ms": ttft_ms,
        "e2e_ms": e2e_ms,
        "tpot_ms": tpot_ms,
    }
    rr.errors = q.errors[:n]
    if start_times:
        st = _floats(start_times, n)
        if np.isfinite(st).any():
            rr.first_start_s = float(np.nanmin(st))
            with np.errstate(invalid="ignore"):
                ends = np.where(ok, st + q.e2e_s, np.nan)
            if len(st) == n and np.isfinite(ends).any():
                rr.span_s = float(np.nanmax(ends) - np.nanmin(np.where(ok, st, np.nan)))


def parse_raw(data: bytes, rel: str) -> tuple[RawRep | None, list[Problem]]:
    """Normalize one raw result file; every malformed value is a Problem naming rel and field."""
    res, body, probs = _read(data, rel)
    if res is None:
        return None, probs
    probs += _bound_integers(res, rel)
    mc = res.max_concurrency
    rr = RawRep(
        file=rel,
        size=len(data),
        duration_s=res.duration,
        aggregates=_aggregates(res),
        server_info=res.server_info,
        date=res.date if isinstance(res.date, str) else None,
        max_concurrency=mc if isinstance(mc, int) and not isinstance(mc, bool) and mc > 0 else None,
        workload=workload_fields(body, decoded=res),
        spec_accept_length=_speculated(res),
    )
    if res.output_lens is None or res.ttfts is None:
        return rr, probs  # aggregates only (vLLM without --save-detailed)
    q, req_probs = _requests(res, body, rel)
    probs += req_probs
    if probs and any(p.field for p in probs):
        return rr, probs
    _fill(rr, q, res.start_times)
    return rr, probs
