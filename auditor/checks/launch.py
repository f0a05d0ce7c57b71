"""Launch parity (P4) and launch.json as a claim (part of P2): what the engine itself says of
its configuration (its /server_info bytes, vLLM's `non-default args` start-up line) against
what geak wrote in launch.json, and between a reference and a candidate leg."""

from __future__ import annotations

from typing import Any

from ..evidence.engine_log import Opaque, launch_args, non_default_args
from ..evidence.loader import LegData
from ..evidence.models import Finding
from ..paired import derive_gate
from . import identity
from .config_diff import DEVICE_BINDING, IGNORED_ENV, config_diff, derived_by, key_matches, same_value
from ..evidence.normalize import flatten
from .registry import GateContext, leg_ptr, rule
from ..evidence.layout import SERVER_INFO, SERVER_LOG


def leg_pairs(ctx: GateContext) -> list[tuple[LegData, LegData]]:
    refs, cands = ctx.reference, ctx.candidate
    if not refs or not cands:
        return []
    return [(refs[0], c) for c in cands]


def resolved_diff(ref: LegData, cand: LegData) -> dict[str, tuple[Any, Any]] | None:
    a, _ = ref.resolved()
    b, _ = cand.resolved()
    if a is None or b is None:
        return None
    return config_diff(a, b)


def launch_claim_findings(ctx: GateContext, legs: list[LegData]) -> list[Finding]:
    """P2 findings where launch.json (geak's copy of the engine's config) disagrees with the
    engine's own bytes."""
    out: list[Finding] = []
    # launch.json (geak's copy of the engine's config) vs the engine's own server info
    for leg in legs:
        if leg.engine_config is None or not leg.launch or leg.launch.resolved_config is None:
            continue
        mine = flatten(leg.launch.resolved_config)
        for k, v in leg.engine_config.items():
            if k in mine and not _same_finite(mine[k], v):
                out += ctx.bad(
                    "P2",
                    f"leg {leg.leg_id}: launch.json says {k} = {mine[k]!r} but the engine's own server info "
                    f"({leg.engine_config_source}) says {v!r}",
                    evidence=[leg_ptr(leg, field=f"resolved_config.{k}")],
                    claimed={k: mine[k]},
                    recomputed={k: v},
                )
                break
    # launch.json (geak's copy of the engine's config) vs the engine's own start-up line
    for leg in legs:
        args, line, _ = non_default_args(leg.server_log)
        if not args or not leg.launch or leg.launch.resolved_config is None:
            continue
        resolved = flatten(leg.launch.resolved_config)
        for k, v in flatten(launch_args(args)).items():
            hits = {rk: rv for rk, rv in resolved.items() if key_matches(k, rk)}
            if isinstance(v, Opaque) or not hits or any(same_value(rv, v) for rv in hits.values()):
                continue
            rk, rv = next(iter(hits.items()))
            out += ctx.bad(
                "P2",
                f"leg {leg.leg_id}: launch.json says {rk} = {rv!r} but the engine's own log says {k} = {v!r} "
                f"(server.log:{line}, 'non-default args')",
                evidence=[leg_ptr(leg, field=f"resolved_config.{rk}"), leg_ptr(leg, SERVER_LOG, line=line)],
                claimed={rk: rv},
                recomputed={k: v},
            )
    return out


def no_server_info(ctx: GateContext, rule_id: str, legs: list[LegData]) -> list[Finding]:
    """Cannot-check for a leg whose engine never answered /server_info into the run (a run
    recorded before geak kept the answer): its resolved config is launch.json's, a claim."""
    out: list[Finding] = []
    for leg in legs:
        if leg.engine_config is None and leg.launch is not None and leg.launch.resolved_config is not None:
            out += ctx.unchecked(
                rule_id,
                f"leg {leg.leg_id}: the engine's own /server_info answer is not in the run "
                f"({leg.dir}/server_info.json), so its resolved config is launch.json's, which geak wrote",
                evidence=[leg_ptr(leg, SERVER_INFO)],
            )
    return out


# ---------------------------------------------------------------- P4


@rule("P4", ["patch", "bundle"], "confounded launch", "fail", "eject")
def p4_confounded(ctx: GateContext) -> list[Finding]:
    pairs = leg_pairs(ctx)
    if not pairs:
        return ctx.unchecked("P4", "needs one reference and one candidate leg")
    out: list[Finding] = []
    declared = ctx.decision.declared_knobs
    conseq = {c.key: c for c in ctx.decision.consequences}
    for ref, cand in pairs:
        for what, (a, pa), (b, pb) in identity.changed(ref, cand):
            if what in declared:
                continue  # declared: P6 and the report name it as the lever it is, never a config win
            out += ctx.bad(
                "P4",
                f"{ref.leg_id} vs {cand.leg_id}: the {what} changed ({a[:120]!r} -> {b[:120]!r}; {pa.file} "
                f"{pa.field}, {pb.file} {pb.field}): {'an' if what[0] in 'aeiou' else 'a'} {what} change is the "
                f"confound, not a config win; declare {what!r} to compare them as such",
                evidence=[pa, pb],
                recomputed={what: [a[:200], b[:200]]},
            )
        diff = resolved_diff(ref, cand)
        if diff is None:
            out += ctx.missing(
                "P4",
                f"legs {ref.leg_id}/{cand.leg_id} lack a resolved engine config, so launch parity cannot be shown",
                evidence=[leg_ptr(ref, field="resolved_config"), leg_ptr(cand, field="resolved_config")],
            )
            continue
        env_a = {k: v for k, v in (ref.launch.env if ref.launch else {}).items() if not IGNORED_ENV.match(k)}
        env_b = {k: v for k, v in (cand.launch.env if cand.launch else {}).items() if not IGNORED_ENV.match(k)}
        diff.update({f"env.{k}": v for k, v in config_diff(env_a, env_b).items()})
        out += _lever_changed(ctx, ref, cand, declared, diff, env_a, env_b)
        for k, (va, vb) in diff.items():
            if any(key_matches(dk, k) for dk in declared):
                continue
            src = derived_by(declared, k)
            if src is not None and _not_set(k, ref, cand):
                out += ctx.ok(
                    "P4",
                    f"{k} differs ({va!r} -> {vb!r}): the engine derives it from the declared {src}, and its "
                    "own start-up lines do not show it set",
                )
                continue
            if DEVICE_BINDING.search(k) and _verified_crossover(ctx):
                out += ctx.ok(
                    "P4",
                    f"{k} differs ({va!r} -> {vb!r}): the crossover's device sets, swapped as the engines' logs show",
                )
                continue
            c = next((conseq[ck] for ck in conseq if key_matches(ck, k)), None)
            if (
                c is not None
                and c.peak_used is not None
                and c.smaller_budget is not None
                and c.peak_used < c.smaller_budget
            ):
                out += ctx.ok(
                    "P4",
                    f"{k} differs ({va!r} -> {vb!r}) as a consequence of the knob, shown inert: peak {c.peak_used:g} < {c.smaller_budget:g}",
                )
                continue
            why = " (declared as a consequence but not shown inert)" if c is not None else ""
            out += ctx.bad(
                "P4",
                f"{ref.leg_id} vs {cand.leg_id}: undeclared difference {k}: {va!r} -> {vb!r}{why}; "
                f"only {list(dict.fromkeys(declared)) or 'nothing'} may differ",
                evidence=[leg_ptr(ref, field=f"resolved_config.{k}"), leg_ptr(cand, field=f"resolved_config.{k}")],
                recomputed={"key": k, "reference": va, "candidate": vb, "declared_knobs": declared},
            )
        out += _p4_engine_log(ctx, ref, cand, declared, conseq)
    out += no_server_info(ctx, "P4", list({lg.leg_id: lg for pair in pairs for lg in pair}.values()))
    if not any(f.outcome in ("fail", "unchecked") for f in out):
        out += ctx.ok("P4", f"only the declared knob(s) {declared} differ, in launch.json and in the engine's own log")
    return out


def _not_set(key: str, *legs: LegData) -> bool:
    """No leg's engine log shows ``key`` among its non-default args: the engine derived it. A leg
    whose log cannot say (no such line) cannot excuse it: a derived key set by hand is a knob."""
    last = key.rsplit(".", 1)[-1]
    for leg in legs:
        args, _, _ = non_default_args(leg.server_log)
        if args is None or any(last == a or a.endswith("." + last) for a in flatten(launch_args(args))):
            return False
    return True


def _verified_crossover(ctx: GateContext) -> bool:
    # the decision's word that it is a crossover is a claim: only a pairing the auditor
    # re-derived (sets swapped, halves at once on disjoint cores) excuses the binding difference
    return ctx.decision.design == "crossover" and derive_gate(ctx).unverifiable is None


def _lever_changed(
    ctx: GateContext,
    ref: LegData,
    cand: LegData,
    declared: list[str],
    diff: dict[str, Any],
    env_a: dict[str, str],
    env_b: dict[str, str],
) -> list[Finding]:
    """The lever a decision declares must be what changed: a pair of legs equal on every declared
    knob is an A/A pair, and its delta is noise sold as a win."""
    if not declared or any(key_matches(dk, k) for dk in declared for k in diff):
        return []
    a, _ = ref.resolved()
    b, _ = cand.resolved()
    known = {**(a or {}), **(b or {}), **{f"env.{k}": v for k, v in {**env_a, **env_b}.items()}}
    seen = {dk: [k for k in known if key_matches(dk, k)] for dk in declared}
    if not any(seen.values()):
        return ctx.unchecked(
            "P4",
            f"declared knob(s) {declared} appear in neither leg's resolved config or env: "
            "that the lever changed cannot be shown",
        )
    dk = next(k for k, v in seen.items() if v)
    key = seen[dk][0]
    return ctx.bad(
        "P4",
        f"{ref.leg_id} vs {cand.leg_id}: the declared knob {dk} is the same in both legs ({key} = "
        f"{known[key]!r}); nothing the decision names changed, so its delta is an A/A difference",
        evidence=[leg_ptr(ref, field=f"resolved_config.{key}"), leg_ptr(cand, field=f"resolved_config.{key}")],
        recomputed={"declared_knobs": declared, "key": key},
    )


def _same_finite(a: Any, b: Any) -> bool:
    # an importer writes a NaN of the engine's as null: both mean "no number"
    def nan(x: Any) -> bool:
        return x is None or (isinstance(x, float) and x != x)

    return (nan(a) and nan(b)) or same_value(a, b)


def _covers(names: list[str], key: str) -> bool:
    # a bare log arg (max_num_seqs) and a dotted config key (scheduler_config.max_num_seqs)
    return any(key_matches(n, key) or key_matches(key, n) for n in names)


def _p4_engine_log(
    ctx: GateContext, ref: LegData, cand: LegData, declared: list[str], conseq: dict[str, Any]
) -> list[Finding]:
    """Launch parity from the engine's bytes: launch.json is geak's claim of the config."""
    wa, line_a, why_a = non_default_args(ref.server_log)
    wb, line_b, why_b = non_default_args(cand.server_log)
    if (wa is None or wb is None) and ref.engine_config is not None and cand.engine_config is not None:
        return []  # the diff above already ran on the engine's own server info
    if wa is None or wb is None:
        why = why_a if wa is None else why_b
        leg = ref if wa is None else cand
        return ctx.unchecked(
            "P4",
            f"leg {leg.leg_id}: {why}, so launch parity rests on launch.json, which geak wrote",
            evidence=[leg_ptr(leg, SERVER_LOG)],
        )
    out: list[Finding] = []
    for k, (va, vb) in config_diff(flatten(launch_args(wa)), flatten(launch_args(wb))).items():
        if _covers(declared, k):
            continue
        c = next((conseq[ck] for ck in conseq if key_matches(ck, k) or key_matches(k, ck)), None)
        if (
            c is not None
            and c.peak_used is not None
            and c.smaller_budget is not None
            and c.peak_used < c.smaller_budget
        ):
            continue
        out += ctx.bad(
            "P4",
            f"{ref.leg_id} vs {cand.leg_id}: the engine's own start-up lines differ in {k}: {va!r} -> {vb!r} "
            f"(server.log 'non-default args'); only {declared or 'nothing'} may differ",
            evidence=[leg_ptr(ref, SERVER_LOG, line=line_a), leg_ptr(cand, SERVER_LOG, line=line_b)],
            recomputed={"key": k, "reference": va, "candidate": vb, "declared_knobs": declared},
        )
    return out
