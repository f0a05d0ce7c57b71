"""Verdicts: findings with evidence pointers, and the auditor's verdict per gate."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from .base import Record, Scope

# ---------------------------------------------------------------- verdicts

Outcome = Literal["pass", "flag", "fail", "unchecked", "n/a"]
Action = Literal[
    "pass", "remeasure", "eject", "downgrade_headline", "replace_headline_with_e2e", "flag", "reroute"
]
VerdictName = Literal["PASS", "FLAG", "FAIL"]


class EvidencePointer(BaseModel):
    file: str
    line: int | None = None
    record_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        s = self.file
        if self.line is not None:
            s += f":{self.line}"
        if self.record_id:
            s += f"#{self.record_id}"
        if self.field:
            s += f" [{self.field}]"
        return s


class Finding(BaseModel):
    rule_id: str
    scope: Scope
    outcome: Outcome
    message: str
    action: Action = "pass"
    evidence: list[EvidencePointer] = Field(default_factory=list)
    recomputed: dict[str, Any] = Field(default_factory=dict)
    claimed: dict[str, Any] = Field(default_factory=dict)


class AuditVerdict(Record):
    """audits/<gate_id>.json. ``verdict`` None means the auditor itself failed: unaudited."""

    kind: Literal["audit"] = "audit"
    gate_id: str
    scope: Scope | None
    decision_id: str | None = None
    verdict: VerdictName | None
    unaudited_reason: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    rules_checked: list[str] = Field(default_factory=list, description="rules with a finding that passed, failed or flagged")
    rules_without_evidence: list[str] = Field(
        default_factory=list, description="rules of the scope that had nothing to check (n/a) or could not check")
    auditor_version: str | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
