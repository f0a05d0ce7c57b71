"""The LLM judgment may only escalate: when the call fails (an HTTP 500, garbage), the code
floor's verdict stands. A FLAG that asks for a re-measure was once turned into "UNAUDITED,
banked" by a failing judgment (issue 32)."""

from types import SimpleNamespace

import pytest

from geak.auditor.evidence.models import AuditVerdict, Claim, Decision, Finding
from geak.orchestrator.workflow import gate


def _verdict(v, actions):
    findings = (
        [Finding(rule_id="P3", scope="patch", outcome="flag", action="remeasure", message="delta within noise")]
        if v == "FLAG"
        else []
    )
    return AuditVerdict(
        gate_id="config-x", scope="patch", decision_id="d-x", verdict=v, findings=findings, actions=actions
    )


@pytest.mark.parametrize(
    "floor, actions, banks", [("FLAG", ["remeasure"], False), ("FAIL", ["eject"], False), ("PASS", ["pass"], True)]
)
def test_a_failing_judgment_leaves_the_floor_s_verdict(tmp_path, monkeypatch, floor, actions, banks):
    def http_500(*a, **k):
        raise RuntimeError("litellm.InternalServerError: 500 Internal Server Error")

    monkeypatch.setattr(gate, "prompt_state", lambda *a, **k: {})
    monkeypatch.setattr(gate, "llm_answer", http_500)
    d = Decision(decision_id="d-x", gate_id="config-x", scope="patch", producer="config_tuner", claim=Claim())
    rt = SimpleNamespace(store=SimpleNamespace(root=tmp_path))  # what the judgment reads of the run: its files
    v = gate.llm_judgment(rt, {}, _verdict(floor, actions), d)
    assert v.verdict == floor and "500 Internal Server Error" in v.unaudited_reason
    assert "deterministic verdict stands" in v.unaudited_reason
    fb = {"verdict": v.verdict, "actions": v.actions, "unaudited_reason": v.unaudited_reason}
    assert gate.bankable(fb) is banks
