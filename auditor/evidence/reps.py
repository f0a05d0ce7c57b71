"""A leg's repetitions: from the tool's raw files, with geak's bench_runs.jsonl held to them.

The set of repetitions, their order and their numbers come from raw/: one file per rep,
ordered by when its first request started. A line of bench_runs.jsonl (the leg runner's
normalized copy, a producer's claim) contributes only what raw cannot say: which reps were
warm-up, and that flag must sit on the earliest reps. Anything else the claim says that raw
does not (another duration, scaled throughputs, a rep counted twice, a rep left out, a rep
that has no raw file) is a mismatch that P2 FAILs, naming both files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from .models import METRICS, BenchRep, RequestArrays
from .copies import Print, fingerprint, same_measurement
from .raw import EMPTY_SUCCESS, RawRep
from .store import Problem
from .layout import BENCH_RUNS

LATENCY_FIELDS = ("ttft_ms", "e2e_ms", "tpot_ms")
# per-request arrays the rules read, and the raw key each comes from (for messages)
COMPARED = {"output_lens": "output_lens", "input_lens": "input_lens", "ttft_ms": "ttfts", "e2e_ms": "latencies"}
REL = 1e-6  # a float written by json and read back differs by far less


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
        for mask, what in ((ok & ~np.isfinite(arr), "is NaN, infinite or null on a successful request"), (ok & (arr < 0), "is negative")):
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
        return [Problem(file, f"duration is {duration!r}: throughput cannot be re-derived", line, "duration_s" if not rd.from_raw else "duration")]
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
    """The part of a bench_runs.jsonl line compare() holds to raw; other fields are skipped."""

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
    req = None if r is None else RequestArrays.model_construct(ok=r.ok, input_lens=r.input_lens, output_lens=r.output_lens,
                                                               ttft_ms=r.ttft_ms, e2e_ms=r.e2e_ms, tpot_ms=None, start_s=None, errors=None)
    return BenchRep.model_construct(schema_version=1, kind="bench_rep", leg_id=c.leg_id, rep_index=c.rep_index, warmup=c.warmup,
                                    tool=c.tool, raw_file=c.raw_file, duration_s=c.duration_s, reported=c.reported, requests=req)


def derive_rep(line: int, rep: BenchRep, file: str, *, claim_only: bool = False) -> tuple[RepData, list[Problem]]:
    """A rep from geak's normalized line alone: the leg's numbers where raw/ is absent, else
    (``claim_only``) just what compare() holds to raw: no TPOT, no value checks (raw's own
    values are checked; a claim that differs from them is a mismatch either way)."""
    errs = rep.requests.errors if rep.requests and not claim_only else None
    rd = RepData(line=line, rep=rep, file=file, reported=dict(rep.reported),
                 errors=[e or "" for e in errs] if errs and any(errs) else [""] * len(errs or ()))
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
    if "tpot_ms" not in rd.arrays and "ttft_ms" in rd.arrays and "e2e_ms" in rd.arrays and len(rd.arrays["output_lens"]) == len(ok):
        with np.errstate(invalid="ignore", divide="ignore"):
            decode = rd.arrays["output_lens"] - 1
            rd.arrays["tpot_ms"] = (rd.arrays["e2e_ms"] - rd.arrays["ttft_ms"]) / np.where(decode > 0, decode, np.nan)
    probs += _throughputs(rd, rep.duration_s, file, line)
    return rd, probs


def from_raw(rr: RawRep, rep: BenchRep, line: int | None) -> tuple[RepData, list[Problem]]:
    rd = RepData(line=line, rep=rep, file=rr.file, reported=dict(rr.aggregates), errors=list(rr.errors), from_raw=True, raw=rr)
    if not rr.arrays:
        return rd, []
    rd.arrays = dict(rr.arrays)
    ok = rr.arrays["ok"]
    probs: list[Problem] = []
    for name, raw_key in COMPARED.items():
        probs += _check_array(raw_key, rr.arrays[name], ok, rr.file, None, "")
    probs += _throughputs(rd, rr.duration_s, rr.file, None)
    return rd, probs


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def compare(claim: RepData, raw: RepData, rr: RawRep, bench_file: str) -> list[Problem]:
    """Where geak's normalized line says something the tool's own output does not."""
    out: list[Problem] = []
    line = claim.line

    def bad(fld: str, claimed: Any, actual: Any) -> None:
        out.append(Problem(bench_file, f"says {claimed!r} but {rr.file} (the tool's own output) says {actual!r}", line, fld))

    cd, rd_ = claim.rep.duration_s, rr.duration_s
    if (cd is None) != (rd_ is None) or (cd is not None and rd_ is not None and not _close(float(cd), float(rd_))):
        bad("duration_s", cd, rd_)
    for k, v in claim.reported.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            continue
        if k not in rr.aggregates:
            if k in ("completed", "failed", "total_input_tokens", "total_output_tokens") or "throughput" in k or k.endswith("_ms"):
                bad(f"reported.{k}", v, "no such field")
        elif not _close(float(v), rr.aggregates[k]):
            bad(f"reported.{k}", v, rr.aggregates[k])
    if raw.has_arrays != claim.has_arrays:
        bad("requests", "per-request arrays" if claim.has_arrays else None, "per-request arrays" if raw.has_arrays else None)
        return out
    if not raw.has_arrays:
        return out
    ok_c, ok_r = claim.arrays["ok"], raw.arrays["ok"]
    if len(ok_c) != len(ok_r):
        bad("requests.ok", f"{len(ok_c)} requests", f"{len(ok_r)} requests")
        return out
    if not np.array_equal(ok_c, ok_r):
        bad("requests.ok", f"{int(ok_c.sum())} succeeded", f"{int(ok_r.sum())} succeeded")
    for name, raw_key in COMPARED.items():
        a, b = claim.arrays.get(name), raw.arrays[name]
        if a is None or len(a) != len(b):
            continue
        mask = ok_r & ok_c
        if not np.allclose(a[mask], b[mask], rtol=REL, atol=1e-9, equal_nan=True):
            i = int(np.flatnonzero(~np.isclose(a[mask], b[mask], rtol=REL, atol=1e-9, equal_nan=True))[0])
            j = int(np.flatnonzero(mask)[i])
            out.append(Problem(bench_file, f"{a[j]!r} but {rr.file} field '{raw_key}[{j}]' gives {b[j]!r} "
                               "(the tool's own output)", line, f"requests.{name}[{j}]"))
    return out


@dataclass
class Reconciled:
    reps: list[RepData]
    problems: list[Problem]  # unreadable or invalid raw values (P1)
    mismatches: list[Problem]  # the claim disagrees with raw (P2)
    raw_missing: list[Problem]  # the tool's output is absent (P1: FAIL on a geak run)


def reconcile(leg_id: str, leg_dir: str, claims: list[RepData], raws: dict[str, RawRep], raw_probs: list[Problem],
              claims_complete: bool = True) -> Reconciled:
    """``raws``: run-relative raw file -> parsed; ``claims`` derived from bench_runs.jsonl.
    ``claims_complete`` is False when some line of bench_runs.jsonl could not be read (P1
    names it): a raw file no readable line names may be that line's, so it is not also a
    P2 mismatch."""
    bench = f"{leg_dir}/{BENCH_RUNS}"
    res = Reconciled(reps=[], problems=list(raw_probs), mismatches=[], raw_missing=[])
    if not raws:
        if claims:
            named = sorted({c.rep.raw_file for c in claims if c.rep.raw_file})
            res.raw_missing.append(Problem(f"{leg_dir}/raw", "the benchmark tool's own output is absent"
                                           + (f" (bench_runs.jsonl names {', '.join(named[:3])})" if named else "")
                                           + "; the leg's numbers are only geak's normalized copy"))
        res.reps = claims
        return res
    by_file: dict[str, list[RepData]] = {}
    for c in claims:
        if not c.rep.raw_file:
            res.mismatches.append(Problem(bench, f"rep {c.rep.rep_index} names no raw file: nothing the tool wrote backs it; "
                                          "it is not counted", c.line, "raw_file"))
            continue
        rel = f"{leg_dir}/{c.rep.raw_file}"
        if rel not in raws:
            res.mismatches.append(Problem(bench, f"rep {c.rep.rep_index} names {c.rep.raw_file}, which is not a readable file "
                                          "in raw/; it is not counted", c.line, "raw_file"))
            continue
        by_file.setdefault(rel, []).append(c)
    seen: dict[Any, str] = {}
    kept: list[Print] = []
    next_index = max((c.rep.rep_index for c in claims), default=-1) + 1
    for rel in sorted(raws):
        rr = raws[rel]
        # a copy has the same bytes, or (altered) the same measurement: copies.py
        if rr.sha256 is not None and rr.sha256 in seen:
            res.mismatches.append(Problem(rel, f"has the same bytes as {seen[rr.sha256]}: one repetition copied; counted once"))
            continue
        if rr.sha256 is not None:
            seen[rr.sha256] = rel
        mine = fingerprint(rr)
        twin = next(((o.file, why) for o in kept if (why := same_measurement(o, mine)) is not None), None)
        if twin is not None:
            res.mismatches.append(Problem(rel, f"is the measurement of {twin[0]} again: {twin[1]}; one repetition copied "
                                          "and altered, counted once"))
            continue
        kept.append(mine)
        cs = by_file.get(rel, [])
        if len(cs) > 1:
            res.mismatches.append(Problem(bench, f"lines {', '.join(str(c.line) for c in cs)} all name {rel}: one repetition "
                                          "counted more than once; counted once", cs[1].line, "raw_file"))
        claim = cs[0] if cs else None
        if claim is None:
            if claims_complete:
                res.mismatches.append(Problem(rel, "is in raw/ but no line of bench_runs.jsonl names it: a measured repetition "
                                              "was left out of geak's copy; the auditor counts it"))
            rep = BenchRep.model_construct(leg_id=leg_id, rep_index=next_index, warmup=False, tool="raw", raw_file=rel[len(leg_dir) + 1:],
                                           duration_s=rr.duration_s, reported=rr.aggregates, requests=None, schema_version=1, kind="bench_rep")
            next_index += 1
        else:
            rep = claim.rep
        rd, probs = from_raw(rr, rep, claim.line if claim else None)
        res.problems += probs
        if claim is not None:
            res.mismatches += compare(claim, rd, rr, bench)
        res.reps.append(rd)
    res.reps.sort(key=lambda r: (_start(raws, r), r.rep.rep_index))
    res.mismatches += _warmup_order(res.reps, raws, bench)
    return res


def _start(raws: dict[str, RawRep], r: RepData) -> float:
    s = raws[r.file].first_start_s if r.file in raws else None
    return s if s is not None else float("inf")


def _warmup_order(reps: list[RepData], raws: dict[str, RawRep], bench: str) -> list[Problem]:
    """Warm-up is the start of a leg: a flag on a rep that began after a counted one drops a
    measured rep (the slowest, as a rule) from the statistics."""
    out: list[Problem] = []
    first_counted: RepData | None = None
    for r in reps:
        if not r.rep.warmup:
            first_counted = first_counted or r
        elif first_counted is not None and _start(raws, r) > _start(raws, first_counted):
            out.append(Problem(bench, f"rep {r.rep.rep_index} ({r.file}) is flagged warm-up but started after counted rep "
                               f"{first_counted.rep.rep_index} ({first_counted.file}): only a leg's first repetitions may "
                               "be warm-up; it is counted", r.line, "warmup"))
            r.rep = r.rep.model_copy(update={"warmup": False})
    return out
