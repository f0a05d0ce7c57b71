"""Whatever a producer writes into a run directory, the auditor answers with findings: no
traceback, no hang, no UNAUDITED for a producer's input, no write through a planted link."""

from __future__ import annotations

import json
import os
import threading

import pytest

from geak.auditor.audit import audit_file, audit_run, audit_stem
from geak.auditor.evidence.decoding import MAX_JSON_DEPTH
from geak.auditor.evidence.store import NotEvidence, RunStore
from corpus.synthetic import LegSpec, build_clean_run

DEEP = "[" * 100_000 + "]" * 100_000


def verdicts(run) -> dict:
    return {v.gate_id: v for v in audit_run(run, write=False)}


def test_no_gate_of_the_clean_run_is_unaudited(clean_run):
    assert all(v.verdict is not None for v in verdicts(clean_run).values())


@pytest.mark.parametrize("rel", ["manifest.json", "decisions.jsonl", "legs/cfg_seqs512/launch.json"])
@pytest.mark.parametrize(
    "payload", [DEEP, '{"schema_version": 1, "a": ' + "[" * (MAX_JSON_DEPTH + 5) + "]" * (MAX_JSON_DEPTH + 5) + "}"]
)
def test_deeply_nested_json_is_a_finding_not_a_crash(clean_run, rel, payload):
    p = clean_run / rel
    p.write_text(payload + ("\n" if rel.endswith(".jsonl") else ""))
    vs = verdicts(clean_run)
    assert vs and all(v.verdict is not None for v in vs.values()), {g: v.unaudited_reason for g, v in vs.items()}
    assert any(v.verdict == "FAIL" and any(rel in str(e) for f in v.findings for e in f.evidence) for v in vs.values())


def test_a_fifo_anywhere_in_the_run_never_blocks_the_audit(clean_run):
    for rel in ("legs/kernel_rmsnorm/server.log", "legs/cfg_seqs512/raw/rep_1.json", "legs/baseline/bench_runs.jsonl"):
        p = clean_run / rel
        p.unlink()
        os.mkfifo(p)
    out: list = []
    t = threading.Thread(target=lambda: out.append(verdicts(clean_run)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the audit blocked on a FIFO"
    vs = out[0]
    assert vs["integrate-rmsnorm"].verdict == "FAIL" and vs["baseline"].verdict == "FAIL"
    assert any("FIFO" in f.message for f in vs["baseline"].findings)


def test_a_symlinked_audit_file_is_not_written_through(clean_run):
    victim = clean_run / "legs" / "baseline" / "bench_runs.jsonl"
    before = victim.read_bytes()
    (clean_run / "audits").mkdir(exist_ok=True)
    os.symlink("../legs/baseline/bench_runs.jsonl", clean_run / "audits" / "baseline.json")
    with pytest.raises(NotEvidence, match="symbolic link"):
        audit_run(clean_run)
    assert victim.read_bytes() == before


def test_a_symlinked_audits_folder_is_not_written_through(clean_run):
    os.symlink("legs/baseline", clean_run / "audits")
    with pytest.raises(NotEvidence):
        audit_run(clean_run)
    assert not (clean_run / "legs" / "baseline" / "baseline.json").exists()


def test_audit_file_names_are_distinct_per_gate():
    ids = ["cfg/x", "cfg_x", "cfg:x", "run", "Run", "RUN", ".", "..", "a" * 300, "a" * 301, "dé", "de", "-x", "_run"]
    stems = [audit_stem(g) for g in ids] + [audit_stem("run", run_level=True)]
    assert len(set(stems)) == len(stems), stems
    assert audit_stem("config-max_num_seqs-32") == "config-max_num_seqs-32"  # clean ids keep their name
    assert all("/" not in s and s not in (".", "..") and len(s) < 120 for s in stems)
    assert audit_file("run", run_level=True) == "audits/_run.json"


def test_colliding_gate_ids_get_separate_verdict_files(clean_run):
    lines = (clean_run / "decisions.jsonl").read_text().splitlines()
    d = json.loads(lines[2])  # config-accept-1
    extra = [
        dict(d, decision_id="d-a", gate_id="cfg/x"),
        dict(d, decision_id="d-b", gate_id="cfg_x"),
        dict(d, decision_id="d-c", gate_id="run"),
    ]
    (clean_run / "decisions.jsonl").write_text("\n".join(lines + [json.dumps(e) for e in extra]) + "\n")
    (clean_run / "manifest.json").write_text("{}")  # a run-level FAIL as well: gate "run" and the run's records
    vs = audit_run(clean_run)
    files = sorted(p.name for p in (clean_run / "audits").glob("*.json"))
    assert len(files) == len(vs) == len({(v.gate_id, v.scope is None) for v in vs})
    assert "_run.json" in files and "run.json" in files


def test_a_declared_aa_leg_that_is_unusable_makes_the_band_unknown(clean_run):
    import shutil

    def mod(legs):
        for lid, tputs in (("aa_1", [1000.0, 3580.0, 1010.0]), ("aa_2", [1000.0, 1001.0, 1002.0])):
            legs[lid] = LegSpec(lid, "aa", tputs, outputs="none", started_at=legs[lid].started_at)

    shutil.rmtree(clean_run)
    build_clean_run(clean_run, legs_mod=mod)
    band = verdicts(clean_run)["config-accept-1"].policy["noise_band_pct"]
    assert band > 200  # the measured 258% band gates the +8% claim: FLAG
    assert verdicts(clean_run)["config-accept-1"].verdict == "FLAG"

    def truncate(s):
        b = s.path("legs/aa_1/bench_runs.jsonl")
        b.write_bytes(b.read_bytes()[:-30])

    def relabel(s):
        lj = s.path("legs/aa_1/launch.json")
        lj.write_text(lj.read_text().replace('"role": "aa"', '"role": "baseline"'))

    # each before the legs are sealed: the band's own checks find it, not the seal
    for attack, edit in (
        ("truncate", truncate),
        ("relabel", relabel),
        ("delete", lambda s: shutil.rmtree(s.path("legs/aa_1"))),
    ):
        run = clean_run.parent / attack
        build_clean_run(run, legs_mod=mod, after=edit)
        v = verdicts(run)["config-accept-1"]
        p3 = next(f for f in v.findings if f.rule_id == "P3")
        assert v.verdict != "PASS" and p3.outcome == "flag" and "noise band unknown" in p3.message, (attack, p3.message)
        assert "aa_1" in p3.message


@pytest.mark.parametrize(
    "hostile", ["../../etc", "/etc", "a\x00b", "", ".", "legs", "x" * 5000, "\udcff", "baseline/../baseline"]
)
def test_hostile_ids_in_a_decision_are_findings_never_unaudited(clean_run, hostile):
    lines = (clean_run / "decisions.jsonl").read_text().splitlines()
    d = json.loads(lines[2])
    extra = [
        dict(d, decision_id=f"z-{fld}", gate_id=f"g-{fld}", **{fld: [hostile]})
        for fld in ("reference_legs", "candidate_legs", "audit_legs")
    ]
    extra.append(
        dict(
            d,
            decision_id="z-all",
            gate_id=hostile or "empty",
            engagement_marker=hostile,
            op=hostile,
            profile_round=hostile,
            declared_knobs=[hostile],
        )
    )
    (clean_run / "decisions.jsonl").write_text("\n".join(lines + [json.dumps(e) for e in extra]) + "\n")
    vs = audit_run(clean_run)  # writes audits/ too: every id gets a file of its own
    assert all(v.verdict is not None for v in vs), [
        (v.gate_id[:40], (v.unaudited_reason or "")[:200]) for v in vs if v.verdict is None
    ]
    assert len(list((clean_run / "audits").glob("*.json"))) == len(vs)


def test_a_gate_whose_decision_line_is_unreadable_fails_closed(clean_run):
    # a live gate audits the decision the producer just appended; if that line is gone the
    # verdict is FAIL (withheld), not UNAUDITED (which geak run would bank by fail-open)
    from geak.auditor.audit import audit_gate
    from geak.auditor.policy import AuditPolicy

    v = audit_gate(RunStore(clean_run), "d-nowhere", AuditPolicy(), "config-accept-9")
    assert v.verdict == "FAIL" and v.findings[0].rule_id == "P1"
    assert (clean_run / audit_file("config-accept-9")).exists()


def test_many_planted_teardown_markers_cost_one_pass(clean_run):
    import time

    from geak.auditor.evidence.models import TEARDOWN_MARKER

    log = clean_run / "legs" / "kernel_rmsnorm" / "server.log"
    # 20k markers, each above a crash line and none followed by the engine's acknowledgment
    log.write_text(log.read_text() + f"{TEARDOWN_MARKER}\nERROR CUDA error: illegal memory access\n" * 20_000)
    t = time.perf_counter()
    v = verdicts(clean_run)["integrate-rmsnorm"]
    assert time.perf_counter() - t < 30
    assert next(f for f in v.findings if f.rule_id == "P11").outcome == "fail"
