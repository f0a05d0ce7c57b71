"""H4 on the readiness fields the op harness writes since harness v2 (agents/kernels/probes.py
ready_probe), and on records written before them (fields absent: judged on the ratio alone)."""

from __future__ import annotations

import json

import pytest
from corpus.plants import build_clean_run
from geak.auditor.audit import audit_run


def _trial(lead: bool, ready: bool = True, before: bool | None = False, stale: float = 0.0) -> dict:
    return {
        "lead_ms": 1.0 if lead else 0.0,
        "enqueued_under_lead": True if lead else None,
        "host_ms": 0.05,
        "ready": ready,
        "stale_byte_fraction": stale,
        "complete_before_call": before if lead else None,
    }


def _h4(tmp_path, **anti_gaming):
    build_clean_run(tmp_path / "run")
    path = tmp_path / "run" / "ops" / "rmsnorm" / "opbench.json"
    rec = json.loads(path.read_text())
    rec["anti_gaming"].update(anti_gaming)
    path.write_text(json.dumps(rec))
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == "harness-rmsnorm")
    return v, next(f for f in v.findings if f.rule_id == "H4")


def test_a_record_without_readiness_fields_is_judged_on_the_ratio(tmp_path):
    v, f = _h4(tmp_path)
    assert f.outcome == "pass" and "output complete" not in f.message
    assert v.verdict == "PASS"


def test_output_complete_at_the_end_event_passes(tmp_path):
    trials = [_trial(False), _trial(True), _trial(False), _trial(True)]
    _, f = _h4(
        tmp_path,
        output_ready_at_end_event=True,
        output_complete_before_timed_call=False,
        ready_probe={"trials": trials},
    )
    assert f.outcome == "pass" and "output complete at the end event" in f.message


def test_stale_output_at_the_end_event_fails_even_at_a_ratio_near_one(tmp_path):
    trials = [_trial(False), _trial(True, ready=False, stale=0.9), _trial(False), _trial(True, ready=False, stale=0.66)]
    v, f = _h4(
        tmp_path,
        event_ms=42.0,
        wall_ms=43.0,
        output_ready_at_end_event=False,
        output_complete_before_timed_call=False,
        ready_probe={"trials": trials},
    )
    assert f.outcome == "fail" and "2/4 trial(s)" in f.message and "90%" in f.message
    assert f.evidence[0].field == "anti_gaming.ready_probe"
    assert v.verdict == "FAIL"


def test_output_complete_before_the_timed_call_fails(tmp_path):
    trials = [_trial(False), _trial(True, before=True), _trial(False), _trial(True, before=True)]
    v, f = _h4(
        tmp_path, output_ready_at_end_event=True, output_complete_before_timed_call=True, ready_probe={"trials": trials}
    )
    assert f.outcome == "fail" and "already complete" in f.message and "2/4" in f.message
    assert v.verdict == "FAIL"


@pytest.mark.parametrize("ready", [True, None])
def test_a_low_ratio_still_fails_whatever_the_readiness(tmp_path, ready):
    _, f = _h4(tmp_path, event_ms=5.0, wall_ms=40.0, output_ready_at_end_event=ready)
    assert f.outcome == "fail" and "ratio 0.12" in f.message
