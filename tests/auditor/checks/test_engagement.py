"""P5 with the lines a producer's summary cites (GEAK engagement_detail): looked for literally in the
candidate's own log under the same rule as the marker, never taken as proof by themselves."""

from __future__ import annotations

from pathlib import Path

from corpus.plants_import import GEAK_GATE, GEAK_SHORT, _geak_dir
from geak.auditor.audit import audit_run
from geak.auditor.importers.geak_v4 import import_geak_v4

CALL = f"[overlay-mark] {GEAK_SHORT} OPTIMIZED kernel CALLED"


def _p5(tmp_path: Path, **kw):
    src = tmp_path / "src"
    src.mkdir()
    _geak_dir(src, **kw)
    assert not import_geak_v4(src, tmp_path / "run").problems
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == GEAK_GATE)
    return [f for f in v.findings if f.rule_id == "P5"]


def test_overlay_lines_prove_engagement_and_the_cited_line_points_at_them(tmp_path):
    p5 = _p5(tmp_path)
    assert [f.outcome for f in p5] == ["pass"]
    assert p5[0].evidence[0].file.endswith("server.log") and p5[0].evidence[0].line is not None


def test_a_cited_line_alone_can_prove_a_custom_marker(tmp_path):
    # a kernel that prints its own line (no GEAK overlay line): the summary says which line to look for
    own = f"[{GEAK_SHORT}] using fused rmsnorm for 36 layers"
    p5 = _p5(tmp_path, cand_log=own + "\n", ir={"engagement_detail": own})
    assert [f.outcome for f in p5] == ["pass"] and "cited line" in p5[0].message


def test_the_summary_never_stands_in_for_the_log(tmp_path):
    p5 = _p5(tmp_path, cand_log="[2026-06-18 13:42:30] nothing of the kernel here\n", ir={"engagement_detail": CALL})
    assert [f.outcome for f in p5] == ["fail"] and "did not run" in p5[0].message


def test_a_cited_line_the_reference_also_prints_proves_nothing(tmp_path):
    generic = "The server is fired up and ready to roll!"  # every SGLang leg prints it
    p5 = _p5(tmp_path, cand_log="", ir={"engagement_detail": generic})
    assert p5 and all(f.outcome == "fail" for f in p5)
    assert any("also in the reference, so not counted" in f.message for f in p5)


# ---------------------------------------------------------------- config levers


def _config_p5(tmp_path: Path, knobs: list[str], levers: dict[str, str] | None = None):
    from corpus.plants import _decision
    from corpus.synthetic import build_clean_run

    extra = {} if levers is None else {"declared_levers": levers}
    build_clean_run(tmp_path / "run", decisions_mod=_decision("d-cfg-1", declared_knobs=knobs, **extra))
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == "config-accept-1")
    return [f for f in v.findings if f.rule_id == "P5"]


def test_a_neutral_alias_beside_the_engines_key_is_not_a_setting_that_failed(tmp_path):
    # found by a real run (issue 17): the config tuner declares geak's name chunked_prefill and vLLM's
    # enable_chunked_prefill; the engine knows only the second, and it did change
    p5 = _config_p5(tmp_path, ["seqs_cap", "max_num_seqs"])
    assert [f.outcome for f in p5] == ["pass"], [f.message for f in p5]


def test_a_knob_the_engine_never_heard_of_proves_nothing(tmp_path):
    p5 = _config_p5(tmp_path, ["seqs_cap"])
    assert [f.outcome for f in p5] == ["fail"] and "names a key of the engine's resolved config" in p5[0].message


def test_every_lever_the_engine_knows_must_have_changed(tmp_path):
    p5 = _config_p5(
        tmp_path,
        ["max_num_seqs", "max_num_batched_tokens"],
        levers={"max_num_seqs": "config", "max_num_batched_tokens": "config"},
    )
    assert [f.outcome for f in p5] == ["fail"] and "max_num_batched_tokens is identical" in p5[0].message


def test_a_key_declared_as_what_the_lever_derives_may_stay_put(tmp_path):
    # vLLM 0.26 on an H100 keeps max_num_batched_tokens 8192 whatever max_num_seqs is (issue 33)
    p5 = _config_p5(tmp_path, ["max_num_seqs", "max_num_batched_tokens"], levers={"max_num_seqs": "config"})
    assert [f.outcome for f in p5] == ["pass"], [f.message for f in p5]
