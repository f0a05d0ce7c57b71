"""Scope patch (P1-P11): each config or kernel accept, re-derived from both legs' raw records.
P9 (correctness, the dummy-weights policy) lives in quality.py, P10 (numerics) in numerics.py, P11 (do
no harm) in harm.py.

P1, P2, P4-P7, P9 and P11 also run at the bundle gate, where the "candidate" is the stacked
bundle and the "reference" the baseline.
"""

from __future__ import annotations

from typing import Any

from .. import stats
from ..evidence.loader import LegData
from ..evidence.models import METRICS, EvidencePointer, Finding
from .config_diff import lever_class
from .launch import leg_pairs, resolved_diff, launch_claim_findings
from .paired_gate import paired_p3
from .registry import GateContext, ptr, rule
from .reported import claim_checks, copy_mismatches, rep_findings, settings_findings

SPEC_SEEN = "speculative decoding (seen in the tool's rows)"


def speculated(leg: LegData) -> float | None:
    """The largest accepted-tokens-per-step any counted rep's tool row reports, or None."""
    vals = [r.raw.spec_accept_length for r in leg.counted if r.raw is not None and r.raw.spec_accept_length is not None]
    return max(vals) if vals else None


def levers(ctx: GateContext) -> dict[str, str]:
    """knob -> lever class by geak's own table (the producer's labels are claims, not facts)."""
    knobs = set(ctx.decision.declared_knobs)
    spec = False
    for ref, cand in leg_pairs(ctx):
        d = resolved_diff(ref, cand)
        if d is not None:
            knobs |= set(d)
        # the benchmark tool reports acceptance only when the server speculated: a lever even
        # where no resolved config says so (vLLM rows carry no server_info)
        spec |= (speculated(ref) is None) != (speculated(cand) is None)
    out = {k: lever_class(k) for k in sorted(knobs)}
    if spec and not any("specul" in k or "spec_decode" in k for k in out):
        out[SPEC_SEEN] = "orthogonal"
    return out


def is_kernel_decision(ctx: GateContext) -> bool:
    # geak's own lever table decides, not the producer's label: spec decode declared as a
    # "kernel" lever is still an orthogonal lever (P6 reports the mislabel).
    d = ctx.decision
    return bool(d.op) or any(lever_class(k) == "kernel" for k in d.declared_knobs)


# ---------------------------------------------------------------- P1


@rule("P1", ["baseline", "patch", "bundle"], "claim not re-derivable from raw", "fail", "eject")
def p1_rederivable(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    d = ctx.decision
    # the metric is the producer's word: named from the closed vocabulary, in its own direction
    if not ctx.metric_known:
        out += ctx.bad(
            "P1",
            f"claim metric {str(d.claim.metric)[:80]!r} is not a metric geak re-derives from the tool's requests "
            f"(known: {', '.join(METRICS)}); the gate is judged on {ctx.metric} and cannot bank this claim",
            evidence=[ctx.decision_field("claim.metric")],
        )
    elif d.claim.higher_is_better != ctx.higher_is_better:
        out += ctx.bad(
            "P1",
            f"claim says {d.claim.metric} is {'higher' if d.claim.higher_is_better else 'lower'}-is-better; "
            f"it is {'higher' if ctx.higher_is_better else 'lower'}-is-better: the claim's direction would turn "
            "a loss into a win",
            evidence=[ctx.decision_field("claim.higher_is_better")],
        )
    for side, legs, runs in (
        ("reference", d.reference_legs, d.claim.reference_runs),
        ("candidate", d.candidate_legs, d.claim.candidate_runs),
    ):
        if legs or (side == "candidate" and ctx.scope == "baseline"):
            continue
        inline = (
            f"; the {len(runs)} per-run value(s) the claim lists are the producer's summary, not the tool's output"
            if runs
            else ""
        )
        out += ctx.bad(
            "P1", f"the decision names no {side} leg: nothing to re-derive from{inline}", evidence=[ctx.decision_ptr]
        )
    for leg in ctx.all_legs:
        if leg.problems:
            for pr in leg.problems[:8]:
                out += ctx.bad("P1", f"leg {leg.leg_id}: {pr}", evidence=[ptr(pr)])
            continue
        if not leg.counted:
            out += ctx.bad(
                "P1",
                f"leg {leg.leg_id}: no counted repetition in {leg.bench_file}",
                evidence=[EvidencePointer(file=leg.bench_file)],
            )
            continue
        for pr in leg.raw_missing:
            out += ctx.missing(
                "P1", f"leg {leg.leg_id}: {pr}", evidence=[ptr(pr), EvidencePointer(file=leg.bench_file)]
            )
        no_arrays = [r for r in leg.counted if not r.has_arrays]
        if no_arrays:
            msg = f"leg {leg.leg_id}: {len(no_arrays)} rep(s) have no per-request arrays; values fall back to the tool's aggregates"
            if ctx.imported:
                out += ctx.unchecked(
                    "P1", msg, evidence=[EvidencePointer(file=r.file, line=r.line) for r in no_arrays[:3]]
                )
            else:
                out += ctx.bad("P1", msg, evidence=[EvidencePointer(file=r.file, line=r.line) for r in no_arrays[:3]])
    if not any(f.outcome in ("fail", "unchecked", "n/a") for f in out):
        nulls = [
            k for k in ("reference_value", "candidate_value", "delta_pct", "non_overlap") if getattr(d.claim, k) is None
        ]
        note = f"; claim fields {nulls} were null and are recomputed, not trusted" if nulls else ""
        out += ctx.ok("P1", f"all {len(ctx.all_legs)} leg(s) re-derivable from raw{note}")
    return out


# ---------------------------------------------------------------- P2


@rule("P2", ["baseline", "patch", "bundle"], "reported != raw", "fail", "eject")
def p2_reported_vs_raw(ctx: GateContext) -> list[Finding]:
    out = copy_mismatches(ctx)
    ref_med = stats.median(ctx.side_values(ctx.reference))
    cand_med = stats.median(ctx.side_values(ctx.candidate))
    delta = stats.delta_pct(ref_med, cand_med, ctx.higher_is_better)
    checks = claim_checks(ctx, ref_med, cand_med, delta)
    for name, claimed, recomputed, agree in checks:
        if not agree:
            out += ctx.bad(
                "P2",
                f"claim {name} = {claimed!r} but raw re-derives {recomputed!r}",
                evidence=[ctx.decision_ptr],
                claimed={name: claimed},
                recomputed={name: recomputed},
            )
    out += settings_findings(ctx)
    out += launch_claim_findings(ctx, ctx.all_legs)
    # per-rep aggregates the tool printed vs the per-request arrays it saved
    for leg in ctx.all_legs:
        for r in leg.reps:
            out += rep_findings(ctx, leg, r)
    if not any(f.outcome == "fail" for f in out):
        out += ctx.ok(
            "P2",
            f"{len(checks)} claimed number(s) and every tool aggregate agree with raw",
            recomputed={"reference_median": ref_med, "candidate_median": cand_med, "delta_pct": delta},
        )
    return out


# ---------------------------------------------------------------- P3


@rule("P3", ["patch"], "delta within noise", "flag", "remeasure")
def p3_within_noise(ctx: GateContext) -> list[Finding]:
    if ctx.decision.design != "blocks":
        return paired_p3(ctx)  # a paired claim is judged per pair (paired_gate.py)
    ref, cand = ctx.side_values(ctx.reference), ctx.side_values(ctx.candidate)
    if not ref or not cand:
        return ctx.unchecked("P3", "a side has no counted values")
    if not any(ref) or not any(cand):
        # a side that served nothing has no delta to weigh against noise (-100% is not a result): P11
        side = "reference" if not any(ref) else "candidate"
        return ctx.na("P3", f"the {side} served no request in any repetition; there is no delta to weigh (see P11)")
    unknown = ctx.band_unknown("P3") + ctx.too_few_reps("P3", ctx.reference + ctx.candidate)
    if unknown:
        return unknown
    band = ctx.policy.noise_band_pct
    dec = stats.blocks_decision(
        ref,
        cand,
        band,
        min_reps_for_test=ctx.policy.min_reps_for_test,
        alpha=ctx.policy.alpha,
        higher_is_better=ctx.higher_is_better,
    )
    delta, no = dec.delta_pct, dec.non_overlap
    rec: dict[str, Any] = {
        "reference": ref,
        "candidate": cand,
        "delta_pct": delta,
        "non_overlap": no,
        "noise_band_pct": band,
    }
    if dec.tested:
        rec.update({"mann_whitney_p": dec.mann_whitney_p, "bootstrap_ci_pct": dec.ci_pct})
    if dec.by == "test":
        ci = dec.ci_pct
        assert ci is not None
        return ctx.ok(
            "P3",
            f"delta {delta:+.2f}% significant (p={dec.mann_whitney_p:.3g}, CI [{ci[0]:.2f}, {ci[1]:.2f}]%) and above the {band:g}% band",
            recomputed=rec,
        )
    if dec.by == "ranges":
        return ctx.ok(
            "P3",
            f"delta {delta:+.2f}% > {band:g}% band and the candidate's worst rep beats the reference's best",
            recomputed=rec,
        )
    action = "eject" if delta is not None and delta < -band else "remeasure"
    why = []
    if delta is None or delta <= band:
        why.append(f"delta {delta:+.2f}% is not above the {band:g}% noise band" if delta is not None else "no delta")
    if not no:
        worse = stats.non_overlap(cand, ref, ctx.higher_is_better)  # the reverse: every candidate rep worse
        why.append(
            "every candidate rep is worse than every reference rep"
            if worse
            else "rep ranges overlap (candidate's worst does not beat reference's best)"
        )
    return ctx.bad(
        "P3",
        "; ".join(why),
        action=action,
        recomputed=rec,
        evidence=[EvidencePointer(file=leg.bench_file) for leg in ctx.reference + ctx.candidate][:4],
    )


# ---------------------------------------------------------------- P6


@rule("P6", ["patch", "bundle"], "orthogonal lever counted as a kernel win", "flag", "downgrade_headline")
def p6_lever_class(ctx: GateContext) -> list[Finding]:
    found = levers(ctx)
    d = ctx.decision
    claimed_kernel = d.claim.lever_class == "kernel" or (d.scope == "patch" and bool(d.op))
    out: list[Finding] = []
    for knob, declared in d.declared_levers.items():
        actual = lever_class(knob)
        if declared != actual:
            out += ctx.bad(
                "P6",
                f"{knob} is declared a {declared} lever but it is a {actual} lever",
                evidence=[ctx.decision_ptr],
                claimed={knob: declared},
                recomputed={knob: actual},
            )
    non_kernel = {k: v for k, v in found.items() if v != "kernel"}
    if claimed_kernel and non_kernel:
        out += ctx.bad(
            "P6",
            f"headline claims a kernel win but the legs also differ in {non_kernel}; report those levers in their own class",
            evidence=[ctx.decision_ptr],
            recomputed={"levers": found},
        )
    if not out:
        out += ctx.ok("P6", f"lever classes consistent: {found or 'no differing knobs'}", recomputed={"levers": found})
    return out


# P10 and P11 register right after P1-P7, where they stood in this module (rules_for keeps the order)
from . import numerics, harm  # noqa: E402,F401
