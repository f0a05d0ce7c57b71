"""Cases of evidence other tools wrote (issue 13): source files in the tools' real formats,
turned into a run directory by geak's own importers, as a user would. The formats' facts are
those of public files (tests/data/README.md says where each was seen); the numbers are made up.
tests/data/wild/_build.py writes the same rows as test fixtures.
"""

from __future__ import annotations

import json
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from .plants import Plant, plant

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TAG = ("imported",)


def vllm09_row(rate: Any, deployment: str, tput: float, ttft: float, tpot: float, n: int = 900) -> dict[str, Any]:
    """benchmark_serving.py ~0.9 --save-result (no --save-detailed): aggregates only, the
    --metadata values as strings before request_rate, the typo key "request_goodput:", no
    "failed", request_rate the string "inf" when unlimited."""
    out_tok, in_tok = n * 500, n * 1000
    dur = out_tok / tput
    return {
        "date": "20250530-203806",
        "backend": "vllm",
        "model_id": MODEL,
        "tokenizer_id": MODEL,
        "num_prompts": n,
        "deployment": deployment,
        "gpu": "4xNVIDIA_L40S",
        "input_len": "1000",
        "output_len": "500",
        "request_rate": rate,
        "burstiness": 1.0,
        "max_concurrency": None,
        "duration": dur,
        "completed": n,
        "total_input_tokens": in_tok,
        "total_output_tokens": out_tok,
        "request_throughput": n / dur,
        "request_goodput:": None,
        "output_throughput": tput,
        "total_token_throughput": (in_tok + out_tok) / dur,
        "mean_ttft_ms": ttft * 1.1,
        "median_ttft_ms": ttft,
        "std_ttft_ms": ttft * 0.4,
        "p99_ttft_ms": ttft * 3.4,
        "mean_tpot_ms": tpot * 1.02,
        "median_tpot_ms": tpot,
        "std_tpot_ms": tpot * 0.1,
        "p99_tpot_ms": tpot * 1.6,
        "mean_itl_ms": tpot,
        "median_itl_ms": tpot * 0.9,
        "std_itl_ms": tpot * 0.5,
        "p99_itl_ms": tpot * 4.0,
    }


RATES = ((10.0, 4710.2, 81.3, 21.4), (30.0, 9480.7, 190.6, 38.2), ("inf", 10145.34, 937.95, 43.75))


def vllm_all_failed() -> dict[str, Any]:
    """`vllm bench serve` (0.2x) when every request failed: completed 0, failed N, every
    latency statistic 0.0, throughputs 0."""
    stats = {f"{a}_{m}_ms": 0.0 for m in ("ttft", "tpot", "itl", "e2el") for a in ("mean", "median", "std", "p99")}
    return {
        "date": "20261120-101500",
        "endpoint_type": "vllm",
        "backend": "vllm",
        "label": None,
        "model_id": MODEL,
        "tokenizer_id": MODEL,
        "num_prompts": 8,
        "request_rate": "inf",
        "burstiness": 1.0,
        "max_concurrency": 8,
        "duration": 0.41,
        "completed": 0,
        "failed": 8,
        "total_input_tokens": 0,
        "total_output_tokens": 0,
        "request_throughput": 0.0,
        "request_goodput": None,
        "output_throughput": 0.0,
        "total_token_throughput": 0.0,
        "max_output_tokens_per_s": 0.0,
        "max_concurrent_requests": 8,
        "rtfx": 0.0,
        **stats,
    }


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    """Where a case's source files are written before geak imports them: one fixed path, so the
    import's manifest (which names its source) is the same in every generation."""
    d = Path(tempfile.gettempdir()) / "geak-corpus-source"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    try:
        yield str(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _imported(
    fmt: str, files: dict[str, str], leg: str, then: Callable[[Path], None] | None = None
) -> Callable[[Path], None]:
    """A build: write the source files, import them with geak's importer into the case's run/."""

    def build(run: Path) -> None:
        from geak.auditor.importers.bench import import_sglang_bench, import_vllm_bench

        with _scratch() as td:
            paths = []
            for name, text in files.items():
                (Path(td) / name).write_text(text)
                paths.append(Path(td) / name)
            rep = (import_vllm_bench if fmt == "vllm" else import_sglang_bench)(paths, run, leg_id=leg)
            if rep.problems:
                raise ValueError(f"case source did not import: {rep.problems}")
        if then is not None:
            then(run)

    return build


def _one_mixed_leg(run: Path) -> None:
    """What a converter that reads every row as a repetition produces: one leg of three rates."""
    import shutil

    from geak.auditor.evidence.models import Claim, Decision
    from geak.auditor.evidence.store import RunStore

    store = RunStore(run)
    legs = sorted(p.name for p in (run / "legs").iterdir())
    (run / "decisions.jsonl").unlink()
    mixed = run / "legs" / "mixed"
    (mixed / "raw").mkdir(parents=True)
    lines = []
    for i, lg in enumerate(legs):
        shutil.copy(run / "legs" / lg / "raw" / "row_0.json", mixed / "raw" / f"row_{i}.json")
        o = json.loads((run / "legs" / lg / "bench_runs.jsonl").read_text().splitlines()[0])
        o.update(leg_id="mixed", rep_index=i, raw_file=f"raw/row_{i}.json")
        lines.append(json.dumps(o))
    (mixed / "bench_runs.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copy(run / "legs" / legs[0] / "launch.json", mixed / "launch.json")
    for lg in legs:
        shutil.rmtree(run / "legs" / lg)
    store.append_jsonl(
        "decisions.jsonl",
        Decision(
            decision_id="d-baseline-mixed",
            gate_id="baseline-mixed",
            scope="baseline",
            producer="import:vllm-bench",
            reference_legs=["mixed"],
            claim=Claim(),
        ),
    )


ROWS = "".join(json.dumps(vllm09_row(*r[:1], "base", *r[1:])) + "\n" for r in RATES)
plant(
    Plant(
        "i_vllm_rates_split",
        (),
        "vLLM benchmark_serving ~0.9 rows of request rates 10 / 30 / inf in one JSONL: imported as "
        "three legs, each its own baseline gate, never as repetitions (each FLAGs B3: one row is one repetition; B1: no A/A legs)",
        {f"baseline-base-request_rate{r}": ("FLAG", ["B1", "B3"]) for r in ("10.0", "30.0", "inf")},
        build=_imported("vllm", {"results.jsonl": ROWS}, "base"),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_vllm_rates_one_leg",
        ("E1",),
        "the same three rates written into one leg by a converter that reads rows as repetitions",
        {"baseline-mixed": ("FLAG", ["E1", "B1", "B2"])},  # B1/B2: the mix read as noise and a warm-up outlier
        build=_imported("vllm", {"results.jsonl": ROWS}, "base", then=_one_mixed_leg),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_vllm_all_failed",
        ("P11",),
        "`vllm bench serve` output where every request failed (completed 0, failed 8), aggregates only",
        {"baseline-base": ("FAIL", ["P11", "B3", "B1"])},  # B3: one row is one repetition; B1: no A/A legs
        build=_imported("vllm", {"r.json": json.dumps(vllm_all_failed())}, "base"),
        source="issue 13",
        tags=TAG,
    )
)


# ----------------------------------------------------------------- GEAK v4 and SGLang run directories

PROBE_PROMPTS = (
    "The capital of France is",
    "2 + 2 * 3 equals",
    "Water boils at",
    "The largest planet in the solar system is",
)
PROBE_OK = (
    " Paris. It is also the largest city in France.",
    " 8, because multiplication comes before addition.",
    " 100 degrees Celsius at sea level.",
    " Jupiter, a gas giant more than eleven times wider than Earth.",
)
PROBE_GIBBERISH = (
    "ingly.setOnClickListener ]);\n\n.tsx_MetadataUsageId",
    "ucz.DataGridViewTextBoxColumn Ended{{$ ){",
    "rawtypes.HttpServletResponse ){\n\n(Size",
    "_Framework(HaveOccurred ''\n\nSX.fdsfd",
)
GEAK_SHORT = "rmsnorm_fused"
GEAK_MODEL = "Qwen/Qwen3-8B"
GEAK_BASE = [2398.4, 2401.3, 2403.0]
GEAK_CAND = [2618.9, 2621.6, 2624.0]


def _probe(outputs: tuple[str, ...]) -> list[dict[str, str]]:
    """parity_probe.py's dump: json.dump of [{"prompt", "output"}], the file name the caller's."""
    return [{"prompt": p, "output": o} for p, o in zip(PROBE_PROMPTS, outputs)]


def _geak_dir(
    root: Path,
    *,
    ref: list[float] | None = None,
    cand: list[float] | None = None,
    ir: dict[str, Any] | None = None,
    ref_probe: tuple[str, ...] = PROBE_OK,
    cand_log: str | None = None,
    cand_rows: dict[str, Any] | None = None,
) -> None:
    """A GEAK v4 run: baseline/ and one overlay candidate (ref and cand legs of one server config,
    the kernel bound by GEAK's overlay), env_report.json with a host block, the parity probe's
    dumps beside the candidate, and the integrator's integrate_result.json."""
    from .geak_rows import bind_line, jdump, leg, server_info

    ref = GEAK_BASE if ref is None else ref
    cand = GEAK_CAND if cand is None else cand
    jdump(
        root / "env_report.json",
        {
            "gfx": "gfx942",
            "host": {
                "hostname": "mi300x-node03",
                "cpu_model": "AMD EPYC 9654",
                "cpu_count": 192,
                "load_avg_1m": 2.4,
                "gpus": [
                    {
                        "index": 0,
                        "name": "AMD Instinct MI300X",
                        "driver": "6.12.12",
                        "sm_clock_mhz": 2100.0,
                        "temperature_c": 48.0,
                        "foreign_processes": [],
                    }
                ],
                "other_legs_running": [],
            },
        },
    )
    (root / "model_path.txt").write_text(GEAK_MODEL + "\n")
    # three launches of one config: SGLang draws random_seed per launch and profiles KV capacity
    leg(
        root / "baseline",
        GEAK_BASE,
        server_info(GEAK_MODEL, 30101, random_seed=418830421, max_total_num_tokens=2300000),
        1811.2,
        24.9,
    )
    c = root / "overlay" / f"cand_{GEAK_SHORT}"
    leg(
        c / "ref", ref, server_info(GEAK_MODEL, 30111, random_seed=77125004, max_total_num_tokens=2300028), 1811.2, 24.9
    )
    leg(
        c / "cand",
        cand,
        server_info(GEAK_MODEL, 30112, random_seed=918273, max_total_num_tokens=2299972),
        1650.3,
        22.8,
        log_extra=bind_line(GEAK_SHORT) if cand_log is None else cand_log,
        row_extra=cand_rows,
    )
    jdump(c / "parity_ref.json", _probe(ref_probe))
    jdump(c / "parity_cand.json", _probe(PROBE_OK))
    med_r, med_c = sorted(ref)[len(ref) // 2], sorted(cand)[len(cand) // 2]
    base_ir = {
        "short_name": GEAK_SHORT,
        "provenance_ok": True,
        "isolated_speedup": 1.42,
        "pct_gpu_time": 31.0,
        "e2e_throughput_tok_s": med_c,
        "e2e_delta_pct": round((med_c - med_r) / med_r * 100, 3),
        "ref_med": med_r,
        "cand_med": med_c,
        "ref_runs": ref,
        "cand_runs": cand,
        "non_overlapping": min(cand) > max(ref),
        "ab_complete": True,
        "output_parity": "pass",
        "parity_kind": "byte_exact",
        "gate": "accepted",
        "winner_kind": "patch",
        "engagement_detail": {
            "bind": f"[overlay] rebound sglang.srt.layers.quantization.fp8_kernel:{GEAK_SHORT} -> "
            f"overlay_{GEAK_SHORT}.{GEAK_SHORT}",
            "calls": f"[overlay-mark] {GEAK_SHORT} OPTIMIZED kernel CALLED",
        },
        "accepted_overlay": f"overlay/cand_{GEAK_SHORT}",
        "reason": "",
    }
    jdump(c / "integrate_result.json", {**base_ir, **(ir or {})})


def _geak(**kw: Any) -> Callable[[Path], None]:
    def build(run: Path) -> None:
        from geak.auditor.importers.geak_v4 import import_geak_v4

        with _scratch() as td:
            src = Path(td) / "e2e_Qwen3-8B_20261120_101500_4242_17"
            src.mkdir()
            _geak_dir(src, **kw)
            rep = import_geak_v4(src, run)
            if rep.problems:
                raise ValueError(f"case source did not import: {rep.problems}")

    return build


GEAK_GATE = f"integrate-{GEAK_SHORT}"


def _no_aa(key: dict) -> dict:
    """An import carries no A/A legs: its band is unknown, so its baseline FLAGs B1 and its
    patch gate P3, beside whatever else it plants (issue 32: never the policy's default band)."""
    return {"baseline": ("FLAG", ["B1"]), **{g: (v, sorted({*rules, "P3"})) for g, (v, rules) in key.items()}}


plant(
    Plant(
        "i_geak_clean_overlay",
        ("B1", "P3"),
        "a GEAK v4 run whose evidence carries what GEAK's own objective gates need (server_info "
        "rows, a host block, the parity probe's dumps, GEAK's overlay bind lines): a real +9% kernel win, which only a "
        "noise band could bank, and GEAK measures none",
        _no_aa({GEAK_GATE: ("FLAG", ["P3"])}),
        build=_geak(),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_ref_handicapped",
        ("B6",),
        "GEAK gate 2: the overlay's ref leg re-measures the baseline's config 9% below "
        "baseline/, so the candidate's +9% is measured against a handicapped reference (vs baseline/ it is +0.2%)",
        _no_aa({GEAK_GATE: ("FAIL", ["B6"])}),
        build=_geak(ref=[2182.2, 2185.0, 2187.1], cand=[2401.9, 2405.5, 2407.2]),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_not_engaged",
        ("P5",),
        "the integrator's engagement_detail cites GEAK's bind and call lines, but the "
        "candidate's own server.log holds neither (the overlay never loaded)",
        _no_aa({GEAK_GATE: ("FAIL", ["P5"])}),
        build=_geak(cand_log=f"[2026-06-18 13:42:30] Loaded {GEAK_SHORT} config\n"),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_inline_runs_forged",
        ("P2",),
        "integrate_result.json lists cand_runs 4% above what the cand leg's bench_runs.jsonl rows say",
        _no_aa({GEAK_GATE: ("FAIL", ["P2"])}),
        build=_geak(ir={"cand_runs": [round(v * 1.04, 1) for v in GEAK_CAND]}),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_spec_decode_in_rows",
        ("P6",),
        "the cand leg's SGLang rows report accept_length 2.9 (the server "
        "speculated, set outside the server args the rows embed) while the ref's report none: the +9% is an orthogonal "
        "lever sold as a kernel win",
        _no_aa({GEAK_GATE: ("FLAG", ["P6"])}),
        build=_geak(cand_rows={"accept_length": 2.9}),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_parity_on_gibberish",
        ("P9",),
        "seed incident: GEAK's parity probe says pass because the candidate matches a "
        "reference that answers gibberish (the probe's dump for the ref leg)",
        _no_aa({GEAK_GATE: ("FAIL", ["P9"])}),
        build=_geak(ref_probe=PROBE_GIBBERISH),
        source="issue 13",
        tags=TAG,
    )
)


def _declare_knobs(run: Path, knobs: list[str]) -> None:
    """What the import's note asks the user to do: name the knob of each comparison in decisions.jsonl."""
    from geak.auditor.evidence.models import Decision

    p = run / "decisions.jsonl"
    ds = [Decision.model_validate_json(line) for line in p.read_text().splitlines()]
    for d in ds:
        if d.scope == "patch":
            d.declared_knobs = list(knobs)
    p.write_text("".join(d.model_dump_json() + "\n" for d in ds))


def _sglang_launches(run: Path) -> None:
    """Two SGLang launches imported one after the other, as the README's commands do: the
    second differs in chunked_prefill_size, and (as every launch does) in its auto-drawn
    random_seed and its profiled KV capacity (28 tokens of 2.3 M). The user then names the knob
    in decisions.jsonl, as the import's note asks."""
    from geak.auditor.importers.bench import import_sglang_bench

    from .geak_rows import server_info, sgl_row

    with _scratch() as td:
        for name, tputs, over in (
            ("base", [2398.4, 2401.3, 2403.0], {"random_seed": 418830421, "max_total_num_tokens": 2300000}),
            (
                "cpf16k",
                [2520.2, 2523.9, 2526.1],
                {"random_seed": 77125004, "max_total_num_tokens": 2300028, "chunked_prefill_size": 16384},
            ),
        ):
            si = server_info(GEAK_MODEL, 30000 + len(name), **over)
            f = Path(td) / f"{name}.jsonl"
            f.write_text("".join(json.dumps(sgl_row(t, si, 1811.2, 24.9)) + "\n" for t in tputs))
            rep = import_sglang_bench([f], run, leg_id=name)
            if rep.problems:
                raise ValueError(f"case source did not import: {rep.problems}")
    _declare_knobs(run, ["chunked_prefill_size"])


plant(
    Plant(
        "i_sglang_launch_auto_values",
        (),
        "two SGLang bench_serving launches whose server_info differ in the knob the user "
        "names and in per-launch auto values (random_seed, max_total_num_tokens within 1%): P4 holds; with no greedy outputs "
        "P9 stays unchecked",
        {"baseline-base": ("FLAG", ["B1"]), "import-cpf16k": ("FLAG", ["P3", "P9"])},
        build=_sglang_launches,
        source="issue 13",
        tags=TAG,
    )
)


def _vllm_pair(cand_over: dict[str, Any], cand_scale: float = 1.06) -> Callable[[Path], None]:
    """Two `benchmark_serving.py` result files imported one after the other (three rows of one
    rate each): the base, and a candidate the user declares a max_num_seqs change, whose rows
    differ as ``cand_over`` says."""

    def build(run: Path) -> None:
        from geak.auditor.importers.bench import import_vllm_bench

        with _scratch() as td:
            for leg, scale, over in (("base", 1.0, {}), ("cand", cand_scale, cand_over)):
                rows = [{**vllm09_row(10.0, "tp1", t * scale, 81.3, 21.4), **over} for t in (4701.2, 4710.2, 4716.9)]
                f = Path(td) / f"{leg}.jsonl"
                f.write_text("".join(json.dumps(r) + "\n" for r in rows))
                rep = import_vllm_bench([f], run, leg_id=leg)
                if rep.problems:
                    raise ValueError(f"case source did not import: {rep.problems}")
        _declare_knobs(run, ["max_num_seqs"])

    return build


def _more_output(r: dict[str, Any]) -> dict[str, Any]:
    return {"total_output_tokens": r["total_output_tokens"] * 4}


BASE_FLAG = {"baseline-base": ("FLAG", ["B1"])}  # no A/A legs in an import: the band is unknown
plant(
    Plant(
        "i_vllm_model_changed",
        ("P4",),
        "two vLLM result files compared as a max_num_seqs change, but the candidate's rows "
        "name another model (Llama-3.2-3B): a model change sold as a config win",
        {**BASE_FLAG, "import-cand": ("FAIL", ["P4", "P3"])},
        build=_vllm_pair(
            {"model_id": "meta-llama/Llama-3.2-3B-Instruct", "tokenizer_id": "meta-llama/Llama-3.2-3B-Instruct"}
        ),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_vllm_engine_changed",
        ("P4",),
        "the same two files, but the candidate's rows were measured against an SGLang server "
        "(vLLM's client, backend sglang): an engine change sold as a config win",
        {**BASE_FLAG, "import-cand": ("FAIL", ["P4", "P3"])},
        build=_vllm_pair({"backend": "sglang"}),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_vllm_outputs_differ",
        ("F3",),
        "the same two files, same settings, but the candidate's rows served 4x the output "
        "tokens from the same prompts: not one workload, whatever the settings say",
        {**BASE_FLAG, "import-cand": ("FAIL", ["F3", "P3"])},
        build=_vllm_pair({"total_output_tokens": 900 * 500 * 4}),
        source="issue 32",
        tags=TAG,
    )
)


def _director(**over: Any) -> Callable[[Path], None]:
    """A GEAK kernel run's EVAL_DIR with its Director's director_validation.json (per-shape
    medians of the baseline and the optimized kernel; the headline their geometric mean)."""

    def build(run: Path) -> None:
        from geak.auditor.importers.geak_v4 import import_geak_v4

        cases = [
            ("M1_N4096_K4096", 0.0311, 0.0262),
            ("M32_N4096_K4096", 0.0334, 0.0281),
            ("M512_N4096_K4096", 0.1312, 0.1135),
            ("M4096_N4096_K4096", 0.8121, 0.7034),
        ]
        per_case = [{"name": n, "baseline_ms": b, "optimized_ms": o, "speedup": round(b / o, 4)} for n, b, o in cases]
        import math

        geo = math.exp(sum(math.log(b / o) for _, b, o in cases) / len(cases))
        obj = {
            "kernel_name": "gemm_a16w16",
            "director_verified_speedup_geomean": round(geo, 4),
            "director_verified_speedup_arithmetic": round(sum(b / o for _, b, o in cases) / len(cases), 4),
            "tech_lead_reported_speedup_geomean": round(geo * 1.02, 4),
            "validation_status": "accepted",
            "correctness": "pass",
            "per_case": per_case,
            "applied_to_original": "false",
            "timing_basis": "device_time_cuda_graph",
            "arbitration_note": "",
            "final_patch": "final_patch.diff",
        }
        obj.update(over)
        with _scratch() as td:
            src = Path(td) / "kernel_gemm_a16w16_20261120_101500"
            src.mkdir()
            (src / "director_validation.json").write_text(json.dumps(obj, indent=2))
            rep = import_geak_v4(src, run)
            if rep.problems:
                raise ValueError(f"case source did not import: {rep.problems}")

    return build


plant(
    Plant(
        "i_geak_director_clean",
        (),
        "a GEAK kernel run's director_validation.json whose headline is the geometric mean of its own per-case times",
        {"harness-gemm_a16w16": ("PASS", [])},
        build=_director(),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_director_headline",
        ("H9",),
        "director_validation.json's headline 1.45x; its own per-case times give 1.17x",
        {"harness-gemm_a16w16": ("FLAG", ["H9"])},
        build=_director(director_verified_speedup_geomean=1.45),
        source="issue 13",
        tags=TAG,
    )
)
plant(
    Plant(
        "i_geak_director_incorrect",
        ("H2",),
        "the Director accepted a kernel whose correctness verdict is fail",
        {"harness-gemm_a16w16": ("FAIL", ["H2"])},
        build=_director(correctness="fail"),
        source="issue 13",
        tags=TAG,
    )
)
