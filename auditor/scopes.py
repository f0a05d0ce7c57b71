"""Which rules judge a decision: the gate's scope, never the decision's word for it.

A producer who rewrites a patch decision's ``scope`` to "baseline" would have the baseline rules
look at its reference legs only, and the candidate never judged. So the scope comes from the
gate: on a live gate the workflow names it (gate.py passes it to audit_gate); offline it is read
from what the decision holds, which a scope word cannot change: candidate legs make a comparison
(a bundle when every candidate leg's launch.json says validation_final, else a patch), reference
legs alone a baseline, an op with no legs a harness record, a profile round a profile. A decision
that calls itself a comparison stays one without its candidate (the stricter rules then name the
candidate as missing). A declared scope that differs is a P1 FAIL, and the decision is judged
under the gate's scope all the same.
"""

from __future__ import annotations

from .evidence.loader import RunEvidence
from .evidence.models import Decision


def scope_of(run: RunEvidence, d: Decision) -> tuple[str, str]:
    """(the scope the decision's content makes it, why)."""
    if d.candidate_legs:
        roles = {lj.role for lid in d.candidate_legs if (lj := run.launches.get(lid)) is not None}
        if roles == {"validation_final"}:
            return "bundle", "its candidate legs are validation legs (launch.json role validation_final)"
        return "patch", f"it names candidate legs ({', '.join(d.candidate_legs[:3])})"
    if d.scope in ("patch", "bundle"):
        # a comparison whose candidate is missing stays one: its rules name what is missing (P1)
        return d.scope, "a comparison that names no candidate leg"
    if d.reference_legs:
        return "baseline", "it names reference legs and no candidate"
    if d.profile_round:
        return "profile", f"it names profile round {d.profile_round!r}"
    if d.op:
        return "harness", f"it names op {d.op!r} and no legs"
    return d.scope, "it names nothing else to judge it by"
