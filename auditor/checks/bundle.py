"""Scope bundle (F1-F4): the final stacked validation against the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import stats
from ..evidence.models import EvidencePointer, Finding
from .quality import accuracy_of, unreadable_accuracy, weights
from .registry import GateContext, leg_ptr, rule
from ..evidence.layout import ACCURACY_ITEMS


def _median_delta(ctx: GateContext, ref_ids: list[str], cand_ids: list[str]) -> float | None:
    ref, cand = ctx.side_values(ctx.legs(ref_ids)), ctx.side_values(ctx.legs(cand_ids))
    return stats.delta_pct(stats.median(ref), stats.median(cand), ctx.higher_is_better)


@rule("F1", ["bundle"], "stacking / interleaving", "flag", "flag")
def f1_stacking(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = ctx.band_unknown("F1") + ctx.too_few_reps("F1", ctx.reference + ctx.candidate)
    refs, cands = ctx.reference, ctx.candidate
    timed = [
        (leg.launch.started_at, "A" if leg in refs else "B", leg.leg_id)
        for leg in refs + cands
        if leg.launch and leg.launch.started_at is not None
    ]
    if len(timed) < len(refs) + len(cands):
        out += ctx.missing("F1", "validation legs lack start times, so interleaving cannot be shown")
    else:
        order = "".join(s for _, s, _ in sorted(timed))
        blocks = sum(1 for i in range(1, len(order)) if order[i] != order[i - 1]) + 1 if order else 0
        if len(refs) < 2 or len(cands) < 2 or blocks < len(order):
            out += ctx.bad(
                "F1",
                f"validation legs ran as {order or 'nothing'}: not interleaved A B A B (>= 2 legs a side), so drift "
                "between blocks is inside the delta",
                recomputed={"order": order},
            )
        else:
            out += ctx.ok("F1", f"validation interleaved as {order}", recomputed={"order": order})
    # decomposition: do the accepted wins add up?
    stacked = _median_delta(ctx, ctx.decision.reference_legs, ctx.decision.candidate_legs)
    parts: dict[str, Any] = {}
    by_id = {d.decision_id: d for _, d in ctx.run.decisions}
    expected = 1.0
    for did in ctx.decision.accepted_decisions:
        d = by_id.get(did)
        if d is None:
            out += ctx.bad(
                "F1",
                f"bundle stacks decision {did}, which decisions.jsonl does not contain",
                evidence=[ctx.decision_ptr],
            )
            continue
        delta = _median_delta(ctx, d.reference_legs, d.candidate_legs)
        parts[did] = delta
        if delta is not None:
            expected *= 1 + delta / 100
    if parts and stacked is not None and all(v is not None for v in parts.values()):
        exp_pct = (expected - 1) * 100
        rec = {"stacked_delta_pct": stacked, "expected_from_parts_pct": exp_pct, "per_decision_delta_pct": parts}
        # deltas compose multiplicatively and leg noise is a ratio, so compare in ratio space:
        # the bundle may fall short of the product of its parts by two noise bands, not more
        band = 1 + ctx.policy.noise_band_pct / 100
        if 1 + stacked / 100 < expected / band**2 and exp_pct > 0:
            out += ctx.bad(
                "F1",
                f"accepted wins do not stack: parts predict {exp_pct:+.2f}%, the bundle measures {stacked:+.2f}%; "
                "credit the bundle's number, per lever",
                recomputed=rec,
            )
        else:
            out += ctx.ok("F1", f"bundle {stacked:+.2f}% vs parts {exp_pct:+.2f}%", recomputed=rec)
    return out


@rule("F2", ["bundle"], "caching (MLPerf TEST04)", "fail", "eject")
def f2_caching(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    audits = ctx.legs(ctx.decision.audit_legs)
    if not audits:
        return ctx.missing("F2", "no caching audit leg (one fixed sample repeated) was run for the bundle")
    diverse = ctx.side_values(ctx.candidate)
    ref_med = stats.median(diverse)
    for leg in audits:
        w = leg.launch.workload if leg.launch else None
        if w is None or not w.repeated_sample:
            out += ctx.bad(
                "F2",
                f"audit leg {leg.leg_id} does not declare a repeated-sample workload",
                evidence=[leg_ptr(leg, field="workload")],
            )
            continue
        med = stats.median(leg.values(ctx.metric)[0])
        if med is None or ref_med is None:
            out += ctx.unchecked("F2", f"no throughput to compare for audit leg {leg.leg_id}")
            continue
        single = w.max_concurrency == 1
        base_limit = ctx.policy.caching_ratio_single_stream if single else ctx.policy.caching_ratio
        # two legs differ by up to the noise band on their own; a ratio inside it is no evidence
        limit = max(base_limit, 1 + ctx.policy.noise_band_pct / 100)
        ratio = med / ref_med
        rec = {
            "audit_median": med,
            "diverse_median": ref_med,
            "ratio": ratio,
            "limit": limit,
            "policy_limit": base_limit,
        }
        arc = leg.resolved()[0] or {}
        prefix_on = any(k.endswith("enable_prefix_caching") and v in (True, "true", "True", 1) for k, v in arc.items())
        if ratio >= limit and prefix_on:
            # one prompt repeated reuses its KV blocks: that is prefix caching, not a cached answer
            out += [
                ctx.finding(
                    "F2",
                    "flag",
                    f"audit leg {leg.leg_id} runs {ratio:.2f}x the diverse workload with prefix caching on: "
                    "confounded; rerun the caching audit with prefix caching off",
                    action="remeasure",
                    recomputed=rec,
                    evidence=[leg_ptr(leg, field="resolved_config.cache_config.enable_prefix_caching")],
                )
            ]
        elif ratio >= limit:
            out += ctx.bad(
                "F2",
                f"one repeated sample runs {ratio:.2f}x the diverse workload (limit {limit:.2f}x): results are being cached",
                evidence=[EvidencePointer(file=leg.bench_file)],
                recomputed=rec,
            )
        else:
            out += ctx.ok("F2", f"repeated-sample audit at {ratio:.2f}x of diverse (< {limit:.2f}x)", recomputed=rec)
    for leg in ctx.candidate:
        rc = leg.resolved()[0] or {}
        on = [k for k, v in rc.items() if k.endswith("enable_prefix_caching") and v in (True, "true", "True", 1)]
        if (
            on
            and ctx.decision.prefix_cache_flushed is not True
            and not any("prefix_caching" in k for k in ctx.decision.declared_knobs)
        ):
            out += ctx.bad(
                "F2",
                f"leg {leg.leg_id} serves with prefix caching on, neither flushed between legs nor declared",
                evidence=[leg_ptr(leg, field=f"resolved_config.{on[0]}")],
            )
    return out


@rule("F3", ["patch", "bundle"], "workload mismatch", "fail", "eject")
def f3_workload(ctx: GateContext) -> list[Finding]:
    legs = ctx.reference + ctx.candidate
    specs = {}
    for leg in legs:
        w = leg.launch.workload if leg.launch else None
        if w is None:
            return ctx.missing(
                "F3", f"leg {leg.leg_id} records no workload spec", evidence=[leg_ptr(leg, field="workload")]
            )
        specs[leg.leg_id] = w
    for leg in ctx.legs(ctx.decision.audit_legs):
        if leg.launch and leg.launch.workload:
            specs[leg.leg_id] = leg.launch.workload
    if not specs:
        return ctx.unchecked("F3", "no legs")
    out_rows = _served_shapes(ctx, ctx.reference + ctx.candidate)
    first_id = next(iter(specs))
    base = specs[first_id].identity()
    out: list[Finding] = []
    for lid, w in specs.items():
        ident = w.identity()
        diff = {k: (base.get(k), ident.get(k)) for k in set(base) | set(ident) if base.get(k) != ident.get(k)}
        if diff:
            out += ctx.bad(
                "F3",
                f"leg {lid} ran a different workload than {first_id}: {diff}",
                evidence=[leg_ptr(ctx.run.leg(lid), field="workload")],
                recomputed={"diff": {k: list(v) for k, v in diff.items()}},
            )
    out += out_rows
    if not out:
        out += ctx.ok("F3", f"{len(specs)} leg(s) share one workload")
    return out


IN_TOLERANCE = 0.05  # one seeded prompt set gives one prompt length distribution
OUT_FACTOR = 1.5  # output lengths may move a little with the numerics (EOS), never severalfold


def _shape(leg: Any) -> tuple[float, float, EvidencePointer] | None:
    """(mean input tokens, mean output tokens per served request, where from) over a leg's counted
    reps: the tool's own per-request lengths, else its totals over its completed count."""
    ins, outs, n = 0.0, 0.0, 0
    src: EvidencePointer | None = None
    for r in leg.counted:
        if r.has_arrays:
            ok = r.arrays["ok"]
            ins += float(np.nansum(np.where(ok, r.arrays["input_lens"], 0.0)))
            outs += float(np.nansum(np.where(ok, r.arrays["output_lens"], 0.0)))
            n += int(ok.sum())
            src = src or EvidencePointer(file=r.file, field="output_lens")
            continue
        a = r.reported
        c, ti, to = a.get("completed"), a.get("total_input_tokens"), a.get("total_output_tokens")
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (c, ti, to)) and c > 0:
            ins, outs, n = ins + ti, outs + to, n + int(c)
            src = src or EvidencePointer(file=r.file, field="total_output_tokens")
    return (ins / n, outs / n, src) if n and src is not None else None


def _served_shapes(ctx: GateContext, legs: Any) -> list[Finding]:
    """The workload as the tool's own requests show it, not as launch.json or the row's settings
    say: the same prompts give the same prompt lengths, and output lengths of one order."""
    shapes = {leg.leg_id: sh for leg in legs if (sh := _shape(leg)) is not None}
    if len(shapes) < 2:
        return []
    first, (i0, o0, s0) = next(iter(shapes.items()))
    out: list[Finding] = []
    for lid, (i1, o1, s1) in list(shapes.items())[1:]:
        why = []
        if abs(i1 - i0) > IN_TOLERANCE * max(i0, 1e-9):
            why.append(f"{i0:.1f} vs {i1:.1f} input tokens per request")
        if o0 > 0 and o1 > 0 and max(o0, o1) / min(o0, o1) > OUT_FACTOR or (o0 == 0) != (o1 == 0):
            why.append(f"{o0:.1f} vs {o1:.1f} output tokens per request")
        if why:
            out += ctx.bad(
                "F3",
                f"legs {first} and {lid} served different workloads by the tool's own requests "
                f"({'; '.join(why)}): whatever their settings say, they did not run one experiment",
                evidence=[s0, s1],
                recomputed={"mean_input_tokens": [i0, i1], "mean_output_tokens": [o0, o1]},
            )
    return out


@rule("F4", ["bundle"], "accuracy changed", "fail", "eject")
def f4_accuracy(ctx: GateContext) -> list[Finding]:
    refs, cands = ctx.reference, ctx.candidate
    dummy = sorted({leg.leg_id for leg in refs + cands if weights(leg)[0] == "dummy"})
    if dummy:
        # random weights answer nothing: 0% -> 0% would "hold" for any change (quality.py)
        return ctx.na(
            "F4",
            f"dummy weights ({', '.join(dummy)}): an accuracy probe on random weights proves nothing; the bundle's "
            "quality rests on P9's token-level parity",
        )
    if bad := unreadable_accuracy(ctx, "F4", refs + cands):
        return bad
    ra = next((leg for leg in refs if leg.accuracy), None)
    ca = next((leg for leg in cands if leg.accuracy), None)
    if ra is None or ca is None:
        return ctx.missing("F4", "accuracy probe missing on the " + ("baseline" if ra is None else "bundle") + " side")
    r, bad_r = accuracy_of(ctx, "F4", ra)
    c, bad_c = accuracy_of(ctx, "F4", ca)
    if bad_r or bad_c:
        return bad_r + bad_c
    r, c = r or 0.0, c or 0.0
    rec = {"baseline_accuracy": r, "bundle_accuracy": c, "n": [len(ra.accuracy_items), len(ca.accuracy_items)]}
    if (r - c) * 100 > ctx.policy.accuracy_tolerance_pct_points:
        return ctx.bad(
            "F4",
            f"accuracy dropped {r:.1%} -> {c:.1%} (tolerance {ctx.policy.accuracy_tolerance_pct_points:g} points; "
            f"re-scored from both sides' {ACCURACY_ITEMS})",
            recomputed=rec,
            evidence=[EvidencePointer(file=f"{ca.dir}/{ACCURACY_ITEMS}")],
        )
    # the pass message is the one recorded LLM judgments quote (tiny-cpu-llm): re-scored, said in ``rec``
    return ctx.ok("F4", f"accuracy {r:.1%} -> {c:.1%}", recomputed={**rec, "scored_from": ACCURACY_ITEMS})
