"""Scope baseline (B1-B6): is the reference measurement good enough to gate anything on?"""

from __future__ import annotations

from .. import stats
from ..evidence.models import EvidencePointer, Finding
from .config_diff import config_diff, key_matches
from .launch import no_server_info
from .registry import GateContext, flatten, leg_ptr, rule


def _rep_ptrs(leg, reps=None) -> list[EvidencePointer]:
    reps = leg.counted if reps is None else reps
    return [EvidencePointer(file=r.file, line=r.line, record_id=r.record_id) for r in reps[:6]]


@rule("B1", ["baseline"], "noisy repetitions", "flag", "remeasure")
def b1_noisy(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = ctx.band_unknown("B1")
    limit = ctx.policy.noisy_factor * ctx.policy.noise_band_pct
    for leg in ctx.reference:
        vals, _ = leg.values(ctx.decision.claim.metric)
        if len(vals) < 2:
            out += ctx.unchecked("B1", f"leg {leg.leg_id} has {len(vals)} counted value(s); spread needs 2")
            continue
        sp = stats.spread_pct(vals)
        rec = {"values": vals, "spread_pct": sp, "limit_pct": limit, "noise_band_pct": ctx.policy.noise_band_pct}
        if sp is not None and sp > limit:
            out += ctx.bad("B1", f"leg {leg.leg_id}: spread {sp:.2f}% > {limit:.2f}% ({ctx.policy.noisy_factor:g}x the "
                           f"{ctx.policy.noise_band_pct:g}% noise band); too noisy to gate a small win",
                           evidence=_rep_ptrs(leg), recomputed=rec)
        else:
            out += ctx.ok("B1", f"leg {leg.leg_id}: spread {sp:.2f}% within {limit:.2f}%", recomputed=rec)
    return out


@rule("B2", ["baseline"], "warm-up outlier", "flag", "remeasure")
def b2_warmup_outlier(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    for leg in ctx.reference:
        vals, _ = leg.values(ctx.decision.claim.metric)
        if len(vals) < 3:
            out += ctx.unchecked("B2", f"leg {leg.leg_id} has {len(vals)} counted value(s); an outlier test needs 3")
            continue
        floor = ctx.policy.noise_band_pct / 100.0 * abs(stats.median(vals) or 0.0)
        is_out, centre, half = stats.outlier_vs_rest(vals, 0, ctx.policy.warmup_mad_k, floor)
        rec = {"first": vals[0], "median_rest": centre, "half_width": half, "values": vals}
        if is_out:
            out += ctx.bad("B2", f"leg {leg.leg_id}: first counted rep {vals[0]:.2f} outside {centre:.2f} +- {half:.2f}; "
                           "a cold start is in the median: drop it as warm-up and add reps",
                           evidence=_rep_ptrs(leg, leg.counted[:1]), recomputed=rec)
        else:
            out += ctx.ok("B2", f"leg {leg.leg_id}: first rep consistent with the rest", recomputed=rec)
    return out


@rule("B3", ["baseline"], "too few repetitions", "flag", "remeasure")
def b3_too_few(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    p = ctx.policy
    for leg in ctx.reference:
        n, w = len(leg.counted), len(leg.warmups)
        rec = {"counted_reps": n, "warmup_reps": w, "min_counted": p.min_counted_reps}
        problems = []
        if n < p.min_counted_reps:
            problems.append(f"{n} counted reps < {p.min_counted_reps}")
        if p.require_warmup_rep and w == 0:
            if ctx.imported:
                out += ctx.unchecked("B3", f"leg {leg.leg_id}: the imported rows carry no warm-up flag", recomputed=rec)
                if not problems:
                    continue
            else:
                problems.append("no warm-up rep recorded")
        if problems:
            out += ctx.bad("B3", f"leg {leg.leg_id}: " + "; ".join(problems), evidence=[EvidencePointer(file=leg.bench_file)], recomputed=rec)
        else:
            out += ctx.ok("B3", f"leg {leg.leg_id}: {n} counted + {w} warm-up", recomputed=rec)
    return out


@rule("B4", ["baseline"], "handicapped / wrong-invariant baseline", "fail", "eject")
def b4_handicapped(ctx: GateContext) -> list[Finding]:
    m = ctx.run.manifest
    inv = flatten(m.invariants) if m else {}
    if not inv:
        return ctx.missing("B4", "the manifest declares no serving invariants to hold the baseline to")
    out: list[Finding] = []
    for leg in ctx.reference:
        resolved, _src = leg.resolved()
        if resolved is None:
            out += ctx.missing("B4", f"leg {leg.leg_id} has no resolved engine config (server_info)",
                               evidence=[leg_ptr(leg, field="resolved_config")])
            continue
        diff: dict[str, tuple[object, object]] = {}
        missing: list[str] = []
        for inv_key, want in inv.items():
            keys = [k for k in resolved if key_matches(inv_key, k)]
            if not keys:
                missing.append(inv_key)
            for k in keys:
                diff.update(config_diff({k: want}, {k: resolved[k]}))
        if diff:
            k, (want, got) = next(iter(diff.items()))
            out += ctx.bad("B4", f"leg {leg.leg_id}: {k} = {got!r} but the run's invariant is {want!r}; the baseline "
                           "is handicapped (or favoured) relative to what candidates run with: confounded",
                           evidence=[leg_ptr(leg, field=f"resolved_config.{k}"), EvidencePointer(file="manifest.json", field="invariants")],
                           recomputed={"diff": {k: list(v) for k, v in diff.items()}})
        elif missing:
            out += ctx.unchecked("B4", f"leg {leg.leg_id}: resolved config lacks invariant key(s) {missing}")
        else:
            out += ctx.ok("B4", f"leg {leg.leg_id}: all {len(inv)} invariants hold")
    return out + no_server_info(ctx, "B4", ctx.reference)


@rule("B5", ["baseline", "patch", "bundle"], "contended host", "flag", "remeasure")
def b5_contended(ctx: GateContext) -> list[Finding]:
    legs = ctx.reference + ctx.candidate + ctx.legs(ctx.decision.audit_legs)
    out: list[Finding] = []
    clocks: dict[str, float] = {}
    for leg in legs:
        host = leg.launch.host if leg.launch else None
        if host is None:
            out += ctx.missing("B5", f"leg {leg.leg_id} has no host fingerprint", evidence=[leg_ptr(leg, field="host")])
            continue
        reasons = []
        for g in host.gpus:
            if g.foreign_processes:
                reasons.append(f"GPU {g.index} runs foreign processes {g.foreign_processes}")
            if g.sm_clock_mhz:
                clocks[f"{leg.leg_id}/gpu{g.index}"] = g.sm_clock_mhz
        if host.other_legs_running:
            reasons.append(f"other legs running: {host.other_legs_running}")
        if not host.gpus and host.cpu_count:
            # prefer what others used (the leg's own server is not contention); the 1-min load
            # average includes the server itself and is only a fallback
            busy, what = ((host.foreign_cpu_busy_cores, "foreign processes used") if host.foreign_cpu_busy_cores is not None
                          else (host.load_avg_1m, "CPU load"))
            if busy is not None and busy / host.cpu_count > ctx.policy.max_load_per_core:
                reasons.append(f"{what} {busy:.2f} of {host.cpu_count} cores ({busy / host.cpu_count:.2f}/core > {ctx.policy.max_load_per_core:g})")
        if reasons:
            out += ctx.bad("B5", f"leg {leg.leg_id}: " + "; ".join(reasons), evidence=[leg_ptr(leg, field="host")])
    if len(clocks) >= 2:
        lo, hi = min(clocks.values()), max(clocks.values())
        if (hi - lo) / hi * 100 > ctx.policy.clock_tolerance_pct:
            out += ctx.bad("B5", f"SM clocks differ between legs beyond {ctx.policy.clock_tolerance_pct:g}%: {clocks}", recomputed={"clocks_mhz": clocks})
    if not any(f.outcome in ("flag", "fail", "unchecked", "n/a") for f in out):  # n/a: a leg with no host (an import)
        out += ctx.ok("B5", f"{len(legs)} leg(s) uncontended")
    return out


@rule("B6", ["baseline", "patch"], "baseline drift", "fail", "eject")
def b6_drift(ctx: GateContext) -> list[Finding]:
    claimed = ctx.decision.claim.baseline_value
    if claimed is None:
        return ctx.na("B6", "no separate baseline was claimed; the only baseline is the reference leg itself, so drift is n/a (not passed)")
    vals = ctx.side_values(ctx.reference)
    med = stats.median(vals)
    if med is None:
        return ctx.unchecked("B6", "the reference leg has no counted values to compare the claimed baseline with")
    drift = (claimed - med) / med * 100
    rec = {"reference_median": med, "drift_pct": drift, "noise_band_pct": ctx.policy.noise_band_pct}
    if abs(drift) > ctx.policy.noise_band_pct:
        return ctx.bad("B6", f"claimed baseline {claimed:g} does not reproduce: the reference leg re-derives to {med:.2f} ({drift:+.2f}%)",
                       evidence=[ctx.decision_ptr], recomputed=rec, claimed={"baseline_value": claimed})
    return ctx.ok("B6", f"claimed baseline {claimed:g} reproduces ({drift:+.2f}%)", recomputed=rec)
