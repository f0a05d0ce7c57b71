"""P2's comparisons (the rule itself stands in patch.py): what a producer or a tool reported, held
against what raw re-derives. Kept apart because each is a separate reading of one source of
claims: the normalized copy, the decision's numbers, the reported settings, each rep's aggregates.
"""

from __future__ import annotations

from typing import Any

from .. import stats
from ..evidence.loader import LegData
from ..evidence.models import EvidencePointer, Finding
from ..evidence.reps import RepData
from .config_diff import key_matches, same_value
from .registry import GateContext, leg_ptr, ptr

REP_AGGREGATES = ("output_throughput", "request_throughput", "total_token_throughput")


def copy_mismatches(ctx: GateContext) -> list[Finding]:
    """geak's own normalized copy against the tool's bytes: a producer's file is a claim too."""
    out: list[Finding] = []
    for leg in ctx.all_legs:
        for pr in leg.mismatches[:8]:
            out += ctx.bad("P2", f"leg {leg.leg_id}: {pr}", evidence=[ptr(pr)])
        if len(leg.mismatches) > 8:
            out += ctx.bad(
                "P2",
                f"leg {leg.leg_id}: {len(leg.mismatches) - 8} more disagreement(s) between bench_runs.jsonl and raw/",
            )
    return out


def claim_checks(
    ctx: GateContext, ref_med: float | None, cand_med: float | None, delta: float | None
) -> list[tuple[str, Any, Any, bool]]:
    """(field, claimed, re-derived, agree) for every number the decision claims that raw can re-derive."""
    c = ctx.decision.claim
    rel = ctx.policy.rounding_rel
    checks: list[tuple[str, Any, Any, bool]] = []
    if c.reference_value is not None and ref_med is not None:
        checks.append(("reference_value", c.reference_value, ref_med, stats.rel_close(c.reference_value, ref_med, rel)))
    if c.candidate_value is not None and cand_med is not None:
        checks.append(
            ("candidate_value", c.candidate_value, cand_med, stats.rel_close(c.candidate_value, cand_med, rel))
        )
    if c.delta_pct is not None and delta is not None:
        # rounding of a percentage: 0.05 points, or 5% of the delta itself for large deltas
        checks.append(("delta_pct", c.delta_pct, delta, abs(c.delta_pct - delta) <= max(0.05, 0.05 * abs(delta))))
    if c.non_overlap is not None:
        no = stats.non_overlap(ctx.side_values(ctx.reference), ctx.side_values(ctx.candidate), ctx.higher_is_better)
        if no is not None:
            checks.append(("non_overlap", c.non_overlap, no, c.non_overlap == no))
    for name, runs, side in (
        ("reference_runs", c.reference_runs, ctx.reference),
        ("candidate_runs", c.candidate_runs, ctx.candidate),
    ):
        if runs is not None and side:
            checks.append((name, runs, *runs_agree(runs, ctx.side_values(side), rel)))
    return checks


def settings_findings(ctx: GateContext) -> list[Finding]:
    """Reported settings vs the engine's own resolved config."""
    out: list[Finding] = []
    for leg_id, settings in ctx.decision.claim.reported_settings.items():
        leg = ctx.run.leg(leg_id)
        resolved, _src = leg.resolved()
        if resolved is None:
            out += ctx.unchecked("P2", f"reported settings of leg {leg_id} cannot be compared: no resolved config")
            continue
        for knob, value in settings.items():
            hits = {k: v for k, v in resolved.items() if key_matches(knob, k)}
            if not hits:
                out += ctx.unchecked(
                    "P2", f"leg {leg_id}: reported {knob}={value!r} has no counterpart in the resolved config"
                )
                continue
            for k, v in hits.items():
                if not same_value(v, value):
                    out += ctx.bad(
                        "P2",
                        f"leg {leg_id}: reported {knob} = {value!r} but the engine's resolved config says {k} = {v!r}",
                        evidence=[ctx.decision_ptr, leg_ptr(leg, field=f"resolved_config.{k}")],
                        claimed={knob: value},
                        recomputed={k: v},
                    )
    return out


def rep_findings(ctx: GateContext, leg: LegData, r: RepData) -> list[Finding]:
    """One rep's printed aggregates against its own per-request arrays, and its duration against
    the span its requests took."""
    out: list[Finding] = []
    for agg in REP_AGGREGATES:
        rep_val = r.reported.get(agg)
        mine = getattr(r, agg)
        if mine is not None and r.empty_successes and r.rep.duration_s:
            # the tool counted its empty "successes" (raw.py) and their prompts: its rates are
            # held to what it counted; the gate's values count only what was served
            mine += {
                "request_throughput": r.empty_successes,
                "total_token_throughput": r.empty_input_tokens,
            }.get(agg, 0.0) / r.rep.duration_s
        if (
            isinstance(rep_val, (int, float))
            and mine is not None
            and not stats.rel_close(float(rep_val), mine, ctx.policy.rounding_rel)
        ):
            out += ctx.bad(
                "P2",
                f"leg {leg.leg_id} rep {r.rep.rep_index}: tool reported {agg} {rep_val:g}, "
                f"its own per-request arrays give {mine:.2f}",
                evidence=[EvidencePointer(file=r.file, line=r.line, field=f"reported.{agg}")],
                claimed={agg: rep_val},
                recomputed={agg: mine},
            )
    rr = r.raw  # a duration shorter than the tool's own requests took: throughput inflated
    if (
        rr is not None
        and rr.span_s is not None
        and rr.duration_s is not None
        and rr.duration_s < rr.span_s * (1 - 1e-3) - 1e-3
    ):
        out += ctx.bad(
            "P2",
            f"leg {leg.leg_id} {rr.file}: duration {rr.duration_s:.4g} s, but its own requests ran from the "
            f"first start to the last end for {rr.span_s:.4g} s",
            evidence=[EvidencePointer(file=rr.file, field="duration")],
            claimed={"duration": rr.duration_s},
            recomputed={"request_span_s": rr.span_s},
        )
    return out


def runs_agree(claimed: list[float], raw: list[float], rel: float) -> tuple[list[float], bool]:
    """A summary's per-run list against the counted raw values, as multisets (a summary may
    sort them): same count, and pairwise equal within rounding once both are sorted."""
    mine = sorted(raw)
    return [round(v, 3) for v in mine], len(claimed) == len(mine) and all(
        stats.rel_close(a, b, rel) for a, b in zip(sorted(claimed), mine)
    )
