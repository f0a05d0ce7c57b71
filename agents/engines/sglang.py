"""SGLang adapter. SGLang has no CPU wheel here: command building and output parsing are
tested against the documented formats; nothing of it has been run against a real server.

Sources of the formats (sgl-project/sglang):
- flags: python/sglang/srt/server_args.py (--model-path, --mem-fraction-static,
  --max-running-requests, --chunked-prefill-size, --disable-radix-cache, --tp-size,
  --speculative-algorithm, --speculative-num-steps, --context-length, --random-seed,
  --load-format, --dtype);
- GET /get_server_info (python/sglang/srt/entrypoints/http_server.py): a flat dict of all
  ServerArgs fields merged with scheduler info (max_total_num_tokens, ...), internal_states,
  version; behind a PD load balancer {"prefill": [...], "decode": [...]};
- bench: python -m sglang.bench_serving --output-file F --output-details, one JSON line per
  run (python/sglang/bench_serving.py).
"""

from __future__ import annotations

import re
from typing import Any

from geak.auditor.evidence.normalize import from_sglang_result

from .base import COMMON_FATAL, EngineAdapter, LaunchConfig, register
from .process import FatalPattern

RUNTIME_KEYS = {"internal_states", "status", "version", "last_gen_throughput"}


@register
class SglangAdapter(EngineAdapter):
    name = "sglang"
    health_path = "/health"
    server_info_path = "/get_server_info"
    server_module = "sglang.launch_server"
    fatal_patterns = COMMON_FATAL + [
        FatalPattern(re.compile(r"Scheduler hit an exception|Rank \d+ scheduler is dead"), "scheduler died"),
        FatalPattern(re.compile(r"Capture (cuda|CUDA) graph failed"), "graph capture failed"),
    ]

    def server_argv(self, cfg: LaunchConfig, port: int, python: str) -> list[str]:
        a = [python, "-m", self.server_module, "--model-path", cfg.model, "--host", "127.0.0.1", "--port", str(port)]
        if cfg.dtype:
            a += ["--dtype", cfg.dtype]
        if cfg.memory_fraction is not None:
            a += ["--mem-fraction-static", str(cfg.memory_fraction)]
        if cfg.max_num_seqs is not None:
            a += ["--max-running-requests", str(cfg.max_num_seqs)]
        if cfg.max_num_batched_tokens is not None:
            a += ["--chunked-prefill-size", str(cfg.max_num_batched_tokens)]
        if cfg.chunked_prefill is False:
            a += ["--chunked-prefill-size", "-1"]
        if cfg.prefix_caching is False:
            a += ["--disable-radix-cache"]
        if cfg.tensor_parallel is not None:
            a += ["--tp-size", str(cfg.tensor_parallel)]
        if cfg.speculative:
            for k, v in cfg.speculative.items():
                a += [f"--speculative-{k.replace('_', '-')}", str(v)]
        if cfg.max_model_len is not None:
            a += ["--context-length", str(cfg.max_model_len)]
        if cfg.load_format:
            a += ["--load-format", cfg.load_format]
        if cfg.enforce_eager:
            a += ["--disable-cuda-graph"]
        if cfg.seed is not None:
            a += ["--random-seed", str(cfg.seed)]
        return a + list(cfg.extra_args)

    def server_env(self, cfg: LaunchConfig) -> dict[str, str]:
        return dict(cfg.env)

    def resolved_config(self, server_info: Any) -> dict[str, Any]:
        info = server_info
        if isinstance(info, dict) and "decode" in info and isinstance(info["decode"], list) and info["decode"]:
            info = info["decode"][0]
        if not isinstance(info, dict):
            raise ValueError(f"/get_server_info returned {type(info).__name__}, expected a JSON object")
        return {k: v for k, v in info.items() if k not in RUNTIME_KEYS}

    def bench_argv(self, *, python: str, base_url: str, model: str, workload: Any, result_dir: str, result_file: str) -> list[str]:
        a = [python, "-m", "sglang.bench_serving", "--backend", "sglang", "--base-url", base_url, "--model", model,
             "--dataset-name", workload.dataset, "--num-prompts", str(workload.num_prompts), "--seed", str(workload.seed or 0),
             "--output-file", f"{result_dir}/{result_file}", "--output-details"]
        if workload.input_len is not None:
            a += ["--random-input-len", str(workload.input_len), "--random-range-ratio", "1.0"]
        if workload.output_len is not None:
            a += ["--random-output-len", str(workload.output_len)]
        if workload.max_concurrency is not None:
            a += ["--max-concurrency", str(workload.max_concurrency)]
        if workload.request_rate is not None:
            a += ["--request-rate", str(workload.request_rate)]
        return a

    def normalize_bench(self, raw: dict[str, Any], *, leg_id: str, rep_index: int, warmup: bool, raw_file: str):
        return from_sglang_result(raw, leg_id=leg_id, rep_index=rep_index, warmup=warmup, raw_file=raw_file)
