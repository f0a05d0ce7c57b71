"""The run's seal (evidence/ledger.py) and W2: what changed after a leg closed is named, file by
file; the chain names the line that was edited; what the seal cannot see is said."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from geak.auditor.audit import audit_gate, audit_run
from corpus.synthetic import build_clean_run
from geak.auditor.evidence.ledger import LEDGER, check_leg, read_ledger, seal
from geak.auditor.evidence.store import NotEvidence, OutsideRunDir, RunStore
from geak.auditor.policy import AuditPolicy


def _w2(run, gate="config-accept-1", **kw):
    v = next(v for v in audit_run(run, write=False, **kw) if v.gate_id == gate)
    return v, [f for f in v.findings if f.rule_id == "W2"]


def test_the_clean_run_is_sealed_leg_by_leg_and_w2_passes(clean_run):
    view = read_ledger(RunStore(clean_run))
    assert view.present and not view.problems and view.head is not None
    assert set(view.seals) == {p.name for p in (clean_run / "legs").iterdir()}
    v, w2 = _w2(clean_run)
    assert [f.outcome for f in w2] == ["pass"] and v.verdict == "PASS"


def test_an_engine_log_may_grow_after_its_seal_but_not_change(clean_run):
    log = clean_run / "legs" / "cfg_seqs512" / "server.log"
    with open(log, "a") as f:
        f.write("INFO teardown line the engine printed after the leg closed\n")
    assert check_leg(RunStore(clean_run), read_ledger(RunStore(clean_run)), "cfg_seqs512") == []
    log.write_bytes(b"X" + log.read_bytes()[1:])
    [p] = check_leg(RunStore(clean_run), read_ledger(RunStore(clean_run)), "cfg_seqs512")
    assert p.file == "legs/cfg_seqs512/server.log" and "first bytes differ" in p.message


def test_a_leg_sealed_ok_and_sealed_again_is_a_replacement(clean_run):
    s = RunStore(clean_run)
    raw = s.path("legs/cfg_seqs512/raw/rep_1.json")
    raw.write_bytes(raw.read_bytes().replace(b'"date":"2023', b'"date":"2024'))
    seal(s, "cfg_seqs512")  # a producer re-sealing its edit: the chain holds, the history does not
    probs = check_leg(s, read_ledger(s), "cfg_seqs512")
    assert any(p.field == "leg_id" and "sealed again" in p.message for p in probs), probs


def test_a_truncated_last_line_is_sealed_over_and_reported(clean_run):
    s = RunStore(clean_run)
    p = s.path(LEDGER)
    p.write_bytes(p.read_bytes() + b'{"schema_version":1,"kind":"se')  # a crash mid-append
    seal(s, "baseline")
    view = read_ledger(s)
    assert any("is not a seal" in pr.message for pr in view.problems)
    assert view.latest("baseline") is not None


def test_seals_from_threads_at_once_make_one_chain(tmp_path):
    build_clean_run(tmp_path / "run")
    s = RunStore(tmp_path / "run")
    legs = ["aa_1", "aa_2", "baseline", "cfg_seqs512"] * 3
    ts = [threading.Thread(target=seal, args=(s, lid)) for lid in legs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    view = read_ledger(s)
    assert not view.problems and view.head.seq == 10 + len(legs) - 1


def test_a_ledger_planted_as_a_link_is_never_appended_through(clean_run, tmp_path):
    s = RunStore(clean_run)
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    s.path(LEDGER).unlink()
    os.symlink(outside, s.path(LEDGER))
    with pytest.raises((NotEvidence, OutsideRunDir)):
        seal(s, "baseline")
    assert outside.read_text() == ""
    v, w2 = _w2(clean_run)
    assert v.verdict == "FAIL" and any(f.outcome == "fail" and "symbolic link" in f.message for f in w2), [
        f.message for f in w2
    ]


def test_an_import_is_unsealed_and_says_so(tmp_path):
    from geak.auditor.importers.bench import import_vllm_bench

    data = sorted((Path(__file__).resolve().parents[1] / "data" / "bench").glob("vllm_rep*.json"))
    import_vllm_bench(data, tmp_path / "run", leg_id="base", warmup_first=True)
    [v] = audit_run(tmp_path / "run", write=False)
    [w2] = [f for f in v.findings if f.rule_id == "W2"]
    assert w2.outcome == "n/a" and "imported run is unsealed" in w2.message


def test_a_recording_from_before_sealing_says_so_and_is_not_failed():
    run = Path(__file__).resolve().parents[2] / "runs" / "recorded" / "tiny-cpu-run"
    v = next(v for v in audit_run(run, write=False) if v.gate_id == "baseline")
    [w2] = [f for f in v.findings if f.rule_id == "W2"]
    assert w2.outcome == "n/a" and "recorded before geak sealed" in w2.message


def test_the_live_gate_holds_the_ledger_to_the_head_the_orchestrator_kept(clean_run):
    s = RunStore(clean_run)
    head = read_ledger(s).head
    ok = audit_gate(s, "d-cfg-1", AuditPolicy(), "config-accept-1", sealed_head=head)
    assert [f.outcome for f in ok.findings if f.rule_id == "W2"] == ["pass"]
    # a consistent rewrite: the last seal line dropped (its leg resealed would move the head too)
    lines = s.path(LEDGER).read_text().splitlines()
    s.path(LEDGER).write_text("\n".join(lines[:-1]) + "\n")
    bad = audit_gate(s, "d-cfg-1", AuditPolicy(), "config-accept-1", sealed_head=head)
    w2 = [f for f in bad.findings if f.rule_id == "W2" and f.outcome == "fail"]
    assert bad.verdict == "FAIL" and any("rewritten" in f.message for f in w2), [
        f.message for f in bad.findings if f.rule_id == "W2"
    ]


def test_the_ledger_record_is_versioned_json_lines(clean_run):
    first = json.loads((clean_run / LEDGER).read_text().splitlines()[0])
    assert first["schema_version"] == 1 and first["kind"] == "seal" and first["prev"] == "0" * 64 and first["seq"] == 0


def test_a_leg_set_aside_and_measured_again_is_history_not_a_replacement(clean_run):
    """A resume moves a stale leg aside (agents/runners/legs.set_aside) and measures it again: the
    ledger says so, so the second seal is no replacement and the moved leg is not 'removed'."""
    import shutil

    from geak.auditor.evidence.ledger import set_aside

    s = RunStore(clean_run)
    shutil.move(str(s.path("legs/cfg_seqs512")), str(clean_run / "abandoned-cfg"))
    set_aside(s, "cfg_seqs512", "abandoned-cfg")
    shutil.copytree(clean_run / "abandoned-cfg", s.path("legs/cfg_seqs512"))  # measured again (here: the same bytes)
    seal(s, "cfg_seqs512")
    assert check_leg(s, read_ledger(s), "cfg_seqs512") == []
    v, w2 = _w2(clean_run)
    assert [f.outcome for f in w2] == ["pass"], [f.message for f in w2]


def test_a_leg_set_aside_and_never_measured_again_is_named(clean_run):
    import shutil

    from geak.auditor.evidence.ledger import set_aside

    s = RunStore(clean_run)
    set_aside(s, "cfg_seqs512", "abandoned-cfg")  # the record says aside; the files stayed
    probs = check_leg(s, read_ledger(s), "cfg_seqs512")
    assert probs and probs[0].field == "set_aside", probs
    shutil.rmtree(s.path("legs/aa_2"))
    v, w2 = _w2(clean_run)
    assert any("legs/aa_2 is gone" in f.message for f in w2 if f.outcome == "fail"), [f.message for f in w2]
