"""Which rules a set of verdicts actually checked, and which had no evidence to check.

A verdict on imported evidence is only as good as what the evidence held: "FLAG" from an
aggregates-only vLLM row and "FLAG" from a flawed run read alike unless the coverage is shown.
Pure: verdicts in, lists out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import rules_for, sorted_rule_ids
from .evidence.models import AuditVerdict

CHECKED = ("pass", "fail", "flag")


@dataclass(frozen=True)
class Coverage:
    applicable: list[str]  # rules of the audited gates' scopes
    checked: list[str]  # at least one finding that passed, failed or flagged
    no_evidence: list[str]  # only n/a or cannot-check findings (or none)

    def line(self, source: str | None = None) -> str:
        where = f" in {source}'s format" if source else ""
        head = f"checked {len(self.checked)} of {len(self.applicable)} rules"
        if not self.no_evidence:
            return head + "; every applicable rule had evidence"
        return f"{head}; {len(self.no_evidence)} had no evidence{where}: {', '.join(self.no_evidence)}"


def coverage(verdicts: list[AuditVerdict]) -> Coverage:
    scopes = {v.scope for v in verdicts if v.scope}
    applicable = sorted_rule_ids({r.rule_id for s in scopes for r in rules_for(s)})
    checked = sorted_rule_ids({f.rule_id for v in verdicts for f in v.findings if f.outcome in CHECKED})
    return Coverage(
        applicable=applicable,
        checked=[r for r in applicable if r in checked],
        no_evidence=[r for r in applicable if r not in checked],
    )
