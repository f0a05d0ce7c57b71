"""What the workflow did, as records on disk: the event timeline and the run summary.

``events.jsonl`` is append-only: one RunEvent per step a user would want in a timeline
(a leg measured, a gate submitted, a verdict, a bank or a withholding). ``summary.json``
is rewritten atomically at the end of every node, so a crashed run still says how far it
got. The report (orchestrator/report/) reads both; neither is evidence the auditor uses.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from geak.auditor.evidence.models import Record

EventKind = Literal[
    "start",
    "resume",
    "phase",
    "leg",
    "schedule",
    "screen",
    "submit",
    "audit",
    "bank",
    "withhold",
    "withdraw",
    "unaudited",
    "passthrough",
    "llm",
    "budget",
    "end",
    "error",
]


class RunEvent(Record):
    kind: Literal["event"] = "event"
    t: float = Field(default_factory=time.time, description="unix seconds")
    event: EventKind
    node: str
    message: str
    gate_id: str | None = None
    decision_id: str | None = None
    leg_id: str | None = None
    verdict: str | None = Field(None, description="PASS | FLAG | FAIL | null (unaudited)")
    data: dict[str, Any] = Field(default_factory=dict)


class GateOutcome(Record):
    kind: Literal["gate_outcome"] = "gate_outcome"
    gate_id: str
    scope: str
    decision_id: str | None = None
    attempts: int = 0
    verdict: str | None = None
    banked: bool = False
    unaudited_reason: str | None = None
    note: str | None = None


class RunSummary(Record):
    kind: Literal["summary"] = "summary"
    run_id: str
    status: Literal["running", "complete", "failed", "interrupted"] = "running"
    use_auditor: bool = True
    llm_mode: str = "none"
    phases_done: list[str] = Field(default_factory=list)
    passthrough: dict[str, str] = Field(default_factory=dict, description="phase -> why it did nothing")
    gates: list[GateOutcome] = Field(default_factory=list)
    banked_decisions: list[str] = Field(default_factory=list)
    final_config: dict[str, Any] = Field(default_factory=dict, description="engine-neutral knobs of the bundle")
    bundle_decision: str | None = None
    error: str | None = None
    ledger_head: str | None = Field(
        None,
        description="'LINE:SHA256' of ledger.jsonl's last seal as this run's process sealed "
        "it (None: it sealed nothing); compare with what `geak audit` reports",
    )
