"""Regenerate the hand-built GEAK v4 fixture run directories (deterministic; no GEAK code).

    python tests/data/geak_v4/_build.py

Each fixture is a small GEAK v4 e2e_workflow run directory in GEAK's formats (bench_e2e.sh leg
dirs with SGLang ``bench_serving --output-file`` rows carrying ``server_info``; LLM-written
integrate_result.json / director_e2e_validation.json / sweep_results.json; op_bench.py's
opbench_result.json) reproducing the numbers of GEAK's published patch-auditor fixtures.
Rows are trimmed: 3 timed rounds per leg (GEAK runs 7), and where per-request arrays are
present (I4, I5: ``--output-details``) 8 requests x 32 output tokens, so per-request timings
are a small sample, not physically consistent with the row's duration.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # corpus/: the development package in the checkout
from corpus.geak_rows import bind_line, jdump, leg, server_info, write

HERE = Path(__file__).parent
SRC_A_MODEL = "Qwen/Qwen3.5-27B-FP8"
SRC_B_MODEL = "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"
WOB = [-0.0009, 0.0, 0.0011]


P1_REF = [1003.747, 1004.906, 1005.254]
P1_CAND = [1674.248, 1677.476, 1684.648]
SHORT = "gemm_a8w8_blockscale_flydsl"
ENV_REPORT = {"gfx": "gfx950", "available_backends": ["aiter", "triton", "flydsl", "hipblaslt"],
              "host": {"hostname": "mi355x-node07", "cpu_model": "AMD EPYC 9575F", "cpu_count": 128, "load_avg_1m": 3.1,
                       "gpus": [{"index": 0, "name": "AMD Instinct MI355X", "driver": "6.14.14", "sm_clock_mhz": 2400.0,
                                 "temperature_c": 51.0, "foreign_processes": []}], "other_legs_running": []}}


def parity(d: Path, texts: list[tuple[str, str, str | None]], rerun: bool) -> None:
    rows = [{"prompt_id": pid, "prompt": pr, "output_text": out, **({"expected": exp} if exp else {})} for pid, pr, out, exp in
            [(f"q{i:02d}", t[0], t[1], t[2]) for i, t in enumerate(texts)]]
    if rerun:
        rows += [{**r, "rerun": 1} for r in rows]
    write(d / "parity_outputs.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


ARITH = [("What is 17+25? Answer with the number only.", "42", "42"), ("What is 9*8? Answer with the number only.", "72", "72"),
         ("What is 100-37? Answer with the number only.", "63", "63"), ("What is 144/12? Answer with the number only.", "12", "12")]


def p1(root: Path) -> None:
    """Bundle: base legs at mem 0.7225 (KV 947041, aiter), final at 0.85 (KV 1156449, triton + FlyDSL GEMM)."""
    base_si = server_info(SRC_A_MODEL, 30211, mem_fraction_static=0.7225, max_total_num_tokens=947041)
    final_si = server_info(SRC_A_MODEL, 30457, attention_backend="triton")
    leg(root / "validation/base", P1_REF, base_si, 4280.883, 59.476)
    leg(root / "validation/final", P1_CAND, final_si, 2915.774, 35.260, log_extra=bind_line(SHORT))
    jdump(root / "director_e2e_validation.json", {
        "provided_baseline_throughput": 1002.438,
        "drift_corrected_baseline": {"median": 1004.906, "max": 1005.254, "spread_pct": 0.15, "ttft_ms": 4280.883, "tpot_ms": 59.476},
        "final": {"median": 1677.476, "min": 1674.248, "spread_pct": 0.62, "ttft_ms": 2915.774, "tpot_ms": 35.26},
        "delta_pct_drift_corrected": 66.93, "throughput_speedup": 1.6693, "claimed_throughput": 1677.476,
        "non_overlap": "final_min 1674.248 > base_max 1005.254",
        "serving_invariant": {"mem_fraction_static": 0.85, "tp_size": 1},
        "serving_config": {"baseline_flags": "--attention-backend aiter --tp 1", "final_flags": "--attention-backend triton --tp 1",
                           "baseline_env": "", "final_env": "GEAK_OVERLAY=final/overlay"},
        "output_parity": "fp8-equivalent: 7/10 byte-identical, 3 benign greedy branch flips",
        "validation_status": "accepted",
    })


def overlay_patch(root: Path, *, ref: list[float], cand: list[float], ref_si: dict[str, Any], cand_si: dict[str, Any], ir: dict[str, Any],
                  short: str = SHORT, ttft=(4280.883, 2915.774), tpot=(59.476, 35.260), details: bool = False, cand_log: str | None = None,
                  crash: str | None = None, cand_rows: int | None = None) -> Path:
    c = root / "overlay" / f"cand_{short}"
    leg(c / "ref", ref, ref_si, ttft[0], tpot[0], details=details)
    leg(c / "cand", cand, cand_si, ttft[1], tpot[1], details=details, log_extra=bind_line(short) if cand_log is None else cand_log,
        crash=crash, rows=cand_rows)
    jdump(c / "integrate_result.json", ir)
    return c


def flat_ir(**over: Any) -> dict[str, Any]:
    ir = {"short_name": SHORT, "provenance_ok": True, "isolated_speedup": 1.5213, "pct_gpu_time": 41.7,
          "e2e_throughput_tok_s": 1677.476, "e2e_delta_pct": 66.93, "ref_med": 1004.906, "cand_med": 1677.476,
          "non_overlapping": True, "ab_complete": True, "output_parity": "pass", "parity_kind": "byte_exact",
          "gate": "accepted", "winner_kind": "patch", "accepted_overlay": f"overlay/cand_{SHORT}", "reason": ""}
    ir.update(over)
    return ir


def clean_patch(root: Path, *, ir: dict[str, Any], cand_over: dict[str, Any] | None = None, cand: list[float] = P1_CAND,
                details: bool = False, ttft=(4280.883, 2915.774)) -> Path:
    """P1's numbers at the per-patch leg with P1's confound removed (both legs at mem 0.85)."""
    jdump(root / "env_report.json", ENV_REPORT)
    return overlay_patch(root, ref=P1_REF, cand=cand, ref_si=server_info(SRC_A_MODEL, 30301),
                         cand_si=server_info(SRC_A_MODEL, 30302, **(cand_over or {})), ir=ir, details=details, ttft=ttft)


def n2(root: Path) -> None:
    si = server_info(SRC_A_MODEL, 30311)
    overlay_patch(root, ref=[1021.6, 1022.0, 1022.5], cand=[1661.9, 1663.2, 1664.0], ref_si=si, cand_si={**si, "port": 30312},
                  ir=flat_ir(isolated_speedup=3.0306, e2e_throughput_tok_s=1663.2, e2e_delta_pct=62.743, ref_med=1022.0, cand_med=1663.2))
    t = root / "kernels" / f"{SHORT}_task"
    jdump(t / "meta.json", {"name": SHORT, "op_kind": "gemm", "dtype": "fp8", "out_dtype": "bf16", "a_shape": [4096, 5120],
                            "b_shape": [5120, 5120], "quant_scheme": "blockscale", "weight_block_size": [128, 128],
                            "target_callable": "aiter.ops.gemm_op_a8w8:gemm_a8w8_blockscale", "pct_gpu_time": 41.7})
    jdump(t / "opbench_result.json", {
        "op_kind": "gemm", "task": str(t.relative_to(root)), "harness_suspect": False, "harness_error": "",
        "results": [
            {"backend": "aiter_blockscale", "available": True, "correct": True, "max_rel_err": 0.00391, "ms": 0.4113, "wall_ms": 0.4398, "note": ""},
            {"backend": "aiter_blockscale_target", "available": True, "correct": True, "max_rel_err": 0.00391, "ms": 0.4176, "wall_ms": 0.4452, "note": "overlay rebinds the same attribute"},
            {"backend": "aiter_bpreshuffle", "available": True, "correct": False, "max_rel_err": 45.4, "ms": 0.3021, "wall_ms": 0.3310, "note": ""},
        ],
        "winner_backend": "aiter_blockscale", "winner_ms": 0.4113, "baseline_backend": "aiter_blockscale", "baseline_ms": 0.4113,
        "measured": True, "measurement_mode": "cold", "isolated_speedup": 1.0, "pct_gpu_time": 41.7, "amdahl_ceiling_e2e_pct": 0.0,
        "winner_editable": False, "winner_kind": "none", "tuning_artifact": "", "apply_env": "", "apply_flags": "", "deployable_note": "",
    })


GIB = ["ingly.setOnClickListener ]);\n\n.tsx_MetadataUsageId", "ucz.DataGridViewTextBoxColumn Ended{{$ ){", "rawtypes.HttpServletResponse ){\n\n(Size",
       "_Framework(HaveOccurred ''\n\nSX.fdsfd", "ANDLE.Dec ]);\n\n.BorderFactory(IServiceCollection", "\u0120\u0120 ]);\n Tah .DataTable",
       "ItemSelectedListener.stub ));\n\n.tif", "_RDWR.SelectedIndexChanged(fp})\n", ".scalablytyped ]);\n\n(IC", "ComponentFixture(NULL(),\n",
       "DialogInterface.Authenticate.dll;\n", "/Instruction.EventQueue)b"]


def n5(root: Path) -> None:
    base_si = server_info(SRC_B_MODEL, 30401, mem_fraction_static=0.7225, max_total_num_tokens=1190912, attention_backend="ck")
    cand_si = server_info(SRC_B_MODEL, 30402, max_total_num_tokens=1463808, attention_backend="triton")
    base = [2398.1, 2401.3, 2403.0]
    cand = [2614.9, 2617.417, 2620.2]
    leg(root / "baseline", base, base_si, 1811.2, 24.9)
    leg(root / "config" / "cfg0", cand, cand_si, 1760.5, 22.8)
    prompts = [f"<|im_start|>user\nSummarize item {i} of the inventory.<|im_end|>\n<|im_start|>assistant\n" for i in range(12)]
    parity(root / "baseline", [(p, GIB[i], None) for i, p in enumerate(prompts)], rerun=True)
    parity(root / "config" / "cfg0", [(p, GIB[(i + 5) % 12] + " x", None) for i, p in enumerate(prompts)], rerun=False)
    jdump(root / "config" / "sweep_results.json", {
        "trials": [{"id": "cfg0", "axis": "attention-backend", "change": "--attention-backend triton", "throughput_tok_s": 2617.417,
                    "delta_pct": 9.0, "parity": "pass", "swap_verified": True, "kept": True, "note": "byte_exact 0/12; accuracy probe deferred"}],
        "accepted_flags": "--attention-backend triton", "accepted_env": "", "best_throughput_tok_s": 2617.417,
        "throughput_speedup_vs_baseline": 1.09, "summary": "attention-backend CK->triton (+9% accept)",
    })


def p2(root: Path) -> None:
    si = server_info(SRC_B_MODEL, 30501)
    crash = ("[2026-06-18 23:41:55] Prefill batch. #new-seq: 12, #new-token: 12288, #cached-token: 4096\n"
             ":0:rocdevice.cpp            :3006: 2915370000us: Callback: Queue 0x7f1c8c400000 aborting with error : "
             "HSA_STATUS_ERROR_EXCEPTION: An HSAIL operation resulted in a hardware exception. code: 0x1016\n"
             "[2026-06-18 23:41:56] Child process unexpectedly failed with exitcode=134. pid=3803512\n")
    overlay_patch(root, short="_fwd_kernel", ref=[2399.4, 2401.3, 2402.6], cand=[2455.7], ref_si=si, cand_si={**si, "port": 30502},
                  ttft=(1811.2, 1790.1), tpot=(24.9, 24.3), crash=crash, cand_rows=1,
                  ir={"short_name": "_fwd_kernel", "provenance_ok": True, "isolated_speedup": 6.6061, "isolated_speedup_geomean": 6.6061,
                      "pct_gpu_time": 18.2, "e2e_throughput_tok_s": None, "e2e_delta_pct": None, "ref_med": 2401.3, "cand_med": None,
                      "ab_complete": False, "cand_crashed": True, "output_parity": "n/a", "parity_kind": "none", "gate": "incomplete",
                      "reason": "cand server died after 1 repeat"})


def i_fixture(root: Path, which: str) -> None:
    if which == "I1":
        clean_patch(root, cand_over={"speculative_algorithm": "NEXTN", "speculative_num_steps": 4},
                    ir=flat_ir(apply_flags="--speculative-algorithm NEXTN --speculative-num-steps 4", lever_class="A",
                               note="FlyDSL GEMM kernel win"))
    elif which == "I2":
        clean_patch(root, ir=flat_ir(baseline_throughput_tok_s=1300.0))
    elif which == "I3":
        clean_patch(root, cand_over={"mem_fraction_static": 0.80}, ir=flat_ir())
    elif which in ("I4", "I5"):
        nested = {"short_name": SHORT, "winner_kind": "patch", "isolated_speedup": 1.5213, "pct_gpu_time": 41.7, "gate": "accepted",
                  "output_parity": "pass",
                  "e2e": {"ref_median_tok_s": None, "cand_median_tok_s": None, "ref_max_tok_s": None, "cand_min_tok_s": None,
                          "delta_pct": None, "non_overlapping": None, "ttft_ms_ref": 4280.883, "ttft_ms_cand": 2915.774,
                          "tpot_ms_ref": 59.476, "tpot_ms_cand": 35.26}}
        if which == "I5":
            nested = {"short_name": SHORT, "winner_kind": "patch", "isolated_speedup": 1.5213, "gate": "accepted", "output_parity": "pass",
                      "e2e": {"ref_median_tok_s": 1004.906, "cand_median_tok_s": 1677.476, "ref_max_tok_s": 1005.254,
                              "cand_min_tok_s": 1674.248, "delta_pct": 66.93, "non_overlapping": True}}
        c = clean_patch(root, ir=nested, details=True, ttft=(4280.883, 9446.0 if which == "I5" else 2915.774))
        parity(c / "ref", ARITH, rerun=True)
        parity(c / "cand", ARITH, rerun=False)
        jdump(c / "cand" / "parity_probe.json", {"cosine": 0.99987, "argmax_equal": True, "ejected": False})
    elif which == "I6":
        clean_patch(root, cand=[1004.2, 1005.9, 1006.4], ir=flat_ir(isolated_speedup=3.0))


FIXTURES = {
    "P1_flydsl_gemm_real_win": p1, "N2_isolated_gaming_gemm": n2, "N5_moe_unverifiable_correctness": n5,
    "P2_moe_kernel_justified_reject": p2,
    **{name: (lambda w: (lambda r: i_fixture(r, w)))(name.split("_")[0]) for name in (
        "I1_lever_B_mislabel", "I2_baseline_drift", "I3_same_conditions_violation", "I4_null_evidence_rederive",
        "I5_latency_hidden_regression", "I6_gamed_isolated_flat_e2e")},
}


def main() -> None:
    for name, fn in FIXTURES.items():
        root = HERE / name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        write(root / "model_path.txt", (SRC_B_MODEL if name[:2] in ("N5", "P2") else SRC_A_MODEL) + "\n")
        fn(root)


if __name__ == "__main__":
    main()
