"""geak's bench_runs.jsonl held to the tool's raw files: which repetitions a leg counts.

Raw decides the set of repetitions, their order and their numbers (reps.py derives each); a
line of bench_runs.jsonl, a producer's claim, contributes only which reps were warm-up, and
that flag must sit on the earliest reps. Apart from reps.py so the deriving of one rep's
numbers stays separate from the judging of the claim: anything the claim says that raw does
not (another duration, scaled throughputs, a rep counted twice, a rep left out, a rep that has
no raw file, a raw file copied) is a mismatch here that P2 FAILs, naming both files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .copies import Print, fingerprint, same_measurement
from .decoding import Problem
from .layout import BENCH_RUNS
from .models import BenchRep
from .raw import RawRep
from .reps import COMPARED, RepData, from_raw

REL = 1e-6  # a float written by json and read back differs by far less


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def compare(claim: RepData, raw: RepData, rr: RawRep, bench_file: str) -> list[Problem]:
    """Where geak's normalized line says something the tool's own output does not."""
    out: list[Problem] = []
    line = claim.line

    def bad(fld: str, claimed: Any, actual: Any) -> None:
        out.append(
            Problem(bench_file, f"says {claimed!r} but {rr.file} (the tool's own output) says {actual!r}", line, fld)
        )

    cd, rd_ = claim.rep.duration_s, rr.duration_s
    if (cd is None) != (rd_ is None) or (cd is not None and rd_ is not None and not _close(float(cd), float(rd_))):
        bad("duration_s", cd, rd_)
    for k, v in claim.reported.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            continue
        if k not in rr.aggregates:
            if (
                k in ("completed", "failed", "total_input_tokens", "total_output_tokens")
                or "throughput" in k
                or k.endswith("_ms")
            ):
                bad(f"reported.{k}", v, "no such field")
        elif not _close(float(v), rr.aggregates[k]):
            bad(f"reported.{k}", v, rr.aggregates[k])
    if raw.has_arrays != claim.has_arrays:
        bad(
            "requests",
            "per-request arrays" if claim.has_arrays else None,
            "per-request arrays" if raw.has_arrays else None,
        )
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
            out.append(
                Problem(
                    bench_file,
                    f"{a[j]!r} but {rr.file} field '{raw_key}[{j}]' gives {b[j]!r} (the tool's own output)",
                    line,
                    f"requests.{name}[{j}]",
                )
            )
    return out


@dataclass
class Reconciled:
    reps: list[RepData]
    problems: list[Problem]  # unreadable or invalid raw values (P1)
    mismatches: list[Problem]  # the claim disagrees with raw (P2)
    raw_missing: list[Problem]  # the tool's output is absent (P1: FAIL on a geak run)


def _raw_absent(leg_dir: str, claims: list[RepData]) -> Problem:
    named = sorted({c.rep.raw_file for c in claims if c.rep.raw_file})
    return Problem(
        f"{leg_dir}/raw",
        "the benchmark tool's own output is absent"
        + (f" (bench_runs.jsonl names {', '.join(named[:3])})" if named else "")
        + "; the leg's numbers are only geak's normalized copy",
    )


def _claims_by_file(
    claims: list[RepData], raws: dict[str, RawRep], leg_dir: str, bench: str
) -> tuple[dict[str, list[RepData]], list[Problem]]:
    """run-relative raw file -> the claims naming it, and the claims no readable raw file backs."""
    by_file: dict[str, list[RepData]] = {}
    unbacked: list[Problem] = []
    for c in claims:
        if not c.rep.raw_file:
            unbacked.append(
                Problem(
                    bench,
                    f"rep {c.rep.rep_index} names no raw file: nothing the tool wrote backs it; it is not counted",
                    c.line,
                    "raw_file",
                )
            )
            continue
        rel = f"{leg_dir}/{c.rep.raw_file}"
        if rel not in raws:
            unbacked.append(
                Problem(
                    bench,
                    f"rep {c.rep.rep_index} names {c.rep.raw_file}, which is not a readable file "
                    "in raw/; it is not counted",
                    c.line,
                    "raw_file",
                )
            )
            continue
        by_file.setdefault(rel, []).append(c)
    return by_file, unbacked


class _Copies:
    """The raw files seen so far, to find one that repeats another: the same bytes, or (altered)
    the same measurement (copies.py)."""

    def __init__(self) -> None:
        self.seen: dict[Any, str] = {}
        self.kept: list[Print] = []

    def copied(self, rel: str, rr: RawRep) -> Problem | None:
        """Why ``rel`` is a copy of a file seen before (it is then counted once); None, and it is
        remembered, when it is not."""
        if rr.sha256 is not None and rr.sha256 in self.seen:
            return Problem(rel, f"has the same bytes as {self.seen[rr.sha256]}: one repetition copied; counted once")
        if rr.sha256 is not None:
            self.seen[rr.sha256] = rel
        mine = fingerprint(rr)
        twin = next(((o.file, why) for o in self.kept if (why := same_measurement(o, mine)) is not None), None)
        if twin is not None:
            return Problem(
                rel,
                f"is the measurement of {twin[0]} again: {twin[1]}; one repetition copied and altered, counted once",
            )
        self.kept.append(mine)
        return None


def _unclaimed(leg_id: str, leg_dir: str, rel: str, rr: RawRep, rep_index: int) -> BenchRep:
    """The rep of a raw file no claim names: the auditor counts it under an index of its own."""
    return BenchRep.model_construct(
        leg_id=leg_id,
        rep_index=rep_index,
        warmup=False,
        tool="raw",
        raw_file=rel[len(leg_dir) + 1 :],
        duration_s=rr.duration_s,
        reported=rr.aggregates,
        requests=None,
        schema_version=1,
        kind="bench_rep",
    )


def _counted_twice(bench: str, rel: str, cs: list[RepData]) -> Problem:
    return Problem(
        bench,
        f"lines {', '.join(str(c.line) for c in cs)} all name {rel}: one repetition counted more than once; counted once",
        cs[1].line,
        "raw_file",
    )


def reconcile(
    leg_id: str,
    leg_dir: str,
    claims: list[RepData],
    raws: dict[str, RawRep],
    raw_probs: list[Problem],
    claims_complete: bool = True,
) -> Reconciled:
    """``raws``: run-relative raw file -> parsed; ``claims`` derived from bench_runs.jsonl.
    ``claims_complete`` is False when some line of bench_runs.jsonl could not be read (P1
    names it): a raw file no readable line names may be that line's, so it is not also a
    P2 mismatch."""
    bench = f"{leg_dir}/{BENCH_RUNS}"
    res = Reconciled(reps=[], problems=list(raw_probs), mismatches=[], raw_missing=[])
    if not raws:
        if claims:
            res.raw_missing.append(_raw_absent(leg_dir, claims))
        res.reps = claims
        return res
    by_file, res.mismatches = _claims_by_file(claims, raws, leg_dir, bench)
    copies = _Copies()
    next_index = max((c.rep.rep_index for c in claims), default=-1) + 1
    for rel in sorted(raws):
        rr = raws[rel]
        if (copied := copies.copied(rel, rr)) is not None:
            res.mismatches.append(copied)
            continue
        cs = by_file.get(rel, [])
        if len(cs) > 1:
            res.mismatches.append(_counted_twice(bench, rel, cs))
        claim = cs[0] if cs else None
        if claim is None:
            if claims_complete:
                res.mismatches.append(
                    Problem(
                        rel,
                        "is in raw/ but no line of bench_runs.jsonl names it: a measured repetition "
                        "was left out of geak's copy; the auditor counts it",
                    )
                )
            rep = _unclaimed(leg_id, leg_dir, rel, rr, next_index)
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
            out.append(
                Problem(
                    bench,
                    f"rep {r.rep.rep_index} ({r.file}) is flagged warm-up but started after counted rep "
                    f"{first_counted.rep.rep_index} ({first_counted.file}): only a leg's first repetitions may "
                    "be warm-up; it is counted",
                    r.line,
                    "warmup",
                )
            )
            r.rep = r.rep.model_copy(update={"warmup": False})
    return out
