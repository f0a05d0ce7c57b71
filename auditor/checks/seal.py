"""W2: the leg's files are the bytes sealed when it closed (evidence/ledger.py).

The leg runner seals what the tool and the engine wrote into ledger.jsonl, hash-chained, the
moment a leg closes. A byte changed, a file removed or added after that is a FAIL naming the
file; a broken chain names the ledger's line; on a live gate, a head on disk that is not the one
the orchestrator holds in memory is a rewrite of files and ledger together. A run with no ledger
is an import (nobody sealed another tool's files: said, not failed) or was recorded before geak
sealed legs (no leg plans its reps: said); a geak run whose legs plan their reps and that has no
ledger had it removed.
"""

from __future__ import annotations

from ..evidence.models import EvidencePointer, Finding
from .registry import GateContext, ptr, rule
from ..evidence.layout import LEDGER


@rule("W2", ["baseline", "patch", "bundle"], "evidence changed after its leg was sealed", "fail", "eject")
def w2_sealed(ctx: GateContext) -> list[Finding]:
    run = ctx.run
    view = run.ledger
    legs = ctx.all_legs
    if not view.present:
        if run.imported:
            return ctx.na(
                "W2",
                "an imported run is unsealed: another tool wrote every file, and nothing sealed them as they "
                "were written; its numbers are only as good as whoever kept the files",
            )
        if not run.plans_reps and run.sealed_head is None:
            return ctx.na(
                "W2",
                "unsealed: recorded before geak sealed its legs (no leg declares its planned reps); its files "
                "are checked against each other, not against a seal",
            )
        return ctx.bad(
            "W2",
            f"{LEDGER} is missing, but this run's legs were written by a geak that seals every leg it closes: "
            "the seal was removed",
            evidence=[EvidencePointer(file=LEDGER)],
        )
    out: list[Finding] = []
    for p in view.problems[:4]:
        out += ctx.bad("W2", str(p), evidence=[ptr(p)])
    want = run.sealed_head
    if want is not None and view.head != want:
        out += ctx.bad(
            "W2",
            f"on disk: {view.head or 'no readable seal'}; the orchestrator sealed {want}: the ledger was "
            "rewritten (or cut) while the run was live",
            evidence=[EvidencePointer(file=LEDGER)],
        )
    present = set(run.leg_ids())
    removed = [lid for lid in sorted(set(view.seals) - present) if view.seals[lid][-1][1].set_aside is None]
    for gone in removed[:4]:
        # a sibling's evidence (what ran beside a gate's legs, B5) removed with its directory
        line = view.seals[gone][-1][0]
        out += ctx.bad(
            "W2",
            f"leg {gone} was sealed at {LEDGER} line {line}, and legs/{gone} is gone: a measured leg was removed "
            "after it closed (what ran beside this gate's legs is part of its evidence)",
            evidence=[EvidencePointer(file=LEDGER, line=line, field="leg_id")],
        )
    for leg in legs:
        probs = run.seal_problems(leg.leg_id)
        for p in probs[:6]:
            out += ctx.bad("W2", f"leg {leg.leg_id}: {p}", evidence=[ptr(p)])
        if len(probs) > 6:
            out += ctx.bad(
                "W2",
                f"leg {leg.leg_id}: {len(probs) - 6} more file(s) differ from the seal",
                evidence=[EvidencePointer(file=LEDGER)],
            )
    if not out:
        out += ctx.ok(
            "W2", f"{len(legs)} leg(s) hold the bytes sealed when they closed ({view.head or 'an empty ledger'})"
        )
    return out
