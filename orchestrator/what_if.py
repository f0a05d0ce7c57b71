"""What an edit would have decided: a recorded run replayed with a changed policy or workflow,
and the decision diff between the recording and the replay (issue 15).

Per gate: the recorded and replayed verdict, banked or withheld, the note (a branch the
recording cannot follow ends "not recorded"), and the rules whose outcome changed, from the
replay's audits/<gate>.json and the recording audited afresh, in memory, under its own policy.
Reads the two run directories; writes nothing in the recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from geak.auditor.api import audit_file, audit_run
from geak.auditor.evidence.models import AuditVerdict, Record
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

from .events import GateOutcome, RunSummary
from geak.auditor.evidence.layout import SUMMARY

LLM_MARK = "[LLM judgment]"  # how orchestrator.workflow.gate.llm_judgment marks the findings it adds
# worst first: how a rule's findings at a gate are summed up
OUTCOME_ORDER = ("fail", "flag", "unchecked", "pass", "n/a")


class RuleChange(Record):
    kind: Literal["rule_change"] = "rule_change"
    rule_id: str
    recorded: str | None
    replayed: str | None


class GateDiff(Record):
    kind: Literal["gate_diff"] = "gate_diff"
    gate_id: str
    recorded_verdict: str | None = None
    replayed_verdict: str | None = None
    recorded_banked: bool | None = Field(None, description="None: the recording has no such gate")
    replayed_banked: bool | None = Field(None, description="None: the replay has no such gate")
    note: str | None = None
    rules: list[RuleChange] = Field(default_factory=list)

    @property
    def flipped(self) -> bool:
        """A banked decision withheld, or a withheld one banked."""
        return bool(self.recorded_banked) != bool(self.replayed_banked)

    @property
    def changed(self) -> bool:
        return self.flipped or self.recorded_verdict != self.replayed_verdict or bool(self.rules)


class WhatIf(Record):
    """what_if.json in the replay's directory."""

    kind: Literal["what_if"] = "what_if"
    source: str
    changed_inputs: dict[str, str] = Field(
        default_factory=dict, description="policy / workflow / skills / llm -> what the replay used instead"
    )
    gates: list[GateDiff] = Field(default_factory=list)

    @property
    def flipped(self) -> list[GateDiff]:
        return [g for g in self.gates if g.flipped]


def diff_row(g: GateDiff, dash: str = "-") -> tuple[str, str, str, str, str]:
    """(gate, recorded, replayed, rules changed, note): the one rendering of a gate's diff, shared
    by the terminal table, the replay's differences and the report."""
    bank = {True: "banked", False: "withheld", None: dash}

    def side(verdict: str | None, banked: bool | None) -> str:
        return f"{verdict or dash} {bank[banked]}"

    rules = ", ".join(f"{r.rule_id} {r.recorded or dash} -> {r.replayed or dash}" for r in g.rules) or dash
    return (
        g.gate_id,
        side(g.recorded_verdict, g.recorded_banked),
        side(g.replayed_verdict, g.replayed_banked),
        rules,
        ("flipped; " if g.flipped else "") + (g.note or ""),
    )


def _worst(v: AuditVerdict | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in v.findings if v is not None else []:
        prev = out.get(f.rule_id)
        if prev is None or OUTCOME_ORDER.index(f.outcome) < OUTCOME_ORDER.index(prev):
            out[f.rule_id] = f.outcome
    return out


def _replayed_rules(store: RunStore, gate: GateOutcome | None) -> dict[str, str]:
    if gate is None:
        return {}
    v, _ = store.read_json(audit_file(gate.gate_id), AuditVerdict)
    return _worst(v if v is not None and (not gate.decision_id or v.decision_id == gate.decision_id) else None)


def _recorded_rules(recorded: Path, policy: AuditPolicy) -> dict[str, dict[str, str]]:
    """The recording's gates as today's auditor judges them under the recording's own policy (in
    memory: the recording is never written), so the diff shows the edit, not an auditor upgrade;
    plus what the recording's LLM judgment added at each gate (its audits/<gate>.json), which
    no code re-derives."""
    store = RunStore(recorded)
    out: dict[str, dict[str, str]] = {}
    for v in audit_run(recorded, policy=policy, write=False):
        if v.scope is None:
            continue
        rec, _ = store.read_json(audit_file(v.gate_id), AuditVerdict)
        judged = [f for f in (rec.findings if rec is not None else []) if f.message.startswith(LLM_MARK)]
        out[v.gate_id] = _worst(v.model_copy(update={"findings": v.findings + judged}))
    return out


def decision_diff(
    recorded: Path,
    replayed: Path,
    changed_inputs: dict[str, str] | None = None,
    recorded_policy: AuditPolicy | None = None,
) -> WhatIf:
    a, b = RunStore(recorded), RunStore(replayed)
    rec_rules = _recorded_rules(recorded, recorded_policy or AuditPolicy())
    sa, _ = a.read_json(SUMMARY, RunSummary)
    sb, _ = b.read_json(SUMMARY, RunSummary)
    ga = {g.gate_id: g for g in (sa.gates if sa else [])}
    gb = {g.gate_id: g for g in (sb.gates if sb else [])}
    out: list[GateDiff] = []
    for gid in list(dict.fromkeys(list(ga) + list(gb))):
        x, y = ga.get(gid), gb.get(gid)
        ra, rb = rec_rules.get(gid, {}) if x else {}, _replayed_rules(b, y)
        # a gate one side never reached has no rules to compare: its absence is the change
        rules = (
            [
                RuleChange(rule_id=r, recorded=ra.get(r), replayed=rb.get(r))
                for r in sorted(set(ra) | set(rb))
                if ra.get(r) != rb.get(r)
            ]
            if x and y
            else []
        )
        out.append(
            GateDiff(
                gate_id=gid,
                recorded_verdict=x.verdict if x else None,
                replayed_verdict=y.verdict if y else None,
                recorded_banked=x.banked if x else None,
                replayed_banked=y.banked if y else None,
                note=(y.note if y else "the replay never reached this gate"),
                rules=rules,
            )
        )
    return WhatIf(source=str(recorded), changed_inputs=changed_inputs or {}, gates=out)
