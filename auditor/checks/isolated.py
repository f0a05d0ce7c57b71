"""P8: an isolated op speedup is never the headline, and must agree with the e2e delta both
ways: no e2e gain beyond the op's Amdahl bound (noise or a confound), no flat e2e under a large
predicted gain (the harness timed a path the server does not run).
"""

from __future__ import annotations

from typing import Any

from .. import stats
from ..evidence.models import EvidencePointer, Finding
from .harness import op_speedup, self_compare, tolerance_violations
from .patch import is_kernel_decision
from .op_classes import op_share
from .profile import trace_times
from .registry import GateContext, rule
from ..evidence.layout import OPBENCH, op_file, profile_file


# ---------------------------------------------------------------- P8


@rule("P8", ["patch", "bundle"], "isolated speedup as headline", "flag", "replace_headline_with_e2e")
def p8_isolated(ctx: GateContext) -> list[Finding]:
    c = ctx.decision.claim
    ref, cand = ctx.side_values(ctx.reference), ctx.side_values(ctx.candidate)
    e2e = None
    if ref and cand:
        r, k = stats.median(ref), stats.median(cand)
        if r and k:
            e2e = k / r if ctx.higher_is_better else r / k
    rec = {"isolated_speedup": c.isolated_speedup, "e2e_speedup": e2e}
    if c.headline_source == "isolated":
        return ctx.bad(
            "P8",
            f"the headline is an isolated op speedup ({c.isolated_speedup}x); the e2e number is {e2e and f'{e2e:.3f}x'}",
            evidence=[ctx.decision_ptr],
            recomputed=rec,
        )
    if is_kernel_decision(ctx) and not ctx.candidate:
        return ctx.bad(
            "P8",
            "kernel accept without e2e legs: an isolated number cannot stand alone",
            evidence=[ctx.decision_ptr],
            recomputed=rec,
        )
    beyond = _beyond_amdahl(ctx, e2e, rec)
    if beyond is not None:
        return beyond
    flat = _isolated_not_e2e(ctx, e2e, rec)
    if flat is not None:
        return flat
    if c.isolated_speedup is None:
        return ctx.na("P8", "no isolated number claimed", recomputed=rec)
    if ctx.decision.op:
        ob, _ = ctx.run.opbench(ctx.decision.op)
        untrustworthy = []
        if ob is not None:
            if self_compare(ob):
                untrustworthy.append(f"its op bench compares backend {ob.baseline_backend!r} with itself")
            untrustworthy += tolerance_violations(ob, ctx.policy)[:2]
        if untrustworthy:
            return ctx.bad(
                "P8",
                f"isolated {c.isolated_speedup}x is not trustworthy ({'; '.join(untrustworthy)}); headline the e2e "
                f"{e2e and f'{e2e:.3f}x'} instead",
                evidence=[EvidencePointer(file=op_file(ctx.decision.op, OPBENCH))],
                recomputed=rec,
            )
    return ctx.ok(
        "P8",
        f"headline is e2e ({e2e and f'{e2e:.3f}x'}); isolated {c.isolated_speedup}x reported beside it",
        recomputed=rec,
    )


def _isolated_not_e2e(ctx: GateContext, e2e: float | None, rec: dict[str, Any]) -> list[Finding] | None:
    """The other direction: an isolated speedup on a large share of time predicts an e2e gain
    (Amdahl); an e2e that stays flat, beyond the noise band below that, means the isolated
    number measured a path the server does not run (GEAK's "isolated is not e2e")."""
    c = ctx.decision.claim
    if e2e is None:
        return None
    # the profiled share and the harness's own speedup where the run has them; else the claim's
    trusted = _share_and_speedup(ctx)
    if trusted is not None:
        share, k, src = trusted[0], trusted[1], "profiled share and harness speedup"
    elif c.isolated_speedup is not None and c.op_share_pct is not None:
        share, k, src = c.op_share_pct / 100.0, c.isolated_speedup, "the claim's own share and speedup"
    else:
        return None
    if k <= 1.0 or not 0.0 < share < 1.0:
        return None
    bound_pct = (amdahl_bound(share, k) - 1.0) * 100
    gain_pct, band = (e2e - 1.0) * 100, ctx.policy.noise_band_pct
    rec.update(
        {
            "op_share": round(share, 5),
            "op_speedup": round(k, 4),
            "predicted_e2e_pct": round(bound_pct, 3),
            "noise_band_pct": band,
        }
    )
    # Amdahl is an upper bound: a gain below it is normal. Flat is no gain beyond the noise
    # band where the bound clears the band twice over (GEAK I6: +38.5% predicted, +0.1% served)
    if bound_pct > 2 * band and gain_pct <= band:
        return ctx.bad(
            "P8",
            f"isolated {k:.3g}x on {share:.1%} of time ({src}) predicts up to e2e {bound_pct:+.2f}%, the "
            f"legs re-derive {gain_pct:+.2f}% (within the {band:g}% noise band of nothing): the isolated number "
            "is not what the server runs; headline the e2e",
            evidence=[ctx.decision_ptr],
            recomputed=rec,
        )
    return None


def _share_and_speedup(ctx: GateContext) -> tuple[float, float, str] | None:
    """(the op's share of time re-aggregated from the raw trace, the harness's speedup from its
    raw times, the trace file) for a patch decision with a profile round and an op bench."""
    d = ctx.decision
    if not (d.scope == "patch" and d.op and d.profile_round):
        return None
    ob, _ = ctx.run.opbench(d.op)
    k = op_speedup(ob) if ob is not None else None
    claim, _ = ctx.run.profile(d.profile_round)
    if k is None or claim is None:
        return None
    trace = profile_file(d.profile_round, claim.trace_file)
    try:
        times = trace_times(ctx.run, trace)
    except (OSError, ValueError):
        return None
    share = op_share(times, d.op) if times else None
    return (share, k, trace) if share else None


def amdahl_bound(share: float, op_speedup: float) -> float:
    """The most a whole step can speed up when an op holding ``share`` of its time runs
    ``op_speedup`` times faster: 1 / (1 - s + s / k). Below 1 when the op got slower."""
    return 1.0 / (1.0 - share + share / op_speedup)


def _beyond_amdahl(ctx: GateContext, e2e: float | None, rec: dict[str, Any]) -> list[Finding] | None:
    """A kernel change cannot move the server more than its op's profiled share allows at the
    op speedup the harness measured. An e2e gain beyond that bound, even after taking the noise
    band off, is noise or a confound, never the kernel: re-measure. Needs the decision's profile
    round (share re-aggregated from the raw trace) and the op's harness record (raw times);
    without them the check does not apply."""
    d = ctx.decision
    trusted = _share_and_speedup(ctx) if e2e is not None else None
    if trusted is None or e2e is None:
        return None
    share, k, trace = trusted
    bound = amdahl_bound(share, k)
    band = ctx.policy.noise_band_pct
    gain_pct, bound_pct = (e2e - 1.0) * 100, (bound - 1.0) * 100
    rec.update(
        {
            "op_share": round(share, 5),
            "op_speedup": round(k, 4),
            "amdahl_bound_pct": round(bound_pct, 3),
            "noise_band_pct": band,
        }
    )
    if gain_pct - band > bound_pct:
        return ctx.bad(
            "P8",
            f"e2e {gain_pct:+.2f}% is beyond what the kernel can give: {d.op} is {share:.1%} of op time "
            f"(profile {d.profile_round}) at {k:.3g}x in the harness, an Amdahl bound of {bound_pct:+.2f}%, "
            f"and the excess is larger than the {band:g}% noise band: noise or a confound, not the kernel",
            action="remeasure",
            recomputed=rec,
            evidence=[EvidencePointer(file=trace), EvidencePointer(file=op_file(str(d.op), OPBENCH))],
        )
    return None
