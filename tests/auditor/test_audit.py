import hashlib

import pytest
import json
from pathlib import Path

from geak.auditor import audit as audit_mod
from geak.auditor.audit import audit_run
from geak.auditor.checks import registry


def _tree_hash(root: Path, skip: str = "audits") -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and skip not in p.relative_to(root).parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_clean_run_passes_every_gate(clean_run):
    vs = audit_run(clean_run)
    assert {v.gate_id: v.verdict for v in vs} == {
        g: "PASS"
        for g in ["baseline", "profile-1", "config-accept-1", "harness-rmsnorm", "integrate-rmsnorm", "bundle"]
    }


def test_audit_writes_only_under_audits(clean_run):
    before = _tree_hash(clean_run)
    audit_run(clean_run)
    assert _tree_hash(clean_run) == before
    assert sorted(p.name for p in (clean_run / "audits").iterdir())[0] == "baseline.json"


def test_broken_check_fails_open_as_unaudited(clean_run, monkeypatch):
    rule = registry.RULES["P3"]

    def boom(ctx):
        raise ZeroDivisionError("planted auditor bug")

    monkeypatch.setitem(
        registry.RULES, "P3", registry.Rule(rule.rule_id, rule.scopes, rule.title, rule.violation, rule.action, boom)
    )
    vs = {v.gate_id: v for v in audit_run(clean_run)}
    v = vs["config-accept-1"]
    assert v.verdict is None and "planted auditor bug" in v.unaudited_reason
    on_disk = json.loads((clean_run / "audits" / "config-accept-1.json").read_text())
    assert on_disk["verdict"] is None and on_disk["unaudited_reason"]
    assert vs["baseline"].verdict == "PASS"  # other gates are unaffected


def _swap_rule(monkeypatch, rid, fn):
    r = registry.RULES[rid]
    monkeypatch.setitem(registry.RULES, rid, registry.Rule(r.rule_id, r.scopes, r.title, r.violation, r.action, fn))


def test_a_faulted_rule_never_banks_over_the_other_rules_flag(tmp_path, monkeypatch):
    # b1_noisy's baseline FLAGs (B1); a fault in another rule of that gate used to make it UNAUDITED (banked)
    from corpus.plants import generate
    from geak.orchestrator.workflow.gate import bankable

    generate(tmp_path, ["b1_noisy"])
    run = tmp_path / "b1_noisy" / "run"

    def boom(ctx):
        raise OverflowError("planted: int too large to convert to float")

    _swap_rule(monkeypatch, "P11", boom)
    v = {x.gate_id: x for x in audit_run(run, write=False)}["baseline"]
    assert v.verdict == "FLAG" and "P11: OverflowError" in v.unaudited_reason
    assert {f.rule_id for f in v.findings if f.outcome == "flag"} >= {"B1"}  # the other rules still ran
    faulted = [f for f in v.findings if f.rule_id == "P11"]
    assert faulted and faulted[0].outcome == "unchecked" and faulted[0].action == "remeasure"
    assert not bankable({"verdict": v.verdict, "actions": v.actions, "unaudited_reason": v.unaudited_reason})


def test_a_rule_that_meets_impossible_evidence_fails_naming_file_and_field(clean_run, monkeypatch):
    from geak.auditor.evidence.models import EvidencePointer

    def impossible(ctx):
        raise audit_mod.EvidenceError(
            "count 10**400 is no count a tool writes",
            EvidencePointer(file="legs/cfg_seqs512/raw/rep_1.json", field="completed"),
        )

    _swap_rule(monkeypatch, "P11", impossible)
    v = {x.gate_id: x for x in audit_run(clean_run, write=False)}["config-accept-1"]
    assert v.verdict == "FAIL" and v.unaudited_reason is None
    f = next(f for f in v.findings if f.rule_id == "P11")
    assert (
        f.outcome == "fail"
        and str(f.evidence[0]).startswith("legs/cfg_seqs512/raw/rep_1.json")
        and "completed" in str(f.evidence[0])
    )


@pytest.mark.parametrize("metric", ["rep", "line", "value", "__class__", "completed", "arrays", "errors", "x" * 5000])
def test_a_metric_outside_the_vocabulary_fails_p1_and_every_rule_runs(clean_run, metric):
    lines = (clean_run / "decisions.jsonl").read_text().splitlines()
    out = []
    for ln in lines:
        d = json.loads(ln)
        if d.get("decision_id") == "d-cfg-1":
            d["claim"]["metric"] = metric
        out.append(json.dumps(d))
    (clean_run / "decisions.jsonl").write_text("\n".join(out) + "\n")
    v = {x.gate_id: x for x in audit_run(clean_run, write=False)}["config-accept-1"]
    assert v.verdict == "FAIL" and v.unaudited_reason is None
    p1 = [f for f in v.findings if f.rule_id == "P1" and f.outcome == "fail"]
    assert p1 and "claim.metric" in str(p1[0].evidence[0]) and "output_throughput" in p1[0].message
    assert len(p1[0].message) < 400


def test_latest_decision_per_gate_is_audited(clean_run):
    lines = (clean_run / "decisions.jsonl").read_text().splitlines()
    cfg = json.loads(next(line for line in lines if '"config-accept-1"' in line))
    cfg["decision_id"] = "d-cfg-1-retry"
    cfg["claim"]["delta_pct"] = 66.9  # the resubmission misreports
    with open(clean_run / "decisions.jsonl", "a") as f:
        f.write(json.dumps(cfg) + "\n")
    v = next(v for v in audit_run(clean_run, write=False) if v.gate_id == "config-accept-1")
    assert v.decision_id == "d-cfg-1-retry" and v.verdict == "FAIL"


def test_truncated_decisions_file_is_a_run_level_finding(clean_run):
    with open(clean_run / "decisions.jsonl", "a") as f:
        f.write('{"schema_version":1,"decision_id":"d-x","gate_id":"x"')
    v = next(v for v in audit_run(clean_run, write=False) if v.gate_id == "run")
    assert v.verdict == "FAIL"
    ev = v.findings[0].evidence[0]
    assert ev.file == "decisions.jsonl" and ev.line == 7


def test_combine_precedence():
    from geak.auditor.evidence.models import Finding
    from geak.auditor.policy import AuditPolicy

    mk = lambda o: Finding(rule_id="P6", scope="patch", outcome=o, message="")  # noqa: E731
    pol = AuditPolicy()
    assert audit_mod.combine([mk("flag"), mk("fail")], pol) == "FAIL"
    assert audit_mod.combine([mk("pass"), mk("unchecked")], pol) == "FLAG"
    assert audit_mod.combine([mk("pass"), mk("n/a")], pol) == "PASS"


def _aa_legs(store_root, tputs_a, tputs_b):
    """The clean run built again with these A/A reps (measured, then sealed, as a run would be)."""
    import shutil

    from corpus.synthetic import LegSpec, build_clean_run

    def mod(legs):
        for lid, tputs in (("aa_1", tputs_a), ("aa_2", tputs_b)):
            legs[lid] = LegSpec(lid, "aa", tputs, outputs="none", started_at=legs[lid].started_at)

    shutil.rmtree(store_root)
    build_clean_run(store_root, legs_mod=mod)


def test_noise_band_is_widened_by_the_runs_own_aa_legs(clean_run):
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore
    from geak.auditor.noise import aa_band_pct

    _aa_legs(clean_run, [1000.0, 1040.0, 1010.0], [1060.0, 1050.0, 1070.0])
    band, detail, unknown = aa_band_pct(RunEvidence(RunStore(clean_run)))
    assert unknown is None
    # within A1: (1040-1000)/1010 = 3.96%; between the medians 1010 and 1060: 4.95%
    assert band == pytest.approx(4.9505, abs=1e-3)
    v = next(v for v in audit_run(clean_run, write=False) if v.gate_id == "config-accept-1")
    assert v.policy["noise_band_source"] == "measured A/A legs" and v.policy["noise_band_pct"] == band


def test_aa_legs_never_narrow_the_declared_band(clean_run):
    _aa_legs(clean_run, [1000.0, 1000.1, 1000.2], [1000.1, 1000.0, 1000.2])
    v = next(v for v in audit_run(clean_run, write=False) if v.gate_id == "baseline")
    assert v.policy["noise_band_pct"] == 0.5 and v.policy["noise_band_source"] == "policy"


def test_a_run_that_fails_as_a_whole_fails_whatever_gate_or_scope_is_asked_for(clean_run):
    # a self-declared import on a run geak wrote (its legs carry launch commands): the run-level FAIL
    m = json.loads((clean_run / "manifest.json").read_text())
    (clean_run / "manifest.json").write_text(json.dumps({**m, "imported_from": "vllm-bench"}))
    for kw in ({}, {"gate": "config-accept-1"}, {"scope": "patch"}):
        got = {v.gate_id: v.verdict for v in audit_run(clean_run, write=False, **kw)}
        assert got.get("run") == "FAIL", (kw, got)


def test_short_aa_legs_are_one_reason_not_one_per_leg(clean_run):
    # an A B B A design of 1-rep legs gave 12 copies of the same sentence (H100, 2026-12-07)
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore
    from geak.auditor.noise import aa_band_pct

    _aa_legs(clean_run, [1000.0], [1010.0])
    band, _, unknown = aa_band_pct(RunEvidence(RunStore(clean_run)))
    assert band is None and unknown.count("counted value(s)") == 1, unknown
    assert "A/A legs aa_1, aa_2 have 1 counted value(s) of output_throughput each; a band needs 3" in unknown, unknown
