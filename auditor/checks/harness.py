"""Scope harness (H1-H10; H11 in harness_served.py): is the op-level measurement fair, correct and ungamed?

The checks read ops/<op>/opbench.json, the raw record the op harness writes for a
candidate. Pure helpers (``self_compare``, ``tolerance_violations``) are also used by the
patch gate to decide whether an isolated number can be shown at all.
"""

from __future__ import annotations

import numpy as np

from .. import stats
from ..evidence.models import EvidencePointer, Finding, OpBenchRecord
from ..policy import AuditPolicy
from .registry import GateContext, rule
from ..evidence.layout import OPBENCH, op_file


def self_compare(rec: OpBenchRecord) -> bool | None:
    if not rec.baseline_backend or not rec.candidate_backend:
        return None
    return rec.baseline_backend.strip().lower() == rec.candidate_backend.strip().lower()


def _tol(policy: AuditPolicy, dtype: str) -> float | None:
    return policy.tolerances.get(dtype.lower().replace("torch.", ""))


UNRECORDED = "rel_err not recorded"


def tolerance_violations(rec: OpBenchRecord, policy: AuditPolicy) -> list[str]:
    bad = []
    for c in rec.correctness:
        ref_tol, dt_tol = _tol(policy, c.reference_dtype), _tol(policy, c.dtype)
        if ref_tol is not None and dt_tol is not None and ref_tol >= dt_tol and c.reference_dtype.lower() != "fp64":
            bad.append(f"shape {c.shape}: reference in {c.reference_dtype} is not higher precision than {c.dtype}")
        if c.passed is False:
            bad.append(f"shape {c.shape}: the harness's own correctness check failed")
        elif c.rel_err is None or not np.isfinite(c.rel_err):
            bad.append(f"shape {c.shape}: {UNRECORDED}")
        elif dt_tol is not None and c.rel_err > dt_tol:
            bad.append(f"shape {c.shape}: rel_err {c.rel_err:g} > {dt_tol:g} ({c.dtype})")
    return bad


def _guard(ctx: GateContext, rule_id: str) -> tuple[OpBenchRecord | None, list[Finding], EvidencePointer]:
    """The op's harness record, or the finding that says why there is none."""
    path = op_file(str(ctx.decision.op), OPBENCH)  # "ops/None/..." names the missing op as before
    p = EvidencePointer(file=path)
    if not ctx.decision.op:
        return None, ctx.bad(rule_id, "harness decision names no op", evidence=[ctx.decision_ptr]), p
    rec, probs = ctx.run.opbench(ctx.decision.op)
    if rec is None:
        return (
            None,
            ctx.missing(
                rule_id, f"op harness record unreadable: {probs[0] if probs else path + ' missing'}", evidence=[p]
            ),
            p,
        )
    return rec, [], p


@rule("H1", ["harness"], "self-comparing baseline", "fail", "eject")
def h1_self_compare(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H1")
    if rec is None:
        return errs
    sc = self_compare(rec)
    if sc is None:
        return ctx.missing("H1", "baseline or candidate backend not recorded", evidence=[p])
    if sc:
        return ctx.bad(
            "H1",
            f"baseline backend {rec.baseline_backend!r} is the candidate's own backend: the speedup compares it with itself",
            evidence=[p],
        )
    return ctx.ok("H1", f"{rec.baseline_backend} vs {rec.candidate_backend}")


@rule("H2", ["harness"], "wrong reference / loose tolerance", "fail", "eject")
def h2_tolerance(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H2")
    if rec is None:
        return errs
    if not rec.correctness:
        return ctx.missing("H2", "no correctness records", evidence=[p])
    bad = tolerance_violations(rec, ctx.policy)
    unrecorded = [b for b in bad if b.endswith(UNRECORDED)]
    if len(unrecorded) < len(bad):
        return ctx.bad(
            "H2",
            "; ".join([b for b in bad if b not in unrecorded][:4]),
            evidence=[EvidencePointer(file=p.file, field="correctness")],
        )
    if unrecorded:  # a verdict with no error measured: missing evidence, not a measured violation
        return ctx.missing(
            "H2", "; ".join(unrecorded[:4]), evidence=[EvidencePointer(file=p.file, field="correctness")]
        )
    return ctx.ok("H2", f"{len(rec.correctness)} shape(s) within dtype tolerance of a higher-precision reference")


@rule("H3", ["harness"], "unserved shapes", "fail", "eject")
def h3_shapes(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H3")
    if rec is None:
        return errs
    if not rec.served_shapes or not rec.timed_shapes:
        return ctx.missing("H3", "served or timed shapes not recorded", evidence=[p])
    served = {tuple(s) for s in rec.served_shapes}
    extra = [s for s in rec.timed_shapes if tuple(s) not in served]
    if extra:
        return ctx.bad(
            "H3",
            f"timed shapes {extra} never occur in the served set {sorted(served)}",
            evidence=[EvidencePointer(file=p.file, field="timed_shapes")],
        )
    return ctx.ok("H3", f"{len(rec.timed_shapes)} timed shape(s), all served")


@rule("H4", ["harness"], "work escapes the timer (side stream / thread)", "fail", "eject")
def h4_side_stream(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H4")
    if rec is None:
        return errs
    ag = rec.anti_gaming
    if ag.all_streams_synced is None or ag.event_ms is None or ag.wall_ms is None:
        return ctx.missing("H4", "no all-stream sync / event-vs-wall cross-check recorded", evidence=[p])
    ratio = ag.event_ms / ag.wall_ms if ag.wall_ms else None
    rec_ = {"event_ms": ag.event_ms, "wall_ms": ag.wall_ms, "ratio": ratio}
    if not ag.all_streams_synced:
        return ctx.bad("H4", "streams were not all synchronised before the end event", evidence=[p], recomputed=rec_)
    # harness v2+ (readiness probe): the outputs read where the end event sits vs once every
    # stream and thread finished, and (GPU) read while a lead still held the timed stream
    # before the call. Either mismatch is proof by effect, whatever the durations. Records
    # without these fields (None) are judged on the ratio alone.
    ready = getattr(ag, "output_ready_at_end_event", None)
    early = getattr(ag, "output_complete_before_timed_call", None)
    trials = (getattr(ag, "ready_probe", None) or {}).get("trials") or []
    rp = EvidencePointer(file=p.file, field="anti_gaming.ready_probe")
    if ready is not None:
        rec_["output_ready_at_end_event"] = ready
        rec_["output_complete_before_timed_call"] = early
    if ready is False:
        stale = [t for t in trials if not t.get("ready")]
        worst = max((t.get("stale_byte_fraction") or 0.0 for t in stale), default=0.0)
        return ctx.bad(
            "H4",
            f"the output was not yet written when the timed stream reached its end ({len(stale)}/{len(trials)} trial(s), "
            f"up to {100 * worst:.0f}% of its bytes stale): work ran outside the timed stream",
            evidence=[rp],
            recomputed=rec_,
        )
    if early:
        n = sum(1 for t in trials if t.get("complete_before_call"))
        return ctx.bad(
            "H4",
            f"the output was already complete while the timed stream was still held before the call ({n}/{len(trials)} "
            "trial(s)): it was computed outside the timed stream",
            evidence=[rp],
            recomputed=rec_,
        )
    if ratio is not None and ratio < ctx.policy.min_event_wall_ratio:
        return ctx.bad(
            "H4",
            f"timed {ag.event_ms:g} ms by events but {ag.wall_ms:g} ms by wall clock (ratio {ratio:.2f}): work ran outside the timed stream",
            evidence=[p],
            recomputed=rec_,
        )
    tail = "; output complete at the end event" if ready else ""
    return ctx.ok("H4", f"event/wall ratio {'n/a' if ratio is None else f'{ratio:.2f}'}{tail}", recomputed=rec_)


@rule("H5", ["harness"], "constant / cached output", "fail", "eject")
def h5_constant(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H5")
    if rec is None:
        return errs
    ag = rec.anti_gaming
    if ag.fresh_input_output_identical is None or ag.jitter_output_unchanged is None:
        return ctx.missing("H5", "fresh-input and jitter probes not recorded", evidence=[p])
    if ag.fresh_input_output_identical or ag.jitter_output_unchanged:
        which = "fresh inputs" if ag.fresh_input_output_identical else "input jitter"
        return ctx.bad(
            "H5", f"output unchanged under {which}: the candidate returns a constant or cached result", evidence=[p]
        )
    return ctx.ok("H5", "output follows its inputs")


@rule("H6", ["harness"], "setup precompute", "fail", "eject")
def h6_precompute(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H6")
    if rec is None:
        return errs
    v = rec.anti_gaming.output_from_timed_call
    if v is None:
        return ctx.missing("H6", "output provenance not recorded", evidence=[p])
    if not v:
        return ctx.bad("H6", "the output existed before the timed call (computed in setup/warm-up)", evidence=[p])
    return ctx.ok("H6", "output produced by the timed call")


@rule("H7", ["harness"], "aliasing / lazy output", "fail", "eject")
def h7_alias(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H7")
    if rec is None:
        return errs
    ag = rec.anti_gaming
    if ag.output_aliases_input is None or ag.forced_evaluation is None:
        return ctx.missing("H7", "aliasing / forced-evaluation probes not recorded", evidence=[p])
    if ag.output_aliases_input:
        return ctx.bad("H7", "the output aliases a pre-filled input buffer", evidence=[p])
    if not ag.forced_evaluation:
        return ctx.bad(
            "H7", "the output was not forced inside the timed region (a lazy result times nothing)", evidence=[p]
        )
    return ctx.ok("H7", "no aliasing; evaluation forced")


@rule("H8", ["harness"], "author's test shares the bug", "fail", "eject")
def h8_oracle(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H8")
    if rec is None:
        return errs
    o = rec.oracle
    if o is None:
        return ctx.missing("H8", "no independent oracle result", evidence=[p])
    if not o.author_independent:
        return ctx.bad(
            "H8", f"oracle {o.name!r} was written by the candidate's author: it can share the bug", evidence=[p]
        )
    if o.failures or not o.cases:
        return ctx.bad(
            "H8",
            f"independent oracle {o.name!r}: {o.failures}/{o.cases} case(s) failed",
            evidence=[EvidencePointer(file=p.file, field="oracle")],
            recomputed={"failures": o.failures, "cases": o.cases},
        )
    return ctx.ok("H8", f"independent oracle {o.name!r}: {o.cases} case(s) pass")


def op_speedup(rec: OpBenchRecord) -> float | None:
    """The op's speedup over its timing baseline: median of the raw baseline times over the
    median of the raw candidate times (H9; P8's Amdahl bound; geak's isolated-speedup context)."""
    t = rec.timing
    if t is None or not t.baseline_times_ms or not t.candidate_times_ms:
        return None
    b, c = stats.median(t.baseline_times_ms), stats.median(t.candidate_times_ms)
    return b / c if b and c else None


@rule("H9", ["harness"], "implausible speedup", "flag", "flag")
def h9_implausible(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H9")
    if rec is None:
        return errs
    sp = op_speedup(rec)
    if sp is None and rec.per_case:
        return _h9_per_case(ctx, rec, p)
    if sp is None:
        return ctx.missing("H9", "raw baseline/candidate times not recorded", evidence=[p])
    out: list[Finding] = []
    rec_ = {"speedup": sp, "claimed_speedup": rec.claimed_speedup}
    if rec.claimed_speedup is not None and not stats.rel_close(rec.claimed_speedup, sp, 0.02):
        out += ctx.bad(
            "H9", f"claimed {rec.claimed_speedup:g}x but the raw times give {sp:.3g}x", evidence=[p], recomputed=rec_
        )
    if sp > ctx.policy.max_plausible_speedup:
        out += ctx.bad(
            "H9",
            f"speedup {sp:.3g}x above {ctx.policy.max_plausible_speedup:g}x needs proof",
            evidence=[p],
            recomputed=rec_,
        )
    rf = rec.roofline
    if rf and rf.bytes_moved and rf.peak_bandwidth_gbps and rec.timing and rec.timing.candidate_times_ms:
        t_ms = stats.median(rec.timing.candidate_times_ms) or 0.0
        floor_ms = rf.bytes_moved / (rf.peak_bandwidth_gbps * 1e9) * 1e3
        rec_["bandwidth_floor_ms"] = floor_ms
        if t_ms < floor_ms:
            out += ctx.bad(
                "H9",
                f"candidate time {t_ms:.4g} ms beats the bandwidth floor {floor_ms:.4g} ms: physically impossible",
                evidence=[p],
                recomputed=rec_,
            )
    if not out:
        out += ctx.ok("H9", f"speedup {sp:.3g}x plausible", recomputed=rec_)
    return out


def _h9_per_case(ctx: GateContext, rec: OpBenchRecord, p: EvidencePointer) -> list[Finding]:
    """No raw times, only a summary's per-shape medians: its headline must at least follow from
    its own table (geometric mean of baseline/candidate), and stay plausible."""
    out: list[Finding] = []
    ratios = []
    for c in rec.per_case:
        if not (c.baseline_ms and c.candidate_ms and c.baseline_ms > 0 and c.candidate_ms > 0):
            continue
        r = c.baseline_ms / c.candidate_ms
        ratios.append(r)
        if c.claimed_speedup is not None and not stats.rel_close(c.claimed_speedup, r, 0.02):
            out += ctx.bad(
                "H9",
                f"case {c.name}: claimed {c.claimed_speedup:g}x but its own times give {r:.3g}x",
                evidence=[EvidencePointer(file=p.file, field="per_case")],
            )
    if not ratios:
        return ctx.missing("H9", "neither raw times nor per-case times recorded", evidence=[p])
    geo = float(np.exp(np.mean(np.log(ratios))))
    rec_ = {"per_case_geomean": geo, "claimed_speedup": rec.claimed_speedup, "cases": len(ratios)}
    if rec.claimed_speedup is not None and not stats.rel_close(rec.claimed_speedup, geo, 0.02):
        out += ctx.bad(
            "H9",
            f"claimed {rec.claimed_speedup:g}x but the summary's own {len(ratios)} per-case times give a "
            f"geometric mean of {geo:.3g}x",
            evidence=[p],
            recomputed=rec_,
        )
    if max(ratios) > ctx.policy.max_plausible_speedup:
        out += ctx.bad(
            "H9",
            f"a per-case speedup of {max(ratios):.3g}x is above {ctx.policy.max_plausible_speedup:g}x and needs proof",
            evidence=[p],
            recomputed=rec_,
        )
    if not out:
        out += ctx.ok(
            "H9",
            f"{geo:.3g}x follows from the per-case times (a summary's medians; no raw times recorded)",
            recomputed=rec_,
        )
    return out


@rule("H10", ["harness"], "timing method", "flag", "flag")
def h10_timing(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H10")
    if rec is None:
        return errs
    t = rec.timing
    if t is None:
        return ctx.missing("H10", "no timing record", evidence=[p])
    why = []
    if not t.warmup_isolated:
        why.append("warm-up not isolated from timed reps")
    if (t.device or "").startswith("cuda") and not t.l2_flush_per_rep:
        why.append("no L2 flush per rep on GPU")
    if t.total_timed_ms is None or t.total_timed_ms < ctx.policy.min_timed_ms:
        why.append(f"timed {t.total_timed_ms} ms < {ctx.policy.min_timed_ms:g} ms (iterations not adaptive)")
    if not t.baseline_times_ms or not t.candidate_times_ms:
        why.append("raw per-rep times not stored")
    if why:
        return ctx.bad("H10", "; ".join(why), evidence=[EvidencePointer(file=p.file, field="timing")])
    return ctx.ok("H10", f"{t.method}: {len(t.candidate_times_ms)} raw times, {t.total_timed_ms:g} ms timed")
