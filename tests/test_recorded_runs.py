"""Runs recorded for real (vLLM on this CPU) and shipped in runs/recorded: the auditor re-verifies them."""

from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore

RECORDED = Path(__file__).resolve().parents[1] / "runs" / "recorded" / "tiny-cpu-baseline"


def test_recorded_baseline_run_re_audits_to_pass():
    vs = audit_run(RECORDED, write=False)
    assert [(v.gate_id, v.verdict) for v in vs] == [("baseline", "PASS")], [
        (f.rule_id, f.outcome, f.message) for v in vs for f in v.findings if f.outcome != "pass"]


def test_recorded_run_band_comes_from_its_aa_legs():
    v = audit_run(RECORDED, write=False)[0]
    assert v.policy["noise_band_source"] == "measured A/A legs" and v.policy["noise_band_pct"] > 0.5


def test_recorded_run_holds_real_vllm_output():
    run = RunEvidence(RunStore(RECORDED))
    leg = run.leg("baseline")
    assert leg.launch.engine == "vllm" and leg.launch.status == "ok"
    assert (RECORDED / "legs" / "baseline" / leg.counted[0].rep.raw_file).exists()
    assert leg.accuracy.correct / leg.accuracy.n >= 0.95
