"""Fields of GEAK v4's LLM-written summaries: engagement_detail's cited lines and inline per-run lists."""

from __future__ import annotations

import json
from pathlib import Path

from corpus.plants_import import GEAK_CAND, GEAK_GATE, _geak_dir
from geak.auditor.audit import audit_run
from geak.auditor.importers.geak_fields import cited_lines
from geak.auditor.importers.geak_v4 import import_geak_v4


def test_cited_lines_from_each_shape():
    bind = "[overlay] rebound a.b:c -> overlay_c.c"
    assert cited_lines(bind + "\n[overlay-mark] c OPTIMIZED kernel CALLED\nok") == [
        bind,
        "[overlay-mark] c OPTIMIZED kernel CALLED",
    ]
    assert cited_lines({"bind": bind, "calls": [bind, "x" * 500]}) == [bind]  # duplicates and non-log-lines dropped
    assert cited_lines([bind, 3, None]) == [bind]
    assert cited_lines(None) == [] and cited_lines(42) == []
    assert len(cited_lines([f"line number {i}" for i in range(100)])) == 16


def _import(tmp_path: Path, **kw) -> tuple[Path, object]:
    src = tmp_path / "src"
    src.mkdir()
    _geak_dir(src, **kw)
    rep = import_geak_v4(src, tmp_path / "run")
    return tmp_path / "run", rep


def _decision(run: Path) -> dict:
    return next(json.loads(line) for line in (run / "decisions.jsonl").read_text().splitlines() if GEAK_GATE in line)


def test_inline_runs_become_claims_held_to_raw(tmp_path):
    rows = [{"output_throughput": v, "completed": 64} for v in GEAK_CAND]  # bench rows, not numbers
    run, rep = _import(tmp_path, ir={"cand_runs": rows})
    assert not rep.problems
    d = _decision(run)
    assert d["claim"]["candidate_runs"] == GEAK_CAND and d["claim"]["reference_runs"] is not None
    v = next(v for v in audit_run(run, write=False) if v.gate_id == GEAK_GATE)
    # the rows are held to raw and agree (P2 passes); the one FLAG is the band, which an import
    # cannot carry: it has no A/A legs (issue 32: never the policy's default)
    bad = {f.rule_id for f in v.findings if f.outcome in ("fail", "flag")}
    assert v.verdict == "FLAG" and bad == {"P3"}, [(f.rule_id, f.message) for f in v.findings if f.outcome != "pass"]
    assert [f.outcome for f in v.findings if f.rule_id == "P2"] == ["pass"]


def test_inline_runs_of_another_shape_are_reported_not_guessed(tmp_path):
    run, rep = _import(tmp_path, ir={"ref_runs": "2398.4 2401.3"})
    assert any("field 'ref_runs': not a list" in p for p in rep.problems)
    assert _decision(run)["claim"]["reference_runs"] is None


def test_inline_runs_without_leg_dirs_are_named_as_a_summary(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _geak_dir(src)
    import shutil

    shutil.rmtree(src / "overlay" / "cand_rmsnorm_fused" / "cand")
    rep = import_geak_v4(src, tmp_path / "run")
    assert any("ref_runs/cand_runs in integrate_result.json are the integrator's summary" in p for p in rep.problems)
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == GEAK_GATE)
    p1 = [f.message for f in v.findings if f.rule_id == "P1" and f.outcome == "fail"]
    assert v.verdict == "FAIL" and any("3 per-run value(s) the claim lists are the producer's summary" in m for m in p1)


def test_distributions_overlap_is_the_inverse_of_non_overlap(tmp_path):
    run, _ = _import(tmp_path, ir={"non_overlapping": None, "distributions_overlap": True})
    assert _decision(run)["claim"]["non_overlap"] is False
    v = next(v for v in audit_run(run, write=False) if v.gate_id == GEAK_GATE)
    # the raw legs do not overlap (+9%): the summary's "overlap" is a reported != raw finding
    assert any(f.rule_id == "P2" and f.outcome == "fail" and "non_overlap" in f.message for f in v.findings)
