"""P5: the change ran in the server the candidate leg measured.

A kernel is engaged when its marker (the producer's regex, or GEAK's own overlay lines) is in
the candidate's own server.log and not in the reference's. A producer's summary may name the
log lines that prove it (GEAK integrate_result ``engagement_detail``): those lines are looked
for in the same log, literally, under the same rule; the summary never stands in for them.
A config lever is engaged when the declared knob differs in what the engine resolved.
"""

from __future__ import annotations

import re

from ..evidence.loader import LegData
from ..evidence.models import Finding
from .config_diff import derived_by, key_matches
from .launch import leg_pairs, resolved_diff
from .markers import compile_marker, find_marker
from .patch import is_kernel_decision
from .registry import GateContext, leg_ptr, rule
from ..evidence.layout import SERVER_LOG


def _found(pats: list[tuple[str, re.Pattern[str]]], log: str | None) -> dict[str, int]:
    """label -> first line, for each pattern found in the log."""
    if log is None:
        return {}
    return {label: line for label, pat in pats if (line := find_marker(pat, log)) is not None}


def _patterns(ctx: GateContext) -> tuple[list[tuple[str, re.Pattern[str]]], list[Finding]]:
    d = ctx.decision
    pats: list[tuple[str, re.Pattern[str]]] = []
    if d.engagement_marker:
        pat, why = compile_marker(d.engagement_marker)
        if pat is None:
            return [], ctx.bad("P5", f"{why}: nothing proves the kernel ran in the server", evidence=[ctx.decision_ptr])
        pats.append((f"/{d.engagement_marker}/", pat))
    # literal lines, so a cited line cannot be a pattern that matches anything
    pats += [(f"the cited line {h!r}", re.compile(re.escape(h))) for h in d.engagement_hints]
    if not pats:
        return [], ctx.bad(
            "P5",
            "kernel change with no engagement marker declared: nothing proves it ran in the server",
            evidence=[ctx.decision_ptr],
        )
    return pats, []


def _kernel(ctx: GateContext) -> list[Finding]:
    pats, out = _patterns(ctx)
    if out:
        return out
    in_ref: dict[str, str] = {}
    for ref in ctx.reference:
        for label in _found(pats, ref.server_log):
            in_ref.setdefault(label, ref.leg_id)
    proofs = [(label, pat) for label, pat in pats if label not in in_ref]
    if not proofs:  # a line the reference prints too is no proof, and nothing else is left
        for label, leg_id in in_ref.items():
            out += ctx.bad(
                "P5",
                f"{label} also appears in the reference leg {leg_id}: it proves nothing",
                evidence=[leg_ptr(ctx.run.leg(leg_id), SERVER_LOG)],
            )
    for cand in ctx.candidate:
        out += _kernel_leg(ctx, cand, proofs, in_ref)
    return out


def _kernel_leg(
    ctx: GateContext, cand: LegData, proofs: list[tuple[str, re.Pattern[str]]], in_ref: dict[str, str]
) -> list[Finding]:
    if cand.server_log is None:
        why = cand.server_log_problem.message if cand.server_log_problem else "no server.log"
        return ctx.missing(
            "P5", f"leg {cand.leg_id}: {cand.dir}/server.log: {why}", evidence=[leg_ptr(cand, SERVER_LOG)]
        )
    if not proofs:
        return []  # every marker is also in the reference: reported once above
    found = _found(proofs, cand.server_log)
    noted = f" ({', '.join(sorted(in_ref))} also in the reference, so not counted)" if in_ref else ""
    if not found:
        return ctx.bad(
            "P5",
            f"{' nor '.join(label for label, _ in proofs)} never appears in {cand.server_log_file or cand.dir + '/server.log'}: "
            f"the kernel did not run{noted}",
            evidence=[leg_ptr(cand, SERVER_LOG)],
        )
    label, line = min(found.items(), key=lambda kv: kv[1])
    missing = [lbl for lbl, _ in proofs if lbl not in found]
    tail = f"; not found: {', '.join(missing)}" if missing else ""
    return ctx.ok(
        "P5", f"leg {cand.leg_id}: {label} at line {line}{tail}{noted}", evidence=[leg_ptr(cand, SERVER_LOG, line=line)]
    )


@rule("P5", ["patch"], "change not engaged", "fail", "eject")
def p5_engaged(ctx: GateContext) -> list[Finding]:
    if is_kernel_decision(ctx):
        return _kernel(ctx)
    d = ctx.decision
    # config lever: the declared knob must actually differ in what the engine resolved
    if not d.declared_knobs:
        return ctx.bad("P5", "no declared knob: nothing identifies the change", evidence=[ctx.decision_ptr])
    out: list[Finding] = []
    for ref, cand in leg_pairs(ctx):
        diff = resolved_diff(ref, cand)
        if diff is None:
            out += ctx.missing("P5", f"legs {ref.leg_id}/{cand.leg_id} lack a resolved engine config")
            continue
        a, _ = ref.resolved()
        b, _ = cand.resolved()
        keys = set(a or {}) | set(b or {})
        # a declared name the engine has no key for (geak's neutral "chunked_prefill" beside vLLM's
        # "enable_chunked_prefill") is an alias, not a setting that failed to take effect; but every
        # name the engine does know must differ, and at least one must. A key declared because the
        # engine may derive it from a declared lever (config_diff.derived_from(), each engine's dialect) may stay put:
        # vLLM-on-CPU 0.32 moves max_num_batched_tokens with max_num_seqs, vLLM 0.26 on an H100
        # keeps its 8192 (seen 2026-12-07)
        known = [k for k in d.declared_knobs if any(key_matches(k, key) for key in keys)]
        if not known:
            out += ctx.bad(
                "P5",
                f"none of the declared knobs {d.declared_knobs} names a key of the engine's resolved config: "
                "nothing shows the change took effect",
                evidence=[leg_ptr(cand, field="resolved_config")],
            )
        # the levers are the declared knobs the producer also names as levers (a lever it names but does
        # not declare as a knob changes nothing here); none named: every declared knob is a lever
        levers = [k for k in d.declared_levers if k in d.declared_knobs] or list(d.declared_knobs)
        for knob in known:
            # excused only as what a declared lever derives, never when the producer names it a lever itself
            if knob not in levers and derived_by(levers, knob) is not None:
                continue
            if not any(key_matches(knob, k) for k in diff):
                out += ctx.bad(
                    "P5",
                    f"declared knob {knob} is identical in both legs' resolved configs: the setting never took effect",
                    evidence=[leg_ptr(cand, field="resolved_config")],
                )
    if not out:
        out += ctx.ok("P5", f"declared knob(s) {d.declared_knobs} took effect in the resolved config")
    return out
