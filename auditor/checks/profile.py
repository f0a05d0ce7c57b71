"""Scope profile (R1-R3): re-aggregate device time from the raw trace and check the routing claim."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ..evidence.models import EvidencePointer, Finding, ProfileClaim
from ..evidence.decoding import gunzip_capped
from .op_classes import DEVICE_CATS, compiled_region, device_name, launch_ops, op_family
from .registry import GateContext, rule
from ..evidence.layout import ROUTING, profile_file

__all__ = ["compiled_region", "op_family", "self_times_us", "family_shares", "load_trace", "trace_times"]


def self_times_us(events: list[dict[str, Any]]) -> dict[str, float]:
    """Exclusive time per event name. Device kernels when the trace has any (a generic ATen
    kernel's time booked under the op that launched it: op_classes.device_name), else CPU ops
    with nested children subtracted (a CPU trace nests aten ops inside module calls).

    On CPU, user annotations take part in the nesting (their children are theirs), but only
    a torch.compile region's own time counts as an op: it is the fused inductor code. Other
    annotations (vLLM's per-step ``execute_context_*``) are host-side scheduling glue, not an
    op anything could replace; their own time stays out of the total, so shares are shares
    of op time."""
    xs = [e for e in events if isinstance(e, dict) and e.get("ph") == "X" and isinstance(e.get("dur"), (int, float))]
    kernels = [e for e in xs if str(e.get("cat", "")).lower() in DEVICE_CATS]
    totals: dict[str, float] = defaultdict(float)
    if kernels:
        launchers = launch_ops(xs)
        for e in kernels:
            totals[device_name(e, launchers)] += float(e["dur"])
        return dict(totals)
    ops = [e for e in xs if str(e.get("cat", "")).lower() in ("cpu_op", "user_annotation")]
    by_thread: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in ops:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    for evs in by_thread.values():
        evs.sort(key=lambda e: (float(e.get("ts", 0)), -float(e["dur"])))
    # exclusive time = inclusive - direct children, per thread, by interval nesting
    excl: dict[str, float] = defaultdict(float)

    def close(item: list[Any]) -> None:
        _, name, incl, child, counted = item
        if counted:
            excl[name] += max(incl - child, 0.0)

    for evs in by_thread.values():
        stack2: list[list[Any]] = []
        for e in evs:
            ts, dur = float(e.get("ts", 0)), float(e["dur"])
            while stack2 and stack2[-1][0] <= ts:
                close(stack2.pop())
            if stack2:
                stack2[-1][3] += dur
            name = str(e.get("name"))
            counted = str(e.get("cat", "")).lower() == "cpu_op" or compiled_region(name)
            stack2.append([ts + dur, name, dur, 0.0, counted])
        while stack2:
            close(stack2.pop())
    return dict(excl)


def family_shares(times_us: dict[str, float]) -> dict[str, float]:
    total = sum(times_us.values())
    fam: dict[str, float] = defaultdict(float)
    for name, t in times_us.items():
        fam[op_family(name)] += t
    return {k: v / total for k, v in sorted(fam.items(), key=lambda kv: -kv[1])} if total else {}


MAX_TRACE_BYTES = 4 << 30  # decompressed; a torch-profiler trace of a serving window is MBs to a few GB


def load_trace(raw: bytes) -> list[dict[str, Any]]:
    """Events of a Chrome/torch-profiler trace. Raises ValueError for anything that is not one
    (corrupt gzip, a decompression bomb, hostile nesting, the wrong JSON shape)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip_capped(raw, MAX_TRACE_BYTES)
    try:
        obj = json.loads(raw)  # not store.loads: a depth walk over millions of events costs seconds
    except RecursionError:
        raise ValueError("nested deeper than Python can parse") from None
    events = obj.get("traceEvents", []) if isinstance(obj, dict) else obj
    if not isinstance(events, list):
        raise ValueError("traceEvents is not a list of events")
    return [e for e in events if isinstance(e, dict)]


def trace_times(run: Any, rel: str) -> dict[str, float]:
    """Exclusive time per op name of a run's raw trace, parsed once per loaded run (the
    profile gate and a kernel's patch gate both need it). Raises what reading raises."""
    key = ("trace_times", rel)
    if key not in run.memo:
        events = load_trace(run.store.read_bytes(rel))
        try:
            run.memo[key] = self_times_us(events)
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise ValueError(f"a trace event is malformed: {type(e).__name__}: {e}") from None
    got: dict[str, float] = run.memo[key]
    return got


def _load(
    ctx: GateContext,
) -> tuple[ProfileClaim | None, dict[str, float] | None, dict[str, float] | None, list[Finding]]:
    # R1-R3 share one parse of the trace per gate
    key = ("profile", ctx.decision.decision_id)
    if key not in ctx.memo:
        ctx.memo[key] = _load_uncached(ctx)
    return ctx.memo[key]  # type: ignore[no-any-return]


def _load_uncached(
    ctx: GateContext,
) -> tuple[ProfileClaim | None, dict[str, float] | None, dict[str, float] | None, list[Finding]]:
    rid = ctx.decision.profile_round
    if not rid:
        return None, None, None, ctx.bad("R1", "profile decision names no profile round", evidence=[ctx.decision_ptr])
    claim, probs = ctx.run.profile(rid)
    if claim is None:
        return (
            None,
            None,
            None,
            ctx.missing(
                "R1",
                f"routing claim unreadable: {probs[0] if probs else 'missing'}",
                evidence=[EvidencePointer(file=profile_file(rid, ROUTING))],
            ),
        )
    rel = profile_file(rid, claim.trace_file)
    try:
        times = trace_times(ctx.run, rel)
    except FileNotFoundError:
        return claim, None, None, ctx.missing("R1", f"raw trace {rel} is missing", evidence=[EvidencePointer(file=rel)])
    except (ValueError, OSError) as e:
        return (
            claim,
            None,
            None,
            ctx.bad("R1", f"raw trace {rel} unreadable: {e}", evidence=[EvidencePointer(file=rel)]),
        )
    if not times:
        return (
            claim,
            None,
            None,
            ctx.bad("R1", f"raw trace {rel} holds no timed ops", evidence=[EvidencePointer(file=rel)]),
        )
    return claim, times, family_shares(times), []


@rule("R1", ["profile"], "routed op misattributed", "fail", "reroute")
def r1_misattribution(ctx: GateContext) -> list[Finding]:
    claim, times, shares, errs = _load(ctx)
    if errs:
        return errs
    assert claim is not None and shares is not None
    top = list(shares)[: ctx.policy.routing_top_k]
    out: list[Finding] = []
    if not claim.routed:
        # routing nothing is a claim too ("nothing here is worth a kernel"); R3 judges whether
        # every top family was skipped for a stated reason
        return ctx.na("R1", "the routing claim routes no op: nothing to misattribute (R3 checks the skips)")
    for r in claim.routed:
        got = shares.get(r.family, 0.0)
        rec = {
            "family": r.family,
            "trace_share": got,
            "claimed_share": r.claimed_share,
            "top_families": {k: shares[k] for k in top},
        }
        if r.family not in top:
            out += ctx.bad(
                "R1",
                f"routed op {r.family} is not among the top {len(top)} op families by device time ({top}); trace share {got:.1%}",
                recomputed=rec,
            )
        elif r.claimed_share is not None and abs(r.claimed_share - got) > ctx.policy.routing_share_tolerance:
            out += ctx.bad(
                "R1",
                f"routed op {r.family}: claimed share {r.claimed_share:.1%}, the raw trace gives {got:.1%}",
                recomputed=rec,
                claimed={"share": r.claimed_share},
            )
        else:
            out += ctx.ok(
                "R1", f"routed op {r.family}: {got:.1%} of device time, rank {top.index(r.family) + 1}", recomputed=rec
            )
    return out


@rule("R2", ["profile"], "fragmented op hides its share", "flag", "flag")
def r2_fragmentation(ctx: GateContext) -> list[Finding]:
    claim, times, shares, errs = _load(ctx)
    if errs:
        return ctx.unchecked("R2", "no usable trace")
    assert claim is not None and times is not None and shares is not None
    total = sum(times.values())
    routed = {r.family for r in claim.routed}
    routed_share = max((shares.get(f, 0.0) for f in routed), default=0.0)
    biggest_single = max(times.values()) / total
    out: list[Finding] = []
    for fam, share in shares.items():
        if fam in routed or fam == "other" or share <= routed_share:
            continue
        singles = [t / total for n, t in times.items() if op_family(n) == fam]
        if max(singles) < routed_share and len(singles) > 1:
            out += ctx.bad(
                "R2",
                f"op family {fam} takes {share:.1%} over {len(singles)} kernel names (largest {max(singles):.1%}), "
                f"more than the routed {sorted(routed)} at {routed_share:.1%}: ranking by kernel name hid it",
                recomputed={
                    "family": fam,
                    "share": share,
                    "kernels": len(singles),
                    "largest_kernel_share": max(singles),
                },
            )
    if not out:
        out += ctx.ok("R2", f"no fragmented family outranks the routed op (largest single kernel {biggest_single:.1%})")
    return out


@rule("R3", ["profile"], "routed op not editable / top op skipped", "flag", "flag")
def r3_skipped(ctx: GateContext) -> list[Finding]:
    claim, times, shares, errs = _load(ctx)
    if errs:
        return ctx.unchecked("R3", "no usable trace")
    assert claim is not None and shares is not None
    out: list[Finding] = []
    for r in claim.routed:
        if r.editable is not True:
            out += ctx.bad(
                "R3", f"routed op {r.family} is not shown to be replaceable in the engine (editable={r.editable})"
            )
    accounted = {r.family for r in claim.routed} | {s.family for s in claim.skipped if s.reason.strip()}
    top = [f for f in list(shares)[: ctx.policy.routing_top_k] if f != "other"]
    for fam in top:
        if fam not in accounted:
            out += ctx.bad("R3", f"top op family {fam} ({shares[fam]:.1%}) is neither routed nor skipped with a reason")
    if not out:
        out += ctx.ok("R3", f"every top family accounted for: {top}")
    return out
