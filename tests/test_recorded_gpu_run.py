"""The GPU run recorded for real (runs/recorded/h100-vllm-quick: an H100, vLLM 0.26, a Llama-3-8B
shape on dummy weights, workflows/gpu-quick.yaml with 6 A/A legs; scripts/gpu/). No GPU here: the
auditor re-derives it from its bytes, a tampered copy is caught, and the run replays exactly."""

import json
import shutil
from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore

GPU = Path(__file__).resolve().parents[1] / "runs" / "recorded" / "h100-vllm-quick"


def _verdicts(run):
    return {v.gate_id: v for v in audit_run(run, write=False)}


def _findings(v, rule):
    return [f for f in v.findings if f.rule_id == rule]


def test_the_gpu_recording_ran_on_an_h100_with_dummy_weights_and_six_server_lifetimes_of_a_a():
    run = RunEvidence(RunStore(GPU))
    aa = sorted(lid for lid in run.launches if lid.startswith("aa_"))
    assert aa == [f"aa_{i}" for i in range(1, 7)]
    assert not any(run.lifetimes[a].same(run.lifetimes[b]) for a in aa for b in aa if a < b)  # six launches
    for lid in ("baseline", "cfg_max_num_seqs-256", "cfg_kv_cache_dtype-fp8"):
        info = json.loads((GPU / "legs" / lid / "server_info.json").read_text())
        assert info["vllm_config"]["load_config"]["load_format"] == "dummy", lid
    assert (GPU / "device.txt").read_text().startswith("NVIDIA H100")


def test_the_auditor_banks_max_num_seqs_on_parity_and_names_the_latency_it_costs():
    v = _verdicts(GPU)
    assert {g: x.verdict for g, x in v.items()} == {
        "baseline": "PASS",
        "config-max_num_seqs-256": "PASS",
        "config-kv_cache_dtype-fp8": "FAIL",
    }
    win = v["config-max_num_seqs-256"]
    (p9,) = _findings(win, "P9")
    assert p9.outcome == "pass" and "12/12 greedy outputs token-identical" in p9.message
    (p7,) = _findings(win, "P7")
    traded = p7.recomputed["declared_and_measured"]
    assert [t.split()[0] for t in traded] == ["p50_tpot_ms", "p99_tpot_ms", "p50_e2e_ms"]
    assert p7.message.startswith("declared trade-off(s): p50_tpot_ms +155.7% (14.11 -> 36.07)")


def test_an_fp8_kv_cache_is_withheld_as_unverifiable_on_dummy_weights_and_its_capacities_are_its_own():
    fp8 = _verdicts(GPU)["config-kv_cache_dtype-fp8"]
    bad = {f.rule_id for f in fp8.findings if f.outcome in ("fail", "flag")}
    assert bad == {"P3", "P9"}, [(f.rule_id, f.message) for f in fp8.findings if f.outcome in ("fail", "flag")]
    assert "unverifiable" in _findings(fp8, "P9")[0].message
    p4 = " ".join(f.message for f in _findings(fp8, "P4"))
    assert "num_gpu_blocks differs (28957 -> 57882): the engine derives it from the declared kv_cache_dtype" in p4


def test_a_producer_that_hides_the_latency_cost_is_flagged(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(GPU, run)
    rows = [json.loads(x) for x in (run / "decisions.jsonl").read_text().splitlines()]
    for r in rows:
        r["declared_regressions"] = []
    (run / "decisions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    win = _verdicts(run)["config-max_num_seqs-256"]
    assert win.verdict == "FLAG"
    assert sorted(f.message.split()[0] for f in _findings(win, "P7") if f.outcome == "flag") == [
        "p50_e2e_ms",
        "p50_tpot_ms",
        "p99_tpot_ms",
    ]


def test_the_report_shows_the_trade_off_beside_the_headline():
    from geak.orchestrator.report import build_report, headline, headline_text, load_run

    md, _ = build_report(GPU)
    head = md.split("## Summary")[0]
    assert "+25.91%" in head and "- p50_tpot_ms +155.7% (14.11 -> 36.07)" in head
    assert "the bundle gate judges" not in head  # no bundle gate in a run without validation
    assert headline_text(headline(load_run(GPU))).endswith(
        "costs p50_tpot_ms +155.7%, p99_tpot_ms +199.7%, p50_e2e_ms +17.9% (declared)"
    )


def test_the_gpu_recording_replays_to_the_same_decisions_with_no_gpu(tmp_path):
    from typer.testing import CliRunner

    from geak.orchestrator.cli import app

    r = CliRunner().invoke(app, ["replay", str(GPU), "--out", str(tmp_path / "rp")])
    assert r.exit_code == 0 and "reproduced exactly" in r.output, r.output
