"""GEAK v4 e2e_workflow leg directories as bench_e2e.sh writes them, for backtest cases and test
fixtures: SGLang ``bench_serving --output-file`` rows carrying ``server_info`` in bench_runs.jsonl,
server.log with SGLang's start-up lines and GEAK's overlay bind lines, server_start.json and
bench_summary.json. The formats' facts are those of GEAK's public scripts and role docs
(tests/data/README.md says where each was seen); the numbers are the caller's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def server_info(model: str, port: int, **over: Any) -> dict[str, Any]:
    si = {
        "model_path": model,
        "tokenizer_path": model,
        "served_model_name": model,
        "host": "127.0.0.1",
        "port": port,
        "tp_size": 1,
        "dp_size": 1,
        "ep_size": 1,
        "mem_fraction_static": 0.85,
        "max_running_requests": None,
        "max_total_tokens": None,
        "chunked_prefill_size": 8192,
        "max_prefill_tokens": 16384,
        "schedule_policy": "fcfs",
        "attention_backend": "aiter",
        "sampling_backend": "pytorch",
        "kv_cache_dtype": "auto",
        "dtype": "auto",
        "quantization": None,
        "context_length": None,
        "random_seed": 0,
        "disable_radix_cache": True,
        "disable_cuda_graph": False,
        "cuda_graph_max_bs": 64,
        "speculative_algorithm": None,
        "speculative_num_steps": None,
        "speculative_eagle_topk": None,
        "speculative_num_draft_tokens": None,
        "enable_torch_compile": False,
        "log_level": "info",
        "status": "ready",
        "max_total_num_tokens": 1156449,
        "max_req_input_len": 262139,
        "internal_states": [{"avg_spec_accept_length": None, "last_gen_throughput": 1650.2}],
        "version": "0.5.3rc0",
    }
    si.update(over)
    return si


def sgl_row(
    tput: float,
    si: dict[str, Any],
    ttft_ms: float,
    tpot_ms: float,
    *,
    n: int = 64,
    isl: int = 1024,
    osl: int = 1024,
    conc: int = 64,
    details: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    if details:
        n, osl = 8, 32
    total_out = n * osl
    duration = total_out / tput
    e2e = ttft_ms + tpot_ms * (osl - 1)
    row: dict[str, Any] = {
        "backend": "sglang",
        "dataset_name": "random",
        "request_rate": float("inf"),
        "max_concurrency": conc,
        "sharegpt_output_len": None,
        "random_input_len": isl,
        "random_output_len": osl,
        "random_range_ratio": 1.0,
        "server_info": si,
        "duration": duration,
        "completed": n,
        "total_input_tokens": n * isl,
        "total_output_tokens": total_out,
        "total_output_tokens_retokenized": total_out,
        "request_throughput": n / duration,
        "input_throughput": n * isl / duration,
        "output_throughput": tput,
        "total_throughput": (n * isl + total_out) / duration,
        "mean_e2e_latency_ms": e2e * 1.01,
        "median_e2e_latency_ms": e2e,
        "std_e2e_latency_ms": e2e * 0.02,
        "p99_e2e_latency_ms": e2e * 1.05,
        "mean_ttft_ms": ttft_ms * 1.02,
        "median_ttft_ms": ttft_ms,
        "std_ttft_ms": ttft_ms * 0.05,
        "p99_ttft_ms": ttft_ms * 1.6,
        "mean_tpot_ms": tpot_ms * 1.003,
        "median_tpot_ms": tpot_ms,
        "std_tpot_ms": tpot_ms * 0.01,
        "p99_tpot_ms": tpot_ms * 1.04,
        "mean_itl_ms": tpot_ms,
        "median_itl_ms": tpot_ms * 0.98,
        "std_itl_ms": tpot_ms * 0.3,
        "p95_itl_ms": tpot_ms * 1.3,
        "p99_itl_ms": tpot_ms * 2.1,
        "concurrency": conc * 0.97,
        "accept_length": None,
    }
    if details:
        k = [1 + 0.01 * ((i * 7 + seed) % 5 - 2) for i in range(n)]
        row["input_lens"] = [isl] * n
        row["output_lens"] = [osl] * n
        row["ttfts"] = [round(ttft_ms / 1000 * k[i], 6) for i in range(n)]
        row["itls"] = [
            [round(tpot_ms / 1000 * (1 + 0.002 * ((i + j) % 3 - 1)), 6) for j in range(osl - 1)] for i in range(n)
        ]
        row["generated_texts"] = [""] * n
        row["errors"] = [""] * n
    return row


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def jdump(p: Path, obj: Any) -> None:
    write(p, json.dumps(obj, indent=2) + "\n")


LOG_HEAD = (
    "[2026-06-18 13:41:02] server_args=ServerArgs(model_path='{m}', mem_fraction_static={mem}, attention_backend='{ab}')\n"
    "[2026-06-18 13:41:40] Load weight end. type=Qwen3ForCausalLM, dtype=torch.bfloat16, avail mem=41.22 GB\n"
    "[2026-06-18 13:42:11] KV Cache is allocated. #tokens: {kv}\n"
    "[2026-06-18 13:43:05] Capture cuda graph end. Time elapsed: 38.21 s\n"
)
LOG_TAIL = (
    "[2026-06-18 13:43:09] The server is fired up and ready to roll!\n"
    "[2026-06-18 13:44:17] Decode batch. #running-req: 64, #token: 98304, token usage: 0.09, gen throughput (token/s): 1651.07\n"
)


def leg(
    d: Path,
    tputs: list[float],
    si: dict[str, Any],
    ttft: float,
    tpot: float,
    *,
    log_extra: str = "",
    details: bool = False,
    port: int | None = None,
    crash: str | None = None,
    rows: int | None = None,
    row_extra: dict[str, Any] | None = None,
) -> None:
    si = dict(si)
    if port is not None:
        si["port"] = port
    n = rows if rows is not None else len(tputs)
    lines = [
        json.dumps({**sgl_row(t, si, ttft, tpot, details=details, seed=i), **(row_extra or {})})
        for i, t in enumerate(tputs[:n])
    ]
    write(d / "bench_runs.jsonl", "".join(line + "\n" for line in lines))
    log = LOG_HEAD.format(
        m=si["model_path"], mem=si["mem_fraction_static"], ab=si["attention_backend"], kv=si["max_total_num_tokens"]
    )
    write(d / "server.log", log + log_extra + LOG_TAIL + (crash or ""))
    jdump(
        d / "server_start.json",
        {
            "status": "ok",
            "reason": "none",
            "phase_hint": "The server is fired up and ready to roll!",
            "wait_sec": 131,
            "ceiling_sec": 7200,
            "stall_window_sec": 600,
            "port": str(si["port"]),
            "backend": "sglang",
            "log": str(d / "server.log"),
        },
    )
    s = sorted(tputs[:n])
    med = s[len(s) // 2]
    jdump(
        d / "bench_summary.json",
        {
            "throughput_tok_s_median": round(med, 3),
            "throughput_tok_s_spread_pct": round((s[-1] - s[0]) / med * 100, 2),
            "output_throughput_tok_s_median": round(med, 3),
            "ttft_ms_median": ttft,
            "tpot_ms_median": tpot,
            "runs": n,
            "all_throughput": [round(t, 3) for t in tputs[:n]],
            "metric_basis": "aggregate_output_tok_s",
            "measurement_mode": "legacy_same_server",
        },
    )


def bind_line(short: str) -> str:
    # what GEAK's overlay sitecustomize (scripts/overlay_setup.py) prints per worker, and the
    # candidate's own call marker (knowledge/learned/method-verify-engagement.md)
    return (
        f"[overlay] injected module overlay_{short} <- /eval/overlay/cand_{short}/overlay_{short}.py\n"
        f"[overlay] rebound sglang.srt.layers.quantization.fp8_kernel:{short} -> overlay_{short}.{short}\n"
        f"[overlay-mark] {short} OPTIMIZED kernel CALLED\n"
    )
