"""Regenerate the small "in the wild" fixtures (deterministic; written by hand in the tools'
real formats; tests/data/README.md says where each format was seen).

    python tests/data/wild/_build.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # corpus/: the development package in the checkout
from corpus.plants_import import MODEL, RATES, vllm09_row, vllm_all_failed  # one source for the corpus and these

HERE = Path(__file__).parent


def sglang_server_info(seed: int, kv_tokens: int) -> dict:
    return {"model_path": MODEL, "tokenizer_path": MODEL, "served_model_name": MODEL, "host": "127.0.0.1", "port": 30000,
            "tp_size": 1, "dp_size": 1, "mem_fraction_static": 0.88, "max_running_requests": None, "chunked_prefill_size": 8192,
            "random_seed": seed, "attention_backend": "flashinfer", "kv_cache_dtype": "auto", "dtype": "auto",
            "disable_radix_cache": False, "cuda_graph_max_bs": 160, "status": "ready", "max_total_num_tokens": kv_tokens,
            "max_req_input_len": 131066, "internal_states": [{"last_gen_throughput": 1830.4}], "version": "0.5.5"}


def sglang_row(si: dict, tput: float) -> dict:
    """sglang.bench_serving --output-file, one JSONL row per run, server_info embedded."""
    n, isl, osl = 200, 1024, 256
    dur = n * osl / tput
    return {"tag": None, "backend": "sglang", "dataset_name": "random", "request_rate": float("inf"), "max_concurrency": 64,
            "sharegpt_output_len": None, "random_input_len": isl, "random_output_len": osl, "random_range_ratio": 1.0,
            "server_info": si, "duration": dur, "completed": n, "total_input_tokens": n * isl, "total_output_tokens": n * osl,
            "total_output_tokens_retokenized": n * osl, "request_throughput": n / dur, "input_throughput": n * isl / dur,
            "output_throughput": tput, "total_throughput": n * (isl + osl) / dur, "mean_e2e_latency_ms": 4100.0,
            "median_e2e_latency_ms": 4000.0, "std_e2e_latency_ms": 300.0, "p99_e2e_latency_ms": 5200.0, "mean_ttft_ms": 310.0,
            "median_ttft_ms": 290.0, "std_ttft_ms": 80.0, "p99_ttft_ms": 700.0, "mean_tpot_ms": 14.8, "median_tpot_ms": 14.6,
            "std_tpot_ms": 0.9, "p99_tpot_ms": 17.0, "mean_itl_ms": 14.8, "median_itl_ms": 13.9, "std_itl_ms": 6.0,
            "p95_itl_ms": 19.0, "p99_itl_ms": 40.0, "concurrency": 61.7, "accept_length": None}


def sweep_run(max_num_seqs: int, run_number: int, tput: float) -> dict:
    """`vllm bench sweep serve`: each point's run=N.json is a --save-result object re-dumped
    with indent=4, the run_number and every serve/bench override merged in flat."""
    row = {k: v for k, v in vllm_all_failed().items() if not k.endswith("_ms")}
    n, dur = 100, 1600 / tput
    row.update({"num_prompts": n, "duration": dur, "completed": n, "failed": 0, "total_input_tokens": 3200,
                "total_output_tokens": 1600, "request_throughput": n / dur, "output_throughput": tput,
                "total_token_throughput": 4800 / dur, "max_concurrency": 32, "median_ttft_ms": 120.0, "p99_ttft_ms": 310.0,
                "median_tpot_ms": 9.0, "p99_tpot_ms": 14.0, "run_number": run_number, "max_num_seqs": max_num_seqs})
    return row


def main() -> None:
    rows = [vllm09_row(r, "base", t, ttft, tpot) for r, t, ttft, tpot in RATES]
    (HERE / "vllm09_request_rates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (HERE / "vllm_all_failed.json").write_text(json.dumps(vllm_all_failed()))
    # two launches of one config: SGLang drew another random_seed, and memory profiling gave
    # a KV pool 28 tokens apart; the third launch ran with another memory fraction
    a = [sglang_row(sglang_server_info(712093, 2300000), t) for t in (3702.1, 3711.5, 3698.9)]
    b = [sglang_row(sglang_server_info(55511871, 2300028), t) for t in (3705.3, 3700.2, 3709.8)]
    (HERE / "sglang_launch_a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a))
    (HERE / "sglang_launch_b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b))
    for seqs, tputs in ((4, (1201.5, 1190.2)), (32, (2402.8, 2391.0))):
        d = HERE / "sweep" / "exp1" / f"SERVE--max_num_seqs={seqs}-BENCH--max_concurrency=32"
        d.mkdir(parents=True, exist_ok=True)
        for i, t in enumerate(tputs):
            (d / f"run={i}.json").write_text(json.dumps(sweep_run(seqs, i, t), indent=4))


if __name__ == "__main__":
    main()
