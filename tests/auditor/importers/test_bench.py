"""vLLM --save-result files and SGLang --output-file rows imported as legs."""

from __future__ import annotations

import json
from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.auditor.importers import import_sglang_bench, import_vllm_bench

DATA = Path(__file__).resolve().parents[2] / "data" / "bench"


def outcomes(v) -> dict[str, set[str]]:
    by: dict[str, set[str]] = {}
    for f in v.findings:
        by.setdefault(f.rule_id, set()).add(f.outcome)
    return by


def test_vllm_files_one_leg(tmp_path: Path) -> None:
    files = sorted(DATA.glob("vllm_rep*.json"))
    rep = import_vllm_bench(files, tmp_path / "run", leg_id="base", warmup_first=True)
    assert rep.problems == [] and rep.legs == ["base"]
    run = RunEvidence(RunStore(tmp_path / "run"))
    leg = run.leg("base")
    assert [r.rep.warmup for r in leg.reps] == [True, False, False, False]
    assert not leg.problems and all(r.rep.requests is not None for r in leg.reps)
    assert leg.launch.workload.num_prompts == 8 and leg.launch.resolved_config is None
    assert json.loads((tmp_path / "run/manifest.json").read_text())["imported_from"] == "vllm-bench"
    assert (tmp_path / "run/legs/base/raw/row_0.json").read_text() == files[0].read_text()
    [v] = audit_run(tmp_path / "run", write=False)
    # vLLM's rows hold no server_info and no host: B4/B5 have no evidence in the format (n/a,
    # named by the coverage line); what the rows do hold passes, and the one FLAG is the band:
    # no A/A legs were imported, so nothing measured the noise (never the policy's default)
    assert v.gate_id == "baseline-base" and v.verdict == "FLAG", [(f.rule_id, f.outcome, f.message) for f in v.findings]
    assert {f.rule_id for f in v.findings if f.outcome == "flag"} == {"B1"}
    assert any("no A/A legs" in f.message for f in v.findings if f.outcome == "flag")
    by = outcomes(v)
    assert by["B1"] == {"pass", "flag"} and by["B3"] == {"pass"}
    assert by["B4"] == {"n/a"} and by["B5"] == {"n/a"}  # no host in the rows: never "uncontended"
    from geak.auditor.coverage import coverage

    cov = coverage([v])
    assert "B4" in cov.no_evidence and "B1" in cov.checked


def test_second_leg_joins_existing_run(tmp_path: Path) -> None:
    files = sorted(DATA.glob("vllm_rep*.json"))
    import_vllm_bench(files[:2], tmp_path / "run", leg_id="a")
    man = (tmp_path / "run/manifest.json").read_text()
    rep = import_vllm_bench(files[2:], tmp_path / "run", leg_id="b")
    assert rep.problems == [] and (tmp_path / "run/manifest.json").read_text() == man
    gates = {v.gate_id: v for v in audit_run(tmp_path / "run", write=False)}
    assert set(gates) == {"baseline-a", "import-b"}
    rep = import_vllm_bench(files[2:], tmp_path / "run", leg_id="b")
    assert rep.problems and "already exists" in rep.problems[0]


def test_sglang_rows_with_server_info_but_no_arrays(tmp_path: Path) -> None:
    rep = import_sglang_bench([DATA / "sglang_runs.jsonl"], tmp_path / "run", leg_id="sg")
    assert rep.problems == []
    leg = RunEvidence(RunStore(tmp_path / "run")).leg("sg")
    assert leg.launch.engine == "sglang" and leg.launch.resolved_config["mem_fraction_static"] == 0.85
    assert leg.launch.workload.dataset == "random" and leg.launch.workload.input_len == 1024
    assert leg.launch.workload.request_rate is None  # inf = unlimited
    assert [r.value("output_throughput")[1] for r in leg.reps] == ["reported"] * 3
    [v] = audit_run(tmp_path / "run", write=False)
    # no per-request arrays: never "pass"; the format never holds them, so n/a, in the coverage line
    assert outcomes(v)["P1"] == {"n/a"}


def test_truncated_last_line(tmp_path: Path) -> None:
    f = DATA / "sglang_truncated.jsonl"
    before = f.read_bytes()
    rep = import_sglang_bench([f], tmp_path / "run", leg_id="t")
    assert f.read_bytes() == before
    assert len(rep.problems) == 1 and rep.problems[0].startswith(f"{f}:3") and "truncated" in rep.problems[0]
    leg = RunEvidence(RunStore(tmp_path / "run")).leg("t")
    assert len(leg.reps) == 2 and not leg.problems


def test_nan_latency(tmp_path: Path) -> None:
    f = DATA / "vllm_nan_latency.json"
    rep = import_vllm_bench([f], tmp_path / "run", leg_id="n")
    assert any(p.startswith(str(f)) and "ttfts[3]" in p for p in rep.problems), rep.problems
    leg = RunEvidence(RunStore(tmp_path / "run")).leg("n")
    # the rep is kept, and the auditor names the NaN where the tool wrote it: raw/, by field
    assert any(p.field == "ttfts[3]" and p.file == "legs/n/raw/row_0.json" for p in leg.problems), leg.problems
    [v] = audit_run(tmp_path / "run", write=False)
    assert "fail" in outcomes(v)["P1"]


def test_garbage_file_no_traceback(tmp_path: Path) -> None:
    g = tmp_path / "g.json"
    g.write_text("[1, 2]\n")
    rep = import_vllm_bench([g, tmp_path / "missing.json"], tmp_path / "run", leg_id="g")
    assert rep.problems and any("missing.json" in p for p in rep.problems)
