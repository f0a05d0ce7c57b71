"""Scope baseline (B1-B6): is the reference measurement good enough to gate anything on?"""

from __future__ import annotations

from typing import Any

from .. import stats
from ..evidence.loader import LegData
from ..evidence.workload import differing
from ..evidence.models import EvidencePointer, Finding
from .config_diff import config_diff, key_matches
from .launch import no_server_info
from .concurrency import hosts_split, leg_contention, mixed_concurrency
from ..evidence.normalize import flatten
from .registry import GateContext, leg_ptr, rule
from ..evidence.layout import MANIFEST


def _rep_ptrs(leg: Any, reps: Any = None) -> list[EvidencePointer]:
    reps = leg.counted if reps is None else reps
    return [EvidencePointer(file=r.file, line=r.line, record_id=r.record_id) for r in reps[:6]]


@rule("B1", ["baseline"], "noisy repetitions", "flag", "remeasure")
def b1_noisy(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = ctx.band_unknown("B1")
    limit = ctx.policy.noisy_factor * ctx.policy.noise_band_pct
    for leg in ctx.reference:
        vals, _ = leg.values(ctx.metric)
        if len(vals) < 2:
            out += ctx.unchecked("B1", f"leg {leg.leg_id} has {len(vals)} counted value(s); spread needs 2")
            continue
        sp = stats.spread_pct(vals)
        rec = {"values": vals, "spread_pct": sp, "limit_pct": limit, "noise_band_pct": ctx.policy.noise_band_pct}
        if sp is not None and sp > limit:
            out += ctx.bad(
                "B1",
                f"leg {leg.leg_id}: spread {sp:.2f}% > {limit:.2f}% ({ctx.policy.noisy_factor:g}x the "
                f"{ctx.policy.noise_band_pct:g}% noise band); too noisy to gate a small win",
                evidence=_rep_ptrs(leg),
                recomputed=rec,
            )
        else:
            out += ctx.ok("B1", f"leg {leg.leg_id}: spread {sp:.2f}% within {limit:.2f}%", recomputed=rec)
    return out


@rule("B2", ["baseline"], "warm-up outlier", "flag", "remeasure")
def b2_warmup_outlier(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    for leg in ctx.reference:
        vals, _ = leg.values(ctx.metric)
        if len(vals) < 3:
            out += ctx.unchecked("B2", f"leg {leg.leg_id} has {len(vals)} counted value(s); an outlier test needs 3")
            continue
        floor = ctx.policy.noise_band_pct / 100.0 * abs(stats.median(vals) or 0.0)
        is_out, centre, half = stats.outlier_vs_rest(vals, 0, ctx.policy.warmup_mad_k, floor)
        rec = {"first": vals[0], "median_rest": centre, "half_width": half, "values": vals}
        if is_out:
            out += ctx.bad(
                "B2",
                f"leg {leg.leg_id}: first counted rep {vals[0]:.2f} outside {centre:.2f} +- {half:.2f}; "
                "a cold start is in the median: drop it as warm-up and add reps",
                evidence=_rep_ptrs(leg, leg.counted[:1]),
                recomputed=rec,
            )
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
            out += ctx.bad(
                "B3",
                f"leg {leg.leg_id}: " + "; ".join(problems),
                evidence=[EvidencePointer(file=leg.bench_file)],
                recomputed=rec,
            )
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
            out += ctx.missing(
                "B4",
                f"leg {leg.leg_id} has no resolved engine config (server_info)",
                evidence=[leg_ptr(leg, field="resolved_config")],
            )
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
            out += ctx.bad(
                "B4",
                f"leg {leg.leg_id}: {k} = {got!r} but the run's invariant is {want!r}; the baseline "
                "is handicapped (or favoured) relative to what candidates run with: confounded",
                evidence=[
                    leg_ptr(leg, field=f"resolved_config.{k}"),
                    EvidencePointer(file=MANIFEST, field="invariants"),
                ],
                recomputed={"diff": {k: list(v) for k, v in diff.items()}},
            )
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
        reasons = leg_contention(ctx.run, leg, ctx.policy)
        if host is None or reasons is None:
            out += ctx.missing("B5", f"leg {leg.leg_id} has no host fingerprint", evidence=[leg_ptr(leg, field="host")])
            continue
        clocks.update({f"{leg.leg_id}/gpu{g.index}": g.sm_clock_mhz for g in host.gpus if g.sm_clock_mhz})
        if reasons:
            out += ctx.bad("B5", f"leg {leg.leg_id}: " + "; ".join(reasons), evidence=[leg_ptr(leg, field="host")])
    if (why := mixed_concurrency(ctx.run, ctx.reference + ctx.candidate, ctx.policy.concurrent_overlap_s)) is not None:
        out += ctx.bad("B5", why, evidence=[leg_ptr(leg, field="started_at") for leg in ctx.reference + ctx.candidate])
    if (why := hosts_split(ctx.reference, ctx.candidate)) is not None:
        out += ctx.bad(
            "B5",
            f"the compared legs ran on different hosts: {why}; measure the reference and the candidate on one box",
            evidence=[EvidencePointer(file=leg.bench_file) for leg in ctx.reference + ctx.candidate][:4],
        )
    if len(clocks) >= 2:
        lo, hi = min(clocks.values()), max(clocks.values())
        if (hi - lo) / hi * 100 > ctx.policy.clock_tolerance_pct:
            out += ctx.bad(
                "B5",
                f"SM clocks differ between legs beyond {ctx.policy.clock_tolerance_pct:g}%: {clocks}",
                recomputed={"clocks_mhz": clocks},
            )
    if not any(f.outcome in ("flag", "fail", "unchecked", "n/a") for f in out):  # n/a: a leg with no host (an import)
        out += ctx.ok("B5", f"{len(legs)} leg(s) uncontended")
    return out


@rule("B6", ["baseline", "patch", "bundle"], "baseline drift", "fail", "eject")
def b6_drift(ctx: GateContext) -> list[Finding]:
    """Two sources of a baseline: the number the producer says it gated against (claim.baseline_value),
    and the run's own baseline leg when this gate measured its reference in another server lifetime
    (GEAK's baseline/ vs validation/base or an overlay's ref; geak's kernel reference legs)."""
    out = _b6_claimed(ctx) + _b6_independent(ctx)
    if all(f.outcome == "n/a" for f in out):
        return ctx.na("B6", "drift is n/a (not passed): " + "; ".join(f.message for f in out))
    return [f for f in out if f.outcome != "n/a"]


def _b6_claimed(ctx: GateContext) -> list[Finding]:
    claimed = ctx.decision.claim.baseline_value
    if claimed is None:
        return ctx.na("B6", "no separate baseline value was claimed")
    vals = ctx.side_values(ctx.reference)
    med = stats.median(vals)
    if med is None:
        return ctx.unchecked("B6", "the reference leg has no counted values to compare the claimed baseline with")
    drift = (claimed - med) / med * 100
    rec = {"reference_median": med, "drift_pct": drift, "noise_band_pct": ctx.policy.noise_band_pct}
    if abs(drift) > ctx.policy.noise_band_pct:
        return ctx.bad(
            "B6",
            f"claimed baseline {claimed:g} does not reproduce: the reference leg re-derives to {med:.2f} ({drift:+.2f}%)",
            evidence=[ctx.decision_ptr],
            recomputed=rec,
            claimed={"baseline_value": claimed},
        )
    return ctx.ok("B6", f"claimed baseline {claimed:g} reproduces ({drift:+.2f}%)", recomputed=rec)


def _signature(leg: LegData) -> dict[str, Any]:
    sigs = [r.raw.workload for r in leg.counted if r.raw is not None]
    return sigs[0] if sigs and not differing(sigs) else {}


def independent_baselines(ctx: GateContext) -> list[LegData]:
    """The run's baseline legs (what its baseline gates measured) that this gate did not reuse."""
    if ctx.scope == "baseline":
        return []
    mine = set(ctx.decision.reference_legs) | set(ctx.decision.candidate_legs)
    ids: list[str] = []
    for _, d in ctx.run.decisions:
        if d.scope == "baseline":
            ids += [i for i in d.reference_legs if i not in mine and i not in ids]
    present = set(ctx.run.leg_ids())
    return [ctx.run.leg(i) for i in ids if i in present]


def drift_side(drift_pct: float, band_pct: float, higher_is_better: bool) -> str:
    """ "within" the band, or the reference "worse" (it inflates the delta) or "better" than the baseline."""
    if abs(drift_pct) <= band_pct:
        return "within"
    return "worse" if (drift_pct < 0) == higher_is_better else "better"


def _b6_independent(ctx: GateContext) -> list[Finding]:
    bases = independent_baselines(ctx)
    if not bases or not ctx.reference:
        return ctx.na("B6", "the only baseline measured is the reference leg itself")
    ref_vals = ctx.side_values(ctx.reference)
    ref_med = stats.median(ref_vals)
    out: list[Finding] = []
    for base in bases:
        why = _not_same_experiment(ctx, base)
        if why:
            out += ctx.na("B6", f"baseline leg {base.leg_id} is not a measurement of this reference ({why})")
            continue
        base_med = stats.median(ctx.side_values([base]))
        if ref_med is None or base_med is None or base_med == 0:
            out += ctx.unchecked("B6", f"no counted values to compare the reference with baseline leg {base.leg_id}")
            continue
        band = ctx.policy.noise_band_pct
        drift = (ref_med - base_med) / base_med * 100
        side = drift_side(drift, band, ctx.higher_is_better)
        if ctx.policy.noise_band_unknown and side != "worse":
            # the rule that owns the band (B1, P3, F1) FLAGs it; only a handicap beyond even the
            # policy's narrow default is judged without it (narrow is the claim's disfavour)
            out += ctx.na(
                "B6",
                f"noise band unknown: drift against baseline leg {base.leg_id} is judged once the band is measured",
            )
            continue
        rec = {
            "reference_median": ref_med,
            "baseline_leg": base.leg_id,
            "baseline_median": base_med,
            "drift_pct": drift,
            "noise_band_pct": band,
        }
        ev = [EvidencePointer(file=base.bench_file), *[EvidencePointer(file=r.bench_file) for r in ctx.reference]]
        refs = "/".join(r.leg_id for r in ctx.reference)
        if side == "within":
            out += ctx.ok(
                "B6",
                f"reference {refs} reproduces the run's baseline leg {base.leg_id} ({drift:+.2f}%, band {band:.2f}%)",
                recomputed=rec,
            )
        elif side == "worse":
            # a reference below the run's own baseline of the same config inflates every delta
            # measured against it: GEAK's gate 2, the handicapped baseline
            out += ctx.bad(
                "B6",
                f"reference {refs} is {abs(drift):.2f}% worse than the run's own baseline leg {base.leg_id} of the same "
                f"config and workload (band {band:.2f}%): the delta is measured against a handicapped reference",
                evidence=ev,
                recomputed=rec,
            )
        else:
            out.append(
                ctx.finding(
                    "B6",
                    "flag",
                    f"reference {refs} is {drift:+.2f}% off the run's own baseline leg {base.leg_id} of the same "
                    f"config, beyond the {band:.2f}% band in the claim's disfavour: the band understates the noise "
                    "between server lifetimes",
                    action="remeasure",
                    evidence=ev,
                    recomputed=rec,
                )
            )
    return out


def _not_same_experiment(ctx: GateContext, base: LegData) -> str:
    for ref in ctx.reference:
        a, _ = base.resolved()
        b, _ = ref.resolved()
        if a is None or b is None:
            return f"leg {(base if a is None else ref).leg_id} has no resolved engine config"
        diff = config_diff(a, b)
        if diff:
            k = next(iter(diff))
            return f"leg {ref.leg_id} differs in {k}: {diff[k][0]!r} vs {diff[k][1]!r}"
        wa, wb = _signature(base), _signature(ref)
        wd = differing([wa, wb]) if wa and wb else {}
        if wd:
            k = next(iter(wd))
            return f"leg {ref.leg_id} ran another workload: {k} {wd[k][0]!r} vs {wd[k][1]!r}"
    return ""
