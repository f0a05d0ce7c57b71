"""Evidence other tools wrote, as it exists in the wild (issue 13): fixtures built by
tests/data/wild/_build.py in the tools' real formats (tests/data/README.md says where each was seen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.importers._common import ImportReport, read_rows
from geak.auditor.importers._leg import ImportedLeg, write_leg
from geak.auditor.importers.bench import import_sglang_bench, import_vllm_bench
from geak.auditor.evidence.store import RunStore

WILD = Path(__file__).resolve().parents[2] / "data" / "wild"


def _fails(v, rule):
    return [f.message for f in v.findings if f.rule_id == rule and f.outcome == "fail"]


def test_rows_of_three_request_rates_become_three_legs_not_three_reps(tmp_path):
    rep = import_vllm_bench([WILD / "vllm09_request_rates.jsonl"], tmp_path / "run", leg_id="base")
    assert rep.legs == ["base-request_rate10.0", "base-request_rate30.0", "base-request_rateinf"], rep.legs
    assert any("3 experiments" in n for n in rep.unchecked_notes)
    vs = audit_run(tmp_path / "run", write=False)
    assert len(vs) == 3
    for v in vs:  # no "noise band" from three different experiments
        # no experiments mixed into one leg (E1) and no noise beyond the band (B1); the band itself is
        # unknown, as for every import (no A/A legs), and B1 says so
        assert not [
            f
            for f in v.findings
            if f.outcome in ("fail", "flag")
            and (f.rule_id == "E1" or f.rule_id == "B1" and "noise band unknown" not in f.message)
        ], v.findings


def test_one_leg_of_mixed_experiments_is_flagged_naming_the_field(tmp_path):
    store = RunStore(tmp_path / "run")
    rows = read_rows(WILD / "vllm09_request_rates.jsonl", "rates.jsonl", ImportReport())
    write_leg(store, ImportReport(), ImportedLeg("mixed", "baseline", rows, tool="vllm"))
    from geak.auditor.evidence.models import Claim, Decision, Manifest

    store.write_json("manifest.json", Manifest(run_id="m", imported_from="vllm-bench"))
    store.append_jsonl(
        "decisions.jsonl",
        Decision(
            decision_id="d",
            gate_id="baseline",
            scope="baseline",
            producer="test",
            reference_legs=["mixed"],
            claim=Claim(),
        ),
    )
    [v] = audit_run(tmp_path / "run", write=False)
    e1 = [f for f in v.findings if f.rule_id == "E1" and f.outcome == "flag"]
    assert e1 and "request_rate 10.0 / 30.0 / inf" in e1[0].message, [f.message for f in v.findings]


def test_a_leg_whose_every_request_failed_fails_from_the_counts(tmp_path):
    import_vllm_bench([WILD / "vllm_all_failed.json"], tmp_path / "run", leg_id="base")
    [v] = audit_run(tmp_path / "run", write=False)
    assert v.verdict == "FAIL"
    assert any("no repetition completed a request" in m for m in _fails(v, "P11")), [f.message for f in v.findings]


def test_two_launches_of_one_sglang_config_are_not_confounded_by_auto_values(tmp_path):
    import_sglang_bench([WILD / "sglang_launch_a.jsonl"], tmp_path / "run", leg_id="a")
    import_sglang_bench([WILD / "sglang_launch_b.jsonl"], tmp_path / "run", leg_id="b")
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == "import-b")
    p4 = _fails(v, "P4")
    assert not any("random_seed" in m or "max_total_num_tokens" in m for m in p4), p4


def test_a_derived_capacity_beyond_the_tolerance_is_still_a_difference():
    from geak.auditor.checks.config_diff import config_diff

    assert config_diff({"max_total_num_tokens": 2300000}, {"max_total_num_tokens": 2300028}) == {}
    assert config_diff({"max_total_num_tokens": 947041}, {"max_total_num_tokens": 1156449}) != {}
    assert config_diff({"random_seed": 1}, {"random_seed": 2}) == {}


def test_audit_prints_its_coverage_in_one_line(tmp_path):
    import_vllm_bench([WILD / "vllm_all_failed.json"], tmp_path / "run", leg_id="base")
    out = subprocess.run(
        [sys.executable, "-m", "geak.orchestrator.cli", "audit", str(tmp_path / "run")], capture_output=True, text=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("coverage:"))
    assert "rules" in line and "had no evidence in vllm-bench's format" in line, line


# ---------------------------------------------------------------- GEAK v4's own evidence

GEAK = Path(__file__).resolve().parents[2] / "data" / "geak_v4"
CAND = "overlay/cand_gemm_a8w8_blockscale_flydsl"


def _geak_copy(tmp_path: Path, name: str = "I4_null_evidence_rederive") -> Path:
    import shutil

    src = tmp_path / name
    shutil.copytree(GEAK / name, src)
    return src


def _gate(run: Path):
    return next(v for v in audit_run(run, write=False) if v.gate_id.startswith("integrate-"))


def test_geak_bind_lines_prove_engagement_and_their_absence_fails_it(tmp_path):
    from geak.auditor.importers.geak_v4 import import_geak_v4

    src = _geak_copy(tmp_path)
    import_geak_v4(src, tmp_path / "run")
    p5 = [f for f in _gate(tmp_path / "run").findings if f.rule_id == "P5"]
    assert p5 and p5[0].outcome == "pass", [f.message for f in p5]
    log = src / CAND / "cand" / "server.log"
    log.write_text("".join(ln for ln in log.read_text().splitlines(True) if "[overlay" not in ln))
    import_geak_v4(src, tmp_path / "run2")
    p5 = [f for f in _gate(tmp_path / "run2").findings if f.rule_id == "P5"]
    assert any(f.outcome == "fail" for f in p5), [f.message for f in p5]


def test_geak_parity_dump_of_a_gibberish_reference_reaches_p9(tmp_path):
    import json

    from geak.auditor.importers.geak_v4 import import_geak_v4

    src = _geak_copy(tmp_path)
    for leg in ("ref", "cand"):
        (src / CAND / leg / "parity_outputs.jsonl").unlink()
    gib = ["ancest.FileWriter ){ Marshall_ignore", "ucz andra}} .setText(", "opsis__(( ResultSet Hudson"]
    for tag in ("ref", "cand"):  # parity_probe.py <base_url> <out_file>: the caller names the file
        (src / CAND / f"parity_{tag}.json").write_text(
            json.dumps(
                [{"prompt": f"The capital of France is {i}", "output": g} for i, g in enumerate(gib * 4)], indent=2
            )
        )
    rep = import_geak_v4(src, tmp_path / "run")
    assert any("parity dump" in n for n in rep.unchecked_notes), rep.unchecked_notes
    v = _gate(tmp_path / "run")
    p9 = [f for f in v.findings if f.rule_id == "P9"]
    assert v.verdict == "FAIL" and any(f.outcome == "fail" for f in p9), [f.message for f in p9]


def test_a_hidden_ttft_regression_in_aggregates_only_rows_is_flagged(tmp_path):
    import json

    rows = [json.loads(ln) for ln in (WILD / "sglang_launch_b.jsonl").read_text().splitlines()]
    for r in rows:  # faster on throughput, twice as slow to the first token at p99
        r["p99_ttft_ms"] *= 2.0
        r["median_ttft_ms"] *= 1.01
    slow = tmp_path / "b.jsonl"
    slow.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_sglang_bench([WILD / "sglang_launch_a.jsonl"], tmp_path / "run", leg_id="a")
    import_sglang_bench([slow], tmp_path / "run", leg_id="b")
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == "import-b")
    p7 = [f for f in v.findings if f.rule_id == "P7" and f.outcome == "flag"]
    assert p7 and "p99_ttft_ms worsened +100.0%" in p7[0].message, [f.message for f in v.findings if f.rule_id == "P7"]


def test_vllm_sweep_points_become_one_leg_each(tmp_path):
    files = sorted((WILD / "sweep").rglob("run=*.json"))
    rep = import_vllm_bench(files, tmp_path / "run", leg_id="sweep")
    assert sorted(rep.legs) == ["sweep-max_num_seqs32.0", "sweep-max_num_seqs4.0"], (
        rep.legs
    )  # run_number is no experiment
    for v in audit_run(tmp_path / "run", write=False):
        # no experiments mixed into one leg (E1) and no noise beyond the band (B1); the band itself is
        # unknown, as for every import (no A/A legs), and B1 says so
        assert not [
            f
            for f in v.findings
            if f.outcome in ("fail", "flag")
            and (f.rule_id == "E1" or f.rule_id == "B1" and "noise band unknown" not in f.message)
        ], v.findings


def test_a_candidate_that_served_nothing_fails_p11_and_p3_reports_no_delta(tmp_path):
    bench = Path(__file__).resolve().parents[2] / "data" / "bench"
    import_vllm_bench(sorted(bench.glob("vllm_rep*.json")), tmp_path / "run", leg_id="base", warmup_first=True)
    import_vllm_bench([WILD / "vllm_all_failed.json"], tmp_path / "run", leg_id="cand")
    v = next(v for v in audit_run(tmp_path / "run", write=False) if v.gate_id == "import-cand")
    assert v.verdict == "FAIL" and any("8 failed request(s) (the tool's 'failed')" in m for m in _fails(v, "P11")), [
        f.message for f in v.findings
    ]
    p3 = [f for f in v.findings if f.rule_id == "P3"]
    assert [f.outcome for f in p3] == ["n/a"] and "-100" not in p3[0].message


def test_the_files_keys_win_over_the_format_argument(tmp_path):
    # SGLang rows given to the vLLM importer: read as SGLang (server_info kept), and said so
    rep = import_vllm_bench([WILD / "sglang_launch_a.jsonl"], tmp_path / "run", leg_id="a")
    assert any("written by sglang" in n and "not vllm" in n for n in rep.unchecked_notes), rep.unchecked_notes
    assert not any("carry no server_info" in n for n in rep.unchecked_notes)
    import json

    launch = json.loads((tmp_path / "run" / "legs" / "a" / "launch.json").read_text())
    man = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert launch["engine"] == "sglang" and man["engine"] == "sglang" and launch["resolved_config"]
    # and vLLM rows given to the SGLang importer
    rep = import_sglang_bench([WILD / "vllm_all_failed.json"], tmp_path / "run2", leg_id="a")
    assert any("written by vllm" in n for n in rep.unchecked_notes), rep.unchecked_notes


# ---------------------------------------------------------------- files that are not serving results (issue 32)


def test_an_offline_throughput_result_is_refused_in_one_line_naming_what_it_is(tmp_path):
    import json

    f = tmp_path / "throughput.json"  # vLLM benchmark_throughput.py --output-json, pretty-printed
    f.write_text(
        json.dumps(
            {
                "elapsed_time": 41.2,
                "num_requests": 1000,
                "total_num_tokens": 512000,
                "requests_per_second": 24.27,
                "tokens_per_second": 12427.2,
            },
            indent=4,
        )
    )
    for imp in (import_vllm_bench, import_sglang_bench):
        rep = imp([f], tmp_path / imp.__name__, leg_id="base")
        mine = [p for p in rep.problems if "throughput.json" in p]
        assert len(mine) == 1 and "offline throughput result" in mine[0], rep.problems
        assert not rep.legs and not (tmp_path / imp.__name__).exists()


def test_another_tools_summary_is_not_a_leg_and_says_so_once(tmp_path):
    import json

    f = tmp_path / "bench_summary.json"
    f.write_text(
        json.dumps({"kernel": "rmsnorm", "speedup": 1.42, "status": "accepted", "notes": ["a", "b"]}, indent=2)
    )
    rep = import_sglang_bench([f], tmp_path / "run", leg_id="base")
    assert len([p for p in rep.problems if "bench_summary.json" in p]) == 1, rep.problems
    assert any("none of a serving result's" in p for p in rep.problems) and not rep.legs
